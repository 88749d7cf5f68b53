"""Fixtures of the directory tests: a real redis-server on a free port, and node processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.subprocess
import pytest

REDIS_SERVER = shutil.which("redis-server")
ROOT = Path(__file__).resolve().parents[2]
SECRET = b"0123456789abcdef-cluster-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Debian's redis-server on 127.0.0.1:<free port>, no persistence, DEBUG enabled."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        self.log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir),
             "--enable-debug-command", "yes"],
            stdout=self.log, stderr=subprocess.STDOUT)
        with gevent.Timeout(timeout, AssertionError("redis-server did not start")):
            while True:
                assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return
                except OSError:
                    pass
                gevent.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def client(self):
        """A plain redis-py client (blocking sockets: quick test-side reads and raw writes)."""
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


class NodeProcess:
    """A directory node in its own process (tests/cluster/node.py); JSON events on stdout."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = gevent.subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "node.py"), *args],
            stdin=gevent.subprocess.PIPE, stdout=gevent.subprocess.PIPE,
            stderr=gevent.subprocess.PIPE, cwd=str(ROOT),
            env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {})))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def event(self, timeout: float = 10.0) -> dict:
        """The next JSON event line (bounded wait)."""
        with gevent.Timeout(timeout, False):
            line = self.proc.stdout.readline()
            if line:
                return json.loads(line)
            raise AssertionError(f"node exited: {self.proc.stderr.read().decode()[-2000:]}")
        raise AssertionError("no event from node within the timeout")

    def stop(self, timeout: float = 10.0) -> int:
        """Close stdin (the node unregisters and exits); returns its exit code."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except gevent.subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("node did not stop") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def nodes() -> Iterator:
    """Factory for :class:`NodeProcess`; every node still running at the end is killed."""
    started: list[NodeProcess] = []

    def factory(*args: str, **kwargs) -> NodeProcess:
        node = NodeProcess(*args, **kwargs)
        started.append(node)
        return node

    yield factory
    for node in started:
        node.kill()
        for pipe in (node.proc.stdin, node.proc.stdout, node.proc.stderr):
            if pipe and not pipe.closed:
                pipe.close()
