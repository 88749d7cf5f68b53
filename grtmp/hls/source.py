"""RTMP/FLV media messages -> fMP4 track configurations and complete samples.

:class:`MediaSource` takes the audio (type 8) and video (type 9) messages of one stream as they
arrive, ``(type_id, timestamp_ms, payload)``, reads them with :func:`grtmp.media.parse_video` /
:func:`grtmp.media.parse_audio` (legacy AVC/AAC and Enhanced RTMP hvc1/av01/Opus), and returns
events:

* :class:`TracksChanged` when the set of tracks is known (at the start, once both sequence
  headers arrived or the probe window passed) and whenever a codec configuration really changes
  (a new sequence header with different bytes; a repeated identical one is ignored);
* :class:`MediaSample` for every coded frame, complete with its duration, in the track's
  timescale (video 90 kHz; audio the sample rate, Opus 48 kHz).

Timing rules, one place:

* Video duration is the next video frame's dts minus this one's, so a video sample is returned
  when the next one arrives (:meth:`MediaSource.flush` ends the last one with the previous
  duration). Decode times are made strictly increasing.
* Audio duration comes from the frame itself (AAC 1024 or 960 samples, Opus from its TOC) and
  audio decode times are counted in samples from the first frame, so the audio timeline has no
  millisecond rounding jitter; it follows the RTMP timestamps again when they leave it by more
  than :data:`AUDIO_RESYNC_MS` (a real gap; a frame far behind is dropped as overlapping).
* RTMP's 32-bit millisecond timestamps are unwrapped, and a jump backwards by more than
  :data:`JUMP_BACK_MS` or forwards by more than :data:`JUMP_FORWARD_MS` (a publisher that
  restarted its clock, or paused) is absorbed: the track continues where it was.

Only H.264, HEVC and AV1 video and AAC and Opus audio can go to fMP4 here; other codecs are
ignored (the stream goes on with the tracks that can). Video frames before the first key frame
of a configuration are dropped. Bad payloads raise :class:`grtmp.errors.CodecError`.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any, Literal

from grtmp.errors import AMFError
from grtmp.hls.codecs import (
    OPUS_CODEC_STRING,
    aac_codec_string,
    aac_frame_length,
    av1_codec_string,
    avc_codec_string,
    hevc_codec_string,
    opus_packet_samples,
    strip_temporal_delimiters,
)
from grtmp.hls.fmp4 import VIDEO_TIMESCALE, Sample, TrackConfig
from grtmp.media import (
    AudioPacketType,
    VideoPacketType,
    parse_audio,
    parse_av1_config,
    parse_avc_config,
    parse_hevc_config,
    parse_opus_head,
    parse_video,
)

__all__ = [
    "MediaSource",
    "TracksChanged",
    "MediaSample",
    "SourceEvent",
    "AUDIO_RESYNC_MS",
    "JUMP_BACK_MS",
    "JUMP_FORWARD_MS",
    "DEFAULT_PROBE_MS",
]

log = logging.getLogger(__name__)

#: Audio decode times follow the RTMP timestamp again when it differs by more than this.
AUDIO_RESYNC_MS = 100
#: A timestamp this far behind its track's last one is a clock restart, not jitter.
JUMP_BACK_MS = 500
#: A timestamp this far ahead of its track's expected next one is a pause/restart.
JUMP_FORWARD_MS = 5000
#: How much media (ms) to wait, after the first frame, for the other track's sequence header.
DEFAULT_PROBE_MS = 1000
#: Bound on messages held while probing (whatever the timestamps say).
MAX_PROBE_EVENTS = 2000

_VIDEO_CODECS = ("avc", "hevc", "av1")
_AUDIO_CODECS = ("aac", "opus")
_CODED = (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X)


@dataclass(frozen=True)
class TracksChanged:
    """The tracks from now on (``None``: no such track). A change after the first means a new
    init segment and a discontinuity."""

    video: TrackConfig | None
    audio: TrackConfig | None

    @property
    def tracks(self) -> list[TrackConfig]:
        """The present tracks, video first (their fMP4 track ids are 1, 2 in this order)."""
        return [t for t in (self.video, self.audio) if t is not None]


@dataclass(frozen=True)
class MediaSample:
    """A complete sample of the video or audio track."""

    kind: Literal["video", "audio"]
    sample: Sample


SourceEvent = TracksChanged | MediaSample


class _Clock:
    """Unwraps one track's 32-bit millisecond timestamps and absorbs clock jumps (the offset
    added to every later timestamp)."""

    __slots__ = ("last_raw", "epoch", "offset")

    def __init__(self) -> None:
        self.last_raw: int | None = None
        self.epoch = 0
        self.offset = 0

    def unwrap(self, ts: int) -> int:
        ts &= 0xFFFFFFFF
        if self.last_raw is not None:
            if ts < self.last_raw and self.last_raw - ts > 1 << 31:
                self.epoch += 1 << 32
            elif ts > self.last_raw and ts - self.last_raw > 1 << 31:
                self.epoch -= 1 << 32  # a late message from before a wrap
        self.last_raw = ts
        return ts + self.epoch + self.offset


def _video_config(codec: str, body: bytes) -> TrackConfig:
    if codec == "avc":
        cfg: Any = parse_avc_config(body)
        string = avc_codec_string(body)
    elif codec == "hevc":
        cfg = parse_hevc_config(body)
        string = hevc_codec_string(body)
    else:
        cfg = parse_av1_config(body)
        string = av1_codec_string(cfg)
    rate = None
    info = getattr(cfg, "sps_info", None) or getattr(cfg, "sequence_header", None)
    if info is not None:
        rate = info.frame_rate
    return TrackConfig(kind="video", codec=codec, codec_string=string,
                       timescale=VIDEO_TIMESCALE, config=bytes(body), width=cfg.width or 0,
                       height=cfg.height or 0, frame_rate=rate)


def _opus_head(channels: int) -> bytes:
    """A minimal OpusHead (RFC 7845 5.1) for Opus that came without one."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, 48000, 0, 0)


