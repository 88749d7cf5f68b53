"""Video messages: :func:`parse_video` for any codec (legacy FLV and Enhanced RTMP), and the
seed API :func:`parse_h264`.

The tag header (legacy VideoTagHeader or ExVideoTagHeader with ModEx, command and Multitrack)
is read by :func:`grtmp.media.tag.read_tag_header`; this module reads the track bodies: the
composition time, the codec configuration (avcC, hvcC, av1C, vpcC), NAL units or OBUs, the
picture size of VP8/VP9 key frames, and AMF-encoded Metadata (colorInfo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grtmp.amf import amf0
from grtmp.errors import CodecError
from grtmp.formats import video as _video
from grtmp.formats.video import FrameType, VideoPacketType
from grtmp.media.av1 import AV1Config, AV1SequenceHeader, first_sequence_header, parse_av1_config
from grtmp.media.avc import AVCConfig, parse_avc_config, split_nal_units
from grtmp.media.bits import guard
from grtmp.media.hevc import HEVCConfig, parse_hevc_config
from grtmp.media.tag import (
    LEGACY_AVC_LIKE,
    VIDEO,
    VIDEO_CONFIG_TYPES,
    iter_tracks,
    read_tag_header,
)
from grtmp.media.vp import VPConfig, parse_vp_config, vp8_key_frame_size, vp9_key_frame_size

__all__ = ["VideoTrack", "VideoPacket", "H264Packet", "parse_video", "parse_h264"]

#: Codecs whose coded frames are length-prefixed NAL units behind an SI24 composition time.
_NAL_CODECS = ("avc", "hevc", "vvc")

_CONFIG_PARSERS = {
    "avc": parse_avc_config,
    "hevc": parse_hevc_config,
    "av1": parse_av1_config,
    "vp9": parse_vp_config,
    "vp8": parse_vp_config,
}


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
        return self.command is None and self.packet_type in VIDEO_CONFIG_TYPES

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


def _composition_time(body: bytes) -> int:
    if len(body) < 3:
        raise CodecError("coded frames without composition time")
    return int.from_bytes(body[:3], "big", signed=True)


def _fill_track(track: VideoTrack, body: bytes, nal_length_size: int) -> None:
    """Read a track body (after any composition time) by codec and packet type."""
    codec, pt = track.codec, track.packet_type
    track.data = body
    if pt == VideoPacketType.METADATA:
        track.metadata = guard("video metadata", lambda: amf0.decode_all(body))
    elif pt == VideoPacketType.SEQUENCE_START:
        parser = _CONFIG_PARSERS.get(codec)
        if parser is not None:
            track.config = parser(body)
            track.width = track.config.width
            track.height = track.config.height
    elif pt in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        if codec in _NAL_CODECS:
            track.nalus = split_nal_units(body, nal_length_size)
        elif codec == "av1":
            track.sequence_header = first_sequence_header(body)
            if track.sequence_header:
                track.width = track.sequence_header.width
                track.height = track.sequence_header.height
        elif codec in ("vp9", "vp8") and body:
            size = (vp9_key_frame_size if codec == "vp9" else vp8_key_frame_size)(body)
            if size:
                track.width, track.height = size


def parse_video(payload: bytes, *, nal_length_size: int = 4) -> VideoPacket:
    """Parse a video message payload (FLV video tag body), legacy or Enhanced RTMP.

    ``nal_length_size`` is the NAL length prefix size for AVC/HEVC frames (4 in practice; the
    sequence header's ``config.nal_length_size`` says for sure). Raises :class:`CodecError`.
    """
    if not payload:
        raise CodecError("empty video payload")
    payload = bytes(payload)
    h = read_tag_header(VIDEO, payload)
    pkt = VideoPacket(frame_type=h.frame_type, enhanced=h.enhanced, packet_type=h.packet_type,
                      codec_id=h.codec_id, command=h.command,
                      timestamp_offset_nano=h.timestamp_offset_nano,
                      multitrack_type=h.multitrack_type)
    if h.command is not None:
        return pkt
    if not h.enhanced:
        codec = _video.VIDEO_CODEC_IDS.get(h.codec_id)
        if codec is None:
            raise CodecError(f"unknown video codec id {h.codec_id}")
        track = VideoTrack(codec=codec, packet_type=h.packet_type, data=b"")
        body = payload[h.offset:]
        if h.codec_id in LEGACY_AVC_LIKE:  # AVCVIDEOPACKET: SI24 composition time first
            track.composition_time = _composition_time(body)
            _fill_track(track, body[3:], nal_length_size)
        else:
            track.data = body
        pkt.tracks.append(track)
        return pkt
    for track_id, raw, start, end in iter_tracks(h, payload):
        fourcc = raw.decode("latin-1") if raw is not None else None
        codec = _video.VIDEO_FOURCCS.get(fourcc)
        if codec is None:
            raise CodecError(f"unknown video FourCC {fourcc!r}")
        track = VideoTrack(codec=codec, packet_type=h.packet_type, data=b"", track_id=track_id,
                           fourcc=fourcc)
        body = payload[start:end]
        if h.packet_type == VideoPacketType.CODED_FRAMES and codec in _NAL_CODECS:
            track.composition_time = _composition_time(body)
            body = body[3:]
        _fill_track(track, body, nal_length_size)
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
