"""Codec parsing for FLV/RTMP audio and video payloads (legacy FLV and Enhanced RTMP v2).

Two tiers:

* Fast byte tests for the server's per-message hot path: :func:`is_video_keyframe`,
  :func:`is_sequence_header`, :func:`video_frame_type`. No construct, no allocation.
* Full parsers built on the construct layouts in :mod:`grtmp.formats`: :func:`parse_video`,
  :func:`parse_audio` (any codec), and the seed API :func:`parse_h264` / :func:`parse_aac`.
  They detect the codec from the packet itself (never from onMetaData, encoders lie) and read
  the codec configuration: SPS (exp-Golomb) for H.264/HEVC picture size, profile, level and
  frame rate; AV1 sequence header; VP9/VP8 key frame size; AAC AudioSpecificConfig; Opus ID
  header; FLAC STREAMINFO; AC-3/E-AC-3 and MP3 frame headers.

Every parser raises only :class:`grtmp.errors.CodecError` on bad input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from construct import ConstructError

from grtmp.errors import AMFError, CodecError
from grtmp.formats import aac as _aac
from grtmp.formats import audio as _audio
from grtmp.formats import av1 as _av1
from grtmp.formats import avc as _avc
from grtmp.formats import hevc as _hevc
from grtmp.formats import video as _video
from grtmp.formats.audio import AudioPacketType
from grtmp.formats.video import AvMultitrackType, FrameType, ModExType, VideoPacketType

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
    "is_video_keyframe",
    "is_sequence_header",
    "video_frame_type",
]

T = TypeVar("T")

#: Upper bound on tracks in one multitrack message and ModEx entries (untrusted input).
MAX_TRACKS = 256
MAX_MOD_EX = 64
MAX_NAL_UNITS = 4096


# --------------------------------------------------------------------------------------------
# Fast hot-path helpers (plain byte tests; kept in agreement with parse_* by property tests)
# --------------------------------------------------------------------------------------------

_LEGACY_AVC_LIKE = (7, 12, 13)  # AVC, and HEVC / AV1 as some non-standard encoders send them


def video_frame_type(payload: bytes) -> int:
    """Return the VideoFrameType (1 key, 2 inter, 3 disposable, 4 generated key, 5 command),
    or 0 for an empty payload."""
    if not payload:
        return 0
    return (payload[0] >> 4) & 0x07


def is_sequence_header(type_id: int, payload: bytes) -> bool:
    """True if an audio (8) or video (9) message carries a decoder configuration.

    Audio: AAC (SoundFormat 10) with AACPacketType 0; Enhanced (SoundFormat 9) SequenceStart,
    also inside Multitrack or behind ModEx. Video: legacy AVC/HEVC(12)/AV1(13) with packet
    type 0; Enhanced SequenceStart or MPEG2TSSequenceStart, also inside Multitrack/ModEx.
    """
    n = len(payload)
    if n < 2:
        return False
    b0 = payload[0]
    if type_id == 8:
        fmt = b0 >> 4
        if fmt == 10:
            return payload[1] == 0
        if fmt != 9:
            return False
        pt = b0 & 0x0F
        if pt == AudioPacketType.SEQUENCE_START:
            return True
        if pt == AudioPacketType.MULTITRACK:
            return payload[1] & 0x0F == AudioPacketType.SEQUENCE_START
        if pt == AudioPacketType.MOD_EX:
            return _slow_is_seq(parse_audio, payload)
        return False
    if type_id == 9:
        if b0 & 0x80:
            pt = b0 & 0x0F
            if (b0 >> 4) & 0x07 == FrameType.COMMAND and pt != VideoPacketType.METADATA:
                return False
            if pt in (VideoPacketType.SEQUENCE_START, VideoPacketType.MPEG2TS_SEQUENCE_START):
                return True
            if pt == VideoPacketType.MULTITRACK:
                return payload[1] & 0x0F in (
                    VideoPacketType.SEQUENCE_START,
                    VideoPacketType.MPEG2TS_SEQUENCE_START,
                )
            if pt == VideoPacketType.MOD_EX:
                return _slow_is_seq(parse_video, payload)
            return False
        if (b0 >> 4) & 0x07 == FrameType.COMMAND:
            return False
        return (b0 & 0x0F) in _LEGACY_AVC_LIKE and payload[1] == 0
    return False


def is_video_keyframe(payload: bytes) -> bool:
    """True if a video payload is a key frame carrying coded picture data (not a sequence
    header, metadata or command frame). Use it to start a GOP cache."""
    if not payload:
        return False
    b0 = payload[0]
    if (b0 >> 4) & 0x07 != FrameType.KEY:
        return False
    if len(payload) < 2:
        return not b0 & 0x80 and (b0 & 0x0F) not in _LEGACY_AVC_LIKE
    if b0 & 0x80:
        pt = b0 & 0x0F
        if pt in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
            return True
        if pt == VideoPacketType.MULTITRACK:
            return payload[1] & 0x0F in (
                VideoPacketType.CODED_FRAMES,
                VideoPacketType.CODED_FRAMES_X,
            )
        if pt == VideoPacketType.MOD_EX:
            try:
                p = parse_video(payload)
            except CodecError:
                return False
            return p.packet_type in (
                VideoPacketType.CODED_FRAMES,
                VideoPacketType.CODED_FRAMES_X,
            )
        return False
    if (b0 & 0x0F) in _LEGACY_AVC_LIKE:
        return payload[1] == 1
    return True


def _slow_is_seq(parser: Callable[[bytes], Any], payload: bytes) -> bool:
    try:
        return parser(payload).is_sequence_header
    except CodecError:
        return False


# --------------------------------------------------------------------------------------------
# Bit reading (exp-Golomb etc.)
# --------------------------------------------------------------------------------------------


class BitReader:
    """MSB-first bit reader over bytes; reading past the end raises :class:`CodecError`."""

    __slots__ = ("_value", "_nbits", "_pos")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._nbits = len(data) * 8
        self._pos = 0

    @property
    def bits_left(self) -> int:
        """Bits not yet read."""
        return self._nbits - self._pos

    def u(self, n: int) -> int:
        """Read an n-bit unsigned integer."""
        if n == 0:
            return 0
        if self._pos + n > self._nbits:
            raise CodecError("bitstream ended early")
        self._pos += n
        return (self._value >> (self._nbits - self._pos)) & ((1 << n) - 1)

    def flag(self) -> bool:
        """Read one bit as a bool."""
        return bool(self.u(1))

    def skip(self, n: int) -> None:
        """Skip n bits."""
        if self._pos + n > self._nbits:
            raise CodecError("bitstream ended early")
        self._pos += n

    def ue(self) -> int:
        """Read an unsigned exp-Golomb code, ue(v)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise CodecError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Read a signed exp-Golomb code, se(v)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def uvlc(self) -> int:
        """Read an AV1 uvlc()."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros >= 32:
                raise CodecError("uvlc code too long")
        return self.u(zeros) + (1 << zeros) - 1


def _unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _guard(what: str, fn: Callable[[], T]) -> T:
    """Run a parse step, turning construct/low-level errors into CodecError."""
    try:
        return fn()
    except CodecError:
        raise
    except (ConstructError, ValueError, IndexError, KeyError, TypeError, struct.error,
            OverflowError, AMFError) as exc:
        raise CodecError(f"bad {what}: {exc}") from None


# --------------------------------------------------------------------------------------------
# H.264 / HEVC
# --------------------------------------------------------------------------------------------


@dataclass
class SPSInfo:
    """Fields of an H.264 or HEVC sequence parameter set that matter to a server/inspector.

    ``width``/``height`` are after the cropping (conformance) window; ``frame_rate`` is from
    the VUI timing info when present (H.264 only)."""

    codec: str
    profile_idc: int
    level_idc: int
    width: int
    height: int
    chroma_format_idc: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8
    frame_rate: float | None = None
    constraint_flags: int = 0
    tier_flag: int = 0
    sar: tuple[int, int] | None = None


_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            delta = r.se()
            nxt = (last + delta + 256) % 256
        last = nxt if nxt != 0 else last


def parse_h264_sps(nal: bytes) -> SPSInfo:
    """Parse an H.264 SPS NAL unit (with its one-byte NAL header) (ITU-T H.264 7.3.2.1.1)."""
    if len(nal) < 4 or nal[0] & 0x1F != _avc.NAL_SPS:
        raise CodecError("not an H.264 SPS NAL unit")
    r = BitReader(_unescape_rbsp(nal[1:]))
    profile_idc = r.u(8)
    constraints = r.u(8)
    level_idc = r.u(8)
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = False
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in _H264_HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc > 3:
            raise CodecError("bad chroma_format_idc")
        if chroma_format_idc == 3:
            separate_colour_plane = r.flag()
        bit_depth_luma = r.ue() + 8
        bit_depth_chroma = r.ue() + 8
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.skip(1)
        r.se()
        r.se()
        cycle = r.ue()
        if cycle > 255:
            raise CodecError("num_ref_frames_in_pic_order_cnt_cycle too large")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise CodecError("bad pic_order_cnt_type")
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.skip(1)  # mb_adaptive_frame_field_flag
    r.skip(1)  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if r.flag():
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    sub_w = 2 if chroma_format_idc in (1, 2) else 1
    sub_h = 2 if chroma_format_idc == 1 else 1
    crop_x = 1 if chroma_array_type == 0 else sub_w
    crop_y = (2 - frame_mbs_only) * (1 if chroma_array_type == 0 else sub_h)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_map_units * 16 - crop_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise CodecError("SPS cropping exceeds picture size")
    info = SPSInfo(
        codec="h264",
        profile_idc=profile_idc,
        level_idc=level_idc,
        width=width,
        height=height,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        constraint_flags=constraints,
    )
    if r.bits_left and r.flag():  # vui_parameters_present_flag
        _parse_h264_vui(r, info)
    return info


def _parse_h264_vui(r: BitReader, info: SPSInfo) -> None:
    """Read the VUI up to timing_info (aspect ratio and frame rate); tolerate truncation."""
    try:
        if r.flag():  # aspect_ratio_info_present_flag
            idc = r.u(8)
            if idc == 255:
                info.sar = (r.u(16), r.u(16))
            elif 0 < idc < len(_SAR_TABLE):
                info.sar = _SAR_TABLE[idc]
        if r.flag():  # overscan_info_present_flag
            r.skip(1)
        if r.flag():  # video_signal_type_present_flag
            r.skip(4)
            if r.flag():
                r.skip(24)
        if r.flag():  # chroma_loc_info_present_flag
            r.ue()
            r.ue()
        if r.flag():  # timing_info_present_flag
            num_units_in_tick = r.u(32)
            time_scale = r.u(32)
            if num_units_in_tick and time_scale:
                info.frame_rate = time_scale / (2 * num_units_in_tick)
    except CodecError:
        pass  # a truncated VUI still leaves a usable SPS


_SAR_TABLE = (
    (0, 0), (1, 1), (12, 11), (10, 11), (16, 11), (40, 33), (24, 11), (20, 11), (32, 11),
    (80, 33), (18, 11), (15, 11), (64, 33), (160, 99), (4, 3), (3, 2), (2, 1),
)


def parse_hevc_sps(nal: bytes) -> SPSInfo:
    """Parse an HEVC SPS NAL unit (with its two-byte NAL header) (ITU-T H.265 7.3.2.2) up to
    the conformance window and bit depths."""
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != _hevc.NAL_SPS:
        raise CodecError("not an HEVC SPS NAL unit")
    r = BitReader(_unescape_rbsp(nal[2:]))
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.skip(1)  # sps_temporal_id_nesting_flag
    # profile_tier_level(1, sps_max_sub_layers_minus1)
    r.skip(2)  # general_profile_space
    tier = r.u(1)
    profile_idc = r.u(5)
    r.skip(32)  # general_profile_compatibility_flag[32]
    r.skip(48)  # progressive/interlaced/non-packed/frame-only + 43 + 1 bits
    level_idc = r.u(8)
    present = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))
    for profile_present, level_present in present:
        if profile_present:
            r.skip(88)
        if level_present:
            r.skip(8)
    r.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = r.ue()
    if chroma_format_idc > 3:
        raise CodecError("bad chroma_format_idc")
    if chroma_format_idc == 3:
        r.skip(1)  # separate_colour_plane_flag
    width = r.ue()
    height = r.ue()
    if r.flag():  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_w = 2 if chroma_format_idc in (1, 2) else 1
        sub_h = 2 if chroma_format_idc == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise CodecError("bad HEVC picture size")
    bit_depth_luma = r.ue() + 8
    bit_depth_chroma = r.ue() + 8
    return SPSInfo(
        codec="hevc",
        profile_idc=profile_idc,
        level_idc=level_idc,
        width=width,
        height=height,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        tier_flag=tier,
    )


@dataclass
class AVCConfig:
    """An AVCDecoderConfigurationRecord (avcC) with its first SPS parsed."""

    profile: int
    profile_compatibility: int
    level: int
    nal_length_size: int
    sps: list[bytes]
    pps: list[bytes]
    sps_info: SPSInfo | None = None

    @property
    def width(self) -> int | None:
        return self.sps_info.width if self.sps_info else None

    @property
    def height(self) -> int | None:
        return self.sps_info.height if self.sps_info else None


def parse_avc_config(data: bytes) -> AVCConfig:
    """Parse avcC bytes (the body of an AVC sequence header)."""
    rec = _guard("AVCDecoderConfigurationRecord",
                 lambda: _avc.AVCDecoderConfigurationRecord.parse(data))
    if rec.configuration_version != 1:
        raise CodecError(f"AVC configurationVersion {rec.configuration_version} != 1")
    sps = [bytes(s) for s in rec.sequence_parameter_sets]
    cfg = AVCConfig(
        profile=rec.avc_profile_indication,
        profile_compatibility=rec.profile_compatibility,
        level=rec.avc_level_indication,
        nal_length_size=rec.bits1.length_size_minus_one + 1,
        sps=sps,
        pps=[bytes(p) for p in rec.picture_parameter_sets],
    )
    if sps:
        cfg.sps_info = parse_h264_sps(sps[0])
    return cfg


@dataclass
class HEVCConfig:
    """An HEVCDecoderConfigurationRecord (hvcC) with VPS/SPS/PPS arrays and the SPS parsed."""

    profile_idc: int
    tier_flag: int
    level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    nal_length_size: int
    vps: list[bytes] = field(default_factory=list)
    sps: list[bytes] = field(default_factory=list)
    pps: list[bytes] = field(default_factory=list)
    other: list[bytes] = field(default_factory=list)
    sps_info: SPSInfo | None = None

    @property
    def width(self) -> int | None:
        return self.sps_info.width if self.sps_info else None

    @property
    def height(self) -> int | None:
        return self.sps_info.height if self.sps_info else None


def parse_hevc_config(data: bytes) -> HEVCConfig:
    """Parse hvcC bytes (the body of an HEVC SequenceStart)."""
    rec = _guard("HEVCDecoderConfigurationRecord",
                 lambda: _hevc.HEVCDecoderConfigurationRecord.parse(data))
    if rec.configuration_version != 1:
        raise CodecError(f"HEVC configurationVersion {rec.configuration_version} != 1")
    cfg = HEVCConfig(
        profile_idc=rec.profile.general_profile_idc,
        tier_flag=int(rec.profile.general_tier_flag),
        level_idc=rec.general_level_idc,
        chroma_format_idc=rec.bits.chroma_format_idc,
        bit_depth_luma=rec.bits.bit_depth_luma_minus8 + 8,
        bit_depth_chroma=rec.bits.bit_depth_chroma_minus8 + 8,
        nal_length_size=rec.bits.length_size_minus_one + 1,
    )
    for arr in rec.arrays:
        kind = {
            _hevc.NAL_VPS: cfg.vps,
            _hevc.NAL_SPS: cfg.sps,
            _hevc.NAL_PPS: cfg.pps,
        }.get(arr.bits.nal_unit_type, cfg.other)
        kind.extend(bytes(n) for n in arr.nalus)
    if cfg.sps:
        cfg.sps_info = parse_hevc_sps(cfg.sps[0])
    return cfg


def split_nal_units(data: bytes, length_size: int = 4) -> list[bytes]:
    """Split a length-prefixed (AVCC/HVCC) payload into NAL units."""
    if length_size not in (1, 2, 3, 4):
        raise CodecError(f"bad NAL length size {length_size}")
    out: list[bytes] = []
    pos, n = 0, len(data)
    while pos < n:
        if pos + length_size > n:
            raise CodecError("truncated NAL unit length")
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if pos + size > n:
            raise CodecError(f"NAL unit of {size} bytes overruns payload")
        out.append(bytes(data[pos:pos + size]))
        pos += size
        if len(out) > MAX_NAL_UNITS:
            raise CodecError("too many NAL units")
    return out


# --------------------------------------------------------------------------------------------
# AV1 / VP9 / VP8
# --------------------------------------------------------------------------------------------


@dataclass
class AV1SequenceHeader:
    """Fields of an AV1 sequence header OBU (AV1 spec 5.5.1)."""

    seq_profile: int
    still_picture: bool
    seq_level_idx: int
    seq_tier: int
    width: int
    height: int
    frame_rate: float | None = None


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos + i >= len(data):
            raise CodecError("truncated leb128")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos + i + 1
    raise CodecError("leb128 too long")


def split_obus(data: bytes) -> list[tuple[int, bytes]]:
    """Split an AV1 low-overhead bitstream into ``(obu_type, obu_payload)`` pairs."""
    out: list[tuple[int, bytes]] = []
    pos, n = 0, len(data)
    while pos < n:
        h = data[pos]
        if h & 0x80:
            raise CodecError("OBU forbidden bit set")
        obu_type = (h >> 3) & 0x0F
        pos += 2 if h & 0x04 else 1
        if h & 0x02:
            size, pos = _leb128(data, pos)
        else:
            size = n - pos
        if pos + size > n:
            raise CodecError("OBU overruns payload")
        out.append((obu_type, bytes(data[pos:pos + size])))
        pos += size
        if len(out) > MAX_NAL_UNITS:
            raise CodecError("too many OBUs")
    return out


def parse_av1_sequence_header(payload: bytes) -> AV1SequenceHeader:
    """Parse the payload of an AV1 sequence header OBU (without the OBU header)."""
    r = BitReader(payload)
    seq_profile = r.u(3)
    still = r.flag()
    reduced = r.flag()
    frame_rate = None
    tier = 0
    if reduced:
        level = r.u(5)
    else:
        decoder_model_info = False
        buffer_delay_length = 0
        if r.flag():  # timing_info_present_flag
            num_units = r.u(32)
            time_scale = r.u(32)
            if r.flag():  # equal_picture_interval
                ticks = r.uvlc() + 1
                if num_units:
                    frame_rate = time_scale / (num_units * ticks)
            decoder_model_info = r.flag()
            if decoder_model_info:
                buffer_delay_length = r.u(5) + 1
                r.skip(32)
                r.skip(10)
        initial_display_delay = r.flag()
        count = r.u(5) + 1
        level = 0
        for i in range(count):
            r.skip(12)  # operating_point_idc
            lvl = r.u(5)
            t = r.u(1) if lvl > 7 else 0
            if i == 0:
                level, tier = lvl, t
            if decoder_model_info and r.flag():
                r.skip(2 * buffer_delay_length + 1)
            if initial_display_delay and r.flag():
                r.skip(4)
    wbits = r.u(4) + 1
    hbits = r.u(4) + 1
    width = r.u(wbits) + 1
    height = r.u(hbits) + 1
    return AV1SequenceHeader(seq_profile, still, level, tier, width, height, frame_rate)


@dataclass
class AV1Config:
    """An AV1CodecConfigurationRecord (av1C) with its sequence header OBU parsed."""

    seq_profile: int
    seq_level_idx: int
    seq_tier: int
    bit_depth: int
    monochrome: bool
    chroma_subsampling_x: bool
    chroma_subsampling_y: bool
    sequence_header: AV1SequenceHeader | None = None

    @property
    def width(self) -> int | None:
        return self.sequence_header.width if self.sequence_header else None

    @property
    def height(self) -> int | None:
        return self.sequence_header.height if self.sequence_header else None


def _first_sequence_header(data: bytes) -> AV1SequenceHeader | None:
    for obu_type, body in split_obus(data):
        if obu_type == _av1.OBU_SEQUENCE_HEADER:
            return parse_av1_sequence_header(body)
    return None


def parse_av1_config(data: bytes) -> AV1Config:
    """Parse av1C bytes (the body of an AV1 SequenceStart)."""
    rec = _guard("AV1CodecConfigurationRecord",
                 lambda: _av1.AV1CodecConfigurationRecord.parse(data))
    b = rec.bits
    if not b.marker:
        raise CodecError("av1C marker bit not set")
    bit_depth = (12 if b.twelve_bit else 10) if b.high_bitdepth else 8
    cfg = AV1Config(
        seq_profile=b.seq_profile,
        seq_level_idx=b.seq_level_idx_0,
        seq_tier=int(b.seq_tier_0),
        bit_depth=bit_depth,
        monochrome=b.monochrome,
        chroma_subsampling_x=b.chroma_subsampling_x,
        chroma_subsampling_y=b.chroma_subsampling_y,
    )
    cfg.sequence_header = _first_sequence_header(bytes(rec.config_obus))
    return cfg


@dataclass
class VPConfig:
    """A VP8/VP9 VPCodecConfigurationRecord (vpcC). The picture size is not in the record; it
    comes from key frames (:attr:`VideoTrack.width`)."""

    profile: int
    level: int
    bit_depth: int
    chroma_subsampling: int
    video_full_range: bool
    colour_primaries: int
    transfer_characteristics: int
    matrix_coefficients: int
    width: int | None = None
    height: int | None = None


def parse_vp_config(data: bytes) -> VPConfig:
    """Parse vpcC bytes (the body of a VP8/VP9 SequenceStart)."""
    rec = _guard("VPCodecConfigurationRecord",
                 lambda: _video.VPCodecConfigurationRecord.parse(data))
    return VPConfig(
        profile=rec.profile,
        level=rec.level,
        bit_depth=rec.bits.bit_depth,
        chroma_subsampling=rec.bits.chroma_subsampling,
        video_full_range=rec.bits.video_full_range_flag,
        colour_primaries=rec.colour_primaries,
        transfer_characteristics=rec.transfer_characteristics,
        matrix_coefficients=rec.matrix_coefficients,
    )


def _vp9_key_frame_size(data: bytes) -> tuple[int, int] | None:
    """Width/height from a VP9 key frame's uncompressed header, None for other frames."""
    r = BitReader(data[:16])
    if r.u(2) != 2:
        raise CodecError("bad VP9 frame marker")
    low = r.u(1)
    profile = (r.u(1) << 1) | low
    if profile == 3:
        r.skip(1)
    if r.flag():  # show_existing_frame
        return None
    if r.u(1) != 0:  # frame_type: 0 = KEY_FRAME
        return None
    r.skip(2)  # show_frame, error_resilient_mode
    if r.u(24) != 0x498342:
        raise CodecError("bad VP9 sync code")
    if profile >= 2:
        r.skip(1)
    if r.u(3) != 7:  # color_space != CS_RGB
        r.skip(1)
        if profile in (1, 3):
            r.skip(3)
    elif profile in (1, 3):
        r.skip(1)
    return r.u(16) + 1, r.u(16) + 1