def _audio_config(codec: str, body: bytes) -> TrackConfig:
    if codec == "aac":
        from grtmp.media import parse_audio_specific_config

        asc = parse_audio_specific_config(body)
        return TrackConfig(kind="audio", codec="aac", codec_string=aac_codec_string(body),
                           timescale=asc.sample_rate, config=bytes(body),
                           sample_rate=asc.sample_rate, channels=asc.channels or 2)
    head = parse_opus_head(body)
    return TrackConfig(kind="audio", codec="opus", codec_string=OPUS_CODEC_STRING,
                       timescale=48000, config=bytes(body), sample_rate=head.sample_rate,
                       channels=head.channels)


class MediaSource:
    """Turns one stream's RTMP audio/video messages into :data:`SourceEvent` lists.

    ``expect_video`` / ``expect_audio`` say whether to wait for that track's sequence header
    before starting (``None``: unknown, learnt from onMetaData if it comes; either way at most
    ``probe_ms`` of media is held). Call :meth:`feed` per message and :meth:`flush` at the end
    of the stream (or before a new publisher's messages).
    """

    def __init__(self, *, expect_video: bool | None = None, expect_audio: bool | None = None,
                 probe_ms: int = DEFAULT_PROBE_MS) -> None:
        self.expect_video = expect_video
        self.expect_audio = expect_audio
        self.probe_ms = probe_ms
        self.video: TrackConfig | None = None  # latest configuration received
        self.audio: TrackConfig | None = None
        self._active: TracksChanged | None = None  # what was last announced
        self._probe: list[SourceEvent] = []
        self._probe_start: int | None = None
        self._nal_length_size = 4
        self._need_key = True
        self._held: Sample | None = None  # last video sample, waiting for its duration
        self._last_video_duration = 0
        self._last_video_dts: int | None = None
        self._vclock = _Clock()
        self._aclock = _Clock()
        self._audio_next: int | None = None  # next audio dts (samples)
        self._audio_frame = 0  # AAC frame length; 0: from each packet (Opus TOC)
        self._warned: set[str] = set()
        self.dropped = 0

    # -- public --------------------------------------------------------------------------

    @property
    def tracks(self) -> TracksChanged | None:
        """The announced tracks (None before the first :class:`TracksChanged`)."""
        return self._active

    def feed(self, type_id: int, timestamp: int, payload: bytes) -> list[SourceEvent]:
        """Process one RTMP message; return the events it completes (often none or one)."""
        out: list[SourceEvent] = []
        if type_id == 9:
            self._on_video(timestamp, payload, out)
        elif type_id == 8:
            self._on_audio(timestamp, payload, out)
        elif type_id in (18, 15):
            self._on_data(payload)
        return self._route(out, timestamp)

    def flush(self) -> list[SourceEvent]:
        """End of stream: settle, and return the held video sample (with the previous frame's
        duration) and anything still probing."""
        out: list[SourceEvent] = []
        if self._active is None and (self.video or self.audio):
            out.append(self._announce())
            out += self._probe
            self._probe = []
        held = self._release_held(None)
        if held:
            out.append(held)
        self._need_key = True  # a next publisher starts at a key frame
        return out

    # -- routing and probing -------------------------------------------------------------

    def _route(self, events: list[SourceEvent], timestamp: int) -> list[SourceEvent]:
        if self._active is not None:
            return events
        self._probe += events
        if any(isinstance(e, MediaSample) for e in events) and self._probe_start is None:
            self._probe_start = timestamp
        if not self._settled(timestamp):
            if len(self._probe) > MAX_PROBE_EVENTS:
                self._probe.pop(0)
            return []
        out: list[SourceEvent] = [self._announce()]
        out += self._probe
        self._probe = []
        return out

    def _settled(self, timestamp: int) -> bool:
        if self.video is None and self.audio is None:
            return False
        want_v = self.expect_video is not False
        want_a = self.expect_audio is not False
        if (self.video is not None or not want_v) and (self.audio is not None or not want_a):
            return True
        if self._probe_start is None:
            return False
        return ((timestamp - self._probe_start) & 0xFFFFFFFF) >= self.probe_ms

    def _announce(self) -> TracksChanged:
        self._active = TracksChanged(self.video, self.audio)
        return self._active

    def _changed(self, out: list[SourceEvent]) -> None:
        """A configuration changed after the start: end the held sample, announce."""
        if self._active is None:
            return
        held = self._release_held(None)
        if held:
            out.append(held)
        out.append(self._announce())

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)  # log-format: literal formats of the callers

    # -- video ---------------------------------------------------------------------------

    def _on_video(self, timestamp: int, payload: bytes, out: list[SourceEvent]) -> None:
        pkt = parse_video(payload, nal_length_size=self._nal_length_size)
        if pkt.command is not None or not pkt.tracks:
            return
        track = next((t for t in pkt.tracks if t.track_id == 0), pkt.tracks[0])
        if track.codec not in _VIDEO_CODECS:
            self._warn_once("v" + track.codec, "HLS: video codec %s is not muxed to fMP4",
                            track.codec)
            return
        pt = track.packet_type
        if pt == VideoPacketType.SEQUENCE_START:
            cfg = _video_config(track.codec, track.data)
            if self.video is not None and (self.video.codec, self.video.config) == (
                    cfg.codec, cfg.config):
                return
            self.video = cfg
            if track.codec in ("avc", "hevc"):
                self._nal_length_size = track.config.nal_length_size
            self._need_key = True
            self._changed(out)
            return
        if pt not in _CODED or self.video is None or track.codec != self.video.codec:
            return
        if self._need_key:
            if not pkt.keyframe:
                self.dropped += 1
                return
            self._need_key = False
        data = track.data
        if track.codec == "av1":
            data = strip_temporal_delimiters(data)
        if not data:
            return
        ms = self._vclock.unwrap(timestamp)
        dts = ms * 90
        cts = track.composition_time * 90
        last = self._last_video_dts
        if last is not None:
            expected = last + (self._last_video_duration or 90)
            if dts < last - JUMP_BACK_MS * 90 or dts > expected + JUMP_FORWARD_MS * 90:
                self._vclock.offset += (expected - dts) // 90
                log.info("HLS: video timestamp jump of %d ms absorbed", (dts - expected) // 90)
                dts = expected
            elif dts <= last:
                cts -= last + 1 - dts  # keep the presentation time
                dts = last + 1
        self._last_video_dts = dts
        sample = Sample(dts=dts, duration=0, data=bytes(data), keyframe=pkt.keyframe, cts=cts)
        held = self._release_held(dts)
        if held:
            out.append(held)
        self._held = sample

    def _release_held(self, next_dts: int | None) -> MediaSample | None:
        held, self._held = self._held, None
        if held is None:
            return None
        if next_dts is None:
            held.duration = self._last_video_duration or 3000
        else:
            held.duration = next_dts - held.dts
            self._last_video_duration = held.duration
        return MediaSample("video", held)

    # -- audio ---------------------------------------------------------------------------

    def _on_audio(self, timestamp: int, payload: bytes, out: list[SourceEvent]) -> None:
        pkt = parse_audio(payload)
        if pkt.silence or not pkt.tracks:
            return
        track = next((t for t in pkt.tracks if t.track_id == 0), pkt.tracks[0])
        if track.codec not in _AUDIO_CODECS:
            self._warn_once("a" + track.codec, "HLS: audio codec %s is not muxed to fMP4",
                            track.codec)
            return
        pt = track.packet_type
        if pt == AudioPacketType.SEQUENCE_START:
            if not track.data:
                return
            cfg = _audio_config(track.codec, track.data)
            if self.audio is not None and (self.audio.codec, self.audio.config) == (
                    cfg.codec, cfg.config):
                return
            self.audio = cfg
            self._audio_frame = aac_frame_length(cfg.config) if cfg.codec == "aac" else 0
            self._audio_next = None
            self._changed(out)
            return
        if pt != AudioPacketType.CODED_FRAMES or not track.data:
            return
        if self.audio is None or self.audio.codec != track.codec:
            if track.codec != "opus":
                return  # AAC frames before (or without) their AudioSpecificConfig
            channels = 2 if track.data[0] & 0x04 else 1
            self.audio = _audio_config("opus", _opus_head(channels))
            self._audio_frame = 0
            self._audio_next = None
            self._changed(out)
        data = bytes(track.data)
        duration = self._audio_frame or opus_packet_samples(data)
        rate = self.audio.timescale
        ms = self._aclock.unwrap(timestamp)
        t = ms * rate // 1000
        nxt = self._audio_next
        if nxt is not None:
            tol = AUDIO_RESYNC_MS * rate // 1000
            if t < nxt - JUMP_BACK_MS * rate // 1000 or t > nxt + JUMP_FORWARD_MS * rate // 1000:
                self._aclock.offset += (nxt - t) * 1000 // rate
                log.info("HLS: audio timestamp jump of %d ms absorbed", (t - nxt) * 1000 // rate)
                t = nxt
            elif t < nxt - tol:
                self.dropped += 1  # overlaps what was already sent
                return
            elif t <= nxt + tol:
                t = nxt
        self._audio_next = t + duration
        out.append(MediaSample("audio", Sample(dts=t, duration=duration, data=data)))

    # -- metadata ------------------------------------------------------------------------

    def _on_data(self, payload: bytes) -> None:
        """onMetaData says which tracks to wait for (when the caller did not say)."""
        from grtmp.amf import amf0

        try:
            values = amf0.decode_all(payload)
        except AMFError:
            return
        if "onMetaData" not in values[:2]:
            return
        meta = next((v for v in values if isinstance(v, dict)), None)
        if meta is None:
            return
        if self.expect_video is None:
            self.expect_video = "videocodecid" in meta
        if self.expect_audio is None:
            self.expect_audio = "audiocodecid" in meta


