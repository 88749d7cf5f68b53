"""A synthetic live stream for the benchmarks: H.264 + AAC in FLV tag bodies, no encoder needed.

The server only looks at the first bytes of a media message (frame type, codec, packet type),
so the frames are random bytes behind a valid FLV AVC / AAC tag header; the sequence headers
are real (an x264 720p SPS/PPS in an AVCDecoderConfigurationRecord, an AAC-LC
AudioSpecificConfig). Sizes follow a typical encoder: a keyframe every ``gop_seconds`` about
``keyframe_ratio`` times a P frame, P frames varying by +-25 %.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from grtmp.wire.message import AUDIO, VIDEO

__all__ = ["StreamShape", "avc_sequence_header", "aac_sequence_header", "metadata", "messages"]

# x264 (PyAV/FFmpeg 8.1) 1280x720 SPS and PPS, NAL units without start codes.
_SPS = bytes.fromhex("6742c01fda014016e840000003004000000f03c60ca8")
_PPS = bytes.fromhex("68ce0fc8")
# AudioSpecificConfig: AAC-LC (2), 44100 Hz (index 4), 2 channels.
_ASC = bytes.fromhex("1210")
AUDIO_RATE = 44100
AUDIO_SAMPLES = 1024  # per AAC frame: 44100 / 1024 = 43.07 messages/s


@dataclass(frozen=True)
class StreamShape:
    """Bit rate and cadence of the synthetic stream."""

    #: Total bit rate, video + audio, in kbit/s.
    bitrate_kbps: float = 4000.0
    fps: float = 30.0
    audio_kbps: float = 128.0
    gop_seconds: float = 2.0
    keyframe_ratio: float = 8.0
    seed: int = 1

    @property
    def video_kbps(self) -> float:
        return max(1.0, self.bitrate_kbps - self.audio_kbps)


def avc_sequence_header() -> bytes:
    """FLV video tag body: keyframe, AVC, packet type 0, cts 0, AVCDecoderConfigurationRecord."""
    record = bytes([1, _SPS[1], _SPS[2], _SPS[3], 0xFF, 0xE1])
    record += struct.pack(">H", len(_SPS)) + _SPS + b"\x01" + struct.pack(">H", len(_PPS)) + _PPS
    return b"\x17\x00\x00\x00\x00" + record


def aac_sequence_header() -> bytes:
    """FLV audio tag body: AAC, 44 kHz, 16-bit, stereo, packet type 0, AudioSpecificConfig."""
    return b"\xaf\x00" + _ASC


def metadata(shape: StreamShape) -> dict[str, object]:
    """The onMetaData an encoder like OBS or FFmpeg would send for this stream."""
    return {"width": 1280.0, "height": 720.0, "framerate": float(shape.fps),
            "videodatarate": float(shape.video_kbps), "videocodecid": 7.0,
            "audiodatarate": float(shape.audio_kbps), "audiosamplerate": float(AUDIO_RATE),
            "audiosamplesize": 16.0, "stereo": True, "audiocodecid": 10.0,
            "encoder": "grtmp bench"}


def messages(shape: StreamShape) -> Iterator[tuple[int, int, bytes]]:
    """Endless ``(type_id, timestamp_ms, payload)`` in timestamp order, headers first."""
    rng = random.Random(shape.seed)
    gop = max(1, round(shape.gop_seconds * shape.fps))
    avg = shape.video_kbps * 1000 / 8 / shape.fps
    p_size = gop * avg / (gop - 1 + shape.keyframe_ratio)
    k_size = p_size * shape.keyframe_ratio
    a_size = max(8, round(shape.audio_kbps * 1000 / 8 * AUDIO_SAMPLES / AUDIO_RATE))
    pool = rng.randbytes(max(1 << 20, int(k_size * 2) + 64))
    pool_len = len(pool)

    def body(n: int) -> bytes:
        n = max(1, min(n, pool_len - 1))
        start = rng.randrange(0, pool_len - n)
        return pool[start:start + n]

    yield VIDEO, 0, avc_sequence_header()
    yield AUDIO, 0, aac_sequence_header()
    v = a = 0
    while True:
        v_ts = round(v * 1000 / shape.fps)
        a_ts = round(a * AUDIO_SAMPLES * 1000 / AUDIO_RATE)
        if a_ts <= v_ts:
            yield AUDIO, a_ts, b"\xaf\x01" + body(a_size - 2)
            a += 1
            continue
        key = v % gop == 0
        size = k_size if key else p_size * rng.uniform(0.75, 1.25)
        nal = max(1, int(size) - 9)
        # tag header (frame type | codec 7, NALU packet, cts 0), then one length-prefixed NAL
        head = (b"\x17\x01\x00\x00\x00" if key else b"\x27\x01\x00\x00\x00") + \
            struct.pack(">I", nal)
        yield VIDEO, v_ts, head + (b"\x65" if key else b"\x41") + body(nal - 1)
        v += 1
