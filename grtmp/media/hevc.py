"""H.265/HEVC: the SPS (picture size, profile, tier, level, bit depths) and the
HEVCDecoderConfigurationRecord (hvcC). Layouts: :mod:`grtmp.formats.hevc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grtmp.errors import CodecError
from grtmp.formats import hevc as _hevc
from grtmp.media.avc import SPSInfo
from grtmp.media.bits import BitReader, guard, unescape_rbsp

__all__ = ["HEVCConfig", "parse_hevc_sps", "parse_hevc_config"]


def parse_hevc_sps(nal: bytes) -> SPSInfo:
    """Parse an HEVC SPS NAL unit (with its two-byte NAL header) (ITU-T H.265 7.3.2.2) up to
    the conformance window and bit depths."""
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != _hevc.NAL_SPS:
        raise CodecError("not an HEVC SPS NAL unit")
    r = BitReader(unescape_rbsp(nal[2:]))
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
    rec = guard("HEVCDecoderConfigurationRecord",
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
        }.get(int(arr.bits.nal_unit_type), cfg.other)
        kind.extend(bytes(n) for n in arr.nalus)
    if cfg.sps:
        cfg.sps_info = parse_hevc_sps(cfg.sps[0])
    return cfg
