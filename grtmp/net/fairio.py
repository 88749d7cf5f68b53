"""Reading a socket without holding the server: the reader of every connection and relay.

A greenlet that reads a socket with data always waiting never yields under gevent, so one
busy peer (a flooding client, an unpaced publisher, a relay pulling a fast upstream) would
starve the writers of its own players and every other connection. :class:`FairSocketIO`
takes turns instead.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any

import gevent

from grtmp.net.outbox import flush_pending

__all__ = ["BUSY_SLICE", "FairSocketIO", "fair_reader"]

#: Seconds a connection may keep its reader busy (every refill full) before a real yield.
BUSY_SLICE = 0.02


class FairSocketIO(socket.SocketIO):
    """A socket reader that takes turns: before each buffer refill it writes the players'
    batches (:func:`~grtmp.net.outbox.flush_pending`) and lets the other greenlets run.

    gevent switches greenlets only when a read would block, so a peer that keeps its socket
    full (a flood of tiny messages) would otherwise hold the whole server. The yield before
    each refill (64 KiB) is ``gevent.sleep(0)``: it runs the greenlets already waiting and
    costs about 4 us. It alone is not enough: a greenlet that always yields that way keeps
    gevent's callback queue busy and the loop never reaches its timers (measured: a 10 ms
    ticker starved for good). ``gevent.idle()`` has the opposite fault: it waits until the
    loop has nothing else to do, so under a connection storm every reader starves (5,000
    clients took 60 s to connect). So a peer whose reads keep filling the whole buffer for
    more than :data:`BUSY_SLICE` seconds gets one real 1 ms sleep, which lets the loop poll
    and fire timers, and starts a new slice.
    """

    _busy_since = 0.0

    def readinto(self, b: Any) -> int | None:
        flush_pending()  # what this read fanned out goes to the players before the next read
        if self._busy_since and time.monotonic() - self._busy_since > BUSY_SLICE:
            gevent.sleep(0.001)
            self._busy_since = 0.0
        else:
            gevent.sleep(0)
        n = super().readinto(b)
        if n is not None and n == len(b):  # more is waiting: the peer keeps us busy
            if not self._busy_since:
                self._busy_since = time.monotonic()
        else:
            self._busy_since = 0.0
        return n


def fair_reader(sock: Any, size: int = 65536) -> io.BufferedReader:
    """A buffered, fair reader of ``sock`` (what a :class:`~grtmp.wire.chunk.ChunkReader`
    reads from)."""
    return io.BufferedReader(FairSocketIO(sock, "rb"), size)
