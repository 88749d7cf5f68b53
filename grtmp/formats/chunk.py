"""Chunk headers of the RTMP chunk stream (RTMP 1.0 section 5.3.1), declared with construct.

These declarations are the documentation of record for the chunk layout. The per-chunk hot path
in :mod:`grtmp.wire.chunk` uses precomputed ``struct.Struct`` objects instead (about 30x faster); a
property test (tests/formats/test_formats_chunk.py) proves both agree on random headers.

Chunk format (5.3.1)::

    +--------------+----------------+--------------------+--------------+
    | Basic Header | Message Header | Extended Timestamp |  Chunk Data  |
    +--------------+----------------+--------------------+--------------+
    |<------------------- Chunk Header ----------------->|

Basic header (5.3.1.1), 1, 2 or 3 bytes; ``cs id`` 2..63 / 64..319 / 64..65599::

    |fmt|   cs id   |        |fmt|     0     |  cs id - 64  |
                             |fmt|     1     |  cs id - 64 (little endian, 16 bits)  |

Message header (5.3.1.2), 11 / 7 / 3 / 0 bytes for fmt 0 / 1 / 2 / 3. Timestamps and the
message length are big endian; the message stream id (fmt 0) is little endian. A 24-bit
timestamp field of 0xFFFFFF means a 32-bit Extended Timestamp (5.3.1.3) follows the message
header. On fmt 3 chunks the extended timestamp is present when the latest fmt 0/1/2 header of
that chunk stream used one; parse with ``ChunkHeader.parse(data, fmt3_extended=True)``.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    BitsInteger,
    BitStruct,
    Computed,
    Enum,
    ExprAdapter,
    If,
    Int8ub,
    Int16ul,
    Int24ub,
    Int32ub,
    Int32ul,
    Rebuild,
    Struct,
    Switch,
    obj_,
    this,
)


class MessageType(IntEnum):
    """Message type ids (RTMP 1.0 sections 5.4, 7.1)."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


#: Message type id field, parsed to the type's name (an unknown id stays a number).
MessageTypeField = Enum(Int8ub, MessageType)

#: Value of a 24-bit timestamp field that announces an Extended Timestamp.
EXTENDED_TIMESTAMP_MARKER = 0xFFFFFF

#: Chunk stream id bounds for each basic header form.
MIN_CSID = 2
MAX_CSID_1BYTE = 63
MAX_CSID_2BYTE = 319
MAX_CSID = 65599

#: Message header length per fmt (5.3.1.2).
MESSAGE_HEADER_SIZES = (11, 7, 3, 0)


# 5.3.1.1 Chunk Basic Header. Build with {"fmt": f, "cs_id": n}; parse gives the same keys.
ChunkBasicHeader = Struct(
    "first_byte" / BitStruct(
        "fmt" / Rebuild(BitsInteger(2), this._.fmt),
        # the id itself (2..63), or 0 for the 2-byte form (64..319), 1 for the 3-byte form
        "cs_id_field" / Rebuild(
            BitsInteger(6),
            this._.cs_id * (this._.cs_id <= MAX_CSID_1BYTE) + (this._.cs_id > MAX_CSID_2BYTE),
        ),
    ),
    "fmt" / Computed(this.first_byte.fmt),
    "cs_id" / Switch(
        this.first_byte.cs_id_field,
        {
            0: ExprAdapter(Int8ub, obj_ + 64, obj_ - 64),  # 2-byte form: 64..319
            1: ExprAdapter(Int16ul, obj_ + 64, obj_ - 64),  # 3-byte form: 64..65599
        },
        default=Computed(this.first_byte.cs_id_field),  # 1-byte form: 2..63
    ),
)

# 5.3.1.2.1 Type 0: absolute timestamp; starts a chunk stream or a backward timestamp.
ChunkMessageHeaderType0 = Struct(
    "timestamp" / Int24ub,
    "message_length" / Int24ub,
    "message_type_id" / MessageTypeField,
    "message_stream_id" / Int32ul,
)

# 5.3.1.2.2 Type 1: same message stream id as the previous chunk of this chunk stream.
ChunkMessageHeaderType1 = Struct(
    "timestamp_delta" / Int24ub,
    "message_length" / Int24ub,
    "message_type_id" / MessageTypeField,
)

# 5.3.1.2.3 Type 2: same stream id, length and type; only the timestamp delta.
ChunkMessageHeaderType2 = Struct(
    "timestamp_delta" / Int24ub,
)

# 5.3.1.2.4 Type 3: no message header; everything (delta included) comes from the last header.
ChunkMessageHeaderType3 = Struct()

# 5.3.1.3 Extended Timestamp: the full 32-bit timestamp or delta.
ExtendedTimestamp = Int32ub


# 5.3.1 Chunk header: basic header, message header for its fmt, optional extended timestamp.
ChunkHeader = Struct(
    "basic_header" / ChunkBasicHeader,
    "message_header" / Switch(
        this.basic_header.fmt,
        {
            0: ChunkMessageHeaderType0,
            1: ChunkMessageHeaderType1,
            2: ChunkMessageHeaderType2,
            3: ChunkMessageHeaderType3,
        },
    ),
    "extended_timestamp" / Switch(
        this.basic_header.fmt,
        {
            0: If(this.message_header.timestamp == EXTENDED_TIMESTAMP_MARKER, ExtendedTimestamp),
            1: If(this.message_header.timestamp_delta == EXTENDED_TIMESTAMP_MARKER,
                  ExtendedTimestamp),
            2: If(this.message_header.timestamp_delta == EXTENDED_TIMESTAMP_MARKER,
                  ExtendedTimestamp),
            # fmt 3 repeats the extended timestamp when the last header of the chunk stream had one
            3: If(this._params.fmt3_extended, ExtendedTimestamp),
        },
    ),
)

__all__ = [
    "MessageType",
    "MessageTypeField",
    "EXTENDED_TIMESTAMP_MARKER",
    "MAX_CSID",
    "MAX_CSID_1BYTE",
    "MAX_CSID_2BYTE",
    "MESSAGE_HEADER_SIZES",
    "MIN_CSID",
    "ChunkBasicHeader",
    "ChunkHeader",
    "ChunkMessageHeaderType0",
    "ChunkMessageHeaderType1",
    "ChunkMessageHeaderType2",
    "ChunkMessageHeaderType3",
    "ExtendedTimestamp",
]
