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

Aggregate message (type 22): a run of FLV-style tags, each an 11-byte header (type, 24-bit data
size, 24-bit timestamp + 8-bit extended timestamp, 24-bit stream id), the data, then a 32-bit
back pointer (the size of the tag just ended: 11 + data size).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Rebuild,
    Struct,
    len_,
    this,
)

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
    "limit_type" / Int8ub,
)

#: 6.2 / 7.1.7 User Control Message (type 4): event type and raw event data.
UserControl = Struct(
    "event_type" / Int16ub,
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

#: One FLV-style tag inside an aggregate message (the timestamp is
#: ``timestamp | timestamp_extended << 24``).
AggregateTag = Struct(
    "tag_type" / Int8ub,
    "data_size" / Rebuild(Int24ub, len_(this.data)),
    "timestamp" / Int24ub,
    "timestamp_extended" / Int8ub,
    "stream_id" / Int24ub,
    "data" / Bytes(this.data_size),
    "back_pointer" / Int32ub,
)

#: 7.1.6 Aggregate Message (type 22) body: tags until the payload ends.
AggregateBody = GreedyRange(AggregateTag)

#: Size of an aggregate sub-tag header and of its back pointer.
AGGREGATE_TAG_HEADER_SIZE = 11
AGGREGATE_BACK_POINTER_SIZE = 4
