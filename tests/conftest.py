"""Shared fixtures: an in-process grtmp server on an ephemeral port, and FFmpeg peers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.subprocess
import pytest

from grtmp.config import ServerConfig
from grtmp.net.server import Server

AVCLIENT = str(Path(__file__).parent / "interop" / "avclient.py")


@pytest.fixture
def make_server() -> Iterator:
    """Factory: start a Server on 127.0.0.1:0 with the given config; all stopped at the end."""
    servers: list[Server] = []

    def factory(**config: object) -> Server:
        srv = Server(("127.0.0.1", 0), config=ServerConfig(**config))  # type: ignore[arg-type]
        srv.start()
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.stop(timeout=5)


@pytest.fixture
def rtmp_server(make_server) -> Server:
    return make_server()


class AVPeer:
    """A PyAV/FFmpeg client running in a subprocess (see tests/interop/avclient.py)."""

    def __init__(self, mode: str, url: str, *args: str):
        self.proc = gevent.subprocess.Popen(
            [sys.executable, AVCLIENT, mode, url, *args],
            stdout=gevent.subprocess.PIPE, stderr=gevent.subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.mode = mode

    def result(self, timeout: float = 60) -> dict:
        """Wait for the peer (bounded) and return its JSON report."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except gevent.subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=5)
            raise AssertionError(f"{self.mode} peer timed out: {err.decode()[-2000:]}") from None
        if self.proc.returncode != 0:
            raise AssertionError(f"{self.mode} peer failed ({self.proc.returncode}): "
                                 f"{err.decode()[-3000:]}")
        return json.loads(out.decode().strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


@pytest.fixture
def av_peers() -> Iterator:
    """Factory for :class:`AVPeer`; every peer still running at the end is killed."""
    peers: list[AVPeer] = []

    def factory(mode: str, url: str, *args: str) -> AVPeer:
        peer = AVPeer(mode, url, *args)
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        peer.kill()


@pytest.fixture
def redis_server(tmp_path) -> Iterator:
    """Debian's redis-server on a free port (skips, saying so, where it is not installed)."""
    from tests.helpers import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()
