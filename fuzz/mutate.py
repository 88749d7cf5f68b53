"""Byte mutations for the runs without libFuzzer: the hypothesis tests and ``fuzz_live``'s
plain loop.

An edit is ``(op, position, value)``; :func:`apply` applies a list of them, so hypothesis can
draw and shrink the edits while the plain loop draws them from a ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

Edit = tuple[int, int, int]
#: Bytes that change chunk header fields the most: fmt bits, csid forms, big lengths, AMF
#: markers (object end, reference, avmplus switch).
INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x05, 0x07, 0x09, 0x11, 0x3F, 0x40, 0x7F, 0x80, 0xC0,
               0xFF)
OPS = 8


def apply(data: bytes, edits: Sequence[Edit], other: bytes = b"") -> bytes:
    """``data`` with ``edits`` applied in order: 0 flip a bit, 1 set an interesting byte,
    2 set any byte, 3 delete a run, 4 duplicate a run, 5 insert bytes, 6 truncate, 7 splice
    in a run of ``other`` (another seed)."""
    buf = bytearray(data)
    for op, pos, val in edits:
        op %= OPS
        if not buf:
            buf.append(val & 0xFF)
            continue
        pos %= len(buf)
        if op == 0:
            buf[pos] ^= 1 << (val % 8)
        elif op == 1:
            buf[pos] = INTERESTING[val % len(INTERESTING)]
        elif op == 2:
            buf[pos] = val & 0xFF
        elif op == 3:
            del buf[pos:pos + 1 + val % 64]
        elif op == 4:
            buf[pos:pos] = buf[pos:pos + 1 + val % 256]
        elif op == 5:
            buf[pos:pos] = bytes((val & 0xFF,)) * (1 + (val >> 8) % 16)
        elif op == 6:
            del buf[max(pos, 1):]
        elif other:
            start = (val * 7919) % len(other)
            buf[pos:pos] = other[start:start + 1 + val % 512]
    return bytes(buf)


def random_edits(rng: random.Random, n: int | None = None) -> list[Edit]:
    """1-8 random edits (truncation rarer than the others)."""
    count = n if n is not None else rng.randint(1, 8)
    edits = []
    for _ in range(count):
        op = rng.randrange(OPS)
        if op == 6 and rng.random() < 0.7:
            op = 0
        edits.append((op, rng.getrandbits(24), rng.getrandbits(16)))
    return edits


def mutate(rng: random.Random, seeds: Sequence[bytes], keep_first: bool = True) -> bytes:
    """A random seed with random edits (a second seed for splices); the options byte stays
    when ``keep_first``."""
    seed = rng.choice(seeds)
    other = rng.choice(seeds)
    if keep_first and seed:
        return seed[:1] + apply(seed[1:], random_edits(rng), other[1:])
    return apply(seed, random_edits(rng), other)
