"""The write side of a connection and of each player on it: one lock, one socket, queues.

:class:`Wire` owns a connection's socket for writing and its one lock: the session's own bytes
(:meth:`~grtmp.protocol.server.ServerSession.data_to_send`) are drained and written while
holding it, so replies produced by different greenlets go out in the order they were produced.

:class:`Outbox` is one player: a bounded ``gevent.queue.Queue``, a writer greenlet, and a
non-blocking direct send for the common case of a player with nothing waiting, which the
publisher's greenlet writes to at once instead of waking the writer for every message. What the
player gets or drops is decided by its :class:`~grtmp.live.player.PlayerPolicy`; the queue
only holds what the policy let through.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
from gevent.lock import Semaphore
from gevent.queue import Full, Queue

from grtmp.errors import RTMPError
from grtmp.live.packet import Packet
from grtmp.live.player import PlayerPolicy

__all__ = ["Wire", "Outbox", "flush_pending"]

log = logging.getLogger("grtmp.outbox")

#: Outboxes holding a batch for :func:`flush_pending` (in the order they got their first item).
_pending: list[Outbox] = []
_watchers: dict[int, Any] = {}


def flush_pending() -> None:
    """Write every player's batch gathered since the last call, one ``sendmsg`` each.

    A publisher's greenlet decodes all the messages of one socket read and offers each to the
    players; an idle player gathers them instead of writing each at once, and this writes
    them together: one system call per player per publisher read instead of one per message,
    and no latency added, because it runs before the publisher's greenlet reads (or waits)
    again. The connection's reader calls it before each refill; a loop watcher calls it
    before gevent polls, for every other feeder.
    """
    while _pending:
        boxes = _pending[:]
        _pending.clear()
        for box in boxes:
            try:
                box._flush_batch()
            except Exception:  # never let one player break the feeder or the loop
                log.exception("%s: flushing a batch failed", box.name)


def _watch_loop() -> None:
    """Flush batches before the event loop polls (the safety net for any feeder)."""
    hub = gevent.get_hub()
    if id(hub) in _watchers:
        return
    watcher = hub.loop.prepare(ref=False)
    watcher.start(flush_pending)
    _watchers[id(hub)] = watcher


class Wire:
    """A connection's socket, for writing, with the one lock every writer takes.

    ``drain`` returns bytes another layer queued (the session's replies); it is called with the
    lock held before each locked write, so those bytes never overtake each other.
    """

    def __init__(self, sock: Any, drain: Callable[[], bytes] | None = None):
        self.sock = sock
        self.lock = Semaphore()
        self.drain = drain
        self.closed = False
        self.bytes_out = 0
        # The non-blocking OS socket under a gevent socket, for the fast path (not for TLS,
        # where bytes must go through the SSL object).
        self.raw = None
        if type(sock).__module__.startswith("gevent") and not hasattr(sock, "cipher"):
            self.raw = getattr(sock, "_sock", None)

    def flush(self, produce: Callable[[], None] | None = None) -> None:
        """Under the lock: run ``produce`` (which queues bytes in the session), then write
        everything the session has queued (after the media gathered for players)."""
        flush_pending()
        with self.lock:
            if produce is not None:
                produce()
            data = self.drain() if self.drain is not None else b""
            if data:
                self.sock.sendall(data)
                self.bytes_out += len(data)

    def send(self, data: bytes) -> None:
        """Write ``data`` (after what the session queued), atomically for this connection."""
        with self.lock:
            pending = self.drain() if self.drain is not None else b""
            if pending:
                data = pending + data
            self.sock.sendall(data)
            self.bytes_out += len(data)

    def try_sendv(self, buffers: list[bytes]) -> Any:
        """:meth:`try_send` for several buffers at once (``sendmsg``, a ``writev``): None when
        all was sent, ``buffers`` itself when nothing was, else the unsent rest (the lock
        then stays held until :meth:`finish`)."""
        raw = self.raw
        lock = self.lock
        if raw is None or self.closed or lock.locked():
            return buffers
        if len(buffers) == 1:  # the common case of a paced stream: send() costs less
            data = buffers[0]
            try:
                n = raw.send(data)
            except OSError:
                return buffers
            if n == 0:
                return buffers
            self.bytes_out += n
            if n == len(data):
                return None
            lock.acquire(blocking=False)
            return memoryview(data)[n:]
        try:
            n = raw.sendmsg(buffers)
        except OSError:
            return buffers
        if n == 0:
            return buffers
        self.bytes_out += n
        total = 0
        for b in buffers:
            total += len(b)
        if n == total:
            return None
        lock.acquire(blocking=False)  # free (checked above, nothing yielded since)
        return memoryview(b"".join(buffers))[n:]

    def try_send(self, data: bytes) -> Any:
        """Write without blocking: None when all was sent, ``data`` itself when nothing was
        (the caller queues it), or the unsent rest, in which case the lock stays held until
        :meth:`finish` sends it."""
        raw = self.raw
        lock = self.lock
        if raw is None or self.closed or lock.locked():
            return data
        # A non-blocking send never yields, so no other greenlet can write in between: the
        # lock only needs taking when part of the message is left for the writer greenlet.
        try:
            n = raw.send(data)
        except OSError:  # would block, or broken: the queued path deals with it
            return data
        if n:
            self.bytes_out += n
        if n == len(data):
            return None
        if n == 0:
            return data
        lock.acquire(blocking=False)  # free (checked above, nothing yielded since)
        return memoryview(data)[n:]

    def finish(self, rest: Any) -> None:
        """Send the rest of a partly written message, then release the lock it kept."""
        try:
            self.sock.sendall(rest)
            self.bytes_out += len(rest)
        finally:
            self.lock.release()

    def close(self) -> None:
        """Shut the socket down (the reading greenlet sees EOF and cleans up)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Event:
    """A per-player item in the queue (a status to send), kept in order with the media."""

    __slots__ = ("send",)

    def __init__(self, send: Callable[[], None]):
        self.send = send


class _Batch:
    """Several packets' bytes gathered for one write, queued behind the writer's work. It keeps
    the list of (shared) encoded packets, not a joined copy: a backlog of many players costs
    the packets once, not once per player."""

    __slots__ = ("data", "count", "timestamp")

    def __init__(self, data: list[bytes], count: int, timestamp: int):
        self.data = data
        self.count = count
        self.timestamp = timestamp


class _Remainder:
    """The unsent end of a message written directly; the wire's lock is still held."""

    __slots__ = ("data",)

    def __init__(self, data: Any):
        self.data = data


_STOP = object()


class Outbox:
    """One player's queue and writer greenlet over a :class:`Wire` (implements
    :class:`~grtmp.live.player.Player`).

    ``encode(packet)`` gives the bytes of a packet for this player, or ``chunk`` = (chunk
    size, message stream id) says to send it RTMP-chunked (the inlined fast path);
    ``on_notify(published)`` produces the
    (un)publish notification in the session when the queue reaches it; ``on_lag()`` is called
    once when the policy gives up on the player.
    """

    def __init__(self, wire: Wire, policy: PlayerPolicy, *, queue_size: int,
                 encode: Callable[[Packet], bytes] | None = None,
                 chunk: tuple[int, int] | None = None,
                 on_notify: Callable[[bool], None] | None = None,
                 on_lag: Callable[[], None] | None = None, name: str = ""):
        if encode is None and chunk is None:
            raise ValueError("an Outbox needs encode or chunk")
        self.wire = wire
        self.policy = policy
        self.queue: Queue = Queue(maxsize=queue_size)
        #: How a packet becomes bytes: ``encode(packet)``, or (when ``encode`` is None) the
        #: packet chunked for ``chunk`` = (chunk size, message stream id), the fast path.
        self.encode = encode
        self.chunk = chunk
        self.on_notify = on_notify
        self.on_lag = on_lag
        self.name = name
        self.initial: list[Packet] = []
        #: Events that found the queue full; sent right after what is queued.
        self.late: deque[Any] = deque()
        #: The writer greenlet holds items it has not written yet.
        self.busy = False
        self.closed = False
        self.packets_out = 0
        #: Encoded packets gathered for :func:`flush_pending`, and the last one's timestamp.
        self.batch: list[bytes] = []
        self.batch_ts = 0
        self._writer: gevent.Greenlet | None = None
        _watch_loop()

    # -- Player: called from the publisher's greenlet, never blocks ------------------------------
    def catch_up(self, packets: list[Packet]) -> None:
        self.initial = packets

    def offer(self, packet: Packet) -> None:
        if self.closed:
            return
        policy = self.policy
        # The common case, inlined (one call per player per message): a player that takes
        # everything as it comes (PlayerPolicy.admit would return the packet unchanged),
        # RTMP-chunked, gathering this publisher read's packets for one write.
        if (self.encode is None and not policy.need_keyframe and not packet.multitrack
                and policy.video and policy.audio and not policy.paused
                and not policy.lagged_out):
            batch = self.batch
            if batch or (self.wire.raw is not None and not self.busy and not self.initial
                         and not self.late and not self.queue.qsize()):
                cs, sid = self.chunk  # type: ignore[misc]
                try:
                    data = packet.chunked(cs, sid)
                except RTMPError as exc:  # cannot be sent: skip it, keep the player
                    log.warning("%s: skipping a packet: %s", self.name, exc)
                    return
                if not batch:
                    _pending.append(self)
                batch.append(data)
                self.batch_ts = packet.timestamp
                return
        queue = self.queue
        p = policy.admit(packet, queue.qsize(), queue.maxsize)
        if p is None:
            if policy.lagged_out:
                self._lagged()
            return
        if policy.resend:
            headers, policy.resend = policy.resend, []
            for header in headers:
                self._deliver(header)
        self._deliver(p)

    def _deliver(self, packet: Packet) -> None:
        batch = self.batch
        if batch or (self.wire.raw is not None and not self.busy and not self.initial
                     and not self.late and not self.queue.qsize()):
            # Nothing is waiting for this player: gather the packet for one write with the
            # others of this publisher read (flush_pending), not through the writer greenlet.
            try:
                data = self._encode(packet)
            except RTMPError as exc:  # a packet that cannot be sent: skip it, keep the player
                log.warning("%s: skipping a packet: %s", self.name, exc)
                return
            if not batch:
                _pending.append(self)
            batch.append(data)
            self.batch_ts = packet.timestamp
            return
        try:
            if self.late:  # an event waits behind a full queue: nothing may pass it
                raise Full
            self.queue.put_nowait(packet)
        except Full:
            self.policy.overflow(packet)
            if self.policy.lagged_out:
                self._lagged()

    def _encode(self, packet: Packet) -> bytes:
        encode = self.encode
        if encode is not None:
            return encode(packet)
        cs, sid = self.chunk  # type: ignore[misc]
        return packet.chunked(cs, sid)

    def _flush_batch(self) -> None:
        """Write the gathered packets with one non-blocking ``sendmsg``; what does not go out
        at once is queued for the writer greenlet (the lock kept for a partial write)."""
        batch = self.batch
        if not batch:
            return
        self.batch = []
        if self.closed:
            return
        count = len(batch)
        if not self.busy and not self.initial and not self.late and not self.queue.qsize():
            rest = self.wire.try_sendv(batch)
            if rest is None:
                self.policy.written_ts = self.batch_ts
                self.packets_out += count
                return
            if rest is not batch:
                self.policy.written_ts = self.batch_ts
                self.packets_out += count
                self.queue.put_nowait(_Remainder(rest))
                return
        try:
            self.queue.put_nowait(_Batch(batch, count, self.batch_ts))
        except Full:
            self.policy.overflow_batch(count, self.batch_ts)
            if self.policy.lagged_out:
                self._lagged()

    def notify(self, published: bool) -> None:
        if self.on_notify is not None:
            on_notify = self.on_notify
            self._offer_event(_Event(lambda: self.wire.flush(lambda: on_notify(published))))

    def _offer_event(self, event: _Event) -> None:
        if self.closed:
            return
        if self.batch:  # the media gathered before the event goes out first
            self._flush_batch()
        if self.late:
            self.late.append(event)
            return
        try:
            self.queue.put_nowait(event)
        except Full:  # keep it after the media already queued: the writer sends it after
            self.late.append(event)

    def _lagged(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.on_lag is not None:
            self.on_lag()

    # -- the writer greenlet -----------------------------------------------------------------------
    def start(self) -> gevent.Greenlet:
        """Run the greenlet that drains the queue, one write per batch."""
        self._writer = gevent.spawn(self._write_loop)
        return self._writer

    def _write_loop(self) -> None:
        q = self.queue
        wire = self.wire
        out: list[bytes] = []
        last_ts: list[int] = []

        def flush() -> None:
            if out:
                data = b"".join(out) if len(out) > 1 else out[0]
                n = len(out)
                out.clear()
                wire.send(data)
                self.packets_out += n
                if last_ts:
                    self.policy.written_ts = last_ts[0]
                    last_ts.clear()

        try:
            while True:
                if self.initial:
                    items, self.initial = list(self.initial), []
                elif self.late and not q.qsize():
                    self.late.popleft().send()  # everything queued before it is written
                    continue
                else:
                    items = [q.get()]
                n = q.qsize()
                while n:
                    n -= 1
                    items.append(q.get_nowait())
                self.busy = True
                encode = self._encode
                for item in items:
                    cls = item.__class__
                    if cls is Packet:
                        try:
                            out.append(encode(item))
                        except RTMPError as exc:  # one bad packet never ends the writer
                            log.warning("%s: skipping a packet: %s", self.name, exc)
                            continue
                        last_ts[:] = (item.timestamp,)
                    elif item is _STOP:
                        flush()
                        return
                    elif cls is _Batch:
                        out.extend(item.data)
                        last_ts[:] = (item.timestamp,)
                    elif cls is _Remainder:
                        flush()
                        wire.finish(item.data)
                    else:  # an event: keep its order relative to the media around it
                        flush()
                        item.send()
                flush()
                self.busy = False
        except (OSError, RTMPError):
            self.closed = True

    def stop(self, flush: bool = True, timeout: float = 5.0) -> None:
        """Stop the writer greenlet, after what is queued when ``flush``."""
        if flush and self.batch:
            self._flush_batch()
        self.closed = True
        w = self._writer
        if w is None or w.dead:
            return
        if flush:
            try:
                self.queue.put(_STOP, timeout=timeout)
            except Full:
                w.kill(block=False)
                return
            w.join(timeout)
        if not w.dead:
            w.kill(block=False)
