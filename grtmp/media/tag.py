"""The one reader of audio/video tag headers, and the classifier the live fan-out uses.

Every rule about the first bytes of an RTMP audio (8) or video (9) message lives here:

* legacy FLV ``VideoTagHeader`` (frame type, CodecID; for AVC and the de-facto HEVC 12 / AV1 13
  ids the AVCPacketType byte) and ``AudioTagHeader`` (SoundFormat, rate, size, type; for AAC
  the AACPacketType byte), FLV spec v10.1 E.4.2.1 / E.4.3.1;
* Enhanced RTMP v2 ``ExVideoTagHeader`` / ``ExAudioTagHeader``: the ModEx entries (their
  TimestampOffsetNano), a command frame's command byte, the Multitrack header
  (AvMultitrackType and the tracks' packet type) and the FourCC, then the per-track headers
  (:func:`iter_tracks`).

:func:`read_tag_header` returns a :class:`TagHeader`; the full parsers
(:func:`grtmp.media.parse_video`, :func:`grtmp.media.parse_audio`), multitrack splitting
(:mod:`grtmp.media.multitrack`), the hot-path helpers below and :func:`classify` are all built
on it. Codecs are told apart by what the packet says, never by onMetaData.

The reader checks structure (lengths, reserved packet types, nesting), not codec identity: an
unknown CodecID or FourCC is the parsers' business. :func:`classify` remembers its answers for
short headers (legacy, and enhanced without ModEx or Multitrack) keyed by the header's bytes;
a test proves that the remembered answers equal fresh ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from grtmp.errors import CodecError
from grtmp.formats.audio import AudioPacketType, SoundFormat
from grtmp.formats.flv import TAG_AUDIO, TAG_VIDEO
from grtmp.formats.video import (
    AvcPacketType,
    AvMultitrackType,
    FrameType,
    ModExType,
    VideoPacketType,
)

__all__ = [
    "KIND_OTHER",
    "KIND_FRAME",
    "KIND_KEYFRAME",
    "KIND_HEADER",
    "MAX_TRACKS",
    "MAX_MOD_EX",
    "LEGACY_AVC_LIKE",
    "VIDEO_CONFIG_TYPES",
    "TagHeader",
    "video_kind",
    "audio_kind",
    "read_tag_header",
    "scan_ex_header",
    "iter_tracks",
    "header_key",
    "classify",
    "is_sequence_header",
    "is_video_keyframe",
    "video_frame_type",
]

# Kinds of media message, as the fan-out needs to know them.
KIND_OTHER = 0
KIND_FRAME = 1
KIND_KEYFRAME = 2
KIND_HEADER = 3  # sequence header / decoder configuration: cached for late joiners

#: Upper bounds on tracks in one multitrack message and on ModEx entries (untrusted input).
MAX_TRACKS = 256
MAX_MOD_EX = 64

#: Legacy CodecIDs whose tag carries an AVCPacketType and a composition time: AVC (7), and
#: HEVC (12) / AV1 (13) as some pre-Enhanced-RTMP encoders send them.
LEGACY_AVC_LIKE = frozenset((7, 12, 13))

VIDEO = int(TAG_VIDEO)
AUDIO = int(TAG_AUDIO)

# Plain ints for the per-message path (attribute lookups on enum classes are slower).
_FT_KEY = int(FrameType.KEY)
_FT_COMMAND = int(FrameType.COMMAND)
_V_SEQ_START = int(VideoPacketType.SEQUENCE_START)
_V_CODED = int(VideoPacketType.CODED_FRAMES)
_V_SEQ_END = int(VideoPacketType.SEQUENCE_END)
_V_CODED_X = int(VideoPacketType.CODED_FRAMES_X)
_V_METADATA = int(VideoPacketType.METADATA)
_V_TS_SEQ_START = int(VideoPacketType.MPEG2TS_SEQUENCE_START)
_V_MULTITRACK = int(VideoPacketType.MULTITRACK)
_A_SEQ_START = int(AudioPacketType.SEQUENCE_START)
_A_CODED = int(AudioPacketType.CODED_FRAMES)
_A_SEQ_END = int(AudioPacketType.SEQUENCE_END)
_A_MULTICHANNEL = int(AudioPacketType.MULTICHANNEL_CONFIG)
_A_MULTITRACK = int(AudioPacketType.MULTITRACK)
_MOD_EX = int(VideoPacketType.MOD_EX)  # 7 for audio too
_SOUND_AAC = int(SoundFormat.AAC)
_SOUND_EX = int(SoundFormat.EX_HEADER)
_NANO = int(ModExType.TIMESTAMP_OFFSET_NANO)
_ONE_TRACK = int(AvMultitrackType.ONE_TRACK)
_MANY_CODECS = int(AvMultitrackType.MANY_TRACKS_MANY_CODECS)

#: Video packet types that may follow the ModEx entries / appear inside a Multitrack message.
_VIDEO_PACKET_TYPES = frozenset(range(_V_SEQ_START, _V_MULTITRACK))
_AUDIO_PACKET_TYPES = frozenset((_A_SEQ_START, _A_CODED, _A_SEQ_END, _A_MULTICHANNEL))
#: Legacy AVCPacketType -> Enhanced RTMP VideoPacketType (the same numbers, checked).
_LEGACY_VIDEO_PT = {
    int(AvcPacketType.SEQUENCE_HEADER): _V_SEQ_START,
    int(AvcPacketType.NALU): _V_CODED,
    int(AvcPacketType.END_OF_SEQUENCE): _V_SEQ_END,
}


#: Video packet types that carry a decoder configuration (a "sequence header").
VIDEO_CONFIG_TYPES = frozenset((_V_SEQ_START, _V_TS_SEQ_START))


def video_kind(frame_type: int, packet_type: int, command: int | None) -> int:
    """The fan-out's kind of a video message: KIND_HEADER for what a late joiner needs before
    frames (sequence headers and Metadata such as colorInfo), KIND_OTHER for command frames and
    SequenceEnd, KIND_KEYFRAME for coded frames of frame type 1 (key frame), else KIND_FRAME.
    (A generated key frame, type 4, is for server-side seeking and does not start a GOP.)"""
    if command is not None:
        return KIND_OTHER
    if packet_type in VIDEO_CONFIG_TYPES or packet_type == _V_METADATA:
        return KIND_HEADER
    if packet_type == _V_SEQ_END:
        return KIND_OTHER
    return KIND_KEYFRAME if frame_type == _FT_KEY else KIND_FRAME


def audio_kind(packet_type: int) -> int:
    """The fan-out's kind of an audio message: KIND_HEADER for SequenceStart and
    MultichannelConfig, KIND_OTHER for SequenceEnd, else KIND_FRAME."""
    if packet_type == _A_SEQ_START or packet_type == _A_MULTICHANNEL:
        return KIND_HEADER
    return KIND_OTHER if packet_type == _A_SEQ_END else KIND_FRAME


class TagHeader:
    """What the first bytes of an audio or video message say.

    ``packet_type`` uses the Enhanced RTMP numbering for every message: the final packet type
    after the ModEx entries and inside a Multitrack header; legacy AVCPacketType / AACPacketType
    map to SequenceStart / CodedFrames / SequenceEnd, other legacy codecs are CodedFrames.
    ``offset`` is where the body starts: the first per-track header of a multitrack message,
    else the codec data (for legacy AVC-like video: the SI24 composition time). ``mod_ex_end``
    is the offset after the last ModEx entry (1 when there is none).
    """

    __slots__ = ("type_id", "enhanced", "frame_type", "codec_id", "packet_type", "command",
                 "timestamp_offset_nano", "mod_ex_end", "multitrack_type", "fourcc", "offset",
                 "sound_rate", "sound_size", "sound_type")

    def __init__(self, type_id: int, enhanced: bool, frame_type: int, codec_id: int | None,
                 packet_type: int, offset: int) -> None:
        self.type_id = type_id
        self.enhanced = enhanced
        #: VideoFrameType (video); 0 for audio.
        self.frame_type = frame_type
        #: Legacy video CodecID or SoundFormat; None for Enhanced RTMP (the FourCC says).
        self.codec_id = codec_id
        self.packet_type = packet_type
        self.offset = offset
        #: VideoCommand byte of a command frame (frame type 5, not Metadata), else None.
        self.command: int | None = None
        self.timestamp_offset_nano: int | None = None
        self.mod_ex_end = 1
        #: AvMultitrackType of a multitrack message, else None.
        self.multitrack_type: int | None = None
        #: The FourCC of an enhanced message (None for legacy and ManyTracksManyCodecs).
        self.fourcc: bytes | None = None
        #: Legacy AudioTagHeader fields (None otherwise).
        self.sound_rate: int | None = None
        self.sound_size: int | None = None
        self.sound_type: int | None = None

    @property
    def is_sequence_header(self) -> bool:
        """A decoder configuration: SequenceStart (audio, video), MPEG2TSSequenceStart (video)."""
        if self.type_id == VIDEO:
            return self.command is None and self.packet_type in VIDEO_CONFIG_TYPES
        return self.packet_type == _A_SEQ_START

    @property
    def is_keyframe(self) -> bool:
        """A video key frame carrying coded pictures (frame type 1, CodedFrames/CodedFramesX)."""
        return self.type_id == VIDEO and video_kind(self.frame_type, self.packet_type,
                                                    self.command) == KIND_KEYFRAME

    @property
    def kind(self) -> int:
        """The fan-out's kind of this message (see :func:`video_kind`, :func:`audio_kind`)."""
        if self.type_id == VIDEO:
            return video_kind(self.frame_type, self.packet_type, self.command)
        return audio_kind(self.packet_type)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__
                           if getattr(self, k) is not None)
        return f"TagHeader({fields})"


