"""Benchmark LL-HLS muxing; prints figures (not a test).

Run: ``python bench/hls_mux.py [SECONDS] [KBPS]``. Feeds a synthetic 720p30 H.264 + AAC stream
(``bench/_media.py``, default 4000 kbit/s) through :class:`grtmp.hls.HLSStream` and prints

- CPU time per second of media (and so how many live streams one core can mux in real time),
  split into parsing + muxing (``feed``) and playlist rendering (once per part);
- bytes held by the stream after the run (segments, parts, init), which must not grow with
  the run's length;
- one fragment of a part built by the struct hot path vs the construct declarations.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench._media import StreamShape, messages  # noqa: E402
from grtmp.hls import HLSConfig, HLSStream  # noqa: E402
from grtmp.hls.fmp4 import (  # noqa: E402
    Sample,
    TrackRun,
    build_fragment,
    build_fragment_declared,
)


def held_bytes(hls: HLSStream) -> int:
    seg = hls.segmenter
    segs = list(seg.segments) + ([seg.current] if seg.current else [])
    parts = sum(len(p.data or b"") for s in segs for p in s.parts)
    inits = sum(len(b) for b in seg.init_segments().values())
    return sum(s.size for s in segs) + parts + inits


def run(seconds: float, kbps: float) -> None:
    shape = StreamShape(bitrate_kbps=kbps)
    msgs = list(itertools.takewhile(lambda m: m[1] <= seconds * 1000, messages(shape)))
    hls = HLSStream(HLSConfig())
    feed_cpu = render_cpu = 0.0
    parts = 0
    for i in range(0, len(msgs), 1):
        t0 = time.process_time()
        n = hls.feed(*msgs[i])
        t1 = time.process_time()
        feed_cpu += t1 - t0
        if n:
            parts += n
            hls.playlist()
            render_cpu += time.process_time() - t1
    held = held_bytes(hls)
    total = feed_cpu + render_cpu
    print(f"stream: {kbps:.0f} kbit/s 720p30 H.264 + AAC, {seconds:.0f} s, "
          f"{len(msgs)} messages, {parts} parts, {len(hls.segmenter.segments)} segments kept")
    print(f"  feed (parse + mux):  {feed_cpu / seconds * 1000:7.2f} ms CPU per media second")
    print(f"  playlist per part:   {render_cpu / max(parts, 1) * 1e6:7.1f} us")
    print(f"  total:               {total / seconds * 100:7.2f} % of one core "
          f"(~{seconds / total:.0f} live streams per core)")
    print(f"  held after the run:  {held / 1e6:7.2f} MB "
          f"({held * 8 / kbps / 1000:.1f} s of media)")


def fragment_paths() -> None:
    video = [Sample(i * 3000, 3000, bytes(2000), keyframe=i == 0, cts=3000) for i in range(10)]
    audio = [Sample(i * 1024, 1024, bytes(300)) for i in range(15)]
    runs = [TrackRun(1, "video", video), TrackRun(2, "audio", audio)]
    assert build_fragment(1, runs) == build_fragment_declared(1, runs)
    n = 200
    fast = timeit.timeit(lambda: build_fragment(1, runs), number=n) / n
    slow = timeit.timeit(lambda: build_fragment_declared(1, runs), number=20) / 20
    print(f"one part (10 video + 15 audio samples): struct {fast * 1e6:.0f} us, "
          f"construct {slow * 1e6:.0f} us ({slow / fast:.0f}x)")


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 4000.0
    run(secs, rate)
    run(secs * 2, rate)
    fragment_paths()
