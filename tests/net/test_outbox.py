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


def test_a_backlog_of_many_players_holds_each_packet_once(pair):
    """Players whose sockets are full keep the gathered packets as the shared encoded bytes,
    not a joined copy each: the memory of a backlog does not grow with the players."""
    from grtmp.config import ServerConfig
    from grtmp.live.packet import KIND_OTHER, Packet
    from grtmp.live.player import PlayerPolicy
    from grtmp.live.stream import Stream
    from grtmp.net.outbox import Outbox, _Batch, flush_pending
    from grtmp.wire.message import AUDIO

    stream = Stream("live", "x", ServerConfig(max_lag_seconds=3600))
    socks = [gevent.socket.socketpair() for _ in range(3)]
    try:
        boxes = []
        for a, _b in socks:
            a.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
            boxes.append(Outbox(Wire(a), PlayerPolicy(stream), queue_size=1000,
                                chunk=(4096, 1)))
            a.setblocking(False)
            try:  # fill the socket: the players' next direct write finds no room
                while True:
                    a.send(b"\0" * 65536)
            except BlockingIOError:
                pass
        for i in range(5):  # one publisher read of 5 audio messages
            packet = Packet(AUDIO, i, bytes([0xAF, 1]) + b"a" * 3000, KIND_OTHER)
            for box in boxes:
                box.offer(packet)
        flush_pending()
        queued = [[item for item in box.queue.queue if isinstance(item, _Batch)]
                  for box in boxes]
        assert all(len(q) == 1 for q in queued), queued
        shared = 0
        for first, *others in zip(*(q[0].data for q in queued)):
            assert all(other is first for other in others)
            shared += 1
        assert shared == 5
    finally:
        for a, b in socks:
            a.close()
            b.close()
