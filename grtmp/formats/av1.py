"""AV1 layouts: AV1CodecConfigurationRecord (av1C, "AV1 Codec ISO Media File Format Binding"
2.3) and the OBU header (AV1 spec 5.3.2). Sizes are leb128 and the sequence header is bit-packed
with conditional fields, so both are read in :mod:`grtmp.media`.
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, Flag, GreedyBytes, Struct

__all__ = ["AV1CodecConfigurationRecord", "OBUHeader", "OBU_SEQUENCE_HEADER"]

OBU_SEQUENCE_HEADER = 1

#: av1C: four bytes of flags, then the configOBUs (normally one Sequence Header OBU).
AV1CodecConfigurationRecord = Struct(
    "bits"
    / BitStruct(
        "marker" / Flag,
        "version" / BitsInteger(7),
        "seq_profile" / BitsInteger(3),
        "seq_level_idx_0" / BitsInteger(5),
        "seq_tier_0" / Flag,
        "high_bitdepth" / Flag,
        "twelve_bit" / Flag,
        "monochrome" / Flag,
        "chroma_subsampling_x" / Flag,
        "chroma_subsampling_y" / Flag,
        "chroma_sample_position" / BitsInteger(2),
        "reserved" / BitsInteger(3),
        "initial_presentation_delay_present" / Flag,
        "initial_presentation_delay_minus_one" / BitsInteger(4),
    ),
    "config_obus" / GreedyBytes,
)

#: One-byte OBU header (the optional extension byte follows when extension_flag is set).
OBUHeader = BitStruct(
    "forbidden_bit" / Flag,
    "obu_type" / BitsInteger(4),
    "extension_flag" / Flag,
    "has_size_field" / Flag,
    "reserved_1bit" / Flag,
)
