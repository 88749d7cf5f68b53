"""The front door: ``grtmp.__all__`` is the tested public API (websockets' test_exports idea)."""

from __future__ import annotations

import subprocess
import sys

import grtmp

PUBLIC = {
    "AMFError", "Client", "CodecError", "CommandError", "Conn", "ConnectionClosed",
    "FormatError", "HandshakeError", "Hooks", "LimitExceeded", "ProtocolError", "RTMPError",
    "Server", "ServerConfig", "Stream", "StreamHub", "__version__", "consume_stream",
}


def test_all_is_the_public_api() -> None:
    assert set(grtmp.__all__) == PUBLIC
    for name in grtmp.__all__:
        assert getattr(grtmp, name) is not None


def test_exports_are_the_real_objects() -> None:
    from grtmp.live.hub import StreamHub
    from grtmp.net.client import Client
    from grtmp.net.connection import Conn
    from grtmp.net.server import Server

    assert (grtmp.Server, grtmp.Client, grtmp.Conn, grtmp.StreamHub) == \
        (Server, Client, Conn, StreamHub)
    assert issubclass(grtmp.ProtocolError, grtmp.RTMPError)


def test_importing_grtmp_does_not_import_gevent_until_the_shell_is_used() -> None:
    code = ("import sys, grtmp\n"
            "assert 'gevent' not in sys.modules\n"
            "grtmp.Server\n"
            "assert 'gevent' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
