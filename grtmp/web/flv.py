"""FLV bytes for HTTP-FLV and WebSocket-FLV viewers, built once per packet.

An HTTP-FLV or WS-FLV body is an FLV file that never ends (Adobe FLV spec v10.1, annex E): the
header (E.2) with the audio/video flags of the stream, ``PreviousTagSize0``, then one tag per
RTMP message (E.4.1): the message payload unchanged, so Enhanced RTMP messages (HEVC, AV1, VP9,
Opus FourCCs) become Enhanced FLV tags, which mpegts.js and FFmpeg read.

Fan-out is "build once, send many", as for RTMP chunks (:meth:`grtmp.live.Packet.chunked`):
each packet's tag bytes, and the same bytes framed as an HTTP/1.1 chunk or as a WebSocket
binary message, are built the first time a viewer needs them and cached on the packet
(:meth:`grtmp.live.Packet.encoded`), so 50 viewers cost one encoding and 50 sends. The
WebSocket frame is the same for every viewer because server frames are never masked (RFC 6455
5.1) and no extension is negotiated, so wsproto's frame for one connection is the frame for all.
"""

from __future__ import annotations

import struct
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage

from grtmp.formats.flv import FLV_HEADER_SIZE, FLV_TAG_HEADER_SIZE, FlvHeader, PreviousTagSize
from grtmp.live.packet import Packet
from grtmp.media.flv import MAX_TAG_SIZE, tag_header
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO

__all__ = ["file_header", "stream_flags", "flv_tag", "chunked_tag", "ws_tag", "http_chunk",
           "ws_message", "encoder", "is_media", "FLV", "FLV_CHUNKED", "FLV_WS"]

#: How a viewer's transport frames the bytes (the keys of the per-packet cache).
FLV = "flv"
FLV_CHUNKED = "flv-chunked"
FLV_WS = "flv-ws"

_PREVIOUS = struct.Struct(">I")
#: Frames server messages for every viewer (unmasked, no extension: the same bytes for all).
_WS_FRAMER = Connection(ConnectionType.SERVER)


def file_header(has_audio: bool, has_video: bool) -> bytes:
    """The FLV header (E.2) and ``PreviousTagSize0``."""
    return FlvHeader.build({
        "version": 1,
        "flags": {"reserved1": 0, "has_audio": has_audio, "reserved2": 0,
                  "has_video": has_video},
        "data_offset": FLV_HEADER_SIZE,
    }) + PreviousTagSize.build(0)


def stream_flags(stream: Any) -> tuple[bool, bool]:
    """(has_audio, has_video) for the FLV header of a viewer joining ``stream`` now.

    What the publisher really sends decides: its sequence headers, the GOP cache, then the
    ``audiocodecid``/``videocodecid`` of onMetaData (which arrives first from FFmpeg and OBS).
    Before any of those (a viewer waiting for a publisher) both flags are set, as SRS and
    nginx-http-flv do: a player told "no audio" would ignore audio that comes later, while one
    told "audio" that gets none only waits for it briefly (mpegts.js, FFmpeg).
    """
    audio = video = False
    for packet in list(stream.headers.values()) + list(stream.gop.packets):
        if packet.type_id == AUDIO:
            audio = True
        elif packet.type_id == VIDEO:
            video = True
    meta = stream.metadata or {}
    if meta.get("audiocodecid") not in (None, "", 0) or meta.get("stereo") is not None:
        audio = True
    if meta.get("videocodecid") not in (None, "", 0) or meta.get("width"):
        video = True
    if not audio and not video:
        return True, True
    return audio, video


def _tag(packet: Packet) -> bytes:
    payload = packet.payload
    size = len(payload)
    if size > MAX_TAG_SIZE:  # cannot happen for RTMP messages (24-bit length); be safe
        return b""
    return b"".join((tag_header(packet.type_id, packet.timestamp, size), payload,
                     _PREVIOUS.pack(FLV_TAG_HEADER_SIZE + size)))


def http_chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (RFC 9112 7.1); empty data gives no bytes (an empty
    chunk would end the body)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def ws_message(data: bytes) -> bytes:
    """``data`` as one WebSocket binary message from the server (wsproto's framing)."""
    return _WS_FRAMER.send(BytesMessage(data=data))


def flv_tag(packet: Packet) -> bytes:
    """The FLV tag of ``packet`` (header, payload, PreviousTagSize), built once."""
    return packet.encoded(FLV, _tag)


def chunked_tag(packet: Packet) -> bytes:
    """The FLV tag as an HTTP chunk, built once."""
    return packet.encoded(FLV_CHUNKED, lambda p: http_chunk(flv_tag(p)))


def ws_tag(packet: Packet) -> bytes:
    """The FLV tag as a WebSocket binary message, built once."""
    return packet.encoded(FLV_WS, lambda p: ws_message(flv_tag(p)))


_ENCODERS = {FLV: flv_tag, FLV_CHUNKED: chunked_tag, FLV_WS: ws_tag}
_FRAMES = {FLV: lambda b: b, FLV_CHUNKED: http_chunk, FLV_WS: ws_message}


def encoder(framing: str) -> Any:
    """``(packet -> bytes, bytes -> framed bytes)`` for a transport's framing."""
    return _ENCODERS[framing], _FRAMES[framing]


def is_media(packet: Packet) -> bool:
    """Whether an FLV viewer gets ``packet`` (audio, video, script data)."""
    return packet.type_id in (AUDIO, VIDEO, DATA_AMF0)

