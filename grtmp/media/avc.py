"""H.264/AVC: the SPS (picture size, profile, level, frame rate, read with exp-Golomb codes),
the AVCDecoderConfigurationRecord (avcC) and length-prefixed NAL unit splitting (also used for
HEVC and VVC). Layouts: :mod:`grtmp.formats.avc`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grtmp.errors import CodecError
from grtmp.formats import avc as _avc
from grtmp.media.bits import MAX_NAL_UNITS, BitReader, guard, unescape_rbsp

__all__ = ["SPSInfo", "AVCConfig", "parse_h264_sps", "parse_avc_config", "split_nal_units"]


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
    r = BitReader(unescape_rbsp(nal[1:]))
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
    rec = guard("AVCDecoderConfigurationRecord",
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
