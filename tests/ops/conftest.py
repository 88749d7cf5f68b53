"""Fixtures for the operations tests: an in-process server with its controller, the JSON API
and /metrics on their own HTTP port, a small HTTP client on gevent sockets, raw RTMP peers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
import pytest

from grtmp.config import ServerConfig
from grtmp.live.hub import StreamHub
from grtmp.net.relay import Relays
from grtmp.net.server import Server
from grtmp.ops.apphooks import ConfigHooks
from grtmp.ops.configfile import load_config
from grtmp.ops.control import Operations
from grtmp.ops.server import OpsServer
from grtmp.ops.state import RateSampler
from tests.helpers import Peer


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


def http(port: int, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes = b"", timeout: float = 10.0) -> Response:
    """One HTTP/1.1 request on a gevent socket (the server runs in this process)."""
    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        with gevent.Timeout(timeout):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    finally:
        sock.close()
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out, pos = b"", 0
        while True:
            end = rest.index(b"\r\n", pos)
            n = int(rest[pos:end], 16)
            if n == 0:
                break
            out += rest[end + 2:end + 2 + n]
            pos = end + 2 + n + 2
        rest = out
    return Response(status, hdrs, rest)


@dataclass
class OpsEnv:
    """A running server: ``hub``, ``server`` (RTMP), ``ops`` (controller), ``web`` (API)."""

    hub: StreamHub
    server: Server
    ops: Operations
    web: OpsServer
    config_path: Path | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    def request(self, method: str, path: str, **kw: Any) -> Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return http(self.web.port, method, path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def write_config(self, text: str) -> None:
        assert self.config_path is not None
        self.config_path.write_text(text)


@pytest.fixture
def make_ops(tmp_path: Path) -> Iterator:
    """Factory: ``make_ops(toml_text)`` or ``make_ops(**ServerConfig fields)``."""
    made: list[OpsEnv] = []

    def factory(toml: str | None = None, *, sample_interval: float = 0.25,
                **settings: Any) -> OpsEnv:
        path = None
        if toml is not None:
            path = tmp_path / f"grtmp{len(made)}.toml"
            path.write_text(toml)
            config = load_config(str(path))
        else:
            config = ServerConfig(**settings)
        hub = StreamHub(config)
        hooks = ConfigHooks(hub)
        server = Server(("127.0.0.1", 0), config=config, hub=hub, hooks=hooks)
        server.start()
        relays = Relays(hub, config, hooks=hooks)  # as grtmp-server wires them
        ops = Operations(hub, servers=[server], relays=relays,
                         config_path=str(path) if path else None,
                         sampler=RateSampler(hub, interval=sample_interval, window=2.0))
        ops.start()
        web = OpsServer(ops)
        web.start()
        env = OpsEnv(hub, server, ops, web, path)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.web.stop()
        env.ops.stop()
        env.ops.relays.close()
        env.server.stop(timeout=5)


@pytest.fixture
def peers() -> Iterator:
    made: list[Peer] = []

    def factory(port: int, **kw: Any) -> Peer:
        p = Peer(port, **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()