def _vp8_key_frame_size(data: bytes) -> tuple[int, int] | None:
    """Width/height from a VP8 key frame header (RFC 6386 9.1), None for inter frames."""
    if len(data) < 10:
        raise CodecError("VP8 frame too short")
    if data[0] & 1:
        return None
    if data[3:6] != b"\x9d\x01\x2a":
        raise CodecError("bad VP8 start code")
    return (int.from_bytes(data[6:8], "little") & 0x3FFF,
            int.from_bytes(data[8:10], "little") & 0x3FFF)


# --------------------------------------------------------------------------------------------
# Video packets
# --------------------------------------------------------------------------------------------


@dataclass
class VideoTrack:
    """One track of a video message (a plain message has exactly one, track_id 0)."""

    codec: str
    packet_type: int
    data: bytes
    track_id: int = 0
    fourcc: str | None = None
    composition_time: int = 0
    config: AVCConfig | HEVCConfig | AV1Config | VPConfig | None = None
    nalus: list[bytes] | None = None
    sequence_header: AV1SequenceHeader | None = None
    width: int | None = None
    height: int | None = None
    metadata: list[Any] | None = None


@dataclass
class VideoPacket:
    """A parsed video message (legacy FLV VideoTagHeader or Enhanced RTMP ExVideoTagHeader).

    ``packet_type`` uses the Enhanced RTMP numbering for every codec (legacy AVC packet types
    0/1/2 map to SequenceStart/CodedFrames/SequenceEnd). Single-track convenience properties
    (codec, config, nalus...) read the first track."""

    frame_type: int
    enhanced: bool
    packet_type: int
    codec_id: int | None = None
    command: int | None = None
    timestamp_offset_nano: int | None = None
    multitrack_type: int | None = None
    tracks: list[VideoTrack] = field(default_factory=list)

    @property
    def keyframe(self) -> bool:
        return self.frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)

    @property
    def is_sequence_header(self) -> bool:
        return self.command is None and self.packet_type in (
            VideoPacketType.SEQUENCE_START,
            VideoPacketType.MPEG2TS_SEQUENCE_START,
        )

    def _first(self, name: str) -> Any:
        return getattr(self.tracks[0], name) if self.tracks else None

    @property
    def codec(self) -> str | None:
        return self._first("codec")

    @property
    def fourcc(self) -> str | None:
        return self._first("fourcc")

    @property
    def composition_time(self) -> int:
        return self._first("composition_time") or 0

    @property
    def config(self) -> Any:
        return self._first("config")

    @property
    def nalus(self) -> list[bytes] | None:
        return self._first("nalus")

    @property
    def data(self) -> bytes | None:
        return self._first("data")

    @property
    def width(self) -> int | None:
        return self._first("width")

    @property
    def height(self) -> int | None:
        return self._first("height")


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def _read_mod_ex(data: bytes, pos: int, packet_type: int, mod_ex_value: int) -> tuple[int, int,
                                                                                      int | None]:
    """Walk ModEx entries from ``pos``; return (pos, final packet type, nano offset)."""
    nano = None
    count = 0
    while packet_type == mod_ex_value:
        count += 1
        if count > MAX_MOD_EX:
            raise CodecError("too many ModEx entries")
        entry = _guard("ModEx entry", lambda p=pos: _video.ModExEntry.parse(data[p:]))
        size = (entry.size16 + 1) if entry.size16 is not None else entry.size8 + 1
        pos += 1 + (2 if entry.size16 is not None else 0) + size + 1
        packet_type = entry.next.packet_type
        if entry.next.mod_ex_type == ModExType.TIMESTAMP_OFFSET_NANO:
            if size < 3:
                raise CodecError("TimestampOffsetNano needs 3 bytes")
            nano = int.from_bytes(entry.data[:3], "big")
    return pos, packet_type, nano


