"""Fuzz the handshake: the server side reading C0+C1+C2, the client side reading S0+S1+S2.

The first byte picks the side. Input shorter than a handshake must give HandshakeError; a
full-size input must complete (with ``c2_ok`` / digest checks deciding, never an exception).
Run: ``python -m fuzz.fuzz_handshake fuzz/corpus/handshake``.
"""

from __future__ import annotations

import io

from grtmp.errors import RTMPError
from grtmp.wire import handshake
from grtmp.wire.handshake import client_handshake, server_handshake

from ._harness import main, split_selector


def _rand(n: int) -> bytes:
    return bytes(n)  # deterministic: a fuzzer needs reproducible runs


def _zero_time() -> int:
    return 0


def run(side: int, body: bytes) -> handshake.HandshakeInfo:
    """Run one side of the handshake against ``body`` as the peer's bytes.

    The clock and the random bytes are fixed (time 0, zero bytes) for the call, so a recorded
    server answer stays valid for our C1 and every run is reproducible.
    """
    sent: list[bytes] = []
    reader = io.BytesIO(body)
    now_ms, handshake._now_ms = handshake._now_ms, _zero_time
    try:
        if side == 0:
            return server_handshake(reader, sent.append, rand=_rand)
        return client_handshake(reader, sent.append, complex=side == 1, rand=_rand)
    finally:
        handshake._now_ms = now_ms


def test_one_input(data: bytes) -> None:
    """atheris entry point: any exception but RTMPError is a finding."""
    side, body = split_selector(data, 3)
    try:
        run(side, body)
    except RTMPError:
        pass


if __name__ == "__main__":
    main(test_one_input)
