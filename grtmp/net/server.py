"""The RTMP server: a ``gevent.server.StreamServer`` running one :class:`Conn` per connection."""

from __future__ import annotations

import logging
import socket
import ssl
from collections import Counter
from typing import Any

from gevent.event import Event
from gevent.pool import Pool
from gevent.server import StreamServer

from grtmp.config import ServerConfig
from grtmp.hooks import Hooks, as_hooks
from grtmp.live.hub import StreamHub
from grtmp.net.connection import Conn
from grtmp.net.watchdog import Watchdog

__all__ = ["Server"]

log = logging.getLogger("grtmp.server")


class Server:
    """Serve RTMP on ``address`` (``(host, port)``; port 0 picks a free port; or a listening
    socket, as ``--workers`` makes them with ``SO_REUSEPORT``).

    ``ssl_context`` serves RTMPS; in a process that is not monkey-patched it must be a
    ``gevent.ssl.SSLContext`` (:func:`grtmp.net.tls.server_context`) so the TLS handshakes are
    cooperative. ``hub`` can be shared with other servers (RTMP beside RTMPS, the web app) or
    with Python code that consumes streams. ``hooks`` decide about connections, publishes and plays
    (:class:`grtmp.hooks.Hooks`). Connections live in a ``gevent.pool.Pool``; :meth:`stop`
    ends publishes (players get UnpublishNotify and StreamEOF), closes every connection and
    joins them with a timeout.
    """

    def __init__(self, address: tuple[str, int] | socket.socket | None = None, *,
                 config: ServerConfig | None = None, hub: StreamHub | None = None,
                 hooks: Hooks | Any = None, ssl_context: ssl.SSLContext | None = None):
        self.config = config or (hub.config if hub is not None else ServerConfig())
        self.hub = hub if hub is not None else StreamHub(self.config)
        self.hooks = as_hooks(hooks)
        if address is None:
            address = (self.config.host,
                       self.config.tls_port if ssl_context is not None else self.config.port)
        self.conns: set[Conn] = set()
        #: One greenlet pings and times out every connection of this server.
        self.watchdog = Watchdog(self.config)
        self.group = Pool()  # unbounded; a Pool so StreamServer can use it
        self._per_ip: Counter[str] = Counter()
        kwargs: dict[str, Any] = {"spawn": self.group}
        if not isinstance(address, socket.socket):
            kwargs["backlog"] = self.config.listen_backlog
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
        conn = Conn(sock, address, hub=self.hub, config=cfg, hooks=self.hooks,
                    protocol="rtmps" if self.secure else "rtmp", watchdog=self.watchdog)
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
        # Let players' writers flush the end-of-stream status before their sockets close.
        for conn in conns:
            for play in list(conn.playing.values()):
                play.outbox.stop(flush=True, timeout=min(2.0, timeout))
        for conn in conns:
            conn.close()
        if not self.group.join(timeout=timeout):
            log.warning("%d connections still open after %.1fs; killing them",
                        len(self.group), timeout)
            self.group.kill(block=True, timeout=1.0)
        self.watchdog.stop()
        log.info("stopped")
        self._stopped.set()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
