"""Audio codec configurations and frame headers: AAC AudioSpecificConfig, Opus ID header, FLAC
STREAMINFO, the Enhanced RTMP MultichannelConfig, and the sample rate / channel count in AC-3,
E-AC-3 and MPEG audio frame headers. Layouts: :mod:`grtmp.formats.aac`, :mod:`grtmp.formats.audio`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grtmp.errors import CodecError
from grtmp.formats import aac as _aac
from grtmp.formats import audio as _audio
from grtmp.media.bits import BitReader, guard

# Compiled declarations: the frame headers are parsed for every AC-3 / MP3 frame.
_AC3 = _audio.AC3SyncInfo.compile()
_EAC3 = _audio.EAC3SyncInfo.compile()
_MPEG_AUDIO = _audio.MPEGAudioFrameHeader.compile()
_MULTICHANNEL = _audio.MultichannelConfig.compile()

__all__ = ["AACConfig", "OpusConfig", "FlacConfig", "MultichannelConfig", "AudioFrameInfo",
           "parse_audio_specific_config", "parse_opus_head", "parse_flac_header",
           "parse_multichannel_config", "ac3_frame_info", "mp3_frame_info"]


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
    asc = guard("AudioSpecificConfig", lambda: _aac.AudioSpecificConfig.parse(data))
    aot = int(asc.audio_object_type)  # an Enum field: a name string for known types
    if aot == _aac.AudioObjectType.ESCAPE:
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
    h = guard("OpusHead", lambda: _audio.OpusHead.parse(data))
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
        h = guard("FLAC sequence header", lambda: _audio.FlacSequenceHeader.parse(data))
        if int(h.block_header.block_type) != _audio.FlacBlockType.STREAMINFO:
            raise CodecError("first FLAC metadata block is not STREAMINFO")
        si = h.streaminfo
    else:
        si = guard("FLAC STREAMINFO", lambda: _audio.FlacStreamInfo.parse(data))
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
    """Parse an Enhanced RTMP MultichannelConfig body. ``channel_flags`` (native order) is the
    :class:`~grtmp.formats.audio.AudioChannelMask` of the channels the spec defines."""
    m = guard("MultichannelConfig", lambda: _MULTICHANNEL.parse(data))
    flags = None
    if m.channel_flags is not None:  # a FlagsEnum: {name: bool}
        flags = 0
        for name, on in m.channel_flags.items():
            if on and name in _audio.AudioChannelMask.__members__:
                flags |= _audio.AudioChannelMask[name]
    return MultichannelConfig(int(m.channel_order), m.channel_count,
                              bytes(m.channel_mapping) if m.channel_mapping is not None else None,
                              flags)


@dataclass
class AudioFrameInfo:
    """Sample rate and channels read from a coded frame header (AC-3, E-AC-3, MP3)."""

    sample_rate: int
    channels: int


_AC3_RATES = (48000, 44100, 32000)
_AC3_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)


def ac3_frame_info(data: bytes) -> AudioFrameInfo:
    """Sample rate and channels of an AC-3 or E-AC-3 sync frame (ATSC A/52 5.3, E.1.2)."""
    if len(data) >= 6 and (data[5] >> 3) > 10:
        h = guard("E-AC-3 sync frame", lambda: _EAC3.parse(data))
        b = h.bits
        if b.fscod == 3:
            if b.fscod2_numblkscod == 3:
                raise CodecError("reserved E-AC-3 fscod2")
            rate = (24000, 22050, 16000)[b.fscod2_numblkscod]
        else:
            rate = _AC3_RATES[b.fscod]
        return AudioFrameInfo(rate, _AC3_CHANNELS[b.acmod] + int(b.lfeon))
    h = guard("AC-3 sync frame", lambda: _AC3.parse(data))
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


#: MPEG version -> right shift of the MPEG-1 sample rate.
_MPEG_RATE_SHIFT = {_audio.MPEGVersion.MPEG_1: 0, _audio.MPEGVersion.MPEG_2: 1,
                    _audio.MPEGVersion.MPEG_2_5: 2}


def mp3_frame_info(data: bytes) -> AudioFrameInfo:
    """Sample rate and channels of an MPEG audio frame header (ISO 11172-3 2.4.1.3)."""
    h = guard("MPEG audio frame header", lambda: _MPEG_AUDIO.parse(data))
    version = int(h.version)
    if (h.sync != 0x7FF or version == _audio.MPEGVersion.RESERVED
            or int(h.layer) == _audio.MPEGLayer.RESERVED or h.sampling_rate_index == 3):
        raise CodecError("bad MPEG audio frame header")
    rate = _MPEG_RATES[h.sampling_rate_index] >> _MPEG_RATE_SHIFT[version]
    return AudioFrameInfo(rate, 1 if int(h.channel_mode) == _audio.MPEGChannelMode.MONO else 2)
