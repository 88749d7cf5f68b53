"""FLV/RTMP video tag layouts: legacy VideoTagHeader and Enhanced RTMP (v2) ExVideoTagHeader.

The Enhanced RTMP header is a small loop (ModEx entries, then an optional Multitrack header,
then per-track headers); each piece is declared here, and :func:`grtmp.media.tag.read_tag_header`
walks them with plain byte reads in the order the spec's pseudocode gives (it runs per message;
tests/media/test_tag.py proves it reads what these declarations read).
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Computed,
    Enum,
    Flag,
    If,
    IfThenElse,
    Int8ub,
    Int16ub,
    Int24sb,
    Int24ub,
    Int32ub,
    Struct,
    this,
)

__all__ = [
    "VIDEO_CODEC_IDS",
    "VIDEO_FOURCCS",
    "VideoCodecId",
    "VideoFourCC",
    "fourcc_enum",
    "FrameType",
    "VideoPacketType",
    "AvcPacketType",
    "AvMultitrackType",
    "ModExType",
    "VideoCommand",
    "VideoTagHeader",
    "ExVideoTagHeader",
    "AVCVideoPacket",
    "ModExEntry",
    "mod_ex_entry",
    "MultitrackHeader",
    "multitrack_header",
    "TrackHeader",
    "track_header",
    "CompositionTime",
    "FourCC",
    "VPCodecConfigurationRecord",
    "VP9FrameHeader",
]


class FrameType(IntEnum):
    """VideoFrameType (UB[3])."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoPacketType(IntEnum):
    """Enhanced RTMP VideoPacketType (UB[4])."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class AvcPacketType(IntEnum):
    """Legacy AVCPacketType (also used by HEVC=12 / AV1=13 in pre-Enhanced-RTMP encoders)."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class AvMultitrackType(IntEnum):
    """AvMultitrackType (UB[4]), shared by audio and video."""

    ONE_TRACK = 0
    MANY_TRACKS = 1
    MANY_TRACKS_MANY_CODECS = 2


class ModExType(IntEnum):
    """Video/AudioPacketModExType (UB[4])."""

    TIMESTAMP_OFFSET_NANO = 0


class VideoCommand(IntEnum):
    """VideoCommand (UI8) carried by a command frame."""

    START_SEEK = 0
    END_SEEK = 1


class VideoCodecId(IntEnum):
    """Legacy FLV CodecID (UB[4]). 12 (HEVC) and 13 (AV1) are de-facto extensions (not in the
    Adobe spec) used by some Chinese CDNs / forks of FFmpeg, nginx-rtmp and SRS."""

    JPEG = 1
    SORENSON_H263 = 2
    SCREEN_VIDEO = 3
    ON2_VP6 = 4
    ON2_VP6_ALPHA = 5
    SCREEN_VIDEO_V2 = 6
    AVC = 7
    HEVC = 12
    AV1 = 13


#: Legacy FLV CodecID -> short name.
VIDEO_CODEC_IDS = {
    VideoCodecId.JPEG: "jpeg",
    VideoCodecId.SORENSON_H263: "h263",
    VideoCodecId.SCREEN_VIDEO: "screen",
    VideoCodecId.ON2_VP6: "vp6",
    VideoCodecId.ON2_VP6_ALPHA: "vp6a",
    VideoCodecId.SCREEN_VIDEO_V2: "screen2",
    VideoCodecId.AVC: "avc",
    VideoCodecId.HEVC: "hevc",
    VideoCodecId.AV1: "av1",
}

#: Enhanced RTMP video FourCC -> short name.
VIDEO_FOURCCS = {
    "avc1": "avc",
    "hvc1": "hevc",
    "av01": "av1",
    "vp09": "vp9",
    "vp08": "vp8",
    "vvc1": "vvc",
}

#: First byte of every video tag: IsExHeader, FrameType, and CodecID (legacy) or PacketType.
VideoTagHeader = BitStruct(
    "is_ex_header" / Flag,
    "frame_type" / Enum(BitsInteger(3), FrameType),
    "codec_id" / Enum(BitsInteger(4), VideoCodecId),
)

#: Same byte read with the Enhanced RTMP meaning of the low nibble.
ExVideoTagHeader = BitStruct(
    "is_ex_header" / Flag,
    "frame_type" / Enum(BitsInteger(3), FrameType),
    "packet_type" / Enum(BitsInteger(4), VideoPacketType),
)

