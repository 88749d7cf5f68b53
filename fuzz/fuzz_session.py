"""Fuzz a whole server session: bytes after the handshake through the real connection shell.

Each input is what a client sends after the handshake. It goes through the chunk reader into
the real :class:`grtmp.net.connection.Conn` (the gevent shell over the pure
:class:`~grtmp.protocol.server.ServerSession`) on a fake socket, against one shared
:class:`~grtmp.live.hub.StreamHub` whose stream ``live/healthy`` has a publisher and a healthy
player. ``Conn.run`` logs and swallows peer errors and cleans up, so the findings are what it
leaves behind; after every input (and letting the greenlets run) each of these is a failure:

* an error logged with a traceback (``Conn`` logs "internal error" for any exception outside
  :mod:`grtmp.errors`), any record at ERROR, or an error that reached gevent's hub;
* a log record that does not format (``record.getMessage()`` raises: peer text in a format
  string) or formats longer than :data:`MAX_LINE` characters (peer text not bounded);
* partly received bytes still counted in ``hub.buffer_budget``;
* a stream left in ``hub.streams`` other than the healthy one, a player left on it, a client
  session left in ``hub.sessions``, a player's writer greenlet still alive;
* more message streams than ``max_message_streams`` in the session;
* the server's replies are not a valid chunk stream (commands that do not decode), or larger
  than :data:`AMPLIFICATION` times the input plus 64 KiB;
* the healthy player does not get a packet fed to the healthy stream after the input.

The first byte holds options: bit 0 reads through an ``io.BufferedReader`` (the ``peek`` path,
as on a socket) instead of a bare ``BytesIO``; bit 1 installs :class:`FuzzHooks` (refusals,
redirects and hook errors chosen by the app and stream names); bit 2 lets the other greenlets
run before every 256-byte refill of the reader (:class:`FairRaw`: the players' writers then
run while the input is read, as in the server); bit 3 makes the socket slow (every
``sendall`` yields first). The rest are the bytes.
Run: ``python -m fuzz.fuzz_session /tmp/work-session fuzz/corpus/session``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gevent

from grtmp.amf.command import decode_command
from grtmp.config import ServerConfig
from grtmp.errors import CommandError, ConnectionClosed, RTMPError
from grtmp.hooks import Hooks
from grtmp.live.hub import StreamHub
from grtmp.live.packet import Packet
from grtmp.live.stream import Stream
from grtmp.net import connection
from grtmp.net.consume import Consumer
from grtmp.net.outbox import Outbox
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.message import COMMAND_AMF0, COMMAND_AMF3, VIDEO

from ._harness import main

#: Small limits, so a fuzzed input can reach every LimitExceeded path: the server-wide budget
#: of partly received bytes is below what one reader may hold. Players of app ``live`` wait
#: for a publisher, other apps get StreamNotFound; two players per stream at most (the healthy
#: stream has one). A second publisher of a live name is refused (``never``), so an input that
#: publishes ``healthy`` reaches the busy path and the healthy stream stays as it was.
CONFIG = ServerConfig(publisher_takeover="never", max_message_size=16384, max_chunk_streams=8,
                      max_buffered_total=20000,
                      max_message_streams=16, queue_size=64, max_players_per_stream=2,
                      wait_for_publisher=frozenset({"live"}), gop_cache_max_messages=64,
                      gop_cache_max_bytes=65536, max_lag_seconds=10.0)
#: Longest formatted log line accepted, in characters (peer text is cut at 200-600).
MAX_LINE = 8192
#: Bound on reply bytes per input byte (plus 64 KiB): replies are small and bounded.
AMPLIFICATION = 64
#: Loggers of the connection layer whose records are checked.
LOGGER = logging.getLogger("grtmp")


class FakeSocket:
    """What ``Conn`` and ``Wire`` need of a socket; ``sendall`` keeps the bytes. A ``slow``
    socket lets the other greenlets run inside every ``sendall`` (as a socket whose buffer is
    full does), so writers interleave with the connection's own greenlet mid-write."""

    def __init__(self, slow: bool = False) -> None:
        self.out: list[bytes] = []
        self.size = 0
        self.closed = False
        self.slow = slow

    def sendall(self, data: Any) -> None:
        if self.slow:
            gevent.sleep(0)
        if self.closed:
            raise BrokenPipeError("socket closed")
        b = bytes(data)
        self.size += len(b)
        if self.size <= (1 << 22):
            self.out.append(b)

    def send(self, data: Any) -> int:
        self.sendall(data)
        return len(data)

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def setsockopt(self, *args: Any) -> None:
        pass

    def settimeout(self, timeout: Any) -> None:
        pass

    def getpeername(self) -> tuple[str, int]:
        return ("fuzz", 0)


