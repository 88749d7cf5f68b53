"""AV1: OBU splitting, the sequence header OBU (picture size, profile, level, frame rate) and the
AV1CodecConfigurationRecord (av1C). Layouts: :mod:`grtmp.formats.av1`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grtmp.errors import CodecError
from grtmp.formats import av1 as _av1
from grtmp.media.bits import MAX_NAL_UNITS, BitReader, guard

__all__ = ["AV1SequenceHeader", "AV1Config", "split_obus", "parse_av1_sequence_header",
           "parse_av1_config", "first_sequence_header"]


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


def first_sequence_header(data: bytes) -> AV1SequenceHeader | None:
    for obu_type, body in split_obus(data):
        if obu_type == _av1.OBU_SEQUENCE_HEADER:
            return parse_av1_sequence_header(body)
    return None


def parse_av1_config(data: bytes) -> AV1Config:
    """Parse av1C bytes (the body of an AV1 SequenceStart)."""
    rec = guard("AV1CodecConfigurationRecord",
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
    cfg.sequence_header = first_sequence_header(bytes(rec.config_obus))
    return cfg
