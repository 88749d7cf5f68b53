"""Bit-level reading shared by the codec parsers: an MSB-first bit reader with exp-Golomb and
AV1 uvlc codes, RBSP unescaping (emulation prevention bytes), and the guard that turns low-level
errors into :class:`~grtmp.errors.CodecError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from construct import ConstructError

from grtmp.errors import AMFError, CodecError

__all__ = ["BitReader", "MAX_NAL_UNITS", "guard", "unescape_rbsp"]

T = TypeVar("T")

#: Upper bound on NAL units / OBUs split out of one payload (untrusted input).
MAX_NAL_UNITS = 4096


class BitReader:
    """MSB-first bit reader over bytes; reading past the end raises :class:`CodecError`."""

    __slots__ = ("_value", "_nbits", "_pos")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._nbits = len(data) * 8
        self._pos = 0

    @property
    def bits_left(self) -> int:
        """Bits not yet read."""
        return self._nbits - self._pos

    def u(self, n: int) -> int:
        """Read an n-bit unsigned integer."""
        if n == 0:
            return 0
        if self._pos + n > self._nbits:
            raise CodecError("bitstream ended early")
        self._pos += n
        return (self._value >> (self._nbits - self._pos)) & ((1 << n) - 1)

    def flag(self) -> bool:
        """Read one bit as a bool."""
        return bool(self.u(1))

    def skip(self, n: int) -> None:
        """Skip n bits."""
        if self._pos + n > self._nbits:
            raise CodecError("bitstream ended early")
        self._pos += n

    def ue(self) -> int:
        """Read an unsigned exp-Golomb code, ue(v)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise CodecError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Read a signed exp-Golomb code, se(v)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def uvlc(self) -> int:
        """Read an AV1 uvlc()."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros >= 32:
                raise CodecError("uvlc code too long")
        return self.u(zeros) + (1 << zeros) - 1


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def guard(what: str, fn: Callable[[], T]) -> T:
    """Run a parse step, turning construct/low-level errors into CodecError."""
    try:
        return fn()
    except CodecError:
        raise
    except (ConstructError, ValueError, IndexError, KeyError, TypeError, struct.error,
            OverflowError, AMFError) as exc:
        raise CodecError(f"bad {what}: {exc}") from None
