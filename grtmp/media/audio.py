"""Audio messages: :func:`parse_audio` for any codec (legacy FLV and Enhanced RTMP), and the
seed API :func:`parse_aac`.

The tag header (legacy AudioTagHeader or ExAudioTagHeader with ModEx and Multitrack) is read by
:func:`grtmp.media.tag.read_tag_header`; this module reads the track bodies: AAC
AudioSpecificConfig, Opus ID header, FLAC STREAMINFO, MultichannelConfig, and the sample rate
and channels of AC-3 / E-AC-3 / MP3 frame headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grtmp.errors import CodecError
from grtmp.formats import audio as _audio
from grtmp.formats.audio import AudioPacketType
from grtmp.media.audio_codecs import (
    AACConfig,
    AudioFrameInfo,
    FlacConfig,
    MultichannelConfig,
    OpusConfig,
    ac3_frame_info,
    mp3_frame_info,
    parse_audio_specific_config,
    parse_flac_header,
    parse_multichannel_config,
    parse_opus_head,
)
from grtmp.media.tag import AUDIO, iter_tracks, read_tag_header

__all__ = ["AudioTrack", "AudioPacket", "AACPacket", "parse_audio", "parse_aac"]


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
            track.frame_info = ac3_frame_info(body)
        elif codec == "mp3":
            track.frame_info = mp3_frame_info(body)


def parse_audio(payload: bytes) -> AudioPacket:
    """Parse an audio message payload (FLV audio tag body), legacy or Enhanced RTMP.
    Raises :class:`CodecError`."""
    payload = bytes(payload)
    if not payload:
        return AudioPacket(sound_format=None, enhanced=False,
                           packet_type=int(AudioPacketType.SEQUENCE_END))
    h = read_tag_header(AUDIO, payload)
    if not h.enhanced:
        codec = _audio.SOUND_FORMATS.get(h.codec_id)
        if codec is None:
            raise CodecError(f"reserved sound format {h.codec_id}")
        pkt = AudioPacket(sound_format=h.codec_id, enhanced=False, packet_type=h.packet_type,
                          sound_rate=h.sound_rate, sound_size=h.sound_size,
                          sound_type=h.sound_type)
        track = AudioTrack(codec=codec, packet_type=h.packet_type, data=payload[h.offset:])
        if codec == "aac":
            if h.packet_type == AudioPacketType.SEQUENCE_START:
                track.config = parse_audio_specific_config(track.data)
        elif codec in ("mp3", "mp3_8k") and len(track.data) >= 4:
            track.frame_info = mp3_frame_info(track.data)
        pkt.tracks.append(track)
        return pkt
    pkt = AudioPacket(sound_format=int(_audio.SOUND_FORMAT_EX_HEADER), enhanced=True,
                      packet_type=h.packet_type, timestamp_offset_nano=h.timestamp_offset_nano,
                      multitrack_type=h.multitrack_type)
    for track_id, raw, start, end in iter_tracks(h, payload):
        fourcc = raw.decode("latin-1") if raw is not None else None
        codec = _audio.AUDIO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown audio FourCC {fourcc!r}")
        track = AudioTrack(codec=codec, packet_type=h.packet_type, data=b"", track_id=track_id,
                           fourcc=fourcc)
        _audio_track_body(track, payload[start:end])
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
