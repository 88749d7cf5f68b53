"""The watchdog of a connection: ping a silent peer, drop it when it stays silent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gevent

if TYPE_CHECKING:
    from grtmp.net.connection import Conn

__all__ = ["watch"]


def watch(conn: Conn) -> None:
    """Ping a silent peer and drop it when it stays silent past the idle timeout."""
    cfg = conn.config
    interval = max(0.05, min(cfg.ping_interval, cfg.idle_timeout))
    last = -1
    silent_since = time.monotonic()
    while not conn.closed:
        gevent.sleep(interval)
        assert conn.reader is not None
        now = time.monotonic()
        if conn.reader.bytes_read != last:
            last = conn.reader.bytes_read
            silent_since = now
            continue
        if now - silent_since >= cfg.idle_timeout:
            conn.log.warning("closing: no data for %.0fs", now - silent_since)
            conn.close()
            return
        # Never block the watchdog behind a writer stuck on a peer that does not read.
        if not conn.wire.lock.acquire(blocking=False):
            continue
        try:
            conn.session.ping(int(now * 1000))
            with gevent.Timeout(interval):
                conn.sock.sendall(conn.session.data_to_send())
        except (OSError, gevent.Timeout):
            conn.log.warning("closing: peer does not read (ping not sent)")
            conn.close()
            return
        finally:
            conn.wire.lock.release()
