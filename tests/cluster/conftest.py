"""Fixtures of the directory tests: node processes (redis-server: tests/conftest.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.subprocess
import pytest

from tests.helpers import ROOT


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
