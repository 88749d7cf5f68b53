"""Replay inputs through a harness without atheris: reproduce a crash file, or measure coverage.

``python -m fuzz.replay chunk fuzz/corpus/chunk crash-1234`` runs every file (directories are
walked) through ``fuzz.fuzz_chunk.test_one_input`` and reports the first untyped exception
with its input. Under coverage.py it gives line coverage of a corpus::

    coverage run --include='grtmp/*' -m fuzz.replay media /tmp/grtmp-fuzz/work/media
    coverage report
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path

HARNESSES = ("chunk", "amf", "media", "control", "handshake", "session")


def inputs(paths: list[Path]) -> list[Path]:
    """Files named, and the files of directories named, sorted."""
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("harness", choices=HARNESSES)
    ap.add_argument("paths", nargs="+", type=Path)
    args = ap.parse_args(argv)
    mod = importlib.import_module(f"fuzz.fuzz_{args.harness}")
    files = inputs(args.paths)
    failures = 0
    for f in files:
        try:
            mod.test_one_input(f.read_bytes())
        except Exception:  # noqa: BLE001 - an untyped error is what we are looking for
            failures += 1
            print(f"FINDING {f}:", file=sys.stderr)
            traceback.print_exc()
    print(f"{args.harness}: {len(files)} inputs, {failures} untyped exceptions")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