def read_tag_header(type_id: int, payload: bytes) -> TagHeader:
    """Read the tag header at the start of an audio (8) or video (9) message.

    Raises :class:`CodecError` when the header is truncated or malformed (an empty payload,
    a reserved packet type, nested Multitrack, too many ModEx entries, a reserved
    AvMultitrackType) or ``type_id`` is not audio or video.
    """
    n = len(payload)
    if n == 0:
        raise CodecError("empty media payload")
    b0 = payload[0]
    if type_id == VIDEO:
        frame_type = (b0 >> 4) & 0x07
        if b0 & 0x80:
            return _read_ex(VIDEO, payload, frame_type)
        codec_id = b0 & 0x0F
        h = TagHeader(VIDEO, False, frame_type, codec_id, _V_CODED, 1)
        if frame_type == _FT_COMMAND:
            if n < 2:
                raise CodecError("command frame without command byte")
            h.command = payload[1]
            h.offset = 2
        elif codec_id in LEGACY_AVC_LIKE:
            if n < 2:
                raise CodecError("AVC video tag without AVCPacketType")
            pt = _LEGACY_VIDEO_PT.get(payload[1])
            if pt is None:
                raise CodecError(f"bad AVCPacketType {payload[1]}")
            h.packet_type = pt
            h.offset = 2
        return h
    if type_id == AUDIO:
        fmt = b0 >> 4
        if fmt == _SOUND_EX:
            return _read_ex(AUDIO, payload, 0)
        h = TagHeader(AUDIO, False, 0, fmt, _A_CODED, 1)
        h.sound_rate, h.sound_size, h.sound_type = (b0 >> 2) & 3, (b0 >> 1) & 1, b0 & 1
        if fmt == _SOUND_AAC:
            if n < 2:
                raise CodecError("AAC audio tag without AACPacketType")
            if payload[1] > 1:
                raise CodecError(f"bad AACPacketType {payload[1]}")
            h.packet_type = payload[1]  # 0 sequence header, 1 raw: AudioPacketType numbers
            h.offset = 2
        return h
    raise CodecError(f"message type {type_id} is not audio or video")


