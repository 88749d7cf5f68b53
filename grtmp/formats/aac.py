"""AAC layouts: the AACAUDIODATA body of an FLV audio tag and AudioSpecificConfig
(ISO/IEC 14496-3 1.6.2.1), the AAC sequence header.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    Bit,
    BitsInteger,
    Bitwise,
    Enum,
    GreedyBytes,
    GreedyRange,
    If,
    Int8ub,
    Pass,
    Struct,
    Switch,
    this,
)

__all__ = [
    "AAC_SAMPLE_RATES",
    "AAC_CHANNELS",
    "AACPacketType",
    "AudioObjectType",
    "AACAudioData",
    "AudioSpecificConfig",
]

#: samplingFrequencyIndex -> Hz (index 15 means an explicit 24-bit rate follows).
AAC_SAMPLE_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)

#: channelConfiguration -> channel count (0: defined in the program config element).
AAC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 0, 8, 0)


class AACPacketType(IntEnum):
    """AACPacketType (UI8) after the audio tag header."""

    SEQUENCE_HEADER = 0
    RAW = 1


class AudioObjectType(IntEnum):
    """MPEG-4 Audio Object Types a stream is likely to carry (ISO/IEC 14496-3 1.5.1.1);
    31 escapes to 32 + a 6-bit extension."""

    NULL = 0
    AAC_MAIN = 1
    AAC_LC = 2
    AAC_SSR = 3
    AAC_LTP = 4
    SBR = 5
    AAC_SCALABLE = 6
    TWINVQ = 7
    CELP = 8
    HVXC = 9
    ER_AAC_LC = 17
    ER_AAC_LTP = 19
    ER_AAC_SCALABLE = 20
    ER_BSAC = 22
    ER_AAC_LD = 23
    PS = 29
    ESCAPE = 31
    LAYER_1 = 32
    LAYER_2 = 33
    LAYER_3 = 34
    ER_AAC_ELD = 39
    USAC = 42


#: Audio tag body after the first byte for SoundFormat 10.
AACAudioData = Struct(
    "aac_packet_type" / Enum(Int8ub, AACPacketType),
    "data" / GreedyBytes,
)

#: Leading fields of AudioSpecificConfig (GASpecificConfig and extensions follow).
AudioSpecificConfig = Bitwise(
    Struct(
        "audio_object_type" / Enum(BitsInteger(5), AudioObjectType),
        # Switch on the name: a parsed Enum field is a string ("ESCAPE"), never an int.
        "audio_object_type_ext"
        / Switch(this.audio_object_type, {"ESCAPE": BitsInteger(6)}, default=Pass),
        "sampling_frequency_index" / BitsInteger(4),
        "sampling_frequency" / If(this.sampling_frequency_index == 15, BitsInteger(24)),
        "channel_configuration" / BitsInteger(4),
        # GASpecificConfig / SBR / PS extension bits, kept raw (bits, MSB first).
        "remaining_bits" / GreedyRange(Bit),
    )
)
