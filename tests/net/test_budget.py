"""A server-wide bound on bytes held in partly received messages (BufferBudget)."""

from __future__ import annotations

import io
import logging

import gevent
import gevent.socket
import pytest

from grtmp.errors import ConnectionClosed, LimitExceeded
from grtmp.net.client import Client
from grtmp.wire.chunk import BufferBudget, ChunkReader, ChunkWriter, encode_chunk_header
from grtmp.wire.message import VIDEO, Message
from tests.helpers import wait_until


def _partial(csid: int, length: int, sent: int) -> bytes:
    """A fmt-0 video message header claiming ``length`` bytes, then ``sent`` of them."""
    return encode_chunk_header(0, csid, 0, length, VIDEO, 1) + bytes(sent)


def test_budget_is_shared_and_given_back():
    budget = BufferBudget(1000)
    # Chunk size 128 (the default): 300 bytes claimed, 128 arrive, then the input ends.
    a = ChunkReader(io.BytesIO(_partial(4, 300, 128)), budget=budget)
    with pytest.raises(ConnectionClosed):
        a.read_message()
    assert budget.used == 128
    b = ChunkReader(io.BytesIO(_partial(4, 300, 128) + _partial(5, 300, 128)), budget=budget)
    with pytest.raises(ConnectionClosed):
        b.read_message()
    assert budget.used == 384
    a.release()
    b.release()
    assert budget.used == 0


def test_budget_exceeded_raises_and_release_balances():
    budget = BufferBudget(200)
    data = b"".join(_partial(csid, 300, 128) for csid in (4, 5))
    r = ChunkReader(io.BytesIO(data), budget=budget)
    with pytest.raises(LimitExceeded, match="server-wide"):
        r.read_message()
    r.release()
    assert budget.used == 0


def test_complete_messages_leave_the_budget_at_zero():
    budget = BufferBudget(10_000)
    w = ChunkWriter(128)
    data = b"".join(w.write(Message(VIDEO, i, 1, bytes(1000)), 6) for i in range(5))
    r = ChunkReader(io.BytesIO(data), budget=budget)
    for _ in range(5):
        assert len(r.read_message().payload) == 1000
    assert budget.used == 0


def test_server_wide_budget_refuses_the_attacker_that_crosses_it(make_server, caplog):
    caplog.set_level(logging.WARNING, logger="grtmp")
    srv = make_server(max_buffered_total=600_000, idle_timeout=5, ping_interval=1)
    budget = srv.hub.buffer_budget
    attackers = []
    for _ in range(3):
        c = Client(f"rtmp://127.0.0.1:{srv.port}/live", socket_module=gevent.socket)
        c.connect()  # the client announced chunk size 4096
        # 250 kB of a 1 MB message on each of two chunk streams: 500 kB per connection.
        blob = b"".join(encode_chunk_header(0, csid, 0, 1_000_000, VIDEO, 1) + bytes(4096)
                        + b"".join(encode_chunk_header(3, csid) + bytes(4096)
                                   for _ in range(60))
                        for csid in (10, 11))
        c.sock.sendall(blob)
        attackers.append(c)
    assert wait_until(lambda: any("server-wide limit" in r.getMessage()
                                  for r in caplog.records), timeout=10)
    for c in attackers:
        c.close()
    assert wait_until(lambda: not srv.conns, timeout=10)
    assert budget.used == 0
    # The server still takes a normal publisher afterwards.
    pub = Client(f"rtmp://127.0.0.1:{srv.port}/live/ok", socket_module=gevent.socket)
    pub.connect()
    assert pub.publish()["code"] == "NetStream.Publish.Start"
    pub.close()
