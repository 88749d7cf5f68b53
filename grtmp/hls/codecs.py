"""Codec facts the fMP4 muxer needs that the RTMP layer does not: RFC 6381 ``CODECS`` strings
(for the HLS ``CODECS`` attribute), audio frame durations (AAC frame length, Opus TOC), and AV1
sample cleanup (temporal delimiters are not stored in ISOBMFF samples).

Every function raises :class:`grtmp.errors.CodecError` on bad input.
"""

from __future__ import annotations

from construct import ConstructError

from grtmp.errors import CodecError
from grtmp.formats.aac import AudioSpecificConfig
from grtmp.formats.hevc import HEVCDecoderConfigurationRecord
from grtmp.media import AV1Config, parse_audio_specific_config

__all__ = [
    "avc_codec_string",
    "hevc_codec_string",
    "av1_codec_string",
    "aac_codec_string",
    "OPUS_CODEC_STRING",
    "aac_frame_length",
    "opus_packet_samples",
    "strip_temporal_delimiters",
]

#: The CODECS value for Opus in ISOBMFF (what hls.js, MediaMTX and browsers' MSE accept).
OPUS_CODEC_STRING = "opus"

#: AAC object types whose GASpecificConfig starts with frameLengthFlag (14496-3 4.4.1).
_GA_OBJECT_TYPES = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})

#: AV1 OBU types (AV1 spec 6.2.2).
OBU_TEMPORAL_DELIMITER = 2


def avc_codec_string(avcc: bytes) -> str:
    """``avc1.PPCCLL`` from an AVCDecoderConfigurationRecord (RFC 6381 3.3): profile,
    constraint flags and level, in hex."""
    if len(avcc) < 4:
        raise CodecError("avcC shorter than 4 bytes")
    return f"avc1.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def hevc_codec_string(hvcc: bytes) -> str:
    """``hvc1.<space><profile>.<compat>.<tier><level>.<constraints>`` from an hvcC record
    (ISO/IEC 14496-15 annex E.3): the compatibility flags bit-reversed in hex, the six
    constraint bytes in hex with trailing zero bytes left out. Example: ``hvc1.1.6.L93.B0``."""
    try:
        rec = HEVCDecoderConfigurationRecord.parse(hvcc)
    except (ConstructError, ValueError) as exc:
        raise CodecError(f"bad hvcC: {exc}") from None
    p = rec.profile
    space = ("", "A", "B", "C")[p.general_profile_space]
    compat = _reverse32(rec.general_profile_compatibility_flags)
    tier = "H" if p.general_tier_flag else "L"
    cons = bytes(rec.general_constraint_indicator_flags).rstrip(b"\x00")
    parts = [f"hvc1.{space}{p.general_profile_idc}", f"{compat:X}",
             f"{tier}{rec.general_level_idc}"]
    parts += [f"{b:X}" for b in cons]
    return ".".join(parts)


def av1_codec_string(cfg: AV1Config) -> str:
    """``av01.P.LLT.DD`` (AV1-ISOBMFF "Codecs Parameter String"): profile, two-digit level,
    tier M/H, two-digit bit depth. Example: ``av01.0.08M.08``."""
    tier = "H" if cfg.seq_tier else "M"
    return f"av01.{cfg.seq_profile}.{cfg.seq_level_idx:02d}{tier}.{cfg.bit_depth:02d}"


def aac_codec_string(asc: bytes) -> str:
    """``mp4a.40.<audio object type>`` (RFC 6381 3.3), e.g. ``mp4a.40.2`` for AAC-LC."""
    return f"mp4a.40.{parse_audio_specific_config(asc).object_type}"


def aac_frame_length(asc: bytes) -> int:
    """Samples per AAC access unit (at the AudioSpecificConfig's sampling rate): 1024, or 960
    when GASpecificConfig's frameLengthFlag is set (14496-3 4.5.1.1)."""
    cfg = parse_audio_specific_config(asc)
    if cfg.object_type in _GA_OBJECT_TYPES:
        try:
            bits = AudioSpecificConfig.parse(asc).remaining_bits
        except (ConstructError, ValueError) as exc:
            raise CodecError(f"bad AudioSpecificConfig: {exc}") from None
        if bits and bits[0]:
            return 960
    return 1024


#: Samples (at 48 kHz) per Opus frame for each TOC configuration (RFC 6716 3.1, table 2).
_OPUS_FRAME = (
    [480, 960, 1920, 2880] * 3  # SILK-only, configs 0..11: 10, 20, 40, 60 ms
    + [480, 960] * 2  # Hybrid, configs 12..15: 10, 20 ms
    + [120, 240, 480, 960] * 4  # CELT-only, configs 16..31: 2.5, 5, 10, 20 ms
)


def opus_packet_samples(packet: bytes) -> int:
    """Duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 3.1): frame
    size from the configuration, frame count from code 0-3 (code 3 reads the frame count byte).
    A packet is at most 120 ms (5760 samples)."""
    if not packet:
        raise CodecError("empty Opus packet")
    toc = packet[0]
    code = toc & 3
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        if len(packet) < 2:
            raise CodecError("Opus code 3 packet without frame count byte")
        count = packet[1] & 0x3F
        if count == 0:
            raise CodecError("Opus code 3 packet with zero frames")
    samples = _OPUS_FRAME[toc >> 3] * count
    if samples > 5760:
        raise CodecError(f"Opus packet of {samples} samples exceeds 120 ms")
    return samples


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos + i >= len(data):
            raise CodecError("truncated leb128 OBU size")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos + i + 1
    raise CodecError("leb128 OBU size too long")


def strip_temporal_delimiters(data: bytes) -> bytes:
    """Return an AV1 temporal unit without its temporal delimiter OBUs, which AV1-ISOBMFF
    (2.4, "Sample format") says samples must not contain. Other OBUs are kept byte for byte;
    an OBU without a size field runs to the end (the low-overhead format's last OBU)."""
    pos, n = 0, len(data)
    keep: list[tuple[int, int]] = []
    dropped = False
    while pos < n:
        start = pos
        h = data[pos]
        if h & 0x80:
            raise CodecError("AV1 OBU forbidden bit set")
        obu_type = (h >> 3) & 0x0F
        pos += 2 if h & 0x04 else 1
        if pos > n:
            raise CodecError("truncated AV1 OBU header")
        if h & 0x02:
            size, pos = _leb128(data, pos)
        else:
            size = n - pos
        end = pos + size
        if end > n:
            raise CodecError("AV1 OBU overruns the temporal unit")
        if obu_type == OBU_TEMPORAL_DELIMITER:
            dropped = True
        else:
            keep.append((start, end))
        pos = end
    if not dropped:
        return data
    return b"".join(data[a:b] for a, b in keep)
