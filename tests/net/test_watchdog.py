"""The idle watchdog closes a player that stopped reading, even with its writer blocked."""

from __future__ import annotations

import gevent
import gevent.socket

from grtmp.net.client import Client
from grtmp.wire.message import VIDEO
from tests.helpers import wait_until


def test_stuck_player_closed_after_idle_timeout_without_new_data(make_server):
    srv = make_server(ping_interval=0.2, idle_timeout=1.5, queue_size=4096,
                      max_lag_seconds=3600)
    url = f"rtmp://127.0.0.1:{srv.port}/live/stuck"
    stuck = Client(url, socket_module=gevent.socket)
    stuck.connect()
    stuck.play()
    port = stuck.sock.getsockname()[1]
    conn = next(c for c in srv.conns if c.address[1] == port)
    pub = Client(url, socket_module=gevent.socket)
    pub.connect()
    pub.publish()
    frame = b"\x17\x01\x00\x00\x00" + b"\x00" * 200_000
    # ~20 MB, far more than the socket buffers hold: the writer blocks in sendall.
    for i in range(100):
        pub.send_media(VIDEO, i * 40, frame)
    pub.close()  # then nothing new arrives: only the watchdog can notice the stuck player
    assert wait_until(lambda: conn.closed, timeout=10)
    stuck.close()
