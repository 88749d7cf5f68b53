"""Wire's non-blocking fast path on a real socket pair: whole, partial and refused writes."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest

from grtmp.net.outbox import Wire


@pytest.fixture
def pair():
    a, b = gevent.socket.socketpair()
    a.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
    yield a, b
    a.close()
    b.close()


def read_all(sock, size: int) -> bytes:
    got = b""
    with gevent.Timeout(5):
        while len(got) < size:
            got += sock.recv(65536)
    return got


@pytest.mark.parametrize("buffers", [1, 3], ids=["one buffer (send)", "three (sendmsg)"])
def test_try_sendv_whole_partial_and_refused(pair, buffers):
    a, b = pair
    wire = Wire(a)
    assert wire.raw is not None
    small = [bytes([i]) * 100 for i in range(buffers)]
    assert wire.try_sendv(small) is None  # all went out, the lock is free
    assert not wire.lock.locked()
    assert read_all(b, 100 * buffers) == b"".join(small)

    big = [bytes([65 + i]) * 400_000 for i in range(buffers)]
    rest = wire.try_sendv(big)
    assert rest is not None and rest is not big  # a partial write: the rest comes back...
    assert wire.lock.locked()  # ...and the lock stays held until finish()
    assert wire.try_sendv([b"x"]) == [b"x"]  # nobody else may write in between
    sent = wire.bytes_out - 100 * buffers
    assert bytes(rest) == b"".join(big)[sent:]
    reader = gevent.spawn(read_all, b, 400_000 * buffers)
    wire.finish(rest)
    assert not wire.lock.locked()
    assert reader.get(timeout=5) == b"".join(big)
    assert wire.bytes_out == 100 * buffers + 400_000 * buffers

    wire.closed = True
    assert wire.try_sendv(small) is small  # a closed wire refuses: the caller queues
