"""Fuzz the AMF0 and AMF3 decoders and the command/data message decoders.

The first byte picks the target: AMF0 ``decode_all``, AMF3 ``decode_all``, ``decode_command``
(type 20 / type 17) or ``decode_data`` (type 18 / type 15). Decoded values are re-encoded with
the same encoding and decoded again (a typed error is acceptable, anything else is a finding).
Run: ``python -m fuzz.fuzz_amf fuzz/corpus/amf``.
"""

from __future__ import annotations

from typing import Any

from grtmp.amf import amf0, amf3
from grtmp.amf.command import decode_command, decode_data
from grtmp.errors import RTMPError

from ._harness import main, split_selector

TARGETS = ("amf0", "amf3", "command", "command_amf3", "data", "data_amf3")


def _roundtrip(values: list, module: Any) -> None:
    """Encode what was decoded and decode it again (the encoder may refuse, typed)."""
    module.decode_all(module.encode(*values))


def run(target: int, body: bytes) -> None:
    """Decode ``body`` with target number ``target`` (index into TARGETS)."""
    name = TARGETS[target]
    if name == "amf0":
        _roundtrip(amf0.decode_all(body), amf0)
    elif name == "amf3":
        _roundtrip(amf3.decode_all(body), amf3)
    elif name.startswith("command"):
        cmd = decode_command(body, amf3=name.endswith("amf3"))
        str(cmd)
    else:
        decode_data(body, amf3=name.endswith("amf3"))


def test_one_input(data: bytes) -> None:
    """atheris entry point: any exception but RTMPError is a finding."""
    target, body = split_selector(data, len(TARGETS))
    try:
        run(target, body)
    except RTMPError:
        pass


if __name__ == "__main__":
    main(test_one_input)