def _video_track_body(track: VideoTrack, body: bytes, nal_length_size: int) -> None:
    """Fill a track from its body according to its codec and packet type."""
    codec, pt = track.codec, track.packet_type
    if pt == VideoPacketType.METADATA:
        from grtmp.amf import amf0

        track.metadata = _guard("video metadata", lambda: amf0.decode_all(body))
        track.data = body
        return
    if pt == VideoPacketType.CODED_FRAMES and codec in ("avc", "hevc", "vvc"):
        if len(body) < 3:
            raise CodecError("CodedFrames without composition time")
        track.composition_time = int.from_bytes(body[:3], "big", signed=True)
        body = body[3:]
    track.data = body
    if pt == VideoPacketType.SEQUENCE_START:
        parser = {
            "avc": parse_avc_config,
            "hevc": parse_hevc_config,
            "av1": parse_av1_config,
            "vp9": parse_vp_config,
            "vp8": parse_vp_config,
        }.get(codec)
        if parser is not None:
            track.config = parser(body)
            track.width = track.config.width
            track.height = track.config.height
    elif pt in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        if codec in ("avc", "hevc", "vvc"):
            track.nalus = split_nal_units(body, nal_length_size)
        elif codec == "av1":
            track.sequence_header = _first_sequence_header(body)
            if track.sequence_header:
                track.width = track.sequence_header.width
                track.height = track.sequence_header.height
        elif codec == "vp9" and body:
            size = _vp9_key_frame_size(body)
            if size:
                track.width, track.height = size
        elif codec == "vp8" and body:
            size = _vp8_key_frame_size(body)
            if size:
                track.width, track.height = size


