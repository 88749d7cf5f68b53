"""AMF0 and AMF3 layouts as construct declarations (the documentation of record).

Section numbers refer to Adobe's "Action Message Format -- AMF 0" (2007) and
"Action Message Format -- AMF 3" (2013) specifications.

The codecs in :mod:`grtmp.amf.amf0` and :mod:`grtmp.amf.amf3` decode with ``struct`` and
slicing on the hot path (a ``connect`` or ``onMetaData`` per message);
``tests/amf/test_amf0.py`` and ``tests/amf/test_amf3.py`` prove with hypothesis that those
fast paths agree with the declarations below. AMF values are recursive, so only the fixed,
non-recursive pieces are declared here; :data:`AMF0Scalar` and :data:`AMF3Scalar` parse one
self-contained value for inspection.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from construct import (
    Byte,
    Bytes,
    Computed,
    Const,
    Construct,
    Enum,
    ExprAdapter,
    Flag,
    Float64b,
    If,
    Int16sb,
    Int16ub,
    Int32ub,
    PascalString,
    Pass,
    SizeofError,
    StringEncoded,
    Struct,
    Switch,
    obj_,
    stream_read,
    stream_write,
    this,
)

__all__ = [
    "AMF0Marker",
    "AMF3Marker",
    "AMF0MarkerField",
    "AMF3MarkerField",
    "AMF0Number",
    "AMF0Boolean",
    "AMF0UTF8",
    "AMF0UTF8Long",
    "AMF0String",
    "AMF0LongString",
    "AMF0Date",
    "AMF0Reference",
    "AMF0ArrayCount",
    "AMF0ObjectEnd",
    "AMF0Scalar",
    "U29",
    "U29_MAX",
    "AMF3_INT_MIN",
    "AMF3_INT_MAX",
    "AMF3Integer",
    "AMF3Double",
    "AMF3UTF8",
    "AMF3Date",
    "AMF3ByteArray",
    "AMF3VectorHeader",
    "AMF3Scalar",
]


class AMF0Marker(IntEnum):
    """AMF0 type markers (AMF0 section 2.1)."""

    NUMBER = 0x00
    BOOLEAN = 0x01
    STRING = 0x02
    OBJECT = 0x03
    MOVIECLIP = 0x04  # reserved, not supported
    NULL = 0x05
    UNDEFINED = 0x06
    REFERENCE = 0x07
    ECMA_ARRAY = 0x08
    OBJECT_END = 0x09
    STRICT_ARRAY = 0x0A
    DATE = 0x0B
    LONG_STRING = 0x0C
    UNSUPPORTED = 0x0D
    RECORDSET = 0x0E  # reserved, not supported
    XML_DOCUMENT = 0x0F
    TYPED_OBJECT = 0x10
    AVMPLUS_OBJECT = 0x11  # switch to AMF3 for one value


class AMF3Marker(IntEnum):
    """AMF3 type markers (AMF3 section 3.1)."""

    UNDEFINED = 0x00
    NULL = 0x01
    FALSE = 0x02
    TRUE = 0x03
    INTEGER = 0x04
    DOUBLE = 0x05
    STRING = 0x06
    XML_DOC = 0x07
    DATE = 0x08
    ARRAY = 0x09
    OBJECT = 0x0A
    XML = 0x0B
    BYTE_ARRAY = 0x0C
    VECTOR_INT = 0x0D
    VECTOR_UINT = 0x0E
    VECTOR_DOUBLE = 0x0F
    VECTOR_OBJECT = 0x10
    DICTIONARY = 0x11


#: One marker byte, parsed to the marker's name.
AMF0MarkerField = Enum(Byte, AMF0Marker)
AMF3MarkerField = Enum(Byte, AMF3Marker)

# --- AMF0 (section 1.3 basic types, section 2 type bodies) -----------------------------------

#: number-type body: DOUBLE, 8-byte IEEE-754 big-endian (2.2).
AMF0Number = Float64b
#: boolean-type body: U8, 0 is false, anything else true (2.3).
AMF0Boolean = Flag
#: UTF-8: U16 byte length then UTF-8 bytes (1.3.1); object keys use it without a marker.
AMF0UTF8 = PascalString(Int16ub, "utf8")
#: UTF-8-long: U32 byte length then UTF-8 bytes; long-string and xml-document bodies (2.14, 2.17).
AMF0UTF8Long = PascalString(Int32ub, "utf8")
#: string-type body (2.4) and long-string-type body (2.14).
AMF0String = AMF0UTF8
AMF0LongString = AMF0UTF8Long
#: date-type body: milliseconds since the Unix epoch (UTC), then a reserved S16 time-zone
#: that should be 0 (2.13).
AMF0Date = Struct("date" / Float64b, "time_zone" / Int16sb)
#: reference-type body: U16 index into the table of complex objects read so far (2.9).
AMF0Reference = Int16ub
#: ECMA array associative-count (2.10) and strict array array-count (2.12).
AMF0ArrayCount = Int32ub
#: object-end: an empty UTF-8 key (U16 0) followed by the object-end-marker 0x09 (2.11).
AMF0ObjectEnd = Const(b"\x00\x00\x09")

#: One self-contained AMF0 value (no nested values): marker then body. For inspection.
AMF0Scalar = Struct(
    "marker" / AMF0MarkerField,
    "value"
    / Switch(
        this.marker,
        {
            "NUMBER": AMF0Number,
            "BOOLEAN": AMF0Boolean,
            "STRING": AMF0String,
            "NULL": Pass,
            "UNDEFINED": Pass,
            "REFERENCE": AMF0Reference,
            "DATE": AMF0Date,
            "LONG_STRING": AMF0LongString,
            "UNSUPPORTED": Pass,
            "XML_DOCUMENT": AMF0UTF8Long,
        },
    ),
)

# --- AMF3 (section 1.3.1 variable length unsigned 29-bit integer) ----------------------------

U29_MAX = 0x1FFFFFFF
AMF3_INT_MIN = -(1 << 28)
AMF3_INT_MAX = (1 << 28) - 1


class _U29(Construct):
    """U29: 1 to 4 bytes; the first three carry 7 bits each and a continuation flag in the
    high bit, a fourth byte carries 8 bits (AMF3 1.3.1)."""

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        value = 0
        for _ in range(3):
            b = stream_read(stream, 1, path)[0]
            if not b & 0x80:
                return (value << 7) | b
            value = (value << 7) | (b & 0x7F)
        return (value << 8) | stream_read(stream, 1, path)[0]

    def _build(self, obj: int, stream: Any, context: Any, path: str) -> int:
        if not 0 <= obj <= U29_MAX:
            raise ValueError(f"U29 out of range: {obj}")
        if obj < 0x80:
            data = bytes((obj,))
        elif obj < 0x4000:
            data = bytes(((obj >> 7) | 0x80, obj & 0x7F))
        elif obj < 0x200000:
            data = bytes(((obj >> 14) | 0x80, ((obj >> 7) & 0x7F) | 0x80, obj & 0x7F))
        else:
            data = bytes(
                (
                    (obj >> 22) | 0x80,
                    ((obj >> 15) & 0x7F) | 0x80,
                    ((obj >> 8) & 0x7F) | 0x80,
                    obj & 0xFF,
                )
            )
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("U29 is variable length", path=path)


#: The U29 variable-length unsigned integer, parse and build.
U29 = _U29()

#: integer-type body: a U29 holding a 29-bit two's complement signed integer (3.6): bit 28
#: set means negative, so subtract 2**29 exactly when it is set.
AMF3Integer = ExprAdapter(
    U29,
    decoder=obj_ - ((obj_ & (1 << 28)) << 1),
    encoder=obj_ & U29_MAX,
)
#: double-type body (3.7).
AMF3Double = Float64b
#: UTF-8-vr (1.3.2): U29S-ref (low bit 0, index in the string table) or U29S-value
#: (low bit 1, byte length in the upper 28 bits, then UTF-8 bytes).
AMF3UTF8 = Struct(
    "header" / U29,
    "is_reference" / Computed((this.header & 1) == 0),
    "reference" / If(this.is_reference, Computed(this.header >> 1)),
    "value" / If(~this.is_reference, StringEncoded(Bytes(this.header >> 1), "utf8")),
)
#: date-type body (3.9): U29D-ref, or U29D-value (1) then DOUBLE ms since epoch (UTC).
AMF3Date = Struct(
    "header" / U29,
    "is_reference" / Computed((this.header & 1) == 0),
    "date" / If(~this.is_reference, Float64b),
)
#: ByteArray-type body (3.14): U29B-ref or U29B-value (length << 1 | 1) then the bytes.
AMF3ByteArray = Struct(
    "header" / U29,
    "is_reference" / Computed((this.header & 1) == 0),
    "data" / If(~this.is_reference, Bytes(this.header >> 1)),
)
#: Vector header (3.15): U29V-ref or U29V-value (count << 1 | 1), then U8 fixed-vector flag.
AMF3VectorHeader = Struct(
    "header" / U29,
    "is_reference" / Computed((this.header & 1) == 0),
    "count" / Computed(this.header >> 1),
    "fixed" / If(~this.is_reference, Flag),
)

#: One self-contained AMF3 value (no nested values): marker then body. For inspection.
AMF3Scalar = Struct(
    "marker" / AMF3MarkerField,
    "value"
    / Switch(
        this.marker,
        {
            "UNDEFINED": Pass,
            "NULL": Pass,
            "FALSE": Computed(False),
            "TRUE": Computed(True),
            "INTEGER": AMF3Integer,
            "DOUBLE": AMF3Double,
            "STRING": AMF3UTF8,
            "DATE": AMF3Date,
            "BYTE_ARRAY": AMF3ByteArray,
        },
    ),
)
