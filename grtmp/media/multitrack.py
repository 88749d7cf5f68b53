"""Enhanced RTMP multitrack messages: take one track out as a plain single-track message.

Players that did not declare the ``capsEx`` Multitrack bit in ``connect`` get the default track
(track id 0) of every multitrack message, re-packed as an ordinary ExVideoTagHeader /
ExAudioTagHeader message. Pure byte work, no sockets (Enhanced RTMP v2, "Multitrack").
"""

from __future__ import annotations

from grtmp.errors import CodecError
from grtmp.wire.message import AUDIO, VIDEO

VIDEO_MULTITRACK = 6
AUDIO_MULTITRACK = 5
MOD_EX = 7
ONE_TRACK = 0
MANY_TRACKS = 1
MANY_TRACKS_MANY_CODECS = 2


def is_multitrack(type_id: int, payload: bytes) -> bool:
    """True for an Enhanced RTMP multitrack video or audio message (without ModEx)."""
    if not payload:
        return False
    b0 = payload[0]
    if type_id == VIDEO:
        return bool(b0 & 0x80) and (b0 & 0x0F) == VIDEO_MULTITRACK
    if type_id == AUDIO:
        return (b0 >> 4) == 9 and (b0 & 0x0F) == AUDIO_MULTITRACK
    return False


def split_tracks(type_id: int, payload: bytes) -> tuple[int, list[tuple[int, bytes, bytes]]]:
    """Return ``(inner packet type, [(track id, fourcc, body), ...])`` of a multitrack message.

    ``body`` is what follows the FourCC in a single-track message of the same packet type.
    Raises :class:`CodecError` on a truncated or malformed message.
    """
    if not is_multitrack(type_id, payload):
        raise CodecError("not a multitrack message")
    n = len(payload)
    if n < 2:
        raise CodecError("multitrack message too short")
    mt_type = payload[1] >> 4
    inner = payload[1] & 0x0F
    if mt_type > MANY_TRACKS_MANY_CODECS:
        raise CodecError(f"unknown AvMultitrackType {mt_type}")
    pos = 2
    fourcc = b""
    if mt_type != MANY_TRACKS_MANY_CODECS:
        if pos + 4 > n:
            raise CodecError("multitrack FourCC truncated")
        fourcc = bytes(payload[pos:pos + 4])
        pos += 4
    tracks: list[tuple[int, bytes, bytes]] = []
    while pos < n:
        cc = fourcc
        if mt_type == MANY_TRACKS_MANY_CODECS:
            if pos + 4 > n:
                raise CodecError("track FourCC truncated")
            cc = bytes(payload[pos:pos + 4])
            pos += 4
        if pos >= n:
            raise CodecError("track id truncated")
        track_id = payload[pos]
        pos += 1
        if mt_type == ONE_TRACK:
            size = n - pos
        else:
            if pos + 3 > n:
                raise CodecError("track size truncated")
            size = int.from_bytes(payload[pos:pos + 3], "big")
            pos += 3
            if pos + size > n:
                raise CodecError(f"track {track_id} claims {size} bytes, {n - pos} left")
        tracks.append((track_id, cc, bytes(payload[pos:pos + size])))
        pos += size
        if mt_type == ONE_TRACK:
            break
    return inner, tracks


def single_track(type_id: int, payload: bytes, track_id: int = 0) -> bytes | None:
    """The message for one track of a multitrack message, or None when that track is absent."""
    inner, tracks = split_tracks(type_id, payload)
    for tid, cc, body in tracks:
        if tid == track_id:
            if type_id == VIDEO:
                first = 0x80 | (payload[0] & 0x70) | inner
            else:
                first = 0x90 | inner
            return bytes((first,)) + cc + body
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
