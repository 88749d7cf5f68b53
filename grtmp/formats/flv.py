"""FLV file layouts (Adobe FLV spec v10.1, annex E), declared with construct.

The FLV body is ``PreviousTagSize0`` followed by ``(FlvTag, PreviousTagSize)*``. ``FlvTag.parse``
gives one tag with its payload; ``FlvFile.parse`` a whole (small) file. grtmp's reader and writer
in :mod:`grtmp.media.flv` use these same declarations.
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    GreedyRange,
    Int8ub,
    Int24ub,
    Int32ub,
    Padding,
    Struct,
    this,
)

__all__ = [
    "TAG_AUDIO",
    "TAG_VIDEO",
    "TAG_SCRIPT",
    "FLV_HEADER_SIZE",
    "FLV_TAG_HEADER_SIZE",
    "FlvHeader",
    "FlvTagHeader",
    "FlvTag",
    "FlvTagWithSize",
    "PreviousTagSize",
    "FlvFile",
]

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

FLV_HEADER_SIZE = 9
FLV_TAG_HEADER_SIZE = 11

#: FLV file header (E.2): signature "FLV", version 1, type flags, header size (9).
FlvHeader = Struct(
    "signature" / Const(b"FLV"),
    "version" / Int8ub,
    "flags"
    / BitStruct(
        "reserved1" / BitsInteger(5),
        "has_audio" / Flag,
        "reserved2" / BitsInteger(1),
        "has_video" / Flag,
    ),
    "data_offset" / Int32ub,
)

#: FLV tag header (E.4.1): 11 bytes. Timestamp is 24 low bits plus 8 extended (high) bits.
FlvTagHeader = Struct(
    "type"
    / BitStruct(
        "reserved" / BitsInteger(2),
        "filter" / Flag,
        "tag_type" / BitsInteger(5),
    ),
    "data_size" / Int24ub,
    "timestamp" / Int24ub,
    "timestamp_extended" / Int8ub,
    "stream_id" / Int24ub,
)

#: One FLV tag: header plus ``data_size`` bytes of payload (audio, video or script data).
FlvTag = Struct(
    "header" / FlvTagHeader,
    "data" / Bytes(this.header.data_size),
)

#: Size of the previous tag (header + data), written after each tag.
PreviousTagSize = Int32ub

#: A tag followed by its PreviousTagSize field, as it appears in the FLV body.
FlvTagWithSize = Struct(
    "tag" / FlvTag,
    "previous_tag_size" / PreviousTagSize,
)

#: A whole FLV file (for small files and inspection in user code; the reader streams instead).
FlvFile = Struct(
    "header" / FlvHeader,
    Padding(this.header.data_offset - FLV_HEADER_SIZE),
    "previous_tag_size0" / PreviousTagSize,
    "tags" / GreedyRange(FlvTagWithSize),
)