def _read_ex(type_id: int, payload: bytes, frame_type: int) -> TagHeader:
    """ExVideoTagHeader / ExAudioTagHeader (Enhanced RTMP v2) as a :class:`TagHeader`."""
    pt, command, mt, offset, nano, mod_ex_end = scan_ex_header(type_id, payload)
    h = TagHeader(type_id, True, frame_type, None, pt, offset)
    h.command = command
    h.multitrack_type = mt
    h.timestamp_offset_nano = nano
    h.mod_ex_end = mod_ex_end
    if command is None and mt != _MANY_CODECS:
        h.fourcc = bytes(payload[offset - 4:offset])
    return h


def scan_ex_header(type_id: int, payload: bytes) -> tuple[int, int | None, int | None, int,
                                                    int | None, int]:
    """Walk an ExVideoTagHeader / ExAudioTagHeader: ``(packet type, command, multitrack type,
    offset, TimestampOffsetNano, end of the ModEx entries)``. The offset is past the FourCC
    (or at the first track of ManyTracksManyCodecs, or past a command byte). A tuple, so
    :func:`classify` reads enhanced headers without building a :class:`TagHeader`."""
    n = len(payload)
    pt = payload[0] & 0x0F
    pos = 1
    nano = None
    count = 0
    while pt == _MOD_EX:
        # ModEx entry: size (UI8 + 1, or UI16 + 1 after a UI8 of 255), data, then one byte of
        # ModExType (high nibble) and the next packet type (low nibble).
        count += 1
        if count > MAX_MOD_EX:
            raise CodecError("too many ModEx entries")
        if pos >= n:
            raise CodecError("truncated ModEx entry")
        size = payload[pos] + 1
        pos += 1
        if size == 256:
            if pos + 2 > n:
                raise CodecError("truncated ModEx entry")
            size = (payload[pos] << 8 | payload[pos + 1]) + 1
            pos += 2
        end = pos + size
        if end >= n:
            raise CodecError("truncated ModEx entry")
        pt = payload[end] & 0x0F
        if payload[end] >> 4 == _NANO:
            if size < 3:
                raise CodecError("TimestampOffsetNano needs 3 bytes")
            nano = payload[pos] << 16 | payload[pos + 1] << 8 | payload[pos + 2]
        pos = end + 1
    mod_ex_end = pos
    if type_id == VIDEO:
        if pt != _V_METADATA and (payload[0] >> 4) & 0x07 == _FT_COMMAND:
            if pos >= n:
                raise CodecError("command frame without command byte")
            return pt, payload[pos], None, pos + 1, nano, mod_ex_end
        multitrack, valid = _V_MULTITRACK, _VIDEO_PACKET_TYPES
    else:
        multitrack, valid = _A_MULTITRACK, _AUDIO_PACKET_TYPES
    mt = None
    if pt == multitrack:
        if pos >= n:
            raise CodecError("truncated multitrack header")
        mt, pt = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if pt == multitrack:
            raise CodecError("nested multitrack")
        if mt > _MANY_CODECS:
            raise CodecError(f"reserved AvMultitrackType {mt}")
    if pt not in valid:
        raise CodecError(f"bad {'video' if type_id == VIDEO else 'audio'} packet type {pt}")
    if mt != _MANY_CODECS:
        pos += 4
        if pos > n:
            raise CodecError("truncated FourCC")
    return pt, None, mt, pos, nano, mod_ex_end


