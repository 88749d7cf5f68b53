"""Benchmark the RTMP chunk path; prints figures (not a test).

Run: ``python bench/chunk_path.py``. Measures
- per-header parse time of an 11-byte fmt 0 chunk header: construct, construct ``.compile()``,
  and the struct fast path used by :mod:`grtmp.wire.chunk`;
- :class:`ChunkReader` throughput (MB/s) on a stream of ~20 KB video messages chunked at 4096,
  from ``io.BufferedReader`` (has ``peek``, like a socket file) and plain ``io.BytesIO``, with
  and without extended timestamps;
- :class:`ChunkWriter` / :func:`chunk_message` throughput.
"""

from __future__ import annotations

import io
import os
import sys
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from grtmp.formats.chunk import ChunkHeader  # noqa: E402
from grtmp.wire.chunk import (  # noqa: E402
    _H01,
    _LE32,
    ChunkReader,
    ChunkWriter,
    chunk_message,
    encode_chunk_header,
    parse_chunk_header,
)
from grtmp.wire.message import Message  # noqa: E402


def _per_call(fn, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=3))
    return best / number * 1e6


def bench_headers() -> None:
    data = encode_chunk_header(0, 6, 1000, 20000, 9, 1)
    compiled = ChunkHeader.compile()
    ref = ChunkHeader.parse(data)
    assert compiled.parse(data).message_header == ref.message_header
    assert parse_chunk_header(data)["message_length"] == ref.message_header.message_length
    print(f"fmt 0 chunk header ({len(data)} bytes) parse, per header:")
    print(f"  construct            {_per_call(lambda: ChunkHeader.parse(data), 2000):8.2f} us")
    print(f"  construct .compile() {_per_call(lambda: compiled.parse(data), 5000):8.2f} us")
    print(f"  parse_chunk_header   {_per_call(lambda: parse_chunk_header(data), 100000):8.2f} us"
          "  (struct, builds a dict)")
    body = data[1:]

    def inline() -> tuple:
        # what ChunkReader.read_message does per fmt 0 header
        t1, t2, l1, l2, tid = _H01.unpack_from(body)
        return (t1 << 8) | t2, (l1 << 8) | l2, tid, _LE32.unpack_from(body, 7)[0]

    assert inline() == (1000, 20000, 9, 1)
    print(f"  struct, as inlined   {_per_call(inline, 200000):8.2f} us  (ChunkReader hot path)")
    value = {
        "basic_header": {"fmt": 0, "cs_id": 6},
        "message_header": {
            "timestamp": 1000, "message_length": 20000,
            "message_type_id": 9, "message_stream_id": 1,
        },
        "extended_timestamp": None,
    }
    print("fmt 0 chunk header build, per header:")
    print(f"  construct            {_per_call(lambda: ChunkHeader.build(value), 2000):8.2f} us")
    print(f"  construct .compile() {_per_call(lambda: compiled.build(value), 5000):8.2f} us")
    fast = _per_call(lambda: encode_chunk_header(0, 6, 1000, 20000, 9, 1), 100000)
    print(f"  struct fast path     {fast:8.2f} us")


def _video_stream(count: int, size: int, chunk_size: int, base_ts: int) -> bytes:
    w = ChunkWriter(chunk_size)
    payload = os.urandom(size)
    parts = []
    for i in range(count):
        # vary the size a little, as real video frames do (fmt 1 headers)
        body = payload[: size - (i % 7) * 100]
        parts.append(w.write(Message(9, base_ts + i * 33, 1, body), 6))
    return b"".join(parts)


def _read_all(data: bytes, count: int, chunk_size: int, buffered: bool) -> float:
    src = io.BufferedReader(io.BytesIO(data), 65536) if buffered else io.BytesIO(data)
    r = ChunkReader(src)
    r.chunk_size = chunk_size
    t0 = time.perf_counter()
    for _ in range(count):
        r.read_message()
    return time.perf_counter() - t0


def bench_reader() -> None:
    count, size = 2000, 20000
    cases = (
        (4096, "", 0),
        (4096, ", extended timestamps", 0x1000000),
        (128, "", 0),
        (65536, "", 0),
    )
    for cs, label, base in cases:
        data = _video_stream(count, size, cs, base)
        mb = len(data) / 1e6
        for buffered in (True, False):
            best = min(_read_all(data, count, cs, buffered) for _ in range(3))
            src = "BufferedReader" if buffered else "BytesIO       "
            print(
                f"ChunkReader {src} {count} x ~{size // 1000} KB video, chunk {cs:5d}{label}: "
                f"{mb / best:8.1f} MB/s  ({best / count * 1e6:6.1f} us/message)"
            )


def bench_writer() -> None:
    count, size, cs = 2000, 20000, 4096
    payload = os.urandom(size)
    msgs = [Message(9, i * 33, 1, payload) for i in range(count)]
    w = ChunkWriter(cs)
    t0 = time.perf_counter()
    total = sum(len(w.write(m, 6)) for m in msgs)
    t = time.perf_counter() - t0
    print(f"ChunkWriter.write  {total / 1e6 / t:8.1f} MB/s  ({t / count * 1e6:6.1f} us/message)")
    t0 = time.perf_counter()
    total = sum(len(chunk_message(m, 6, cs)) for m in msgs)
    t = time.perf_counter() - t0
    print(f"chunk_message      {total / 1e6 / t:8.1f} MB/s  ({t / count * 1e6:6.1f} us/message)")


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}")
    bench_headers()
    bench_reader()
    bench_writer()
