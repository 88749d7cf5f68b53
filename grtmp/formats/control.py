"""Protocol control messages, User Control events and aggregate sub-tags (RTMP 1.0 5.4, 6.2, 7.1).

One struct per spec figure; field names from the spec. All integers are big-endian.

Protocol control messages (message stream 0, chunk stream 2)::

    1 Set Chunk Size            0 (1 bit) | chunk size (31 bits)
    2 Abort Message             chunk stream id (32 bits)
    3 Acknowledgement           sequence number (32 bits)
    5 Window Acknowledgement    acknowledgement window size (32 bits)
    6 Set Peer Bandwidth        acknowledgement window size (32 bits) | limit type (8 bits)

User Control Message (type 4): event type (16 bits) | event data, where the data is one 32-bit
stream id (StreamBegin 0, StreamEOF 1, StreamDry 2, StreamIsRecorded 4), a stream id and a
buffer length in ms (SetBufferLength 3) or a 32-bit timestamp (PingRequest 6, PingResponse 7).

Aggregate message (type 22): a run of FLV tags, each the 11-byte FLV tag header (type, 24-bit
data size, 24-bit timestamp + 8-bit extended timestamp, 24-bit stream id), the data, then a
32-bit back pointer (the size of the tag just ended: 11 + data size).

Symbolic fields (``limit_type``, ``event_type``) parse to names: compare with ``int(value)``.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Enum,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    Struct,
    this,
)

from .flv import FLV_TAG_HEADER_SIZE, FlvTagHeader

__all__ = [
    "UserControlEvent",
    "PeerBandwidthLimit",
    "SetChunkSize",
    "Abort",
    "Acknowledgement",
    "WindowAcknowledgementSize",
    "SetPeerBandwidth",
    "UserControl",
    "StreamIdEvent",
    "SetBufferLengthEvent",
    "PingEvent",
    "AggregateTag",
    "AggregateBody",
    "AGGREGATE_TAG_HEADER_SIZE",
    "AGGREGATE_BACK_POINTER_SIZE",
]


class UserControlEvent(IntEnum):
    """User Control Message event types (RTMP 1.0 section 7.1.7)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class PeerBandwidthLimit(IntEnum):
    """Limit type of Set Peer Bandwidth (RTMP 1.0 section 5.4.5)."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


#: 5.4.1 Set Chunk Size (type 1). The first bit MUST be zero; valid sizes are 1..0x7FFFFFFF.
SetChunkSize = BitStruct(
    "zero" / BitsInteger(1),
    "chunk_size" / BitsInteger(31),
)

#: 5.4.2 Abort Message (type 2).
Abort = Struct(
    "chunk_stream_id" / Int32ub,
)

#: 5.4.3 Acknowledgement (type 3).
Acknowledgement = Struct(
    "sequence_number" / Int32ub,
)

#: 5.4.4 Window Acknowledgement Size (type 5).
WindowAcknowledgementSize = Struct(
    "acknowledgement_window_size" / Int32ub,
)

#: 5.4.5 Set Peer Bandwidth (type 6). Limit type: 0 Hard, 1 Soft, 2 Dynamic.
SetPeerBandwidth = Struct(
    "acknowledgement_window_size" / Int32ub,
    "limit_type" / Enum(Int8ub, PeerBandwidthLimit),
)

#: 6.2 / 7.1.7 User Control Message (type 4): event type and raw event data.
UserControl = Struct(
    "event_type" / Enum(Int16ub, UserControlEvent),
    "event_data" / GreedyBytes,
)

#: Event data of StreamBegin, StreamEOF, StreamDry and StreamIsRecorded.
StreamIdEvent = Struct(
    "stream_id" / Int32ub,
)

#: Event data of SetBufferLength.
SetBufferLengthEvent = Struct(
    "stream_id" / Int32ub,
    "buffer_length" / Int32ub,
)

#: Event data of PingRequest and PingResponse.
PingEvent = Struct(
    "timestamp" / Int32ub,
)

#: One sub-tag of an aggregate message (7.1.6): the FLV tag header (:data:`FlvTagHeader`: type,
#: data size, 24 + 8-bit timestamp, stream id), the data, then the back pointer (the size of
#: the tag just ended: 11 + data size).
AggregateTag = Struct(
    "header" / FlvTagHeader,
    "data" / Bytes(this.header.data_size),
    "back_pointer" / Int32ub,
)

#: 7.1.6 Aggregate Message (type 22) body: tags until the payload ends.
AggregateBody = GreedyRange(AggregateTag)

#: Size of an aggregate sub-tag header and of its back pointer.
AGGREGATE_TAG_HEADER_SIZE = FLV_TAG_HEADER_SIZE
AGGREGATE_BACK_POINTER_SIZE = 4
