"""Codec parsing for FLV/RTMP audio and video payloads (legacy FLV and Enhanced RTMP v2).

Two tiers:

* Fast byte tests for the server's per-message hot path: :func:`is_video_keyframe`,
  :func:`is_sequence_header`, :func:`video_frame_type`. No construct, no allocation.
* Full parsers built on the construct layouts in :mod:`grtmp.formats`: :func:`parse_video`,
  :func:`parse_audio` (any codec), and the seed API :func:`parse_h264` / :func:`parse_aac`.
  They detect the codec from the packet itself (never from onMetaData, encoders lie) and read
  the codec configuration: SPS (exp-Golomb) for H.264/HEVC picture size, profile, level and
  frame rate; AV1 sequence header; VP9/VP8 key frame size; AAC AudioSpecificConfig; Opus ID
  header; FLAC STREAMINFO; AC-3/E-AC-3 and MP3 frame headers.

Every parser raises only :class:`grtmp.errors.CodecError` on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grtmp.errors import CodecError
from grtmp.formats import audio as _audio
from grtmp.formats import video as _video
from grtmp.formats.audio import AudioPacketType
from grtmp.formats.video import AvMultitrackType, FrameType, ModExType, VideoPacketType
from grtmp.media.audio_codecs import (
    AACConfig,
    AudioFrameInfo,
    FlacConfig,
    MultichannelConfig,
    OpusConfig,
    ac3_frame_info,
    mp3_frame_info,
    parse_audio_specific_config,
    parse_flac_header,
    parse_multichannel_config,
    parse_opus_head,
)
from grtmp.media.av1 import (
    AV1Config,
    AV1SequenceHeader,
    first_sequence_header,
    parse_av1_config,
    parse_av1_sequence_header,
    split_obus,
)
from grtmp.media.avc import AVCConfig, SPSInfo, parse_avc_config, parse_h264_sps, split_nal_units
from grtmp.media.bits import BitReader, guard
from grtmp.media.hevc import HEVCConfig, parse_hevc_config, parse_hevc_sps
from grtmp.media.vp import VPConfig, parse_vp_config, vp8_key_frame_size, vp9_key_frame_size

__all__ = [
    "AudioPacketType",
    "VideoPacketType",
    "FrameType",
    "AvMultitrackType",
    "BitReader",
    "SPSInfo",
    "AVCConfig",
    "HEVCConfig",
    "AV1SequenceHeader",
    "AV1Config",
    "VPConfig",
    "VideoTrack",
    "VideoPacket",
    "H264Packet",
    "AACConfig",
    "OpusConfig",
    "FlacConfig",
    "MultichannelConfig",
    "AudioFrameInfo",
    "AudioTrack",
    "AudioPacket",
    "AACPacket",
    "parse_video",
    "parse_audio",
    "parse_h264",
    "parse_aac",
    "parse_h264_sps",
    "parse_hevc_sps",
    "parse_av1_sequence_header",
    "parse_audio_specific_config",
    "parse_avc_config",
    "parse_hevc_config",
    "parse_av1_config",
    "parse_vp_config",
    "parse_opus_head",
    "parse_flac_header",
    "parse_multichannel_config",
    "split_nal_units",
    "split_obus",
    "is_video_keyframe",
    "is_sequence_header",
    "video_frame_type",
]

#: Upper bound on tracks in one multitrack message and ModEx entries (untrusted input).
MAX_TRACKS = 256
MAX_MOD_EX = 64


# --------------------------------------------------------------------------------------------
# Fast hot-path helpers (plain byte tests; kept in agreement with parse_* by property tests)
# --------------------------------------------------------------------------------------------

_LEGACY_AVC_LIKE = (7, 12, 13)  # AVC, and HEVC / AV1 as some non-standard encoders send them


def video_frame_type(payload: bytes) -> int:
    """Return the VideoFrameType (1 key, 2 inter, 3 disposable, 4 generated key, 5 command),
    or 0 for an empty payload."""
    if not payload:
        return 0
    return (payload[0] >> 4) & 0x07


def is_sequence_header(type_id: int, payload: bytes) -> bool:
    """True if an audio (8) or video (9) message carries a decoder configuration.

    Audio: AAC (SoundFormat 10) with AACPacketType 0; Enhanced (SoundFormat 9) SequenceStart,
    also inside Multitrack or behind ModEx. Video: legacy AVC/HEVC(12)/AV1(13) with packet
    type 0; Enhanced SequenceStart or MPEG2TSSequenceStart, also inside Multitrack/ModEx.
    """
    n = len(payload)
    if n < 2:
        return False
    b0 = payload[0]
    if type_id == 8:
        fmt = b0 >> 4
        if fmt == 10:
            return payload[1] == 0
        if fmt != 9:
            return False
        pt = b0 & 0x0F
        if pt == AudioPacketType.SEQUENCE_START:
            return True
        if pt == AudioPacketType.MULTITRACK:
            return payload[1] & 0x0F == AudioPacketType.SEQUENCE_START
        if pt == AudioPacketType.MOD_EX:
            return _slow_is_seq(parse_audio, payload)
        return False
    if type_id == 9:
        if b0 & 0x80:
            pt = b0 & 0x0F
            if (b0 >> 4) & 0x07 == FrameType.COMMAND and pt != VideoPacketType.METADATA:
                return False
            if pt in (VideoPacketType.SEQUENCE_START, VideoPacketType.MPEG2TS_SEQUENCE_START):
                return True
            if pt == VideoPacketType.MULTITRACK:
                return payload[1] & 0x0F in (
                    VideoPacketType.SEQUENCE_START,
                    VideoPacketType.MPEG2TS_SEQUENCE_START,
                )
            if pt == VideoPacketType.MOD_EX:
                return _slow_is_seq(parse_video, payload)
            return False
        if (b0 >> 4) & 0x07 == FrameType.COMMAND:
            return False
        return (b0 & 0x0F) in _LEGACY_AVC_LIKE and payload[1] == 0
    return False


def is_video_keyframe(payload: bytes) -> bool:
    """True if a video payload is a key frame carrying coded picture data (not a sequence
    header, metadata or command frame). Use it to start a GOP cache."""
    if not payload:
        return False
    b0 = payload[0]
    if (b0 >> 4) & 0x07 != FrameType.KEY:
        return False
    if len(payload) < 2:
        return not b0 & 0x80 and (b0 & 0x0F) not in _LEGACY_AVC_LIKE
    if b0 & 0x80:
        pt = b0 & 0x0F
        if pt in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
            return True
        if pt == VideoPacketType.MULTITRACK:
            return payload[1] & 0x0F in (
                VideoPacketType.CODED_FRAMES,
                VideoPacketType.CODED_FRAMES_X,
            )
        if pt == VideoPacketType.MOD_EX:
            try:
                p = parse_video(payload)
            except CodecError:
                return False
            return p.packet_type in (
                VideoPacketType.CODED_FRAMES,
                VideoPacketType.CODED_FRAMES_X,
            )
        return False
    if (b0 & 0x0F) in _LEGACY_AVC_LIKE:
        return payload[1] == 1
    return True


def _slow_is_seq(parser: Callable[[bytes], Any], payload: bytes) -> bool:
    try:
        return parser(payload).is_sequence_header
    except CodecError:
        return False

# --------------------------------------------------------------------------------------------
# Video packets
# --------------------------------------------------------------------------------------------


@dataclass
class VideoTrack:
    """One track of a video message (a plain message has exactly one, track_id 0)."""

    codec: str
    packet_type: int
    data: bytes
    track_id: int = 0
    fourcc: str | None = None
    composition_time: int = 0
    config: AVCConfig | HEVCConfig | AV1Config | VPConfig | None = None
    nalus: list[bytes] | None = None
    sequence_header: AV1SequenceHeader | None = None
    width: int | None = None
    height: int | None = None
    metadata: list[Any] | None = None


@dataclass
class VideoPacket:
    """A parsed video message (legacy FLV VideoTagHeader or Enhanced RTMP ExVideoTagHeader).

    ``packet_type`` uses the Enhanced RTMP numbering for every codec (legacy AVC packet types
    0/1/2 map to SequenceStart/CodedFrames/SequenceEnd). Single-track convenience properties
    (codec, config, nalus...) read the first track."""

    frame_type: int
    enhanced: bool
    packet_type: int
    codec_id: int | None = None
    command: int | None = None
    timestamp_offset_nano: int | None = None
    multitrack_type: int | None = None
    tracks: list[VideoTrack] = field(default_factory=list)

    @property
    def keyframe(self) -> bool:
        return self.frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)

    @property
    def is_sequence_header(self) -> bool:
        return self.command is None and self.packet_type in (
            VideoPacketType.SEQUENCE_START,
            VideoPacketType.MPEG2TS_SEQUENCE_START,
        )

    def _first(self, name: str) -> Any:
        return getattr(self.tracks[0], name) if self.tracks else None

    @property
    def codec(self) -> str | None:
        return self._first("codec")

    @property
    def fourcc(self) -> str | None:
        return self._first("fourcc")

    @property
    def composition_time(self) -> int:
        return self._first("composition_time") or 0

    @property
    def config(self) -> Any:
        return self._first("config")

    @property
    def nalus(self) -> list[bytes] | None:
        return self._first("nalus")

    @property
    def data(self) -> bytes | None:
        return self._first("data")

    @property
    def width(self) -> int | None:
        return self._first("width")

    @property
    def height(self) -> int | None:
        return self._first("height")


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def _read_mod_ex(data: bytes, pos: int, packet_type: int, mod_ex_value: int) -> tuple[int, int,
                                                                                      int | None]:
    """Walk ModEx entries from ``pos``; return (pos, final packet type, nano offset)."""
    nano = None
    count = 0
    while packet_type == mod_ex_value:
        count += 1
        if count > MAX_MOD_EX:
            raise CodecError("too many ModEx entries")
        entry = guard("ModEx entry", lambda p=pos: _video.ModExEntry.parse(data[p:]))
        size = (entry.size16 + 1) if entry.size16 is not None else entry.size8 + 1
        pos += 1 + (2 if entry.size16 is not None else 0) + size + 1
        packet_type = entry.next.packet_type
        if entry.next.mod_ex_type == ModExType.TIMESTAMP_OFFSET_NANO:
            if size < 3:
                raise CodecError("TimestampOffsetNano needs 3 bytes")
            nano = int.from_bytes(entry.data[:3], "big")
    return pos, packet_type, nano


def _video_track_body(track: VideoTrack, body: bytes, nal_length_size: int) -> None:
    """Fill a track from its body according to its codec and packet type."""
    codec, pt = track.codec, track.packet_type
    if pt == VideoPacketType.METADATA:
        from grtmp.amf import amf0

        track.metadata = guard("video metadata", lambda: amf0.decode_all(body))
        track.data = body
        return
    if pt == VideoPacketType.CODED_FRAMES and codec in ("avc", "hevc", "vvc"):
        if len(body) < 3:
            raise CodecError("CodedFrames without composition time")
        track.composition_time = int.from_bytes(body[:3], "big", signed=True)
        body = body[3:]
    track.data = body
    if pt == VideoPacketType.SEQUENCE_START:
        parser = {
            "avc": parse_avc_config,
            "hevc": parse_hevc_config,
            "av1": parse_av1_config,
            "vp9": parse_vp_config,
            "vp8": parse_vp_config,
        }.get(codec)
        if parser is not None:
            track.config = parser(body)
            track.width = track.config.width
            track.height = track.config.height
    elif pt in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        if codec in ("avc", "hevc", "vvc"):
            track.nalus = split_nal_units(body, nal_length_size)
        elif codec == "av1":
            track.sequence_header = first_sequence_header(body)
            if track.sequence_header:
                track.width = track.sequence_header.width
                track.height = track.sequence_header.height
        elif codec == "vp9" and body:
            size = vp9_key_frame_size(body)
            if size:
                track.width, track.height = size
        elif codec == "vp8" and body:
            size = vp8_key_frame_size(body)
            if size:
                track.width, track.height = size


def parse_video(payload: bytes, *, nal_length_size: int = 4) -> VideoPacket:
    """Parse a video message payload (FLV video tag body), legacy or Enhanced RTMP.

    ``nal_length_size`` is the NAL length prefix size for AVC/HEVC frames (4 in practice; the
    sequence header's ``config.nal_length_size`` says for sure).
    """
    if not payload:
        raise CodecError("empty video payload")
    payload = bytes(payload)
    b0 = payload[0]
    frame_type = (b0 >> 4) & 0x07
    if not b0 & 0x80:
        return _parse_legacy_video(payload, frame_type, nal_length_size)
    pkt = VideoPacket(frame_type=frame_type, enhanced=True, packet_type=b0 & 0x0F)
    pos, pt, pkt.timestamp_offset_nano = _read_mod_ex(payload, 1, b0 & 0x0F,
                                                      VideoPacketType.MOD_EX)
    pkt.packet_type = pt
    if pt != VideoPacketType.METADATA and frame_type == FrameType.COMMAND:
        if pos >= len(payload):
            raise CodecError("command frame without command byte")
        pkt.command = payload[pos]
        return pkt
    fourcc = None
    if pt == VideoPacketType.MULTITRACK:
        if pos >= len(payload):
            raise CodecError("truncated multitrack header")
        mt, pt = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if pt == VideoPacketType.MULTITRACK:
            raise CodecError("nested multitrack")
        if mt > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
            raise CodecError(f"reserved AvMultitrackType {mt}")
        pkt.multitrack_type, pkt.packet_type = mt, pt
    if pt > VideoPacketType.MULTITRACK:
        raise CodecError(f"bad video packet type {pt}")
    if pkt.multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        if pos + 4 > len(payload):
            raise CodecError("truncated FourCC")
        fourcc = _fourcc(payload[pos:pos + 4])
        pos += 4
    while True:
        track_id = 0
        end = len(payload)
        if pkt.multitrack_type is not None:
            if pkt.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS:
                if pos + 4 > len(payload):
                    raise CodecError("truncated track FourCC")
                fourcc = _fourcc(payload[pos:pos + 4])
                pos += 4
            if pos >= len(payload):
                raise CodecError("truncated track id")
            track_id = payload[pos]
            pos += 1
            if pkt.multitrack_type != AvMultitrackType.ONE_TRACK:
                if pos + 3 > len(payload):
                    raise CodecError("truncated track size")
                size = int.from_bytes(payload[pos:pos + 3], "big")
                pos += 3
                end = pos + size
                if end > len(payload):
                    raise CodecError("track overruns message")
        assert fourcc is not None
        codec = _video.VIDEO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown video FourCC {fourcc!r}")
        track = VideoTrack(codec=codec, packet_type=pt, data=b"", track_id=track_id,
                           fourcc=fourcc)
        _video_track_body(track, payload[pos:end], nal_length_size)
        pkt.tracks.append(track)
        pos = end
        if pkt.multitrack_type in (None, AvMultitrackType.ONE_TRACK) or pos >= len(payload):
            break
        if len(pkt.tracks) >= MAX_TRACKS:
            raise CodecError("too many tracks")
    return pkt


_LEGACY_PT = {
    _video.AvcPacketType.SEQUENCE_HEADER: VideoPacketType.SEQUENCE_START,
    _video.AvcPacketType.NALU: VideoPacketType.CODED_FRAMES,
    _video.AvcPacketType.END_OF_SEQUENCE: VideoPacketType.SEQUENCE_END,
}


def _parse_legacy_video(payload: bytes, frame_type: int, nal_length_size: int) -> VideoPacket:
    codec_id = payload[0] & 0x0F
    codec = _video.VIDEO_CODEC_IDS.get(codec_id)
    if codec is None:
        raise CodecError(f"unknown video codec id {codec_id}")
    pkt = VideoPacket(frame_type=frame_type, enhanced=False,
                      packet_type=VideoPacketType.CODED_FRAMES, codec_id=codec_id)
    if frame_type == FrameType.COMMAND:
        if len(payload) < 2:
            raise CodecError("command frame without command byte")
        pkt.command = payload[1]
        return pkt
    track = VideoTrack(codec=codec, packet_type=VideoPacketType.CODED_FRAMES, data=payload[1:])
    if codec_id in _LEGACY_AVC_LIKE:
        if len(payload) < 5:
            raise CodecError("truncated AVC video packet header")
        hdr = _video.AVCVideoPacket.parse(payload[1:5])
        pt = _LEGACY_PT.get(hdr.avc_packet_type)
        if pt is None:
            raise CodecError(f"bad AVCPacketType {hdr.avc_packet_type}")
        pkt.packet_type = track.packet_type = pt
        track.composition_time = hdr.composition_time
        body = payload[5:]
        track.data = body
        if pt == VideoPacketType.SEQUENCE_START:
            track.config = {"avc": parse_avc_config, "hevc": parse_hevc_config,
                            "av1": parse_av1_config}[codec](body)
            track.width, track.height = track.config.width, track.config.height
        elif pt == VideoPacketType.CODED_FRAMES:
            if codec == "av1":
                track.sequence_header = first_sequence_header(body)
            else:
                track.nalus = split_nal_units(body, nal_length_size)
    pkt.tracks.append(track)
    return pkt


@dataclass
class H264Packet:
    """A parsed H.264 video message (legacy codec id 7 or Enhanced RTMP 'avc1')."""

    frame_type: int
    keyframe: bool
    packet_type: int
    composition_time: int
    config: AVCConfig | None
    nalus: list[bytes]
    data: bytes

    @property
    def is_sequence_header(self) -> bool:
        return self.packet_type == VideoPacketType.SEQUENCE_START


def parse_h264(data: bytes, *, nal_length_size: int = 4) -> H264Packet:
    """Parse an H.264 video message: sequence header -> :class:`AVCConfig` (SPS/PPS, parsed
    SPS); frames -> key frame flag, composition time and NAL units."""
    pkt = parse_video(data, nal_length_size=nal_length_size)
    if pkt.codec != "avc" or pkt.command is not None:
        raise CodecError(f"not an H.264 packet (codec {pkt.codec})")
    return H264Packet(
        frame_type=pkt.frame_type,
        keyframe=pkt.keyframe,
        packet_type=pkt.packet_type,
        composition_time=pkt.composition_time,
        config=pkt.config,
        nalus=pkt.nalus or [],
        data=pkt.data or b"",
    )


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------

@dataclass
class AudioTrack:
    """One track of an audio message (a plain message has exactly one, track_id 0)."""

    codec: str
    packet_type: int
    data: bytes
    track_id: int = 0
    fourcc: str | None = None
    config: AACConfig | OpusConfig | FlacConfig | MultichannelConfig | None = None
    frame_info: AudioFrameInfo | None = None

    @property
    def sample_rate(self) -> int | None:
        for src in (self.config, self.frame_info):
            rate = getattr(src, "sample_rate", None)
            if rate:
                return rate
        return None

    @property
    def channels(self) -> int | None:
        for src in (self.config, self.frame_info):
            ch = getattr(src, "channels", None)
            if ch:
                return ch
        return None


@dataclass
class AudioPacket:
    """A parsed audio message (legacy AudioTagHeader or Enhanced RTMP ExAudioTagHeader).

    An empty payload is the RTMP "silence" message: no tracks, ``silence`` True."""

    sound_format: int | None
    enhanced: bool
    packet_type: int
    sound_rate: int | None = None
    sound_size: int | None = None
    sound_type: int | None = None
    timestamp_offset_nano: int | None = None
    multitrack_type: int | None = None
    tracks: list[AudioTrack] = field(default_factory=list)

    @property
    def silence(self) -> bool:
        return self.sound_format is None

    @property
    def is_sequence_header(self) -> bool:
        return bool(self.tracks) and self.packet_type == AudioPacketType.SEQUENCE_START

    def _first(self, name: str) -> Any:
        return getattr(self.tracks[0], name) if self.tracks else None

    @property
    def codec(self) -> str | None:
        return self._first("codec")

    @property
    def fourcc(self) -> str | None:
        return self._first("fourcc")

    @property
    def config(self) -> Any:
        return self._first("config")

    @property
    def data(self) -> bytes | None:
        return self._first("data")

    @property
    def sample_rate(self) -> int | None:
        """From the codec config or frame header; for legacy codecs the FLV header's rate."""
        rate = self._first("sample_rate")
        if rate is None and self.sound_rate is not None and self.codec != "aac":
            rate = _audio.SOUND_RATES[self.sound_rate]
        return rate

    @property
    def channels(self) -> int | None:
        ch = self._first("channels")
        if ch is None and self.sound_type is not None and self.codec != "aac":
            ch = self.sound_type + 1
        return ch


def _audio_track_body(track: AudioTrack, body: bytes) -> None:
    codec, pt = track.codec, track.packet_type
    track.data = body
    if pt == AudioPacketType.SEQUENCE_START:
        if codec == "aac":
            track.config = parse_audio_specific_config(body)
        elif codec == "opus" and body:
            track.config = parse_opus_head(body)
        elif codec == "flac":
            track.config = parse_flac_header(body)
    elif pt == AudioPacketType.MULTICHANNEL_CONFIG:
        track.config = parse_multichannel_config(body)
    elif pt == AudioPacketType.CODED_FRAMES and body:
        if codec in ("ac3", "eac3"):
            track.frame_info = ac3_frame_info(body)
        elif codec == "mp3":
            track.frame_info = mp3_frame_info(body)


def parse_audio(payload: bytes) -> AudioPacket:
    """Parse an audio message payload (FLV audio tag body), legacy or Enhanced RTMP."""
    payload = bytes(payload)
    if not payload:
        return AudioPacket(sound_format=None, enhanced=False,
                           packet_type=AudioPacketType.SEQUENCE_END)
    b0 = payload[0]
    fmt = b0 >> 4
    if fmt != _audio.SOUND_FORMAT_EX_HEADER:
        return _parse_legacy_audio(payload)
    pkt = AudioPacket(sound_format=fmt, enhanced=True, packet_type=b0 & 0x0F)
    pos, pt, pkt.timestamp_offset_nano = _read_mod_ex(payload, 1, b0 & 0x0F,
                                                      AudioPacketType.MOD_EX)
    if pt == AudioPacketType.MULTITRACK:
        if pos >= len(payload):
            raise CodecError("truncated multitrack header")
        mt, pt = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if pt == AudioPacketType.MULTITRACK:
            raise CodecError("nested multitrack")
        if mt > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
            raise CodecError(f"reserved AvMultitrackType {mt}")
        pkt.multitrack_type = mt
    if pt not in (AudioPacketType.SEQUENCE_START, AudioPacketType.CODED_FRAMES,
                  AudioPacketType.SEQUENCE_END, AudioPacketType.MULTICHANNEL_CONFIG):
        raise CodecError(f"bad audio packet type {pt}")
    pkt.packet_type = pt
    fourcc = None
    if pkt.multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        if pos + 4 > len(payload):
            raise CodecError("truncated FourCC")
        fourcc = _fourcc(payload[pos:pos + 4])
        pos += 4
    while True:
        track_id = 0
        end = len(payload)
        if pkt.multitrack_type is not None:
            if pkt.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS:
                if pos + 4 > len(payload):
                    raise CodecError("truncated track FourCC")
                fourcc = _fourcc(payload[pos:pos + 4])
                pos += 4
            if pos >= len(payload):
                raise CodecError("truncated track id")
            track_id = payload[pos]
            pos += 1
            if pkt.multitrack_type != AvMultitrackType.ONE_TRACK:
                if pos + 3 > len(payload):
                    raise CodecError("truncated track size")
                end = pos + 3 + int.from_bytes(payload[pos:pos + 3], "big")
                pos += 3
                if end > len(payload):
                    raise CodecError("track overruns message")
        assert fourcc is not None
        codec = _audio.AUDIO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown audio FourCC {fourcc!r}")
        track = AudioTrack(codec=codec, packet_type=pt, data=b"", track_id=track_id,
                           fourcc=fourcc)
        _audio_track_body(track, payload[pos:end])
        pkt.tracks.append(track)
        pos = end
        if pkt.multitrack_type in (None, AvMultitrackType.ONE_TRACK) or pos >= len(payload):
            break
        if len(pkt.tracks) >= MAX_TRACKS:
            raise CodecError("too many tracks")
    return pkt


def _parse_legacy_audio(payload: bytes) -> AudioPacket:
    b0 = payload[0]
    fmt = b0 >> 4
    codec = _audio.SOUND_FORMATS.get(fmt)
    if codec is None:
        raise CodecError(f"reserved sound format {fmt}")
    pkt = AudioPacket(sound_format=fmt, enhanced=False, packet_type=AudioPacketType.CODED_FRAMES,
                      sound_rate=(b0 >> 2) & 3, sound_size=(b0 >> 1) & 1, sound_type=b0 & 1)
    track = AudioTrack(codec=codec, packet_type=AudioPacketType.CODED_FRAMES, data=payload[1:])
    if fmt == _audio.SOUND_FORMAT_AAC:
        if len(payload) < 2:
            raise CodecError("AAC packet without AACPacketType")
        aac_pt = payload[1]
        if aac_pt not in (0, 1):
            raise CodecError(f"bad AACPacketType {aac_pt}")
        pkt.packet_type = track.packet_type = aac_pt  # same numbering as AudioPacketType
        track.data = payload[2:]
        if aac_pt == 0:
            track.config = parse_audio_specific_config(track.data)
    elif codec in ("mp3", "mp3_8k") and len(payload) >= 5:
        track.frame_info = mp3_frame_info(payload[1:])
    pkt.tracks.append(track)
    return pkt


@dataclass
class AACPacket:
    """A parsed AAC audio message (legacy SoundFormat 10 or Enhanced RTMP 'mp4a')."""

    packet_type: int
    config: AACConfig | None
    data: bytes

    @property
    def is_sequence_header(self) -> bool:
        return self.packet_type == AudioPacketType.SEQUENCE_START


def parse_aac(data: bytes) -> AACPacket:
    """Parse an AAC audio message: sequence header -> :class:`AACConfig`; raw frames -> data."""
    pkt = parse_audio(data)
    if pkt.codec != "aac":
        raise CodecError(f"not an AAC packet (codec {pkt.codec})")
    return AACPacket(packet_type=pkt.packet_type, config=pkt.config, data=pkt.data or b"")