def iter_tracks(h: TagHeader, payload: bytes) -> Iterator[tuple[int, bytes | None, int, int]]:
    """Yield ``(track_id, fourcc, start, end)`` of each track body of a message whose header is
    ``h``: one track (id 0) for a single-track message, else the per-track headers walked
    (FourCC for ManyTracksManyCodecs, UI8 track id, UI24 size unless OneTrack).

    Raises :class:`CodecError` for a truncated track header, a track overrunning the message,
    an empty multitrack message or more than :data:`MAX_TRACKS` tracks.
    """
    n = len(payload)
    pos = h.offset
    mt = h.multitrack_type
    if mt is None:
        yield 0, h.fourcc, pos, n
        return
    fourcc = h.fourcc
    count = 0
    while True:
        if mt == _MANY_CODECS:
            if pos + 4 > n:
                raise CodecError("truncated track FourCC")
            fourcc = bytes(payload[pos:pos + 4])
            pos += 4
        if pos >= n:
            raise CodecError("truncated track id")
        track_id = payload[pos]
        pos += 1
        if mt == _ONE_TRACK:
            end = n
        else:
            if pos + 3 > n:
                raise CodecError("truncated track size")
            end = pos + 3 + (payload[pos] << 16 | payload[pos + 1] << 8 | payload[pos + 2])
            pos += 3
            if end > n:
                raise CodecError(f"track {track_id} overruns the message")
        count += 1
        yield track_id, fourcc, pos, end
        pos = end
        if mt == _ONE_TRACK or pos >= n:
            return
        if count >= MAX_TRACKS:
            raise CodecError("too many tracks")


def header_key(h: TagHeader, payload: bytes) -> Any:
    """The key under which the fan-out caches a header message: headers of different codecs,
    tracks or packet types are kept apart, and a later one replaces an earlier one.

    Legacy: ``(type, CodecID or SoundFormat)``. Enhanced: ``(type, FourCC, packet type)``;
    multitrack: ``(type, AvMultitrackType, first track's FourCC, its track id, packet type)``.
    """
    if not h.enhanced:
        return (h.type_id, h.codec_id)
    if h.multitrack_type is None:
        return (h.type_id, h.fourcc, h.packet_type)
    first = next(iter_tracks(h, payload), None)
    if first is None:  # pragma: no cover - iter_tracks raises instead
        raise CodecError("multitrack message without tracks")
    return (h.type_id, h.multitrack_type, first[1], first[0], h.packet_type)


