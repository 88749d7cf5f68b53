"""Serve the web app with ``gevent.pywsgi``, beside the RTMP server, on the same hub.

:class:`WebHandler` is pywsgi's handler plus two environ keys, ``grtmp.socket`` and
``grtmp.handler``: with them an HTTP-FLV or WS-FLV viewer writes straight to its socket
through the same non-blocking :class:`~grtmp.net.outbox.Wire` as an RTMP player (see
:mod:`grtmp.web.live`); any other WSGI server still works, through the response iterator.
:class:`WebServer` owns the listening server and its connections (a ``gevent.pool.Pool``):
:meth:`WebServer.stop` ends the streaming viewers, releases the LL-HLS muxers and joins the
connections with a timeout, as :meth:`grtmp.net.server.Server.stop` does for RTMP.
"""

from __future__ import annotations

import logging
from typing import Any

from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer

from grtmp.web.app import WebApp
from grtmp.web.client import WebClient

__all__ = ["WebHandler", "WebServer"]

log = logging.getLogger("grtmp.web")


class WebHandler(WSGIHandler):
    """pywsgi's handler, exposing the connection to grtmp's streaming responses."""

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env["grtmp.socket"] = self.socket
        env["grtmp.handler"] = self
        return env


class WebServer:
    """Serve ``app`` (a :class:`WebApp`, or any WSGI app) on ``address`` (port 0: any)."""

    def __init__(self, address: Any, app: Any, *, backlog: int | None = None):
        self.app = app
        self.group = Pool()
        extra = {} if backlog is None or not isinstance(address, tuple) else {"backlog": backlog}
        self._server = WSGIServer(address, app, handler_class=WebHandler, spawn=self.group,
                                  **extra,
                                  log=logging.getLogger("grtmp.web.access"),
                                  error_log=logging.getLogger("grtmp.web"))

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> None:
        """Bind and serve in the background; start the app's background work."""
        self._server.start()
        if isinstance(self.app, WebApp):
            self.app.start()
        log.info("web app listening on http://%s:%d/", self.address[0], self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end streaming viewers, release muxers, join the connections."""
        self._server.close()
        if isinstance(self.app, WebApp):
            for session in list(self.app.hub.sessions.values()):
                if isinstance(session, WebClient):
                    session.close()
            self.app.close()
        if not self.group.join(timeout=timeout):
            log.warning("%d web connections still open after %.1fs; killing them",
                        len(self.group), timeout)
            self.group.kill(block=True, timeout=1.0)
        log.info("web app stopped")

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