def parse_video(payload: bytes, *, nal_length_size: int = 4) -> VideoPacket:
    """Parse a video message payload (FLV video tag body), legacy or Enhanced RTMP.

    ``nal_length_size`` is the NAL length prefix size for AVC/HEVC frames (4 in practice; the
    sequence header's ``config.nal_length_size`` says for sure).
    """
    if not payload:
        raise CodecError("empty video payload")
    payload = bytes(payload)
    b0 = payload[0]
    frame_type = (b0 >> 4) & 0x07
    if not b0 & 0x80:
        return _parse_legacy_video(payload, frame_type, nal_length_size)
    pkt = VideoPacket(frame_type=frame_type, enhanced=True, packet_type=b0 & 0x0F)
    pos, pt, pkt.timestamp_offset_nano = _read_mod_ex(payload, 1, b0 & 0x0F,
                                                      VideoPacketType.MOD_EX)
    pkt.packet_type = pt
    if pt != VideoPacketType.METADATA and frame_type == FrameType.COMMAND:
        if pos >= len(payload):
            raise CodecError("command frame without command byte")
        pkt.command = payload[pos]
        return pkt
    fourcc = None
    if pt == VideoPacketType.MULTITRACK:
        if pos >= len(payload):
            raise CodecError("truncated multitrack header")
        mt, pt = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if pt == VideoPacketType.MULTITRACK:
            raise CodecError("nested multitrack")
        if mt > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
            raise CodecError(f"reserved AvMultitrackType {mt}")
        pkt.multitrack_type, pkt.packet_type = mt, pt
    if pt > VideoPacketType.MULTITRACK:
        raise CodecError(f"bad video packet type {pt}")
    if pkt.multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        if pos + 4 > len(payload):
            raise CodecError("truncated FourCC")
        fourcc = _fourcc(payload[pos:pos + 4])
        pos += 4
    while True:
        track_id = 0
        end = len(payload)
        if pkt.multitrack_type is not None:
            if pkt.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS:
                if pos + 4 > len(payload):
                    raise CodecError("truncated track FourCC")
                fourcc = _fourcc(payload[pos:pos + 4])
                pos += 4
            if pos >= len(payload):
                raise CodecError("truncated track id")
            track_id = payload[pos]
            pos += 1
            if pkt.multitrack_type != AvMultitrackType.ONE_TRACK:
                if pos + 3 > len(payload):
                    raise CodecError("truncated track size")
                size = int.from_bytes(payload[pos:pos + 3], "big")
                pos += 3
                end = pos + size
                if end > len(payload):
                    raise CodecError("track overruns message")
        assert fourcc is not None
        codec = _video.VIDEO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown video FourCC {fourcc!r}")
        track = VideoTrack(codec=codec, packet_type=pt, data=b"", track_id=track_id,
                           fourcc=fourcc)
        _video_track_body(track, payload[pos:end], nal_length_size)
        pkt.tracks.append(track)
        pos = end
        if pkt.multitrack_type in (None, AvMultitrackType.ONE_TRACK) or pos >= len(payload):
            break
        if len(pkt.tracks) >= MAX_TRACKS:
            raise CodecError("too many tracks")
    return pkt