_OTHER = (KIND_OTHER, None)
_FRAME = (KIND_FRAME, None)
_KEYFRAME = (KIND_KEYFRAME, None)
#: classify()'s memo per message type: header bytes -> answer (bounded: untrusted input).
_MEMOS: dict[int, dict[bytes, tuple[int, Any]]] = {AUDIO: {}, VIDEO: {}}
_MEMO_MAX = 4096


def _classify(type_id: int, payload: bytes) -> tuple[int, Any]:
    """:func:`classify` without the memo. Enhanced headers are scanned without building a
    :class:`TagHeader` (the full header is read only for the rare header messages' key)."""
    try:
        if type_id == VIDEO and payload[0] & 0x80:
            pt, command = scan_ex_header(VIDEO, payload)[:2]
            kind = video_kind((payload[0] >> 4) & 0x07, pt, command)
        elif type_id == AUDIO and payload[0] >> 4 == _SOUND_EX:
            kind = audio_kind(scan_ex_header(AUDIO, payload)[0])
        else:
            kind = read_tag_header(type_id, payload).kind
        if kind == KIND_HEADER:
            return kind, header_key(read_tag_header(type_id, payload), payload)
    except (CodecError, IndexError):
        return _OTHER
    return _KEYFRAME if kind == KIND_KEYFRAME else _FRAME if kind == KIND_FRAME else _OTHER


def classify(type_id: int, payload: bytes) -> tuple[int, Any]:
    """Return ``(kind, header_key)`` of a media message from its tag header.

    ``kind`` is :data:`KIND_HEADER` (cache it for late joiners under ``header_key``, see
    :func:`header_key`), :data:`KIND_KEYFRAME` (a GOP starts), :data:`KIND_FRAME`, or
    :data:`KIND_OTHER` (commands, SequenceEnd, silence, non-media, and malformed headers).
    ``header_key`` is None unless the kind is KIND_HEADER.

    Called once per message by the fan-out, so short headers are answered from a memo of
    earlier answers keyed by the header's bytes: a legacy header is at most two bytes, an
    enhanced one without ModEx or Multitrack at most five (first byte and FourCC, or first
    byte and command byte). A test proves these prefixes decide the answer.
    """
    memo = _MEMOS.get(type_id)
    if memo is None or not payload:
        return _OTHER
    b0 = payload[0]
    if type_id == VIDEO:
        if b0 & 0x80:
            pt = b0 & 0x0F
            if pt == _MOD_EX or pt == _V_MULTITRACK:
                return _classify(VIDEO, payload)
            prefix = payload[:5]
        else:
            prefix = payload[:2]
    elif b0 >> 4 == _SOUND_EX:
        pt = b0 & 0x0F
        if pt == _MOD_EX or pt == _A_MULTITRACK:
            return _classify(AUDIO, payload)
        prefix = payload[:5]
    else:
        prefix = payload[:2]
    if type(prefix) is not bytes:
        prefix = bytes(prefix)
    hit = memo.get(prefix)
    if hit is None:
        hit = _classify(type_id, prefix)
        if len(memo) < _MEMO_MAX:
            memo[prefix] = hit
    return hit


def is_sequence_header(type_id: int, payload: bytes) -> bool:
    """True if an audio (8) or video (9) message carries a decoder configuration
    (SequenceStart; MPEG2TSSequenceStart for video; also inside Multitrack or behind ModEx;
    legacy AVCPacketType / AACPacketType 0). False for anything malformed."""
    try:
        return read_tag_header(type_id, payload).is_sequence_header
    except CodecError:
        return False


def is_video_keyframe(payload: bytes) -> bool:
    """True if a video payload is a key frame carrying coded picture data (not a sequence
    header, metadata or command frame). Use it to start a GOP cache."""
    try:
        return read_tag_header(VIDEO, payload).is_keyframe
    except CodecError:
        return False


def video_frame_type(payload: bytes) -> int:
    """Return the VideoFrameType (1 key, 2 inter, 3 disposable, 4 generated key, 5 command),
    or 0 for an empty payload. The frame type is the first byte's bits 4-6 in both the legacy
    and the Enhanced RTMP header."""
    return (payload[0] >> 4) & 0x07 if payload else 0
