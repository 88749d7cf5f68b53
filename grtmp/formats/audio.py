"""FLV/RTMP audio tag layouts: legacy AudioTagHeader and Enhanced RTMP (v2) ExAudioTagHeader,
plus the codec headers grtmp reads for sample rate and channels (Opus ID header, FLAC
STREAMINFO, AC-3/E-AC-3 sync frames, MPEG audio frame header).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Enum,
    Flag,
    FlagsEnum,
    If,
    Int8ub,
    Int16sl,
    Int16ul,
    Int32ub,
    Int32ul,
    Pass,
    Struct,
    Switch,
    this,
)

from grtmp.formats.video import fourcc_enum, mod_ex_entry, multitrack_header, track_header

__all__ = [
    "SOUND_FORMATS",
    "AUDIO_FOURCCS",
    "SOUND_FORMAT_AAC",
    "SOUND_FORMAT_EX_HEADER",
    "SOUND_RATES",
    "SoundFormat",
    "SoundRate",
    "SoundSize",
    "SoundType",
    "AudioPacketType",
    "AudioChannelOrder",
    "AudioChannelMask",
    "AudioFourCC",
    "AudioTagHeader",
    "ExAudioTagHeader",
    "ModExEntry",
    "MultitrackHeader",
    "TrackHeader",
    "MultichannelConfig",
    "OpusHead",
    "FlacBlockType",
    "FlacStreamInfo",
    "FlacSequenceHeader",
    "AC3SyncInfo",
    "EAC3SyncInfo",
    "MPEGVersion",
    "MPEGLayer",
    "MPEGChannelMode",
    "MPEGAudioFrameHeader",
]


class SoundFormat(IntEnum):
    """Legacy SoundFormat (UB[4]) of the AudioTagHeader (FLV spec E.4.2.1); 9 announces the
    Enhanced RTMP ExAudioTagHeader."""

    PCM = 0
    ADPCM = 1
    MP3 = 2
    PCM_LE = 3
    NELLYMOSER_16K_MONO = 4
    NELLYMOSER_8K_MONO = 5
    NELLYMOSER = 6
    G711_ALAW = 7
    G711_MULAW = 8
    EX_HEADER = 9
    AAC = 10
    SPEEX = 11
    MP3_8K = 14
    DEVICE_SPECIFIC = 15


class SoundRate(IntEnum):
    """Legacy SoundRate (UB[2]); nominal, AAC always says 44 kHz and carries the real rate."""

    KHZ_5_5 = 0
    KHZ_11 = 1
    KHZ_22 = 2
    KHZ_44 = 3


class SoundSize(IntEnum):
    """Legacy SoundSize (UB[1])."""

    BITS_8 = 0
    BITS_16 = 1


class SoundType(IntEnum):
    """Legacy SoundType (UB[1])."""

    MONO = 0
    STEREO = 1


class AudioPacketType(IntEnum):
    """Enhanced RTMP AudioPacketType (UB[4])."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


class AudioChannelOrder(IntEnum):
    """AudioChannelOrder (UI8) of a MultichannelConfig."""

    UNSPECIFIED = 0
    NATIVE = 1
    CUSTOM = 2


class AudioChannelMask(IntFlag):
    """AudioChannelMask (UI32 flags) of a MultichannelConfig in the native channel order; the
    last six complete 22.2 audio (SMPTE ST 2036-2)."""

    FRONT_LEFT = 0x000001
    FRONT_RIGHT = 0x000002
    FRONT_CENTER = 0x000004
    LOW_FREQUENCY1 = 0x000008
    BACK_LEFT = 0x000010
    BACK_RIGHT = 0x000020
    FRONT_LEFT_CENTER = 0x000040
    FRONT_RIGHT_CENTER = 0x000080
    BACK_CENTER = 0x000100
    SIDE_LEFT = 0x000200
    SIDE_RIGHT = 0x000400
    TOP_CENTER = 0x000800
    TOP_FRONT_LEFT = 0x001000
    TOP_FRONT_CENTER = 0x002000
    TOP_FRONT_RIGHT = 0x004000
    TOP_BACK_LEFT = 0x008000
    TOP_BACK_CENTER = 0x010000
    TOP_BACK_RIGHT = 0x020000
    LOW_FREQUENCY2 = 0x040000
    TOP_SIDE_LEFT = 0x080000
    TOP_SIDE_RIGHT = 0x100000
    BOTTOM_FRONT_CENTER = 0x200000
    BOTTOM_FRONT_LEFT = 0x400000
    BOTTOM_FRONT_RIGHT = 0x800000


