"""The FFmpeg publisher of the issue's harness: an H.264 + AAC FLV pushed with ``-c copy``, no
``-re`` (as fast as the server takes it).

:func:`ensure_flv` encodes the file once with PyAV (libx264 + AAC; 1280x720, 30 fps,
``--flv-bitrate`` kbit/s video, CBR-like VBV so frame sizes resemble a live encoder's) and
caches it under ``$XDG_CACHE_HOME/grtmp-bench``. :func:`push_command` is the ``ffmpeg`` CLI
command when the CLI is installed; :func:`pyav_push` does the same remux through PyAV's
libavformat (FFmpeg's own RTMP client and FLV muxer), for machines without the CLI.
"""

from __future__ import annotations

import contextlib
import fractions
import os
import shutil
import time
from collections.abc import Callable

_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                      "grtmp-bench")


def flv_path(seconds: int, kbps: int) -> str:
    return os.path.join(_CACHE, f"h264-aac-720p30-{kbps}k-{seconds}s.flv")


def ensure_flv(seconds: int = 30, kbps: int = 8000,
               log: Callable[[str], None] = print) -> str:
    """The cached FLV (encoded now if missing): H.264 1280x720 30 fps + AAC-LC 44.1 kHz."""
    path = flv_path(seconds, kbps)
    if os.path.exists(path):
        return path
    import av
    import numpy as np

    os.makedirs(_CACHE, exist_ok=True)
    log(f"encoding {path} with PyAV (once; {seconds} s of 720p at {kbps} kbit/s)...")
    t0 = time.monotonic()
    tmp = f"{path}.{os.getpid()}.tmp"
    fps, w, h = 30, 1280, 720
    out = av.open(tmp, "w", format="flv")
    try:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.bit_rate = kbps * 1000
        v.options = {"preset": "ultrafast", "tune": "zerolatency",
                     "x264-params": f"keyint={2 * fps}:min-keyint={2 * fps}:scenecut=0:"
                                    f"vbv-maxrate={kbps}:vbv-bufsize={kbps}:nal-hrd=cbr:"
                                    "force-cfr=1"}
        a = out.add_stream("aac", rate=44100)
        a.layout = "stereo"
        a.bit_rate = 128000
        rng = np.random.default_rng(1)
        # a moving gradient with noise: busy enough that x264 spends the whole bit rate
        yy, xx = np.mgrid[0:h, 0:w]
        base = ((xx + yy) % 256).astype(np.uint8)
        noise = rng.integers(0, 255, size=(h * 2, w), dtype=np.uint8)
        t = np.arange(44100 * seconds + 1024) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        step = 1024
        k = 0  # next audio sample
        for i in range(seconds * fps):
            # audio up to this video frame's time first: the file is interleaved like a
            # live encoder's output, so a -c copy push sends both in time order
            while k < (i + 1) * 44100 // fps and k + step <= 44100 * seconds:
                chunk = np.stack([tone[k:k + step], tone[k:k + step]])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = 44100
                af.pts = k
                af.time_base = fractions.Fraction(1, 44100)
                for pkt in a.encode(af):
                    out.mux(pkt)
                k += step
            y = np.roll(base, i * 7, axis=1)
            y = y ^ (noise[i % h:i % h + h] & 0x3F)
            img = np.zeros((h * 3 // 2, w), dtype=np.uint8)
            img[:h] = y
            img[h:] = 128
            frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            for pkt in v.encode(frame):
                out.mux(pkt)
        for pkt in v.encode():
            out.mux(pkt)
        for pkt in a.encode():
            out.mux(pkt)
    except BaseException:
        out.close()
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    out.close()
    os.replace(tmp, path)
    size = os.path.getsize(path)
    log(f"  {size / 1e6:.1f} MB, {size * 8 / seconds / 1e3:.0f} kbit/s, "
        f"{time.monotonic() - t0:.0f} s")
    return path


def ffmpeg_cli() -> str | None:
    return shutil.which("ffmpeg")


def push_command(flv: str, url: str) -> list[str]:
    """``ffmpeg -i FILE -c copy -f flv URL``: no ``-re``, as fast as the server takes it."""
    return [ffmpeg_cli() or "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-i", flv, "-c", "copy", "-f", "flv", url]


def pyav_push(flv: str, url: str, on_packet: Callable[[int], None] | None = None,
              stop: Callable[[], bool] | None = None) -> int:
    """Remux ``flv`` to ``url`` with PyAV (``-c copy``, unpaced); returns payload bytes sent."""
    import av

    inp = av.open(flv)
    try:
        out = av.open(url, "w", format="flv")
        try:
            mapping = {}
            for s in inp.streams:
                if s.type in ("video", "audio"):
                    mapping[s.index] = out.add_stream_from_template(s)
            sent = 0
            for pkt in inp.demux(*[inp.streams[i] for i in mapping]):
                if pkt.dts is None:
                    continue
                if stop is not None and stop():
                    break
                pkt.stream = mapping[pkt.stream.index]
                out.mux(pkt)
                sent += pkt.size
                if on_packet is not None:
                    on_packet(pkt.size)
        finally:
            out.close()
    finally:
        inp.close()
    return sent
