"""Media for the tests: tiny encodes by FFmpeg (PyAV) muxed to FLV in memory."""

from __future__ import annotations

import io

import av
import numpy as np

__all__ = ["FPS", "FRAMES", "HEIGHT", "WIDTH", "encode_audio", "encode_h264_tags",
           "encode_video", "have"]

WIDTH, HEIGHT = 70, 38  # not multiples of 16 (or 8): exercises SPS cropping / conformance
FRAMES = 10
FPS = 25


# --------------------------------------------------------------------------------------------
# Shared helpers: tiny encodes muxed to FLV in memory by FFmpeg
# --------------------------------------------------------------------------------------------


def have(codec: str) -> bool:
    return codec in av.codecs_available


def encode_video(codec: str, width: int = WIDTH, height: int = HEIGHT, frames: int = FRAMES,
                 options: dict[str, str] | None = None) -> bytes:
    """Encode ``frames`` frames with ``codec`` and mux them to an FLV file in memory."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        s = out.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        if options:
            s.options = options
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, : (i * 7) % width] = 200
            img[: (i * 3) % height, :, 1] = 90
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def encode_audio(codec: str, rate: int = 48000, layout: str = "stereo",
                 frames: int = 6) -> bytes:
    """Encode a short noise signal with ``codec`` and mux it to an FLV file in memory."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        s = out.add_stream(codec, rate=rate)
        s.layout = layout
        fmt = s.codec_context.codec.audio_formats[0]
        s.format = fmt.name
        n = s.codec_context.frame_size or 1024
        nch = len(av.AudioLayout(layout).channels)
        rng = np.random.default_rng(1)
        dtype = {"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}[
            fmt.name.rstrip("p")]
        for i in range(frames):
            shape = (nch, n) if fmt.is_planar else (1, n * nch)
            data = rng.uniform(-0.2, 0.2, shape)
            if dtype in (np.int16, np.int32):
                data = data * 20000
            f = av.AudioFrame.from_ndarray(data.astype(dtype), format=fmt.name, layout=layout)
            f.sample_rate, f.pts = rate, i * n
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def encode_h264_tags(frames: int, gop: int = 10, width: int = 160,
                     height: int = 120) -> list[tuple[int, int, bytes]]:
    """(type, ms, FLV video tag payload) of a libx264 encode: sequence header first, then the
    NAL unit packets (the pictures of tests/interop/avclient.py, so hashes compare)."""
    from tests.interop.avclient import _picture

    buf = io.BytesIO()
    out = av.open(buf, "w", format="flv")
    vs = out.add_stream("libx264", rate=25)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.options = {"g": str(gop), "bf": "0", "preset": "ultrafast", "tune": "zerolatency"}
    for i in range(frames):
        f = av.VideoFrame.from_ndarray(_picture(i, width, height), format="rgb24")
        f.pts = i
        for pkt in vs.encode(f):
            out.mux(pkt)
    for pkt in vs.encode(None):
        out.mux(pkt)
    out.close()
    data = buf.getvalue()
    tags = []
    pos = 13
    while pos + 11 <= len(data):
        ttype = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        if ttype == 9:
            tags.append((ttype, ts, data[pos + 11:pos + 11 + size]))
        pos += 11 + size + 4
    return tags