#: Legacy AVC (and HEVC/AV1 codec id 12/13) body header after the first byte.
AVCVideoPacket = Struct(
    "avc_packet_type" / Enum(Int8ub, AvcPacketType),
    "composition_time" / Int24sb,
)

#: SI24 composition time offset in front of CodedFrames (avc1/hvc1).
CompositionTime = Int24sb

#: FOURCC, four ASCII bytes.
FourCC = Bytes(4)


def fourcc_enum(names: object) -> Enum:
    """A FOURCC read as a big-endian UI32 that parses to its name ("avc1") when it is one of
    ``names`` (an unknown one stays a number; build takes the name or the number)."""
    return Enum(Int32ub, **{n: int.from_bytes(n.encode("latin-1"), "big") for n in names})


#: A video FOURCC that prints as its name (avc1, hvc1, av01, vp09, vp08, vvc1).
VideoFourCC = fourcc_enum(VIDEO_FOURCCS)


def mod_ex_entry(packet_type: type[IntEnum]) -> Struct:
    """One ModEx entry whose next-packet-type nibble is a ``packet_type`` (video or audio).

    Size: UI8 + 1, or UI16 + 1 when the UI8 is 255 (``size_minus_one`` is the field that
    counts); then the data, then a byte of ModEx type (high nibble) and next packet type."""
    return Struct(
        "size8" / Int8ub,
        "size_minus_one" / IfThenElse(this.size8 == 255, Int16ub, Computed(this.size8)),
        "data" / Bytes(this.size_minus_one + 1),
        "next"
        / BitStruct(
            "mod_ex_type" / Enum(BitsInteger(4), ModExType),
            "packet_type" / Enum(BitsInteger(4), packet_type),
        ),
    )


def multitrack_header(packet_type: type[IntEnum]) -> BitStruct:
    """The byte after a Multitrack packet type: AvMultitrackType (high nibble) and the tracks'
    ``packet_type`` (low nibble)."""
    return BitStruct(
        "multitrack_type" / Enum(BitsInteger(4), AvMultitrackType),
        "packet_type" / Enum(BitsInteger(4), packet_type),
    )


#: One video ModEx entry (see :func:`mod_ex_entry`).
ModExEntry = mod_ex_entry(VideoPacketType)

#: Byte after a video Multitrack packet type.
MultitrackHeader = multitrack_header(VideoPacketType)

def track_header(fourcc: Enum) -> Struct:
    """Per-track header in a multitrack message: ``fourcc`` only for ManyTracksManyCodecs, the
    track id, and the UI24 size unless OneTrack. Parse with
    ``TrackHeader.parse(data, multitrack_type=int(header.multitrack_type))``."""
    return Struct(
        "fourcc" / If(this._.multitrack_type == int(AvMultitrackType.MANY_TRACKS_MANY_CODECS),
                      fourcc),
        "track_id" / Int8ub,
        "size" / If(this._.multitrack_type != int(AvMultitrackType.ONE_TRACK), Int24ub),
    )


#: Per-track header of a video multitrack message (see :func:`track_header`).
TrackHeader = track_header(VideoFourCC)

#: VP codec configuration record (vpcC, "VP Codec ISO Media File Format Binding" v1.0).
VPCodecConfigurationRecord = Struct(
    "version" / Int8ub,
    "flags" / Int24ub,
    "profile" / Int8ub,
    "level" / Int8ub,
    "bits"
    / BitStruct(
        "bit_depth" / BitsInteger(4),
        "chroma_subsampling" / BitsInteger(3),
        "video_full_range_flag" / Flag,
    ),
    "colour_primaries" / Int8ub,
    "transfer_characteristics" / Int8ub,
    "matrix_coefficients" / Int8ub,
    "codec_initialization_data_size" / Int16ub,
    "codec_initialization_data" / Bytes(this.codec_initialization_data_size),
)

#: Start of a VP9 uncompressed frame header (VP9 bitstream spec 6.2) up to show_existing_frame;
#: the rest depends on profile and frame type and is read bit by bit in :mod:`grtmp.media`.
VP9FrameHeader = BitStruct(
    "frame_marker" / BitsInteger(2),
    "profile_low_bit" / BitsInteger(1),
    "profile_high_bit" / BitsInteger(1),
    "rest" / BitsInteger(4),
)
