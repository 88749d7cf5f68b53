"""Print the cost of the live fan-out's per-message media classifier, ``classify()``.

The hub calls ``classify(type_id, payload)`` and ``is_multitrack(type_id, payload)`` once per
audio/video message, so these are per-message nanoseconds on the publisher's greenlet. Cases:
the common legacy H.264/AAC bytes (the fast path), Enhanced RTMP single-track HEVC and Opus, a
multitrack message and ModEx (TimestampOffsetNano) messages.

Run: ``python bench/classify.py``. With ``--compare REV`` the ``grtmp/media/tag.py`` and
``grtmp/media/multitrack.py`` of git revision REV are loaded too and measured interleaved with
the current ones in the same process (the fairest comparison on a busy machine).
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from grtmp.media import multitrack, tag
from grtmp.media.multitrack import MANY_TRACKS, build_multitrack

AUDIO, VIDEO = 8, 9
BODY = bytes(range(256)) * 8

CASES = [
    ("legacy AVC keyframe", VIDEO, b"\x17\x01\x00\x00\x00" + BODY),
    ("legacy AVC inter frame", VIDEO, b"\x27\x01\x00\x00\x00" + BODY),
    ("legacy AVC sequence header", VIDEO, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1"),
    ("legacy AAC frame", AUDIO, b"\xaf\x01" + BODY[:300]),
    ("legacy AAC sequence header", AUDIO, b"\xaf\x00\x12\x10"),
    ("enhanced hvc1 CodedFrames key", VIDEO, b"\x91hvc1\x00\x00\x00" + BODY),
    ("enhanced hvc1 CodedFramesX inter", VIDEO, b"\xa3hvc1" + BODY),
    ("enhanced Opus CodedFrames", AUDIO, b"\x91Opus" + BODY[:200]),
    ("multitrack avc1 2 tracks inter", VIDEO,
     build_multitrack(VIDEO, 0x20, 1, [(0, b"avc1", b"\0\0\0" + BODY), (1, b"avc1", BODY)],
                      MANY_TRACKS)),
    ("ModEx nano + SequenceStart avc1", VIDEO,
     b"\x97\x02\x01\xe2\x40\x00avc1\x01\x64\x00\x1f\xff\xe1"),
    ("ModEx nano + CodedFrames hvc1", VIDEO, b"\xa7\x02\x01\xe2\x40\x01hvc1\x00\x00\x00" + BODY),
]


def _load(rev: str, path: str, name: str, tmp: Path) -> ModuleType:
    src = subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    file = tmp / f"{name}.py"
    file.write_bytes(src)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _ns(fn: Callable[[], object], number: int) -> float:
    return timeit.timeit(fn, number=number) / number * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", metavar="REV", help="also measure this git revision's code")
    ap.add_argument("--rounds", type=int, default=7, help="best of this many rounds")
    args = ap.parse_args()
    impls: list[tuple[str, ModuleType, ModuleType]] = [("now", tag, multitrack)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.compare:
            old_tag = _load(args.compare, "grtmp/media/tag.py", "_old_tag", Path(tmp))
            old_mt = _load(args.compare, "grtmp/media/multitrack.py", "_old_multitrack",
                           Path(tmp))
            impls.insert(0, (args.compare[:10], old_tag, old_mt))
    number = 50_000
    head = "".join(f"{label + ' classify':>22}{label + ' +is_multitrack':>26}"
                   for label, _, _ in impls)
    print(f"{'ns per message':34}{head}")
    for label, type_id, payload in CASES:
        best = {(i, j): float("inf") for i in range(len(impls)) for j in range(2)}
        for _ in range(args.rounds):  # interleaved, best of the rounds
            for i, (_, t, m) in enumerate(impls):
                c, mt = t.classify, m.is_multitrack
                best[i, 0] = min(best[i, 0], _ns(
                    lambda c=c, t=type_id, p=payload: c(t, p), number))
                best[i, 1] = min(best[i, 1], _ns(
                    lambda c=c, mt=mt, t=type_id, p=payload: (c(t, p), mt(t, p)), number))
        cells = "".join(f"{best[i, 0]:22.0f}{best[i, 1]:26.0f}" for i in range(len(impls)))
        results = "  ".join(str(t.classify(type_id, payload)[0]) for _, t, _ in impls)
        print(f"{label:34}{cells}   kind {results}")


if __name__ == "__main__":
    main()
