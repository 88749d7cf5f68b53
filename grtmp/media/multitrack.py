"""Enhanced RTMP multitrack messages: take one track out as a plain single-track message.

Players that did not declare the ``capsEx`` Multitrack bit in ``connect`` get the default track
(track id 0) of every multitrack message, re-packed as an ordinary ExVideoTagHeader /
ExAudioTagHeader message (ModEx entries in front of the Multitrack header are kept). The tag
header and the per-track headers are read by :mod:`grtmp.media.tag`. Pure byte work, no
sockets (Enhanced RTMP v2, "Multitrack").
"""

from __future__ import annotations

from grtmp.errors import CodecError
from grtmp.formats.audio import AudioPacketType
from grtmp.formats.video import AvMultitrackType, VideoPacketType
from grtmp.media.tag import AUDIO, VIDEO, iter_tracks, read_tag_header, scan_ex_header

__all__ = ["is_multitrack", "split_tracks", "single_track", "build_multitrack",
           "ONE_TRACK", "MANY_TRACKS", "MANY_TRACKS_MANY_CODECS"]

VIDEO_MULTITRACK = int(VideoPacketType.MULTITRACK)
AUDIO_MULTITRACK = int(AudioPacketType.MULTITRACK)
MOD_EX = int(VideoPacketType.MOD_EX)
ONE_TRACK = int(AvMultitrackType.ONE_TRACK)
MANY_TRACKS = int(AvMultitrackType.MANY_TRACKS)
MANY_TRACKS_MANY_CODECS = int(AvMultitrackType.MANY_TRACKS_MANY_CODECS)


def is_multitrack(type_id: int, payload: bytes) -> bool:
    """True for an Enhanced RTMP multitrack video or audio message (also behind ModEx)."""
    if not payload:
        return False
    b0 = payload[0]
    pt = b0 & 0x0F
    # Only an enhanced header whose packet type is Multitrack or ModEx can be multitrack.
    if type_id == VIDEO:
        if not b0 & 0x80 or (pt != VIDEO_MULTITRACK and pt != MOD_EX):
            return False
    elif type_id != AUDIO or b0 >> 4 != 9 or (pt != AUDIO_MULTITRACK and pt != MOD_EX):
        return False
    try:
        return scan_ex_header(type_id, payload)[2] is not None
    except CodecError:
        return False


def split_tracks(type_id: int, payload: bytes) -> tuple[int, list[tuple[int, bytes, bytes]]]:
    """Return ``(inner packet type, [(track id, fourcc, body), ...])`` of a multitrack message.

    ``body`` is what follows the FourCC in a single-track message of the same packet type.
    Raises :class:`CodecError` on a truncated or malformed message.
    """
    h = read_tag_header(type_id, payload)
    if h.multitrack_type is None:
        raise CodecError("not a multitrack message")
    tracks = [(tid, fourcc or b"", bytes(payload[start:end]))
              for tid, fourcc, start, end in iter_tracks(h, payload)]
    return h.packet_type, tracks


def single_track(type_id: int, payload: bytes, track_id: int = 0) -> bytes | None:
    """The message for one track of a multitrack message, or None when that track is absent.

    The first byte keeps the frame type (video); ModEx entries before the Multitrack header
    are kept, the last one now announcing the tracks' packet type.
    """
    h = read_tag_header(type_id, payload)
    if h.multitrack_type is None:
        raise CodecError("not a multitrack message")
    for tid, fourcc, start, end in iter_tracks(h, payload):
        if tid == track_id:
            assert fourcc is not None
            high = payload[0] & 0xF0  # ExHeader + frame type, or SoundFormat 9
            if h.mod_ex_end > 1:
                last = h.mod_ex_end - 1  # the byte: ModExType | next packet type
                head = bytes((high | MOD_EX,)) + bytes(payload[1:last]) + bytes(
                    ((payload[last] & 0xF0) | h.packet_type,))
            else:
                head = bytes((high | h.packet_type,))
            return head + fourcc + bytes(payload[start:end])
    return None


def build_multitrack(type_id: int, first_byte_bits: int, inner: int,
                     tracks: list[tuple[int, bytes, bytes]],
                     mt_type: int = MANY_TRACKS) -> bytes:
    """Build a multitrack message (tests and tools); ``first_byte_bits`` = frame type for video."""
    if type_id == VIDEO:
        head = bytes((0x80 | (first_byte_bits & 0x70) | VIDEO_MULTITRACK,))
    else:
        head = bytes((0x90 | AUDIO_MULTITRACK,))
    out = [head, bytes(((mt_type << 4) | inner,))]
    if mt_type != MANY_TRACKS_MANY_CODECS:
        out.append(tracks[0][1])
    for tid, cc, body in tracks:
        if mt_type == MANY_TRACKS_MANY_CODECS:
            out.append(cc)
        out.append(bytes((tid,)))
        if mt_type != ONE_TRACK:
            out.append(len(body).to_bytes(3, "big"))
        out.append(body)
    return b"".join(out)