_LEGACY_PT = {
    _video.AvcPacketType.SEQUENCE_HEADER: VideoPacketType.SEQUENCE_START,
    _video.AvcPacketType.NALU: VideoPacketType.CODED_FRAMES,
    _video.AvcPacketType.END_OF_SEQUENCE: VideoPacketType.SEQUENCE_END,
}


def _parse_legacy_video(payload: bytes, frame_type: int, nal_length_size: int) -> VideoPacket:
    codec_id = payload[0] & 0x0F
    codec = _video.VIDEO_CODEC_IDS.get(codec_id)
    if codec is None:
        raise CodecError(f"unknown video codec id {codec_id}")
    pkt = VideoPacket(frame_type=frame_type, enhanced=False,
                      packet_type=VideoPacketType.CODED_FRAMES, codec_id=codec_id)
    if frame_type == FrameType.COMMAND:
        if len(payload) < 2:
            raise CodecError("command frame without command byte")
        pkt.command = payload[1]
        return pkt
    track = VideoTrack(codec=codec, packet_type=VideoPacketType.CODED_FRAMES, data=payload[1:])
    if codec_id in _LEGACY_AVC_LIKE:
        if len(payload) < 5:
            raise CodecError("truncated AVC video packet header")
        hdr = _video.AVCVideoPacket.parse(payload[1:5])
        pt = _LEGACY_PT.get(hdr.avc_packet_type)
        if pt is None:
            raise CodecError(f"bad AVCPacketType {hdr.avc_packet_type}")
        pkt.packet_type = track.packet_type = pt
        track.composition_time = hdr.composition_time
        body = payload[5:]
        track.data = body
        if pt == VideoPacketType.SEQUENCE_START:
            track.config = {"avc": parse_avc_config, "hevc": parse_hevc_config,
                            "av1": parse_av1_config}[codec](body)
            track.width, track.height = track.config.width, track.config.height
        elif pt == VideoPacketType.CODED_FRAMES:
            if codec == "av1":
                track.sequence_header = _first_sequence_header(body)
            else:
                track.nalus = split_nal_units(body, nal_length_size)
    pkt.tracks.append(track)
    return pkt


