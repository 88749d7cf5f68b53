"""H.265/HEVC layouts: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) and the
two-byte NAL unit header (ITU-T H.265 7.3.1.2). SPS fields are read in :mod:`grtmp.media`.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Enum,
    Flag,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    Struct,
    this,
)

__all__ = [
    "HEVCDecoderConfigurationRecord",
    "HEVCNALArray",
    "HEVCNALHeader",
    "HEVCNalUnitType",
    "NAL_VPS",
    "NAL_SPS",
    "NAL_PPS",
]


class HEVCNalUnitType(IntEnum):
    """H.265 nal_unit_type (ITU-T H.265 table 7-1), the common ones."""

    TRAIL_N = 0
    TRAIL_R = 1
    TSA_N = 2
    TSA_R = 3
    STSA_N = 4
    STSA_R = 5
    RADL_N = 6
    RADL_R = 7
    RASL_N = 8
    RASL_R = 9
    BLA_W_LP = 16
    BLA_W_RADL = 17
    BLA_N_LP = 18
    IDR_W_RADL = 19
    IDR_N_LP = 20
    CRA = 21
    VPS = 32
    SPS = 33
    PPS = 34
    AUD = 35
    EOS = 36
    EOB = 37
    FD = 38
    PREFIX_SEI = 39
    SUFFIX_SEI = 40


NAL_VPS = HEVCNalUnitType.VPS
NAL_SPS = HEVCNalUnitType.SPS
NAL_PPS = HEVCNalUnitType.PPS

#: One array of parameter-set NAL units of the same type inside hvcC.
HEVCNALArray = Struct(
    "bits"
    / BitStruct(
        "array_completeness" / Flag,
        "reserved" / BitsInteger(1),
        "nal_unit_type" / Enum(BitsInteger(6), HEVCNalUnitType),
    ),
    "num_nalus" / Int16ub,
    "nalus" / Array(this.num_nalus, Prefixed(Int16ub, GreedyBytes)),
)

#: hvcC: the body of an HEVC SequenceStart (hvc1) or legacy codec-12 sequence header.
HEVCDecoderConfigurationRecord = Struct(
    "configuration_version" / Int8ub,
    "profile"
    / BitStruct(
        "general_profile_space" / BitsInteger(2),
        "general_tier_flag" / Flag,
        "general_profile_idc" / BitsInteger(5),
    ),
    "general_profile_compatibility_flags" / Int32ub,
    "general_constraint_indicator_flags" / Bytes(6),
    "general_level_idc" / Int8ub,
    "bits"
    / BitStruct(
        "reserved1" / BitsInteger(4),
        "min_spatial_segmentation_idc" / BitsInteger(12),
        "reserved2" / BitsInteger(6),
        "parallelism_type" / BitsInteger(2),
        "reserved3" / BitsInteger(6),
        "chroma_format_idc" / BitsInteger(2),
        "reserved4" / BitsInteger(5),
        "bit_depth_luma_minus8" / BitsInteger(3),
        "reserved5" / BitsInteger(5),
        "bit_depth_chroma_minus8" / BitsInteger(3),
        "avg_frame_rate" / BitsInteger(16),
        "constant_frame_rate" / BitsInteger(2),
        "num_temporal_layers" / BitsInteger(3),
        "temporal_id_nested" / Flag,
        "length_size_minus_one" / BitsInteger(2),
    ),
    "num_of_arrays" / Int8ub,
    "arrays" / Array(this.num_of_arrays, HEVCNALArray),
)

#: Two-byte H.265 NAL unit header.
HEVCNALHeader = BitStruct(
    "forbidden_zero_bit" / BitsInteger(1),
    "nal_unit_type" / Enum(BitsInteger(6), HEVCNalUnitType),
    "nuh_layer_id" / BitsInteger(6),
    "nuh_temporal_id_plus1" / BitsInteger(3),
)
