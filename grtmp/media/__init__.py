"""Media: FLV/RTMP audio and video payloads (legacy FLV and Enhanced RTMP v2), pure code.

Modules, one concept each:

* :mod:`.tag` -- the one reader of audio/video tag headers (:func:`read_tag_header`,
  :func:`iter_tracks`) and what is built directly on it: the fan-out's :func:`classify` and
  the hot-path tests :func:`is_sequence_header`, :func:`is_video_keyframe`,
  :func:`video_frame_type`.
* :mod:`.video` / :mod:`.audio` -- the full parsers :func:`parse_video`, :func:`parse_audio`
  (any codec) and the seed API :func:`parse_h264` / :func:`parse_aac`. They detect the codec
  from the packet itself (never from onMetaData, encoders lie) and read the configuration.
* codec configurations: :mod:`.avc` (SPS, avcC, NAL units), :mod:`.hevc` (SPS, hvcC),
  :mod:`.av1` (OBUs, sequence header, av1C), :mod:`.vp` (vpcC, VP8/VP9 key frame size),
  :mod:`.audio_codecs` (AudioSpecificConfig, OpusHead, FLAC STREAMINFO, MultichannelConfig,
  AC-3/E-AC-3/MP3 frame headers); :mod:`.bits` (bit reader, RBSP unescaping).
* :mod:`.multitrack` (take one track out of a multitrack message), :mod:`.flv` (FLV file
  reader and writer).

Byte layouts are declared in :mod:`grtmp.formats`. Every parser raises only
:class:`grtmp.errors.CodecError` on bad input.
"""

from __future__ import annotations

from grtmp.formats.audio import AudioPacketType
from grtmp.formats.video import AvMultitrackType, FrameType, VideoPacketType
from grtmp.media.audio import AACPacket, AudioPacket, AudioTrack, parse_aac, parse_audio
from grtmp.media.audio_codecs import (
    AACConfig,
    AudioFrameInfo,
    FlacConfig,
    MultichannelConfig,
    OpusConfig,
    parse_audio_specific_config,
    parse_flac_header,
    parse_multichannel_config,
    parse_opus_head,
)
from grtmp.media.av1 import (
    AV1Config,
    AV1SequenceHeader,
    parse_av1_config,
    parse_av1_sequence_header,
    split_obus,
)
from grtmp.media.avc import AVCConfig, SPSInfo, parse_avc_config, parse_h264_sps, split_nal_units
from grtmp.media.bits import BitReader
from grtmp.media.hevc import HEVCConfig, parse_hevc_config, parse_hevc_sps
from grtmp.media.tag import (
    MAX_MOD_EX,
    MAX_TRACKS,
    TagHeader,
    classify,
    is_sequence_header,
    is_video_keyframe,
    iter_tracks,
    read_tag_header,
    video_frame_type,
)
from grtmp.media.video import H264Packet, VideoPacket, VideoTrack, parse_h264, parse_video
from grtmp.media.vp import VPConfig, parse_vp_config

__all__ = [
    "AudioPacketType",
    "VideoPacketType",
    "FrameType",
    "AvMultitrackType",
    "BitReader",
    "SPSInfo",
    "AVCConfig",
    "HEVCConfig",
    "AV1SequenceHeader",
    "AV1Config",
    "VPConfig",
    "VideoTrack",
    "VideoPacket",
    "H264Packet",
    "AACConfig",
    "OpusConfig",
    "FlacConfig",
    "MultichannelConfig",
    "AudioFrameInfo",
    "AudioTrack",
    "AudioPacket",
    "AACPacket",
    "TagHeader",
    "MAX_TRACKS",
    "MAX_MOD_EX",
    "parse_video",
    "parse_audio",
    "parse_h264",
    "parse_aac",
    "parse_h264_sps",
    "parse_hevc_sps",
    "parse_av1_sequence_header",
    "parse_audio_specific_config",
    "parse_avc_config",
    "parse_hevc_config",
    "parse_av1_config",
    "parse_vp_config",
    "parse_opus_head",
    "parse_flac_header",
    "parse_multichannel_config",
    "split_nal_units",
    "split_obus",
    "read_tag_header",
    "iter_tracks",
    "classify",
    "is_video_keyframe",
    "is_sequence_header",
    "video_frame_type",
]
