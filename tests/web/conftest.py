"""Fixtures of the web tests: an RTMP server and the web app on one hub, in this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from grtmp.config import ServerConfig
from grtmp.net.server import Server
from grtmp.web import WebServer, make_app
from grtmp.web.app import WebApp


@dataclass
class Stack:
    rtmp: Server
    web: WebServer
    app: WebApp

    @property
    def http(self) -> int:
        return self.web.port

    def rtmp_url(self, path: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp.port}/{path}"


@pytest.fixture
def make_stack() -> Iterator:
    """Factory: ``make_stack(hooks=None, routes=None, **config)`` starts RTMP and the web app
    on 127.0.0.1 ephemeral ports, sharing one hub; all stopped at the end."""
    stacks: list[Stack] = []

    def factory(hooks: Any = None, routes: dict | None = None, **config: Any) -> Stack:
        cfg = ServerConfig(**config)
        rtmp = Server(("127.0.0.1", 0), config=cfg, hooks=hooks)
        rtmp.start()
        app = make_app(rtmp.hub, hooks=hooks, config=cfg, routes=routes)
        web = WebServer(("127.0.0.1", 0), app)
        web.start()
        stack = Stack(rtmp, web, app)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.web.stop(timeout=5)
        stack.rtmp.stop(timeout=5)
