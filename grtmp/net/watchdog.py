"""Watching connections: ping a silent peer, drop it when it stays silent.

A :class:`Watchdog` watches every connection of a server from one greenlet (one tick per
``min(ping_interval, idle_timeout) / 2``), so an idle connection costs no greenlet of its own
for this; a ping is sent from a short-lived greenlet, and only to a peer silent for
``ping_interval``. A peer silent for ``idle_timeout``, or one whose ping cannot be written within
a tick (it does not read), is closed with a log line. :func:`watch` is the same rule for a
single connection (a :class:`~grtmp.net.connection.Conn` served outside a server).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gevent

if TYPE_CHECKING:
    from grtmp.config import ServerConfig
    from grtmp.net.connection import Conn

__all__ = ["Watchdog", "watch"]


def _interval(cfg: ServerConfig) -> float:
    return max(0.05, min(cfg.ping_interval, cfg.idle_timeout))


def _ping(conn: Conn, timeout: float) -> None:
    """Send a PingRequest without ever blocking behind a writer stuck on a peer that does
    not read; close the connection when the ping cannot go out within ``timeout``."""
    if not conn.wire.lock.acquire(blocking=False):
        return  # a writer holds it: the idle timeout decides
    try:
        conn.session.ping(int(time.monotonic() * 1000))
        with gevent.Timeout(timeout):
            conn.sock.sendall(conn.session.data_to_send())
    except (OSError, gevent.Timeout):
        conn.log.warning("closing: peer does not read (ping not sent)")
        conn.close()
    finally:
        conn.wire.lock.release()


class _Seen:
    __slots__ = ("bytes", "since", "pinged")

    def __init__(self, now: float) -> None:
        self.bytes = -1
        self.since = now
        self.pinged = 0.0


class Watchdog:
    """One greenlet watching many connections (see the module docstring)."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.conns: dict[Conn, _Seen] = {}
        self._greenlet: gevent.Greenlet | None = None

    def add(self, conn: Conn) -> None:
        self.conns[conn] = _Seen(time.monotonic())
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def remove(self, conn: Conn) -> None:
        self.conns.pop(conn, None)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _run(self) -> None:
        cfg = self.config
        tick = _interval(cfg) / 2
        while self.conns:
            gevent.sleep(tick)
            now = time.monotonic()
            for conn, seen in list(self.conns.items()):
                reader = conn.reader
                if reader is None or conn.closed:
                    continue
                if reader.bytes_read != seen.bytes:
                    seen.bytes = reader.bytes_read
                    seen.since = now
                    continue
                silent = now - seen.since
                if silent >= cfg.idle_timeout:
                    conn.log.warning("closing: no data for %.0fs", silent)
                    conn.close()
                elif silent >= cfg.ping_interval and now - seen.pinged >= cfg.ping_interval:
                    seen.pinged = now
                    gevent.spawn(_ping, conn, _interval(cfg))


def watch(conn: Conn) -> None:
    """Watch one connection from its own greenlet (for a Conn served outside a server)."""
    dog = Watchdog(conn.config)
    dog.conns[conn] = _Seen(time.monotonic())
    dog._run()
