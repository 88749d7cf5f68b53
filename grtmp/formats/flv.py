"""FLV file layouts (Adobe FLV spec v10.1, annex E), declared with construct.

The FLV body is ``PreviousTagSize0`` followed by ``(FlvTag, PreviousTagSize)*``. ``FlvTag.parse``
gives one tag with its payload; ``FlvFile.parse`` a whole (small) file. grtmp's reader and writer
in :mod:`grtmp.media.flv` use these same declarations.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from construct import (
    Adapter,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Enum,
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
    "FlvTagType",
    "TAG_AUDIO",
    "TAG_VIDEO",
    "TAG_SCRIPT",
    "FLV_HEADER_SIZE",
    "FLV_TAG_HEADER_SIZE",
    "TimestampAdapter",
    "FlvTimestamp",
    "FlvHeader",
    "FlvTagHeader",
    "FlvTag",
    "FlvTagWithSize",
    "PreviousTagSize",
    "FlvFile",
]


class FlvTagType(IntEnum):
    """TagType (UB[5]) of an FLV tag; the same numbers as the RTMP message type ids."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


TAG_AUDIO = FlvTagType.AUDIO
TAG_VIDEO = FlvTagType.VIDEO
TAG_SCRIPT = FlvTagType.SCRIPT

FLV_HEADER_SIZE = 9
FLV_TAG_HEADER_SIZE = 11


class TimestampAdapter(Adapter):  # type: ignore[misc]
    """The FLV timestamp: a UI24 holding the lower 24 bits, then a UI8 ``TimestampExtended``
    holding the upper 8 bits (E.4.1), as one 32-bit millisecond value."""

    def _decode(self, obj: Any, context: Any, path: str) -> int:
        return int(obj.low | (obj.extended << 24))

    def _encode(self, obj: int, context: Any, path: str) -> dict[str, int]:
        return {"low": obj & 0xFFFFFF, "extended": obj >> 24}

    # For .compile(): the same two expressions, inlined into the generated parser/builder.
    def _emitparse(self, code: Any) -> str:
        return (f"(lambda o: o['low'] | (o['extended'] << 24))"
                f"({self.subcon._compileparse(code)})")

    def _emitbuild(self, code: Any) -> str:
        return (f"(reuse({{'low': obj & 0xFFFFFF, 'extended': obj >> 24}}, "
                f"lambda obj: {self.subcon._compilebuild(code)}), obj)[1]")


#: 24 + 8-bit timestamp (lower 24 bits first, then the upper byte) as one value.
FlvTimestamp = TimestampAdapter(Struct("low" / Int24ub, "extended" / Int8ub))

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

#: FLV tag header (E.4.1), 11 bytes: the one declaration of it, also used for the sub-tags of
#: an RTMP aggregate message (:data:`grtmp.formats.control.AggregateTag`). ``timestamp`` is
#: the full 32-bit value (:data:`FlvTimestamp`).
FlvTagHeader = Struct(
    "type"
    / BitStruct(
        "reserved" / BitsInteger(2),
        "filter" / Flag,
        "tag_type" / Enum(BitsInteger(5), FlvTagType),
    ),
    "data_size" / Int24ub,
    "timestamp" / FlvTimestamp,
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