@dataclass
class H264Packet:
    """A parsed H.264 video message (legacy codec id 7 or Enhanced RTMP 'avc1')."""

    frame_type: int
    keyframe: bool
    packet_type: int
    composition_time: int
    config: AVCConfig | None
    nalus: list[bytes]
    data: bytes

    @property
    def is_sequence_header(self) -> bool:
        return self.packet_type == VideoPacketType.SEQUENCE_START


def parse_h264(data: bytes, *, nal_length_size: int = 4) -> H264Packet:
    """Parse an H.264 video message: sequence header -> :class:`AVCConfig` (SPS/PPS, parsed
    SPS); frames -> key frame flag, composition time and NAL units."""
    pkt = parse_video(data, nal_length_size=nal_length_size)
    if pkt.codec != "avc" or pkt.command is not None:
        raise CodecError(f"not an H.264 packet (codec {pkt.codec})")
    return H264Packet(
        frame_type=pkt.frame_type,
        keyframe=pkt.keyframe,
        packet_type=pkt.packet_type,
        composition_time=pkt.composition_time,
        config=pkt.config,
        nalus=pkt.nalus or [],
        data=pkt.data or b"",
    )


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


@dataclass
class AACConfig:
    """AudioSpecificConfig: object type, sample rate and channel count."""

    object_type: int
    sampling_frequency_index: int
    sample_rate: int
    channel_configuration: int
    channels: int


def parse_audio_specific_config(data: bytes) -> AACConfig:
    """Parse an AudioSpecificConfig (the AAC sequence header body)."""
    asc = _guard("AudioSpecificConfig", lambda: _aac.AudioSpecificConfig.parse(data))
    aot = asc.audio_object_type
    if aot == 31:
        aot = 32 + asc.audio_object_type_ext
    idx = asc.sampling_frequency_index
    if idx == 15:
        rate = asc.sampling_frequency
    elif idx < len(_aac.AAC_SAMPLE_RATES):
        rate = _aac.AAC_SAMPLE_RATES[idx]
    else:
        raise CodecError(f"reserved AAC samplingFrequencyIndex {idx}")
    if aot == 0:
        raise CodecError("AAC audio object type 0 (null)")
    cc = asc.channel_configuration
    return AACConfig(aot, idx, rate, cc, _aac.AAC_CHANNELS[cc])


@dataclass
class OpusConfig:
    """Opus ID header fields."""

    channels: int
    input_sample_rate: int
    pre_skip: int
    output_gain: int
    channel_mapping_family: int
    stream_count: int | None = None
    coupled_count: int | None = None

    @property
    def sample_rate(self) -> int:
        """The rate of the original input (Opus always decodes at 48 kHz)."""
        return self.input_sample_rate or 48000


