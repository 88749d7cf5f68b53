"""grtmp.Client against a real in-process server: Enhanced RTMP connect, reconnect."""

from __future__ import annotations

import time

import gevent
import gevent.socket
import pytest

from grtmp import Client, Server, ServerConfig
from grtmp.errors import RTMPError
from tests.helpers import free_port, wait_until


def test_enhanced_connect_declares_the_codecs(rtmp_server):
    client = Client(f"rtmp://127.0.0.1:{rtmp_server.port}/live/x", socket_module=gevent.socket)
    props, info = client.connect(enhanced=True)
    assert info["code"] == "NetConnection.Connect.Success"
    assert "hvc1" in props["fourCcList"]  # the server answers Enhanced RTMP in kind
    conn = next(iter(rtmp_server.conns))
    assert conn.session.caps.enhanced and conn.session.caps.multitrack
    client.close()


def test_reconnect_with_backoff_publishes_again():
    port = free_port()
    first = Server(("127.0.0.1", port), config=ServerConfig())
    first.start()
    client = Client(f"rtmp://127.0.0.1:{port}/live/cam", socket_module=gevent.socket)
    second = None
    try:
        client.connect()
        client.publish()
        assert first.hub.get("live", "cam").is_live
        first.stop()
        servers = []

        def restart() -> None:
            gevent.sleep(1.0)
            srv = Server(("127.0.0.1", port), config=ServerConfig())
            srv.start()
            servers.append(srv)

        g = gevent.spawn(restart)
        start = time.monotonic()
        client.reconnect(deadline=10, base=0.1, cap=0.5)
        g.join(timeout=5)
        second = servers[0]
        assert 0.9 < time.monotonic() - start < 5
        assert wait_until(lambda: second.hub.get("live", "cam") is not None
                          and second.hub.get("live", "cam").is_live, timeout=5)
    finally:
        client.close()
        if second is not None:
            second.stop()


def test_reconnect_gives_up_after_its_deadline():
    port = free_port()
    client = Client(f"rtmp://127.0.0.1:{port}/live/cam", socket_module=gevent.socket)
    start = time.monotonic()
    with pytest.raises((OSError, RTMPError)):
        client.reconnect(deadline=1.0, base=0.1, cap=0.3)
    assert time.monotonic() - start < 3
