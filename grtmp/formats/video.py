"""FLV/RTMP video tag layouts: legacy VideoTagHeader and Enhanced RTMP (v2) ExVideoTagHeader.

The Enhanced RTMP header is a small loop (ModEx entries, then an optional Multitrack header,
then per-track headers); each piece is declared here and :func:`grtmp.media.parse_video` walks
them in the order the spec's pseudocode gives.
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    If,
    Int8ub,
    Int16ub,
    Int24sb,
    Int24ub,
    Struct,
    this,
)

__all__ = [
    "VIDEO_CODEC_IDS",
    "VIDEO_FOURCCS",
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
    "MultitrackHeader",
    "TrackHeader",
    "CompositionTime",
    "FourCC",
    "VPCodecConfigurationRecord",
    "VP9FrameHeader",
]


class FrameType:
    """VideoFrameType (UB[3])."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoPacketType:
    """Enhanced RTMP VideoPacketType (UB[4])."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class AvcPacketType:
    """Legacy AVCPacketType (also used by HEVC=12 / AV1=13 in pre-Enhanced-RTMP encoders)."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class AvMultitrackType:
    """AvMultitrackType (UB[4]), shared by audio and video."""

    ONE_TRACK = 0
    MANY_TRACKS = 1
    MANY_TRACKS_MANY_CODECS = 2


class ModExType:
    """Video/AudioPacketModExType (UB[4])."""

    TIMESTAMP_OFFSET_NANO = 0


class VideoCommand:
    """VideoCommand (UI8) carried by a command frame."""

    START_SEEK = 0
    END_SEEK = 1


#: Legacy FLV CodecID -> short name. 12 (HEVC) and 13 (AV1) are de-facto extensions (not
#: in the Adobe spec) used by some Chinese CDNs / forks of FFmpeg, nginx-rtmp and SRS.
VIDEO_CODEC_IDS = {
    1: "jpeg",
    2: "h263",
    3: "screen",
    4: "vp6",
    5: "vp6a",
    6: "screen2",
    7: "avc",
    12: "hevc",
    13: "av1",
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
    "frame_type" / BitsInteger(3),
    "codec_id" / BitsInteger(4),
)

#: Same byte read with the Enhanced RTMP meaning of the low nibble.
ExVideoTagHeader = BitStruct(
    "is_ex_header" / Flag,
    "frame_type" / BitsInteger(3),
    "packet_type" / BitsInteger(4),
)

#: Legacy AVC (and HEVC/AV1 codec id 12/13) body header after the first byte.
AVCVideoPacket = Struct(
    "avc_packet_type" / Int8ub,
    "composition_time" / Int24sb,
)

#: SI24 composition time offset in front of CodedFrames (avc1/hvc1).
CompositionTime = Int24sb

#: FOURCC, four ASCII bytes.
FourCC = Bytes(4)

#: One ModEx entry: size (UI8 + 1, or UI16 + 1 if the UI8 is 255), data, then a byte holding
#: the ModEx type (high nibble) and the next packet type (low nibble).
ModExEntry = Struct(
    "size8" / Int8ub,
    "size16" / If(this.size8 == 255, Int16ub),
    "data" / Bytes(lambda c: (c.size16 + 1) if c.size16 is not None else c.size8 + 1),
    "next"
    / BitStruct(
        "mod_ex_type" / BitsInteger(4),
        "packet_type" / BitsInteger(4),
    ),
)

#: Byte after a Multitrack packet type: AvMultitrackType (high) and the tracks' packet type (low).
MultitrackHeader = BitStruct(
    "multitrack_type" / BitsInteger(4),
    "packet_type" / BitsInteger(4),
)

#: Per-track header in a multitrack message (fourcc only for ManyTracksManyCodecs; size only
#: when not OneTrack). Parse with ``TrackHeader.parse(data, multitrack_type=...)``.
TrackHeader = Struct(
    "fourcc" / If(this._.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS, FourCC),
    "track_id" / Int8ub,
    "size" / If(this._.multitrack_type != AvMultitrackType.ONE_TRACK, Int24ub),
)

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