def parse_opus_head(data: bytes) -> OpusConfig:
    """Parse an Opus ID header (RFC 7845 5.1)."""
    h = _guard("OpusHead", lambda: _audio.OpusHead.parse(data))
    if h.output_channel_count == 0:
        raise CodecError("Opus header with zero channels")
    return OpusConfig(
        channels=h.output_channel_count,
        input_sample_rate=h.input_sample_rate,
        pre_skip=h.pre_skip,
        output_gain=h.output_gain,
        channel_mapping_family=h.channel_mapping_family,
        stream_count=h.mapping.stream_count if h.mapping else None,
        coupled_count=h.mapping.coupled_count if h.mapping else None,
    )


@dataclass
class FlacConfig:
    """FLAC STREAMINFO fields."""

    sample_rate: int
    channels: int
    bits_per_sample: int
    total_samples: int
    min_block_size: int
    max_block_size: int


def parse_flac_header(data: bytes) -> FlacConfig:
    """Parse a FlacSequenceHeader ("fLaC" + STREAMINFO block, as the spec says) or a bare
    34-byte STREAMINFO body (what FFmpeg's FLV muxer sends)."""
    if data[:4] == b"fLaC":
        h = _guard("FLAC sequence header", lambda: _audio.FlacSequenceHeader.parse(data))
        if h.block_header.block_type != 0:
            raise CodecError("first FLAC metadata block is not STREAMINFO")
        si = h.streaminfo
    else:
        si = _guard("FLAC STREAMINFO", lambda: _audio.FlacStreamInfo.parse(data))
    if si.sample_rate == 0:
        raise CodecError("FLAC sample rate 0")
    return FlacConfig(si.sample_rate, si.channels_minus_one + 1, si.bits_per_sample_minus_one + 1,
                      si.total_samples, si.min_block_size, si.max_block_size)


@dataclass
class MultichannelConfig:
    """AudioPacketType.MultichannelConfig body."""

    channel_order: int
    channels: int
    channel_mapping: bytes | None = None
    channel_flags: int | None = None


def parse_multichannel_config(data: bytes) -> MultichannelConfig:
    """Parse an Enhanced RTMP MultichannelConfig body."""
    m = _guard("MultichannelConfig", lambda: _audio.MultichannelConfig.parse(data))
    return MultichannelConfig(m.channel_order, m.channel_count,
                              bytes(m.channel_mapping) if m.channel_mapping is not None else None,
                              m.channel_flags)


@dataclass
class AudioFrameInfo:
    """Sample rate and channels read from a coded frame header (AC-3, E-AC-3, MP3)."""

    sample_rate: int
    channels: int


_AC3_RATES = (48000, 44100, 32000)
_AC3_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)


def _ac3_frame_info(data: bytes) -> AudioFrameInfo:
    if len(data) >= 6 and (data[5] >> 3) > 10:
        h = _guard("E-AC-3 sync frame", lambda: _audio.EAC3SyncInfo.parse(data))
        b = h.bits
        if b.fscod == 3:
            if b.fscod2_numblkscod == 3:
                raise CodecError("reserved E-AC-3 fscod2")
            rate = (24000, 22050, 16000)[b.fscod2_numblkscod]
        else:
            rate = _AC3_RATES[b.fscod]
        return AudioFrameInfo(rate, _AC3_CHANNELS[b.acmod] + int(b.lfeon))
    h = _guard("AC-3 sync frame", lambda: _audio.AC3SyncInfo.parse(data))
    b = h.bits
    if b.fscod == 3:
        raise CodecError("reserved AC-3 fscod")
    acmod = b.acmod
    # Fields after acmod (from bit 3 of byte 6): cmixlev, surmixlev, dsurmod, then lfeon.
    r = BitReader(data[6:9])
    r.skip(3)
    if acmod & 1 and acmod != 1:
        r.skip(2)
    if acmod & 4:
        r.skip(2)
    if acmod == 2:
        r.skip(2)
    lfe = r.u(1)
    return AudioFrameInfo(_AC3_RATES[b.fscod], _AC3_CHANNELS[acmod] + lfe)


_MPEG_RATES = (44100, 48000, 32000)


def _mp3_frame_info(data: bytes) -> AudioFrameInfo:
    h = _guard("MPEG audio frame header", lambda: _audio.MPEGAudioFrameHeader.parse(data))
    if h.sync != 0x7FF or h.version == 1 or h.layer == 0 or h.sampling_rate_index == 3:
        raise CodecError("bad MPEG audio frame header")
    rate = _MPEG_RATES[h.sampling_rate_index] >> {3: 0, 2: 1, 0: 2}[h.version]
    return AudioFrameInfo(rate, 1 if h.channel_mode == 3 else 2)


@dataclass
class AudioTrack:
    """One track of an audio message (a plain message has exactly one, track_id 0)."""

    codec: str
    packet_type: int
    data: bytes
    track_id: int = 0
    fourcc: str | None = None
    config: AACConfig | OpusConfig | FlacConfig | MultichannelConfig | None = None
    frame_info: AudioFrameInfo | None = None

    @property
    def sample_rate(self) -> int | None:
        for src in (self.config, self.frame_info):
            rate = getattr(src, "sample_rate", None)
            if rate:
                return rate
        return None

    @property
    def channels(self) -> int | None:
        for src in (self.config, self.frame_info):
            ch = getattr(src, "channels", None)
            if ch:
                return ch
        return None


@dataclass
class AudioPacket:
    """A parsed audio message (legacy AudioTagHeader or Enhanced RTMP ExAudioTagHeader).

    An empty payload is the RTMP "silence" message: no tracks, ``silence`` True."""

    sound_format: int | None
    enhanced: bool
    packet_type: int
    sound_rate: int | None = None
    sound_size: int | None = None
    sound_type: int | None = None
    timestamp_offset_nano: int | None = None
    multitrack_type: int | None = None
    tracks: list[AudioTrack] = field(default_factory=list)

    @property
    def silence(self) -> bool:
        return self.sound_format is None

    @property
    def is_sequence_header(self) -> bool:
        return bool(self.tracks) and self.packet_type == AudioPacketType.SEQUENCE_START

    def _first(self, name: str) -> Any:
        return getattr(self.tracks[0], name) if self.tracks else None

    @property
    def codec(self) -> str | None:
        return self._first("codec")

    @property
    def fourcc(self) -> str | None:
        return self._first("fourcc")

    @property
    def config(self) -> Any:
        return self._first("config")

    @property
    def data(self) -> bytes | None:
        return self._first("data")

    @property
    def sample_rate(self) -> int | None:
        """From the codec config or frame header; for legacy codecs the FLV header's rate."""
        rate = self._first("sample_rate")
        if rate is None and self.sound_rate is not None and self.codec != "aac":
            rate = _audio.SOUND_RATES[self.sound_rate]
        return rate

    @property
    def channels(self) -> int | None:
        ch = self._first("channels")
        if ch is None and self.sound_type is not None and self.codec != "aac":
            ch = self.sound_type + 1
        return ch


