"""AAC layouts: the AACAUDIODATA body of an FLV audio tag and AudioSpecificConfig
(ISO/IEC 14496-3 1.6.2.1), the AAC sequence header.
"""

from __future__ import annotations

from construct import (
    Bit,
    BitsInteger,
    Bitwise,
    GreedyBytes,
    GreedyRange,
    If,
    Int8ub,
    Struct,
    this,
)

__all__ = [
    "AAC_SAMPLE_RATES",
    "AAC_CHANNELS",
    "AACPacketType",
    "AACAudioData",
    "AudioSpecificConfig",
]

#: samplingFrequencyIndex -> Hz (index 15 means an explicit 24-bit rate follows).
AAC_SAMPLE_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)

#: channelConfiguration -> channel count (0: defined in the program config element).
AAC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 0, 8, 0)


class AACPacketType:
    """AACPacketType (UI8) after the audio tag header."""

    SEQUENCE_HEADER = 0
    RAW = 1


#: Audio tag body after the first byte for SoundFormat 10.
AACAudioData = Struct(
    "aac_packet_type" / Int8ub,
    "data" / GreedyBytes,
)

#: Leading fields of AudioSpecificConfig (GASpecificConfig and extensions follow).
AudioSpecificConfig = Bitwise(
    Struct(
        "audio_object_type" / BitsInteger(5),
        "audio_object_type_ext" / If(this.audio_object_type == 31, BitsInteger(6)),
        "sampling_frequency_index" / BitsInteger(4),
        "sampling_frequency" / If(this.sampling_frequency_index == 15, BitsInteger(24)),
        "channel_configuration" / BitsInteger(4),
        # GASpecificConfig / SBR / PS extension bits, kept raw (bits, MSB first).
        "remaining_bits" / GreedyRange(Bit),
    )
)
