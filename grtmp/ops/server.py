"""Serve the operator routes over HTTP on their own (tests, embedding, or a server without the
web layer): ``OpsServer(ops, ("127.0.0.1", 8080)).start()``.

In ``grtmp-server`` the web layer mounts the same apps on its HTTP port
(``grtmp.web.make_app(..., routes=ops.routes())``); this is the small dispatcher for when it
does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from gevent.pywsgi import WSGIServer

from grtmp.ops.control import Operations

__all__ = ["OpsServer", "dispatch"]

WSGIApp = Callable[..., Iterable[bytes]]


def dispatch(routes: dict[str, WSGIApp]) -> WSGIApp:
    """One WSGI app from ``{prefix: app}``: the longest matching prefix answers (the prefix
    moves from ``PATH_INFO`` to ``SCRIPT_NAME``); anything else is a JSON 404."""
    table = sorted(((p.rstrip("/"), a) for p, a in routes.items()), key=lambda x: -len(x[0]))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, sub in table:
            if path == prefix or path.startswith(prefix + "/"):
                environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + prefix,
                               PATH_INFO=path[len(prefix):])
                return sub(environ, start_response)
        body = json.dumps({"status": 404, "error": "Not Found",
                           "message": "no such resource"}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    return app


class OpsServer:
    """The JSON API and ``/metrics`` of ``ops`` on ``address`` (port 0: a free one)."""

    def __init__(self, ops: Operations, address: tuple[str, int] = ("127.0.0.1", 0)):
        self.ops = ops
        self.server = WSGIServer(address, dispatch(ops.routes()), log=None)

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> None:
        self.server.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.server.stop(timeout=timeout)
