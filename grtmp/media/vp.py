"""VP8 and VP9: the VPCodecConfigurationRecord (vpcC) and the picture size of key frames (VP9
uncompressed header, VP8 frame tag). Layouts: :mod:`grtmp.formats.video`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grtmp.errors import CodecError
from grtmp.formats import video as _video
from grtmp.media.bits import BitReader, guard

__all__ = ["VPConfig", "parse_vp_config", "vp9_key_frame_size", "vp8_key_frame_size"]


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
    rec = guard("VPCodecConfigurationRecord",
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


def vp9_key_frame_size(data: bytes) -> tuple[int, int] | None:
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


def vp8_key_frame_size(data: bytes) -> tuple[int, int] | None:
    """Width/height from a VP8 key frame header (RFC 6386 9.1), None for inter frames."""
    if len(data) < 10:
        raise CodecError("VP8 frame too short")
    if data[0] & 1:
        return None
    if data[3:6] != b"\x9d\x01\x2a":
        raise CodecError("bad VP8 start code")
    return (int.from_bytes(data[6:8], "little") & 0x3FFF,
            int.from_bytes(data[8:10], "little") & 0x3FFF)
