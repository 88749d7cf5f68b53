"""Field types shared by the ISO BMFF box declarations of :mod:`grtmp.formats.mp4`: full box
headers, version-dependent fields, four-character codes, the language code, sample flags and
the box flag sets (ISO/IEC 14496-12)."""

from __future__ import annotations

from typing import Any

from construct import (
    Adapter,
    BitsInteger,
    BitStruct,
    Bytes,
    Construct,
    ConstructError,
    Default,
    Enum,
    Flag,
    FlagsEnum,
    If,
    IfThenElse,
    Int8ub,
    Int24ub,
    Int32ub,
    Int64ub,
    Struct,
    this,
)

__all__ = ["FourCC", "HandlerType", "Language", "Utf8Name", "optional", "versioned",
           "SampleFlags", "SampleFlagsFields", "TkhdFlags", "TfhdFlags", "TrunFlags",
           "UrlFlags", "VmhdFlags", "SAMPLE_FLAGS_SYNC", "SAMPLE_FLAGS_NON_SYNC",
           "UNITY_MATRIX", "full_box"]

#: The identity transformation matrix of mvhd/tkhd (16.16 and 2.30 fixed point, 8.3.2.3).
UNITY_MATRIX = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def full_box(flags: Construct, *fields: Any) -> Struct:
    """A FullBox body (14496-12 4.2): version (u8), flags (u24, given as ``flags``), fields."""
    return Struct("version" / Default(Int8ub, 0), "flags" / flags, *fields)


def optional(cond: Any, subcon: Construct) -> Construct:
    """An optional field (``If``) that may be left out when building."""
    return Default(If(cond, subcon), None)


def versioned(name: str) -> Any:
    """A 32-bit field in version 0 boxes, 64-bit in version 1 (mvhd, tkhd, mdhd, tfdt...)."""
    return name / IfThenElse(this.version == 1, Int64ub, Int32ub)


class Utf8Name(Adapter):  # type: ignore[misc]
    """A null-terminated UTF-8 string filling the rest of the box (hdlr name). Parsing tolerates
    a missing terminator and bad UTF-8 (inspection must never fail on a name)."""

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        return obj.split(b"\x00", 1)[0].decode("utf-8", "replace")

    def _encode(self, obj: str, context: Any, path: Any) -> bytes:
        return obj.encode("utf-8") + b"\x00"


class Language(Adapter):  # type: ignore[misc]
    """ISO 639-2/T language code packed as three 5-bit letters (mdhd, 8.4.2.3)."""

    def _decode(self, obj: int, context: Any, path: Any) -> str:
        return "".join(chr(((obj >> s) & 0x1F) + 0x60) for s in (10, 5, 0))

    def _encode(self, obj: str, context: Any, path: Any) -> int:
        if len(obj) != 3 or not obj.isascii() or not obj.islower():
            raise ConstructError(f"bad ISO 639-2 language {obj!r}")
        return (ord(obj[0]) - 0x60) << 10 | (ord(obj[1]) - 0x60) << 5 | (ord(obj[2]) - 0x60)


class _FourCC(Adapter):  # type: ignore[misc]
    """A four-character code (box type, brand) as ``str``; latin-1, so any four bytes read back
    unchanged."""

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        return obj.decode("latin-1")

    def _encode(self, obj: str, context: Any, path: Any) -> bytes:
        code = obj.encode("latin-1")
        if len(code) != 4:
            raise ConstructError(f"four-character code {obj!r} is not 4 characters", path=path)
        return code


FourCC = _FourCC(Bytes(4))

#: hdlr handler_type (8.4.3.3), shown by name.
HandlerType = Enum(
    Int32ub,
    vide=0x76696465,
    soun=0x736F756E,
    hint=0x68696E74,
    meta=0x6D657461,
    text=0x74657874,
    subt=0x73756274,
    sbtl=0x7362746C,
    auxv=0x61757876,
)

#: sample_flags (8.8.3.1), used by trex, tfhd and trun.
SampleFlagsFields = BitStruct(
    "reserved" / Default(BitsInteger(4), 0),
    "is_leading" / Default(BitsInteger(2), 0),
    "sample_depends_on" / BitsInteger(2),
    "sample_is_depended_on" / Default(BitsInteger(2), 0),
    "sample_has_redundancy" / Default(BitsInteger(2), 0),
    "sample_padding_value" / Default(BitsInteger(3), 0),
    "sample_is_non_sync_sample" / Flag,
    "sample_degradation_priority" / Default(BitsInteger(16), 0),
)



class _SampleFlagsAdapter(Adapter):  # type: ignore[misc]
    """sample_flags parsed to named fields; built from those fields or from a plain u32."""

    def _decode(self, obj: Any, context: Any, path: Any) -> Any:
        return obj

    def _encode(self, obj: Any, context: Any, path: Any) -> Any:
        if isinstance(obj, int):
            return SampleFlagsFields.parse(obj.to_bytes(4, "big"))
        return obj


#: sample_flags with a plain-integer build shortcut (``SAMPLE_FLAGS_SYNC`` etc.).
SampleFlags = _SampleFlagsAdapter(SampleFlagsFields)

#: A sync sample (depends on no other): the flags grtmp gives key frames and audio frames.
SAMPLE_FLAGS_SYNC = 0x02000000
#: A non-sync sample that depends on others.
SAMPLE_FLAGS_NON_SYNC = 0x01010000

class _Flags(FlagsEnum):  # type: ignore[misc]
    """``FlagsEnum`` whose build also leaves every flag, by name, in the context, so fields
    declared ``If(this.flags.x, ...)`` work whether the flags were given as a partial dict, an
    int or ``"a|b"``."""

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        value = self._encode(obj, context, path)
        self.subcon._build(value, stream, context, path)
        return self._decode(value, context, path)


TkhdFlags = _Flags(
    Int24ub,
    track_enabled=0x000001,
    track_in_movie=0x000002,
    track_in_preview=0x000004,
    track_size_is_aspect_ratio=0x000008,
)

#: tf_flags of tfhd (8.8.7.1).
TfhdFlags = _Flags(
    Int24ub,
    base_data_offset_present=0x000001,
    sample_description_index_present=0x000002,
    default_sample_duration_present=0x000008,
    default_sample_size_present=0x000010,
    default_sample_flags_present=0x000020,
    duration_is_empty=0x010000,
    default_base_is_moof=0x020000,
)

#: tr_flags of trun (8.8.8.1).
TrunFlags = _Flags(
    Int24ub,
    data_offset_present=0x000001,
    first_sample_flags_present=0x000004,
    sample_duration_present=0x000100,
    sample_size_present=0x000200,
    sample_flags_present=0x000400,
    sample_composition_time_offsets_present=0x000800,
)

UrlFlags = _Flags(Int24ub, self_contained=0x000001)
VmhdFlags = _Flags(Int24ub, no_lean_ahead=0x000001)
