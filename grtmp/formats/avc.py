"""H.264/AVC layouts: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) and the NAL unit
header (ITU-T H.264 7.3.1). SPS fields are exp-Golomb coded and are read in :mod:`grtmp.media`.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Enum,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Prefixed,
    Struct,
    this,
)

__all__ = ["AVCDecoderConfigurationRecord", "AVCNALHeader", "AVCNalUnitType", "NAL_SPS", "NAL_PPS",
           "NAL_IDR"]


class AVCNalUnitType(IntEnum):
    """H.264 nal_unit_type (ITU-T H.264 table 7-1), the common ones."""

    NON_IDR_SLICE = 1
    SLICE_DATA_A = 2
    SLICE_DATA_B = 3
    SLICE_DATA_C = 4
    IDR_SLICE = 5
    SEI = 6
    SPS = 7
    PPS = 8
    AUD = 9
    END_OF_SEQUENCE = 10
    END_OF_STREAM = 11
    FILLER = 12
    SPS_EXT = 13
    PREFIX = 14
    SUBSET_SPS = 15


NAL_IDR = AVCNalUnitType.IDR_SLICE
NAL_SPS = AVCNalUnitType.SPS
NAL_PPS = AVCNalUnitType.PPS

#: avcC: the body of an AVC sequence header (AVCPacketType 0 / SequenceStart for avc1).
AVCDecoderConfigurationRecord = Struct(
    "configuration_version" / Int8ub,
    "avc_profile_indication" / Int8ub,
    "profile_compatibility" / Int8ub,
    "avc_level_indication" / Int8ub,
    "bits1"
    / BitStruct(
        "reserved" / BitsInteger(6),
        "length_size_minus_one" / BitsInteger(2),
    ),
    "bits2"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "num_of_sequence_parameter_sets" / BitsInteger(5),
    ),
    "sequence_parameter_sets"
    / Array(this.bits2.num_of_sequence_parameter_sets, Prefixed(Int16ub, GreedyBytes)),
    "num_of_picture_parameter_sets" / Int8ub,
    "picture_parameter_sets"
    / Array(this.num_of_picture_parameter_sets, Prefixed(Int16ub, GreedyBytes)),
    # High profiles append chroma_format, bit depths and SPS extensions; kept raw.
    "extension" / GreedyBytes,
)

#: One-byte H.264 NAL unit header.
AVCNALHeader = BitStruct(
    "forbidden_zero_bit" / BitsInteger(1),
    "nal_ref_idc" / BitsInteger(2),
    "nal_unit_type" / Enum(BitsInteger(5), AVCNalUnitType),
)
