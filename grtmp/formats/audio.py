"""FLV/RTMP audio tag layouts: legacy AudioTagHeader and Enhanced RTMP (v2) ExAudioTagHeader,
plus the codec headers grtmp reads for sample rate and channels (Opus ID header, FLAC
STREAMINFO, AC-3/E-AC-3 sync frames, MPEG audio frame header).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    If,
    Int8ub,
    Int16sl,
    Int16ul,
    Int32ub,
    Int32ul,
    Struct,
    this,
)

from grtmp.formats.video import ModExEntry, MultitrackHeader, TrackHeader

__all__ = [
    "SOUND_FORMATS",
    "AUDIO_FOURCCS",
    "SOUND_FORMAT_AAC",
    "SOUND_FORMAT_EX_HEADER",
    "SOUND_RATES",
    "AudioPacketType",
    "AudioChannelOrder",
    "AudioTagHeader",
    "ExAudioTagHeader",
    "ModExEntry",
    "MultitrackHeader",
    "TrackHeader",
    "MultichannelConfig",
    "OpusHead",
    "FlacStreamInfo",
    "FlacSequenceHeader",
    "AC3SyncInfo",
    "EAC3SyncInfo",
    "MPEGAudioFrameHeader",
]

SOUND_FORMAT_AAC = 10
SOUND_FORMAT_EX_HEADER = 9

#: Legacy SoundFormat -> short name.
SOUND_FORMATS = {
    0: "pcm",
    1: "adpcm",
    2: "mp3",
    3: "pcm_le",
    4: "nellymoser16",
    5: "nellymoser8",
    6: "nellymoser",
    7: "g711a",
    8: "g711u",
    9: "exheader",
    10: "aac",
    11: "speex",
    14: "mp3_8k",
    15: "native",
}

#: Legacy SoundRate (UB[2]) -> Hz (nominal; AAC always says 3 and carries the real rate).
SOUND_RATES = (5512, 11025, 22050, 44100)

#: Enhanced RTMP audio FourCC -> short name.
AUDIO_FOURCCS = {
    "mp4a": "aac",
    "Opus": "opus",
    "fLaC": "flac",
    "ac-3": "ac3",
    "ec-3": "eac3",
    ".mp3": "mp3",
}


class AudioPacketType:
    """Enhanced RTMP AudioPacketType (UB[4])."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


class AudioChannelOrder:
    """AudioChannelOrder (UI8) of a MultichannelConfig."""

    UNSPECIFIED = 0
    NATIVE = 1
    CUSTOM = 2


#: First byte of a legacy audio tag.
AudioTagHeader = BitStruct(
    "sound_format" / BitsInteger(4),
    "sound_rate" / BitsInteger(2),
    "sound_size" / BitsInteger(1),
    "sound_type" / BitsInteger(1),
)

#: First byte of an Enhanced RTMP audio tag (sound_format == 9).
ExAudioTagHeader = BitStruct(
    "sound_format" / BitsInteger(4),
    "packet_type" / BitsInteger(4),
)

#: AudioPacketType.MultichannelConfig body.
MultichannelConfig = Struct(
    "channel_order" / Int8ub,
    "channel_count" / Int8ub,
    "channel_mapping"
    / If(this.channel_order == AudioChannelOrder.CUSTOM, Bytes(this.channel_count)),
    "channel_flags" / If(this.channel_order == AudioChannelOrder.NATIVE, Int32ub),
)

#: Opus ID header (RFC 7845 section 5.1); multi-byte fields are little endian.
OpusHead = Struct(
    "magic" / Const(b"OpusHead"),
    "version" / Int8ub,
    "output_channel_count" / Int8ub,
    "pre_skip" / Int16ul,
    "input_sample_rate" / Int32ul,
    "output_gain" / Int16sl,
    "channel_mapping_family" / Int8ub,
    "mapping"
    / If(
        this.channel_mapping_family != 0,
        Struct(
            "stream_count" / Int8ub,
            "coupled_count" / Int8ub,
            "channel_mapping" / Bytes(this._.output_channel_count),
        ),
    ),
)

#: FLAC STREAMINFO metadata block body (34 bytes).
FlacStreamInfo = BitStruct(
    "min_block_size" / BitsInteger(16),
    "max_block_size" / BitsInteger(16),
    "min_frame_size" / BitsInteger(24),
    "max_frame_size" / BitsInteger(24),
    "sample_rate" / BitsInteger(20),
    "channels_minus_one" / BitsInteger(3),
    "bits_per_sample_minus_one" / BitsInteger(5),
    "total_samples" / BitsInteger(36),
    "md5" / BitsInteger(128),
)

#: FlacSequenceHeader: "fLaC", then the STREAMINFO metadata block (header + body).
FlacSequenceHeader = Struct(
    "magic" / Const(b"fLaC"),
    "block_header"
    / BitStruct(
        "last" / Flag,
        "block_type" / BitsInteger(7),
        "length" / BitsInteger(24),
    ),
    "streaminfo" / FlacStreamInfo,
)

#: AC-3 syncinfo() and the start of bsi() (ATSC A/52 5.3); lfeon follows after fields that
#: depend on acmod and is read bit by bit in :mod:`grtmp.media`.
AC3SyncInfo = Struct(
    "syncword" / Const(b"\x0b\x77"),
    "crc1" / Bytes(2),
    "bits"
    / BitStruct(
        "fscod" / BitsInteger(2),
        "frmsizecod" / BitsInteger(6),
        "bsid" / BitsInteger(5),
        "bsmod" / BitsInteger(3),
        "acmod" / BitsInteger(3),
        "rest" / BitsInteger(5),
    ),
)

#: E-AC-3 syncinfo() and bsi() start (ATSC A/52 E.1.2).
EAC3SyncInfo = Struct(
    "syncword" / Const(b"\x0b\x77"),
    "bits"
    / BitStruct(
        "strmtyp" / BitsInteger(2),
        "substreamid" / BitsInteger(3),
        "frmsiz" / BitsInteger(11),
        "fscod" / BitsInteger(2),
        "fscod2_numblkscod" / BitsInteger(2),
        "acmod" / BitsInteger(3),
        "lfeon" / Flag,
        "bsid" / BitsInteger(5),
        "rest" / BitsInteger(3),
    ),
)

#: MPEG-1/2/2.5 audio frame header (ISO 11172-3 2.4.1.3).
MPEGAudioFrameHeader = BitStruct(
    "sync" / BitsInteger(11),
    "version" / BitsInteger(2),
    "layer" / BitsInteger(2),
    "protection_absent" / Flag,
    "bitrate_index" / BitsInteger(4),
    "sampling_rate_index" / BitsInteger(2),
    "padding" / Flag,
    "private" / Flag,
    "channel_mode" / BitsInteger(2),
    "mode_extension" / BitsInteger(2),
    "copyright" / Flag,
    "original" / Flag,
    "emphasis" / BitsInteger(2),
)
