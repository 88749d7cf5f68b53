"""Shared plumbing of the harnesses: the atheris entry point and a selector byte."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any


def split_selector(data: bytes, choices: int) -> tuple[int, bytes]:
    """First byte picks one of ``choices`` targets; the rest is that target's input."""
    if not data:
        return 0, b""
    return data[0] % choices, data[1:]


def main(test_one_input: Callable[[bytes], None], argv: Sequence[str] | None = None,
         only: tuple[str, ...] | None = None) -> None:
    """Run ``test_one_input`` under atheris (libFuzzer flags in ``argv``, corpus dirs too).

    atheris is imported here only, so the harness modules import without it (CI, tests).
    ``instrument_all`` adds coverage feedback to every loaded module (grtmp, construct...);
    with ``only`` (package names), just to the functions of those packages: a harness that
    runs much library code per input (logging, gevent) is then faster.
    """
    import atheris  # noqa: PLC0415 - optional dependency, only for real fuzzing runs

    if only is None:
        atheris.instrument_all()
    else:
        instrument_packages(atheris, only)
    atheris.Setup(list(sys.argv if argv is None else argv), test_one_input)
    atheris.Fuzz()


def instrument_packages(atheris: Any, packages: tuple[str, ...]) -> int:
    """Instrument every loaded Python function of ``packages``; returns how many."""
    count = 0
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        module = getattr(obj, "__module__", None) or ""
        if module not in sys.modules or not any(
                module == p or module.startswith(p + ".") for p in packages):
            continue
        try:
            atheris.instrument_func(obj)
        except Exception:  # noqa: BLE001, S112 - as instrument_all: skip what cannot be
            continue
        count += 1
    print(f"INFO: instrumented {count} functions of {', '.join(packages)}", file=sys.stderr)
    return count