def _audio_track_body(track: AudioTrack, body: bytes) -> None:
    codec, pt = track.codec, track.packet_type
    track.data = body
    if pt == AudioPacketType.SEQUENCE_START:
        if codec == "aac":
            track.config = parse_audio_specific_config(body)
        elif codec == "opus" and body:
            track.config = parse_opus_head(body)
        elif codec == "flac":
            track.config = parse_flac_header(body)
    elif pt == AudioPacketType.MULTICHANNEL_CONFIG:
        track.config = parse_multichannel_config(body)
    elif pt == AudioPacketType.CODED_FRAMES and body:
        if codec in ("ac3", "eac3"):
            track.frame_info = _ac3_frame_info(body)
        elif codec == "mp3":
            track.frame_info = _mp3_frame_info(body)


def parse_audio(payload: bytes) -> AudioPacket:
    """Parse an audio message payload (FLV audio tag body), legacy or Enhanced RTMP."""
    payload = bytes(payload)
    if not payload:
        return AudioPacket(sound_format=None, enhanced=False,
                           packet_type=AudioPacketType.SEQUENCE_END)
    b0 = payload[0]
    fmt = b0 >> 4
    if fmt != _audio.SOUND_FORMAT_EX_HEADER:
        return _parse_legacy_audio(payload)
    pkt = AudioPacket(sound_format=fmt, enhanced=True, packet_type=b0 & 0x0F)
    pos, pt, pkt.timestamp_offset_nano = _read_mod_ex(payload, 1, b0 & 0x0F,
                                                      AudioPacketType.MOD_EX)
    if pt == AudioPacketType.MULTITRACK:
        if pos >= len(payload):
            raise CodecError("truncated multitrack header")
        mt, pt = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if pt == AudioPacketType.MULTITRACK:
            raise CodecError("nested multitrack")
        if mt > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
            raise CodecError(f"reserved AvMultitrackType {mt}")
        pkt.multitrack_type = mt
    if pt not in (AudioPacketType.SEQUENCE_START, AudioPacketType.CODED_FRAMES,
                  AudioPacketType.SEQUENCE_END, AudioPacketType.MULTICHANNEL_CONFIG):
        raise CodecError(f"bad audio packet type {pt}")
    pkt.packet_type = pt
    fourcc = None
    if pkt.multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        if pos + 4 > len(payload):
            raise CodecError("truncated FourCC")
        fourcc = _fourcc(payload[pos:pos + 4])
        pos += 4
    while True:
        track_id = 0
        end = len(payload)
        if pkt.multitrack_type is not None:
            if pkt.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS:
                if pos + 4 > len(payload):
                    raise CodecError("truncated track FourCC")
                fourcc = _fourcc(payload[pos:pos + 4])
                pos += 4
            if pos >= len(payload):
                raise CodecError("truncated track id")
            track_id = payload[pos]
            pos += 1
            if pkt.multitrack_type != AvMultitrackType.ONE_TRACK:
                if pos + 3 > len(payload):
                    raise CodecError("truncated track size")
                end = pos + 3 + int.from_bytes(payload[pos:pos + 3], "big")
                pos += 3
                if end > len(payload):
                    raise CodecError("track overruns message")
        assert fourcc is not None
        codec = _audio.AUDIO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown audio FourCC {fourcc!r}")
        track = AudioTrack(codec=codec, packet_type=pt, data=b"", track_id=track_id,
                           fourcc=fourcc)
        _audio_track_body(track, payload[pos:end])
        pkt.tracks.append(track)
        pos = end
        if pkt.multitrack_type in (None, AvMultitrackType.ONE_TRACK) or pos >= len(payload):
            break
        if len(pkt.tracks) >= MAX_TRACKS:
            raise CodecError("too many tracks")
    return pkt


def _parse_legacy_audio(payload: bytes) -> AudioPacket:
    b0 = payload[0]
    fmt = b0 >> 4
    codec = _audio.SOUND_FORMATS.get(fmt)
    if codec is None:
        raise CodecError(f"reserved sound format {fmt}")
    pkt = AudioPacket(sound_format=fmt, enhanced=False, packet_type=AudioPacketType.CODED_FRAMES,
                      sound_rate=(b0 >> 2) & 3, sound_size=(b0 >> 1) & 1, sound_type=b0 & 1)
    track = AudioTrack(codec=codec, packet_type=AudioPacketType.CODED_FRAMES, data=payload[1:])
    if fmt == _audio.SOUND_FORMAT_AAC:
        if len(payload) < 2:
            raise CodecError("AAC packet without AACPacketType")
        aac_pt = payload[1]
        if aac_pt not in (0, 1):
            raise CodecError(f"bad AACPacketType {aac_pt}")
        pkt.packet_type = track.packet_type = aac_pt  # same numbering as AudioPacketType
        track.data = payload[2:]
        if aac_pt == 0:
            track.config = parse_audio_specific_config(track.data)
    elif codec in ("mp3", "mp3_8k") and len(payload) >= 5:
        track.frame_info = _mp3_frame_info(payload[1:])
    pkt.tracks.append(track)
    return pkt


@dataclass
class AACPacket:
    """A parsed AAC audio message (legacy SoundFormat 10 or Enhanced RTMP 'mp4a')."""

    packet_type: int
    config: AACConfig | None
    data: bytes

    @property
    def is_sequence_header(self) -> bool:
        return self.packet_type == AudioPacketType.SEQUENCE_START


def parse_aac(data: bytes) -> AACPacket:
    """Parse an AAC audio message: sequence header -> :class:`AACConfig`; raw frames -> data."""
    pkt = parse_audio(data)
    if pkt.codec != "aac":
        raise CodecError(f"not an AAC packet (codec {pkt.codec})")
    return AACPacket(packet_type=pkt.packet_type, config=pkt.config, data=pkt.data or b"")