SOUND_FORMAT_AAC = SoundFormat.AAC
SOUND_FORMAT_EX_HEADER = SoundFormat.EX_HEADER

#: Legacy SoundFormat -> short name.
SOUND_FORMATS = {
    SoundFormat.PCM: "pcm",
    SoundFormat.ADPCM: "adpcm",
    SoundFormat.MP3: "mp3",
    SoundFormat.PCM_LE: "pcm_le",
    SoundFormat.NELLYMOSER_16K_MONO: "nellymoser16",
    SoundFormat.NELLYMOSER_8K_MONO: "nellymoser8",
    SoundFormat.NELLYMOSER: "nellymoser",
    SoundFormat.G711_ALAW: "g711a",
    SoundFormat.G711_MULAW: "g711u",
    SoundFormat.EX_HEADER: "exheader",
    SoundFormat.AAC: "aac",
    SoundFormat.SPEEX: "speex",
    SoundFormat.MP3_8K: "mp3_8k",
    SoundFormat.DEVICE_SPECIFIC: "native",
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

#: An audio FOURCC that prints as its name (mp4a, Opus, fLaC, ac-3, ec-3, .mp3).
AudioFourCC = fourcc_enum(AUDIO_FOURCCS)

#: First byte of a legacy audio tag.
AudioTagHeader = BitStruct(
    "sound_format" / Enum(BitsInteger(4), SoundFormat),
    "sound_rate" / Enum(BitsInteger(2), SoundRate),
    "sound_size" / Enum(BitsInteger(1), SoundSize),
    "sound_type" / Enum(BitsInteger(1), SoundType),
)

#: First byte of an Enhanced RTMP audio tag (sound_format == 9).
ExAudioTagHeader = BitStruct(
    "sound_format" / Enum(BitsInteger(4), SoundFormat),
    "packet_type" / Enum(BitsInteger(4), AudioPacketType),
)

#: One audio ModEx entry (the next packet type is an AudioPacketType).
ModExEntry = mod_ex_entry(AudioPacketType)

#: Byte after an audio Multitrack packet type.
MultitrackHeader = multitrack_header(AudioPacketType)

#: Per-track header of an audio multitrack message.
TrackHeader = track_header(AudioFourCC)

#: AudioPacketType.MultichannelConfig body.
MultichannelConfig = Struct(
    "channel_order" / Enum(Int8ub, AudioChannelOrder),
    "channel_count" / Int8ub,
    # Switch on the order's name: a parsed Enum field is a string ("CUSTOM"), never an int.
    "channel_mapping"
    / Switch(this.channel_order, {"CUSTOM": Bytes(this.channel_count)}, default=Pass),
    "channel_flags"
    / Switch(this.channel_order, {"NATIVE": FlagsEnum(Int32ub, AudioChannelMask)}, default=Pass),
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

class FlacBlockType(IntEnum):
    """FLAC METADATA_BLOCK_HEADER block type (RFC 9639 8.1)."""

    STREAMINFO = 0
    PADDING = 1
    APPLICATION = 2
    SEEKTABLE = 3
    VORBIS_COMMENT = 4
    CUESHEET = 5
    PICTURE = 6


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
        "block_type" / Enum(BitsInteger(7), FlacBlockType),
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

class MPEGVersion(IntEnum):
    """MPEG audio version ID (2 bits)."""

    MPEG_2_5 = 0
    RESERVED = 1
    MPEG_2 = 2
    MPEG_1 = 3


class MPEGLayer(IntEnum):
    """MPEG audio layer description (2 bits)."""

    RESERVED = 0
    LAYER_III = 1
    LAYER_II = 2
    LAYER_I = 3


class MPEGChannelMode(IntEnum):
    """MPEG audio channel mode (2 bits)."""

    STEREO = 0
    JOINT_STEREO = 1
    DUAL_CHANNEL = 2
    MONO = 3


#: MPEG-1/2/2.5 audio frame header (ISO 11172-3 2.4.1.3).
MPEGAudioFrameHeader = BitStruct(
    "sync" / BitsInteger(11),
    "version" / Enum(BitsInteger(2), MPEGVersion),
    "layer" / Enum(BitsInteger(2), MPEGLayer),
    "protection_absent" / Flag,
    "bitrate_index" / BitsInteger(4),
    "sampling_rate_index" / BitsInteger(2),
    "padding" / Flag,
    "private" / Flag,
    "channel_mode" / Enum(BitsInteger(2), MPEGChannelMode),
    "mode_extension" / BitsInteger(2),
    "copyright" / Flag,
    "original" / Flag,
    "emphasis" / BitsInteger(2),
)
