"""The RTMP server: a ``gevent.server.StreamServer`` running one :class:`Conn` per connection."""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from typing import Any

import gevent
from gevent.event import Event
from gevent.server import StreamServer

from grtmp.config import ServerConfig
from grtmp.session import Conn
from grtmp.stream import StreamHub

log = logging.getLogger("grtmp.server")


class Server:
    """Serve RTMP on ``address`` (``(host, port)``; port 0 picks a free port).

    ``hub`` can be shared with other servers (RTMP beside RTMPS) or with Python code that
    consumes streams (:func:`grtmp.stream.consume_stream`). ``handler`` gets the hooks
    described in :class:`grtmp.session.Conn`.
    """

    def __init__(self, address: tuple[str, int] = ("0.0.0.0", 1935), *,
                 config: ServerConfig | None = None, hub: StreamHub | None = None,
                 handler: Any = None, ssl_context: ssl.SSLContext | None = None):
        self.config = config or (hub.config if hub is not None else ServerConfig())
        self.hub = hub if hub is not None else StreamHub(self.config)
        self.handler = handler
        self.conns: set[Conn] = set()
        self._per_ip: Counter[str] = Counter()
        kwargs: dict[str, Any] = {}
        if ssl_context is not None:
            kwargs["ssl_context"] = ssl_context
        self._server = StreamServer(address, self._handle, **kwargs)
        self.secure = ssl_context is not None
        self._stopped = Event()

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (after :meth:`start`)."""
        return self._server.address

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> None:
        """Bind and start accepting in the background."""
        self._server.start()
        log.info("listening on %s:%d%s", self.address[0], self.port,
                 " (rtmps)" if self.secure else "")

    def serve_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop`."""
        if not self._server.started:
            self.start()
        self._stopped.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished; True if it has."""
        return self._stopped.wait(timeout)

    def _handle(self, sock: Any, address: Any) -> None:
        cfg = self.config
        ip = address[0] if isinstance(address, tuple) else str(address)
        if cfg.max_connections and len(self.conns) >= cfg.max_connections:
            log.warning("[%s] refused: %d connections open (max_connections)", ip,
                        len(self.conns))
            sock.close()
            return
        if cfg.max_connections_per_ip and self._per_ip[ip] >= cfg.max_connections_per_ip:
            log.warning("[%s] refused: %d connections from this address "
                        "(max_connections_per_ip)", ip, self._per_ip[ip])
            sock.close()
            return
        conn = Conn(sock, address, hub=self.hub, config=cfg, handler=self.handler)
        self.conns.add(conn)
        self._per_ip[ip] += 1
        try:
            conn.serve()
        finally:
            self.conns.discard(conn)
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end publishes (players get UnpublishNotify and StreamEOF), close."""
        self._server.close()
        conns = list(self.conns)
        for conn in conns:
            conn.stop_streams()
        # Let players' writers flush the end-of-stream status before we close them.
        for conn in conns:
            for sub in list(conn.playing.values()):
                sub.stop(flush=True, timeout=min(2.0, timeout))
        for conn in conns:
            conn.close()
        with gevent.Timeout(timeout, False):
            while self.conns:
                gevent.sleep(0.01)
        self._server.stop(timeout=0.1)
        log.info("stopped")
        self._stopped.set()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