class FuzzHooks(Hooks):
    """Hook decisions driven by the names, so a fuzzer reaches refusal and redirect paths."""

    def on_connect(self, conn: Any, params: dict[str, Any]) -> Any:
        app = conn.app
        if app.startswith("refuse"):
            return False
        if app.startswith("redirect"):
            return "rtmp://127.0.0.1/elsewhere"
        if app.startswith("raise"):
            raise CommandError("no entry for " + app, "NetConnection.Connect.Rejected")
        return None

    def _decide(self, name: str) -> Any:
        if name.startswith("deny"):
            return False
        if name.startswith("raise"):
            raise CommandError(name + " raised", "NetStream.Publish.Denied")
        if name.startswith("move"):
            return "moved?from=" + name[4:20]
        return None

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Any:
        return self._decide(name)

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Any:
        return self._decide(name)


class TrackedOutbox(Outbox):
    """The real Outbox, remembered so the harness can check its writer greenlet ended."""

    made: list[Outbox] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackedOutbox.made.append(self)


class HealthyPublisher:
    """Stands for a publishing connection on the healthy stream (the hub only holds it)."""


class Records(logging.Handler):
    """Collects every record of the grtmp loggers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class World:
    """The shared hub with its healthy stream and player, and the checks after each input."""

    def __init__(self) -> None:
        self.hub = StreamHub(CONFIG)
        self.publisher = HealthyPublisher()
        self.stream = self.hub.publish("live", "healthy", self.publisher)
        self.player = Consumer(self.stream, queue_size=8)
        self.stream.subscribe(self.player)
        self.counter = 0
        self.inputs = 0
        self.hub_errors: list[Any] = []
        #: Largest payload a connection fed to a stream during the input (media, data,
        #: metadata written out again).
        self.relayed = [0]
        self.handler = Records()
        self.formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        problem = self.feed_healthy()
        if problem is not None:
            raise RuntimeError(problem)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """While an input runs: every grtmp record collected (DEBUG and up, not propagated),
        errors reaching gevent's hub recorded, the players' outboxes tracked. All undone after,
        so the harness leaves a test process as it found it."""
        hub = gevent.get_hub()
        original = hub.handle_error
        had_own = "handle_error" in hub.__dict__
        errors = self.hub_errors

        def handle_error(context: Any, type_: Any, value: Any, tb: Any) -> None:
            if not issubclass(type_, (gevent.GreenletExit, KeyboardInterrupt, SystemExit)):
                errors.append((context, type_, value))
            original(context, type_, value, tb)

        relayed = self.relayed
        relayed[0] = 0
        feed, set_metadata = Stream.feed, Stream.set_metadata

        def feed_watched(stream: Stream, type_id: int, timestamp: int, payload: bytes) -> Any:
            relayed[0] = max(relayed[0], len(payload))
            return feed(stream, type_id, timestamp, payload)

        def set_metadata_watched(stream: Stream, metadata: Any, payload: bytes) -> None:
            relayed[0] = max(relayed[0], len(payload))
            return set_metadata(stream, metadata, payload)

        old_level, old_propagate = LOGGER.level, LOGGER.propagate
        Stream.feed = feed_watched  # type: ignore[method-assign]
        Stream.set_metadata = set_metadata_watched  # type: ignore[method-assign]
        LOGGER.addHandler(self.handler)
        LOGGER.setLevel(logging.DEBUG)
        LOGGER.propagate = False
        hub.handle_error = handle_error
        connection.Outbox = TrackedOutbox  # type: ignore[misc]
        try:
            yield
        finally:
            Stream.feed = feed  # type: ignore[method-assign]
            Stream.set_metadata = set_metadata  # type: ignore[method-assign]
            connection.Outbox = Outbox  # type: ignore[misc]
            if had_own:
                hub.handle_error = original
            else:
                del hub.handle_error
            LOGGER.removeHandler(self.handler)
            LOGGER.setLevel(old_level)
            LOGGER.propagate = old_propagate

    def feed_healthy(self) -> str | None:
        """One numbered keyframe on the healthy stream; the player must get exactly it (what
        is wrong, else None)."""
        while not self.player.queue.empty():
            self.player.queue.get_nowait()
        n = self.counter
        self.counter += 1
        payload = b"\x17\x01\x00\x00\x00\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")
        self.stream.feed(VIDEO, 40 * n, payload)
        got = self.player.queue.get_nowait() if not self.player.queue.empty() else None
        if not isinstance(got, Packet) or got.payload != payload:
            return f"healthy player did not get frame {n}: {got!r}"
        return None


_WORLD: World | None = None


def world() -> World:
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD


class FairRaw(io.RawIOBase):
    """Bytes read as the server reads a socket: the other greenlets (the players' writers) run
    before every refill of the buffer (``FairSocketIO`` in ``grtmp.net.fairio``)."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        gevent.sleep(0)
        return self._src.readinto(b)


def _reader(data: bytes, buffered: bool, fair: bool = False) -> ChunkReader:
    stream: Any
    if fair:
        stream = io.BufferedReader(FairRaw(data), buffer_size=256)
    elif buffered:
        stream = io.BufferedReader(io.BytesIO(data), buffer_size=512)
    else:
        stream = io.BytesIO(data)
    return ChunkReader(stream, max_message_size=CONFIG.max_message_size,
                       max_chunk_streams=CONFIG.max_chunk_streams,
                       budget=world().hub.buffer_budget)


def run(data: bytes, *, buffered: bool = False, hooks: Any = None, fair: bool = False,
        slow: bool = False) -> connection.Conn:
    """One connection over ``data`` (bytes after the handshake), through ``Conn.run``."""
    w = world()
    w.inputs += 1
    sock: Any = FakeSocket(slow)
    conn = connection.Conn(sock, ("fuzz", w.inputs), hub=w.hub, config=CONFIG, hooks=hooks)
    conn.run(_reader(data, buffered, fair))
    return conn


def settle(outboxes: list[Outbox]) -> None:
    """Let the greenlets the connection left run (killed writers end), a bounded number of
    times."""
    for _ in range(20):
        if all(o._writer is None or o._writer.dead for o in outboxes):
            return
        gevent.sleep(0)


def reply_problem(out: bytes) -> str | None:
    """Why the server's bytes are not a valid chunk stream whose commands decode (or None)."""
    reader = ChunkReader(io.BytesIO(out), max_message_size=1 << 24, max_chunk_streams=64)
    while True:
        try:
            msg = reader.read_message()
        except ConnectionClosed as exc:
            return None if str(exc) == "connection closed" else \
                f"server replies end mid-message: {exc}"
        except RTMPError as exc:
            return f"server replies are not a valid chunk stream: {exc!r}"
        if msg.type_id in (COMMAND_AMF0, COMMAND_AMF3):
            try:
                decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
            except RTMPError as exc:
                return f"server sent an undecodable command: {exc!r}"


def problems(w: World, conn: connection.Conn, records: list[logging.LogRecord],
             outboxes: list[Outbox], size: int) -> list[str]:
    """Every invariant of the module docstring after one input: what is broken. What leaked is
    removed on the way, so the next input starts from the healthy world again."""
    found: list[str] = []
    for rec in records:
        try:
            line = w.formatter.format(rec)
        except Exception as exc:  # noqa: BLE001 - the record itself is the finding
            found.append(f"log record does not format: {rec.msg!r} % {rec.args!r}: {exc!r}")
            continue
        if rec.exc_info is not None or rec.levelno >= logging.ERROR:
            found.append(f"error logged: {line}")
        if len(line) > MAX_LINE:
            found.append(f"log line of {len(line)} characters: {line[:300]!r}...")
    if w.hub_errors:
        found.append(f"error reached gevent's hub: {w.hub_errors!r}")
        w.hub_errors.clear()
    hub = w.hub
    if hub.buffer_budget.used != 0:
        found.append(f"buffer budget leaked: {hub.buffer_budget.used} bytes still counted")
        hub.buffer_budget.used = 0
    leaked = [k for k in hub.streams if k != ("live", "healthy")]
    if leaked or hub.streams.get(("live", "healthy")) is not w.stream:
        found.append(f"streams left in the hub: {leaked!r}")
        hub.streams.clear()
        hub.streams[("live", "healthy")] = w.stream
    if w.stream.players != [w.player] or w.stream.publisher is not w.publisher:
        found.append(f"healthy stream disturbed: players {w.stream.players!r}, publisher "
                     f"{w.stream.publisher!r}")
        w.stream.players[:] = [w.player]
        w.stream.publisher = w.publisher
    if hub.sessions:
        found.append(f"sessions left in the hub: {list(hub.sessions)!r}")
        hub.sessions.clear()
    alive = [o for o in outboxes if o._writer is not None and not o._writer.dead]
    if alive:
        found.append(f"{len(alive)} player writer greenlet(s) outlived the connection")
        for o in alive:
            o._writer.kill(block=True, timeout=1)
    if w.relayed[0] > CONFIG.max_message_size:
        found.append(f"a message of {w.relayed[0]} bytes relayed to players (the limit is "
                     f"{CONFIG.max_message_size})")
    cap = CONFIG.max_message_streams
    if cap and len(conn.session.streams) > cap:
        found.append(f"{len(conn.session.streams)} message streams (cap {cap})")
    if not conn.closed or conn.publishing or conn.playing:
        found.append(f"connection not cleaned up after run(): closed={conn.closed}, "
                     f"publishing {list(conn.publishing)}, playing {list(conn.playing)}")
    sock: FakeSocket = conn.sock  # type: ignore[assignment]
    if sock.size > AMPLIFICATION * size + 65536:
        found.append(f"{sock.size} reply bytes for {size} input bytes")
    elif (problem := reply_problem(b"".join(sock.out))) is not None:
        found.append(problem)
    problem = w.feed_healthy()
    if problem is not None:
        found.append(problem)
    return found


def check(w: World, conn: connection.Conn, records: list[logging.LogRecord],
          outboxes: list[Outbox], size: int) -> None:
    """AssertionError naming every broken invariant after one input (see :func:`problems`)."""
    found = problems(w, conn, records, outboxes, size)
    if found:
        raise AssertionError("; ".join(found))


def test_one_input(data: bytes) -> None:
    """atheris entry point: any broken invariant raises AssertionError (see the docstring)."""
    opts = data[0] if data else 0
    body = data[1:]
    w = world()
    handler = w.handler
    handler.records = []
    TrackedOutbox.made = outboxes = []
    with w.watching():
        conn = run(body, buffered=bool(opts & 1), hooks=FuzzHooks() if opts & 2 else None,
                   fair=bool(opts & 4), slow=bool(opts & 8))
        settle(outboxes)
    records, handler.records = handler.records, []
    check(w, conn, records, outboxes, len(body))


if __name__ == "__main__":
    # Coverage feedback from grtmp and construct only: logging and gevent run on every input
    # and instrumenting them slows the fuzzer without guiding it anywhere useful.
    main(test_one_input, only=("grtmp", "construct"))
