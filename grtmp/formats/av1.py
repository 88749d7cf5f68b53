"""AV1 layouts: AV1CodecConfigurationRecord (av1C, "AV1 Codec ISO Media File Format Binding"
2.3) and the OBU header (AV1 spec 5.3.2). Sizes are leb128 and the sequence header is bit-packed
with conditional fields, so both are read in :mod:`grtmp.media`.
"""

from __future__ import annotations

from enum import IntEnum

from construct import BitsInteger, BitStruct, Enum, Flag, GreedyBytes, Struct

__all__ = ["AV1CodecConfigurationRecord", "OBUHeader", "OBUType", "OBU_SEQUENCE_HEADER"]


class OBUType(IntEnum):
    """obu_type (AV1 spec 6.2.2)."""

    SEQUENCE_HEADER = 1
    TEMPORAL_DELIMITER = 2
    FRAME_HEADER = 3
    TILE_GROUP = 4
    METADATA = 5
    FRAME = 6
    REDUNDANT_FRAME_HEADER = 7
    TILE_LIST = 8
    PADDING = 15


OBU_SEQUENCE_HEADER = OBUType.SEQUENCE_HEADER

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
    "obu_type" / Enum(BitsInteger(4), OBUType),
    "extension_flag" / Flag,
    "has_size_field" / Flag,
    "reserved_1bit" / Flag,
)
