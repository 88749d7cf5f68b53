"""Command and data message bodies (RTMP 1.0 sections 7.1.1, 7.1.2, 7.2).

A command message (type 20, AMF0) is: command name (string), transaction id (number), command
object (object or null), then optional arguments. Type 17 (AMF3 command) carries one format
byte 0x00 and then the same AMF0 values, any of which may switch to AMF3 with the avmplus
marker (0x11). Data messages (type 18, AMF0 / type 15 with the same leading 0x00 byte) carry
a list of values, e.g. ``"@setDataFrame", "onMetaData", {...}``.

Decoding is lenient where real clients are sloppy (a command with only a name, a type 17/15
body without the format byte) and strict where it matters (the first value must be a string).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from grtmp.amf import amf0
from grtmp.errors import AMFError

__all__ = ["Command", "decode_command", "encode_command", "decode_data", "encode_data",
           "text_arg", "int_arg"]


@dataclass
class Command:
    """One decoded command: ``connect``, ``createStream``, ``publish``, ``_result``..."""

    name: str
    transaction_id: float
    command_object: Any = None
    args: list[Any] = field(default_factory=list)


def _body(payload: bytes | bytearray | memoryview, amf3: bool) -> bytes:
    data = bytes(payload)
    if amf3 and data[:1] == b"\x00":
        # Type 15/17 format byte. A body without it starts with 0x02 (string marker) for a
        # command; accept both, as other servers do.
        return data[1:]
    return data


def decode_command(payload: bytes | bytearray | memoryview, amf3: bool = False) -> Command:
    """Decode a command message body; ``amf3=True`` for message type 17.

    Missing trailing parts default to transaction id 0.0, command object None and no
    arguments. AMFError if the body is empty, malformed, or does not start with a string.
    """
    decoder = amf0.Decoder(_body(payload, amf3))
    if not decoder.remaining:
        raise AMFError("empty command message")
    name = decoder.decode()
    if not isinstance(name, str):
        raise AMFError(f"command name is not a string: {type(name).__name__}")
    transaction_id = 0.0
    if decoder.remaining:
        tid = decoder.decode()
        if isinstance(tid, bool) or not isinstance(tid, int | float | type(None)):
            raise AMFError(f"transaction id of {name!r} is not a number: {type(tid).__name__}")
        transaction_id = float(tid) if tid is not None else 0.0
    command_object = decoder.decode() if decoder.remaining else None
    return Command(name, transaction_id, command_object, decoder.decode_all())


def encode_command(
    name: str, transaction_id: float, command_object: Any, *args: Any, amf3: bool = False
) -> bytes:
    """Encode a command message body (type 20, or type 17 with ``amf3=True``)."""
    body = amf0.encode(name, float(transaction_id), command_object, *args)
    return b"\x00" + body if amf3 else body


def decode_data(payload: bytes | bytearray | memoryview, amf3: bool = False) -> list[Any]:
    """Decode a data message body (type 18, or type 15 with ``amf3=True``) to its values."""
    return amf0.Decoder(_body(payload, amf3)).decode_all()


def encode_data(*values: Any, amf3: bool = False,
                max_size: int | None = amf0.DEFAULT_MAX_SIZE) -> bytes:
    """Encode a data message body (type 18, or type 15 with ``amf3=True``).

    ``max_size`` bounds the whole body (AMFError past it): values decoded from a peer may
    share sub-objects, and writing them out again without references must not exceed what a
    message can carry.
    """
    encoder = amf0.Encoder(max_size=max_size)
    parts = []
    total = 0
    for value in values:
        if max_size is not None:
            encoder.max_size = max_size - total
        part = encoder.encode(value)
        total += len(part)
        parts.append(part)
    body = b"".join(parts)
    return b"\x00" + body if amf3 else body


def text_arg(value: Any, max_length: int | None = None) -> str | None:
    """A peer-supplied value where a string is meant: the string, or None for anything else.

    Never ``str()`` a decoded value: a shared-reference graph would be expanded in full.
    ``max_length`` (characters) refuses longer strings (None) as well.
    """
    if not isinstance(value, str):
        return None
    if max_length is not None and len(value) > max_length:
        return None
    return value


def int_arg(value: Any, lo: int = 0, hi: int = 0xFFFFFFFF) -> int | None:
    """A peer-supplied AMF number as an int in ``[lo, hi]``, or None.

    None for anything that is not a number (booleans included), for NaN and the infinities
    (which ``int()`` would raise on) and for values out of range; fractions are truncated.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    return value if lo <= value <= hi else None
