"""The one classifier of audio/video message bytes: what the fan-out, the GOP cache and the
recorder need to know about a message (frame, keyframe, sequence header), read from its first
bytes (legacy FLV tag headers and Enhanced RTMP ExVideoTagHeader / ExAudioTagHeader).
"""

from __future__ import annotations

from typing import Any

from grtmp.wire.message import AUDIO, VIDEO

__all__ = ["KIND_OTHER", "KIND_FRAME", "KIND_KEYFRAME", "KIND_HEADER", "classify"]

# Kinds of media message, as the fan-out needs to know them.
KIND_OTHER = 0
KIND_FRAME = 1
KIND_KEYFRAME = 2
KIND_HEADER = 3  # sequence header / decoder configuration: cached for late joiners


def classify(type_id: int, payload: bytes) -> tuple[int, Any]:
    """Return ``(kind, header_key)`` of a media message by looking at its first bytes.

    Works for legacy FLV codec ids and Enhanced RTMP (ExVideoTagHeader / ExAudioTagHeader).
    ``header_key`` tells sequence headers of different codecs or tracks apart.
    Codecs are detected from packets, never from onMetaData.
    """
    n = len(payload)
    if n == 0:
        return KIND_OTHER, None
    b0 = payload[0]
    if type_id == VIDEO:
        if b0 & 0x80:  # Enhanced RTMP: IsExHeader
            frame_type = (b0 >> 4) & 7
            packet_type = b0 & 0x0F
            if packet_type == 7 and n > 1:  # ModEx: the real packet type is in the ModEx trailer
                # We cannot cheaply skip ModEx data; treat as frame by frame type.
                packet_type = 1
            if packet_type == 6 and n > 1:  # Multitrack: AvMultitrackType<<4 | inner packet type
                packet_type = payload[1] & 0x0F
                key = (VIDEO, bytes(payload[1:7]))  # type byte, FourCC, first track id
            else:
                key = (VIDEO, bytes(payload[1:5]))
            if packet_type in (0, 4, 5):  # SequenceStart, Metadata, MPEG2TSSequenceStart
                return KIND_HEADER, key + (packet_type,)
            if packet_type == 2:  # SequenceEnd
                return KIND_OTHER, None
            if frame_type == 5:  # command frame
                return KIND_OTHER, None
            return (KIND_KEYFRAME if frame_type == 1 else KIND_FRAME), None
        frame_type = b0 >> 4
        codec = b0 & 0x0F
        if frame_type == 5:  # video info / command frame
            return KIND_OTHER, None
        if codec in (7, 12, 13) and n > 1:
            if payload[1] == 0:
                return KIND_HEADER, (VIDEO, codec)
            if payload[1] == 2:  # end of sequence
                return KIND_OTHER, None
        return (KIND_KEYFRAME if frame_type == 1 else KIND_FRAME), None
    if type_id == AUDIO:
        fmt = b0 >> 4
        if fmt == 10:
            if n > 1 and payload[1] == 0:
                return KIND_HEADER, (AUDIO, 10)
            return KIND_FRAME, None
        if fmt == 9:  # Enhanced RTMP audio: ExAudioTagHeader
            packet_type = b0 & 0x0F
            if packet_type == 5 and n > 1:  # Multitrack
                inner = payload[1] & 0x0F
                if inner in (0, 4):
                    return KIND_HEADER, (AUDIO, bytes(payload[1:7]), inner)
                return KIND_FRAME, None
            if packet_type in (0, 4):  # SequenceStart, MultichannelConfig
                return KIND_HEADER, (AUDIO, bytes(payload[1:5]), packet_type)
            return KIND_FRAME, None
        return KIND_FRAME, None
    return KIND_OTHER, None
