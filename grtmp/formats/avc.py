"""H.264/AVC layouts: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) and the NAL unit
header (ITU-T H.264 7.3.1). SPS fields are exp-Golomb coded and are read in :mod:`grtmp.media`.
"""

from __future__ import annotations

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Prefixed,
    Struct,
    this,
)

__all__ = ["AVCDecoderConfigurationRecord", "AVCNALHeader", "NAL_SPS", "NAL_PPS", "NAL_IDR"]

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8

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
    "nal_unit_type" / BitsInteger(5),
)
