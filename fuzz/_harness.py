"""Shared plumbing of the harnesses: the atheris entry point and a selector byte."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def split_selector(data: bytes, choices: int) -> tuple[int, bytes]:
    """First byte picks one of ``choices`` targets; the rest is that target's input."""
    if not data:
        return 0, b""
    return data[0] % choices, data[1:]


def main(test_one_input: Callable[[bytes], None], argv: Sequence[str] | None = None) -> None:
    """Run ``test_one_input`` under atheris (libFuzzer flags in ``argv``, corpus dirs too).

    atheris is imported here only, so the harness modules import without it (CI, tests).
    ``instrument_all`` adds coverage feedback to every loaded module (grtmp, construct).
    """
    import atheris  # noqa: PLC0415 - optional dependency, only for real fuzzing runs

    atheris.instrument_all()
    atheris.Setup(list(sys.argv if argv is None else argv), test_one_input)
    atheris.Fuzz()
