"""One RTMP connection, served by one greenlet, written as straight-line blocking code.

``Conn(sock, address, hub=hub).serve()`` does the handshake, then reads messages with the
blocking chunk reader and hands each to the pure :class:`~grtmp.protocol.server.ServerSession`.
What the session reports it acts on: the user's hooks, the hub (publish, play, media) and the
players' outboxes; what the session answers is written through the connection's
:class:`~grtmp.net.outbox.Wire`. Errors from the peer (:class:`grtmp.errors.RTMPError`) are
logged once with the peer address and close this connection only.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gevent

from grtmp.config import ServerConfig
from grtmp.errors import (
    CommandError,
    ConnectionClosed,
    HandshakeError,
    RTMPError,
    TooManyPlayers,
)
from grtmp.hooks import Hooks, as_hooks, decide_stream
from grtmp.live.hub import StreamHub
from grtmp.live.player import PlayerPolicy
from grtmp.live.stream import Stream
from grtmp.logs import ContextLog, peer_text
from grtmp.net.fairio import fair_reader
from grtmp.net.outbox import Outbox, Wire
from grtmp.net.watchdog import Watchdog, watch
from grtmp.protocol import events as ev
from grtmp.protocol.server import ServerSession
from grtmp.protocol.status import Status
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.handshake import server_handshake
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO

__all__ = ["Conn"]

logger = logging.getLogger("grtmp.session")


class _Play:
    """A play on one message stream: the stream, the player's outbox, the hook params, and
    the connection's byte count when it started (what it sent the stream since, for
    operators)."""

    __slots__ = ("stream", "outbox", "params", "bytes_base")

    def __init__(self, stream: Stream, outbox: Outbox, params: dict[str, str],
                 bytes_base: int = 0):
        self.stream = stream
        self.outbox = outbox
        self.params = params
        self.bytes_base = bytes_base


class Conn:
    """A server-side RTMP connection (see the module docstring).

    ``hub`` holds the streams, ``config`` the limits (the hub's when omitted), ``hooks`` the
    user's decisions (:class:`grtmp.hooks.Hooks`, or any object with some of its methods).
    """

    def __init__(self, sock: socket.socket, address: Any = None, *, hub: StreamHub,
                 config: ServerConfig | None = None, hooks: Any = None,
                 protocol: str = "rtmp", watchdog: Watchdog | None = None):
        self.sock = sock
        if address is None:
            try:
                address = sock.getpeername()
            except OSError:
                address = ("?", 0)
        self.address = address
        self.peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        self.protocol = protocol
        self.hub = hub
        self.config = config or hub.config
        self.hooks: Hooks = as_hooks(hooks)
        self.log = ContextLog(logger, self.log_context)
        self.session = ServerSession(self.config, peer=self.peer, log=self.log)
        self.wire = Wire(sock, self.session.data_to_send)
        self.reader: ChunkReader | None = None
        self.publishing: dict[int, tuple[Stream, dict[str, str]]] = {}
        self.playing: dict[int, _Play] = {}
        self.connected = False
        self.started = time.monotonic()
        self.started_wall = time.time()
        #: This connection's id in ``hub.sessions`` (for the operator API).
        self.id = hub.register(self)
        self._watchdog: gevent.Greenlet | None = None
        #: The server's shared watchdog (None: this connection watches itself).
        self.watchdog = watchdog

    # -- what hooks read --------------------------------------------------------------------------
    @property
    def app(self) -> str:
        return self.session.app

    @property
    def tc_url(self) -> str:
        return self.session.tc_url

    @property
    def connect_params(self) -> dict[str, Any]:
        return self.session.connect_params

    @property
    def closed(self) -> bool:
        return self.wire.closed

    def log_context(self) -> str:
        """``peer app/name,...`` for log lines (peer text bounded and escaped)."""
        parts = []
        if self.session.app:
            parts.append(self.session.app)
        names = list(self.session.names.values())
        if names:
            parts.append(",".join(names[:4]) + (",..." if len(names) > 4 else ""))
        ctx = peer_text("/".join(parts), 600)
        return f"{self.peer} {ctx}" if ctx else self.peer

    # -- life cycle -------------------------------------------------------------------------------
    def serve(self) -> None:
        """Handshake, then :meth:`run` over the socket; never raises for peer errors."""
        sock = self.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        rfile = fair_reader(sock)
        reader = None
        try:
            with self._ending():
                sock.settimeout(self.config.handshake_timeout)
                with gevent.Timeout(self.config.handshake_timeout,
                                    HandshakeError("handshake timed out")):
                    server_handshake(rfile, sock.sendall)
                sock.settimeout(None)
                cfg = self.config
                reader = ChunkReader(rfile, max_message_size=cfg.max_message_size,
                                     max_chunk_streams=cfg.max_chunk_streams,
                                     budget=self.hub.buffer_budget)
            if reader is not None:
                if self.watchdog is not None:
                    self.watchdog.add(self)
                else:
                    self._watchdog = gevent.spawn(watch, self)
                self.run(reader)
            else:
                self._cleanup()
        finally:
            try:
                rfile.close()
            except OSError:
                pass

    def run(self, reader: ChunkReader) -> None:
        """Read messages from ``reader`` until the peer goes, acting on each; then clean up.

        The handshake is done (or, in a fuzzer or a test, skipped). Peer errors are logged
        once and end this connection only.
        """
        self.reader = reader
        try:
            with self._ending():
                self._loop(reader)
        finally:
            self._cleanup()

    @contextmanager
    def _ending(self) -> Iterator[None]:
        """How a connection ends: one log line by cause, never an exception to the caller."""
        try:
            yield
        except ConnectionClosed as exc:
            if not self.closed:
                self.log.debug("peer closed: %s", exc)
                if self.reader is None:
                    self.hub.stats.handshake_failed(type(exc).__name__)
        except RTMPError as exc:
            self.log.warning("closing: %s: %s", type(exc).__name__, peer_text(str(exc), 500))
            if self.reader is None:
                self.hub.stats.handshake_failed(type(exc).__name__)
            else:
                self.hub.stats.protocol_error(type(exc).__name__)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.log.debug("peer went away: %s", exc)
        except OSError as exc:
            if not self.closed:
                self.log.info("connection error: %s", exc)
                if self.reader is None:
                    self.hub.stats.handshake_failed("OSError")
        except Exception:  # a bug, not the peer's fault: log it, close only this connection
            self.log.exception("internal error; closing")

    def _loop(self, reader: ChunkReader) -> None:
        read = reader.read_message
        receive = self.session.receive
        session = self.session
        handlers = {kind: getattr(self, name) for kind, name in _HANDLERS.items()}
        wire = self.wire
        while not wire.closed:
            events = receive(read(), reader.bytes_read)
            for event in events:
                handler = handlers.get(event.__class__)
                if handler is not None:
                    handler(event)
            if session._out:
                wire.flush()
            if session.closing:
                self.close()

    def close(self) -> None:
        """Close the connection from any greenlet; the serving greenlet then cleans up."""
        self.wire.close()

    def _cleanup(self) -> None:
        self.hub.unregister(self.id)
        self.wire.closed = True
        if self.reader is not None:
            self.reader.release()
        if self._watchdog is not None:
            self._watchdog.kill(block=False)
        if self.watchdog is not None:
            self.watchdog.remove(self)
        for msid in list(self.publishing):
            self._stop_publishing(msid, notify=False)
        for msid in list(self.playing):
            self._stop_playing(msid, flush=False)
        if self.connected:
            self._notify_hook(self.hooks.on_done, self)
            self.log.info("disconnected after %.1fs", time.monotonic() - self.started)
        self.session.close()
        try:
            self.sock.close()
        except OSError:
            pass

    # -- events ---------------------------------------------------------------------------------
    def _on_media(self, e: ev.MediaReceived) -> None:
        entry = self.publishing.get(e.stream_id)
        if entry is not None:
            entry[0].feed(e.type_id, e.timestamp, e.payload)

    def _on_data(self, e: ev.DataReceived) -> None:
        entry = self.publishing.get(e.stream_id)
        if entry is not None:
            entry[0].feed(DATA_AMF0, e.timestamp, e.payload)

    def _on_metadata(self, e: ev.MetadataReceived) -> None:
        entry = self.publishing.get(e.stream_id)
        if entry is not None:
            entry[0].set_metadata(dict(e.metadata), e.payload)

    def _on_connect(self, e: ev.ConnectRequested) -> None:
        stats = self.hub.stats
        try:
            decision = self.hooks.on_connect(self, dict(e.params))
        except CommandError as exc:
            stats.auth("connect", "deny", exc.code)
            self.session.reject_connect(str(exc))
            return
        if decision is False:
            stats.auth("connect", "deny", "NetConnection.Connect.Rejected")
            self.session.reject_connect("Connection refused.")
        elif isinstance(decision, str) and decision:
            stats.auth("connect", "redirect")
            self.session.redirect_connect(decision)
        else:
            stats.auth("connect", "allow")
            self.connected = True
            self.session.accept_connect()

    def _notify_hook(self, hook: Any, *args: Any) -> None:
        try:
            hook(*args)
        except Exception:  # a notification must never break the connection
            self.log.exception("%s hook failed", getattr(hook, "__name__", "hook"))

    def _decide(self, action: str, hook: Any, e: Any, refused: str) -> tuple[str, dict] | None:
        """The user's decision on a publish or play: (name, params), or None when refused
        (the error status is queued)."""
        try:
            name, params = decide_stream(hook, self, e.name, dict(e.params), refused)
        except CommandError as exc:
            code = exc.code if exc.code.startswith("NetStream.") else refused
            self.hub.stats.auth(action, "deny", code)
            self.log.warning("%s %r rejected: %s", action, e.name, peer_text(str(exc)))
            reject = self.session.reject_publish if action == "publish" \
                else self.session.reject_play
            reject(e.stream_id, code, str(exc))
            return None
        if name != e.name:
            self.hub.stats.auth(action, "redirect")
            self.log.info("%s %r redirected to %r", action, e.name, peer_text(name))
        else:
            self.hub.stats.auth(action, "allow")
        return name, params

    def _on_publish(self, e: ev.PublishRequested) -> None:
        decided = self._decide("publish", self.hooks.on_publish, e, Status.PUBLISH_DENIED)
        if decided is None:
            return
        name, params = decided
        try:
            stream = self.hub.publish(self.app, name, self)
        except CommandError as exc:
            self.log.warning("publish %r refused: already publishing", name)
            self.session.reject_publish(e.stream_id, exc.code, str(exc))
            return
        self.publishing[e.stream_id] = (stream, params)
        self.session.accept_publish(e.stream_id, name)
        self.log.info("publish %r (%s)", name, peer_text(e.kind))

    def _on_play(self, e: ev.PlayRequested) -> None:
        decided = self._decide("play", self.hooks.on_play, e, Status.PLAY_FAILED)
        if decided is None:
            return
        name, params = decided
        url = None
        if name.startswith(("rtmp://", "rtmps://")):
            # nginx-rtmp's convention: on_play answered 3xx with an RTMP URL: pull it from there.
            url, name = name, e.name
        msid = e.stream_id
        try:
            stream = self.hub.open_play(self.app, name, url)
        except CommandError as exc:
            if isinstance(exc, TooManyPlayers):
                self.log.warning("play %r refused: %s", name, exc)
            self.session.reject_play(msid, exc.code, str(exc))
            return
        chunk_size = self.session.out_chunk_size
        requested = time.monotonic()

        def encode_first(packet: Any) -> bytes:
            # Time to first frame: until the first audio/video frame goes to the socket; then
            # the outbox's inlined chunked path (encode None) takes over.
            if outbox.encode is encode_first and (packet.type_id == VIDEO or
                                                  packet.type_id == AUDIO):
                outbox.encode = None
                self.hub.stats.first_frame_sent(self.protocol, time.monotonic() - requested)
            return packet.chunked(chunk_size, msid)

        outbox = Outbox(
            self.wire, PlayerPolicy(stream, multitrack=self.session.caps.multitrack),
            queue_size=stream.config.queue_size, encode=encode_first,
            chunk=(chunk_size, msid),
            on_notify=lambda published: self.session.play_notify(msid, name, published),
            on_lag=lambda: self._on_lag(outbox), name=self.peer)
        self.session.accept_play(msid, name, e.reset)
        self.playing[msid] = _Play(stream, outbox, params, self.wire.bytes_out)
        self.wire.flush()  # Play.Start goes out before any media
        stream.subscribe(outbox)
        outbox.start()
        self.log.info("play %r%s", name, "" if stream.is_live else " (waiting for publisher)")

    def _on_lag(self, outbox: Outbox) -> None:
        self.log.warning("player too far behind on %r (%d messages dropped); disconnecting",
                         outbox.policy.stream.name, outbox.policy.dropped)
        self.hub.stats.lagged_out(self.protocol)
        gevent.spawn(self.close)

    def _on_stream_ended(self, e: ev.StreamEnded) -> None:
        if e.role == "publish":
            self._stop_publishing(e.stream_id)
        else:
            self._stop_playing(e.stream_id)

    def _on_paused(self, e: ev.Paused) -> None:
        play = self.playing.get(e.stream_id)
        if play is not None:
            play.outbox.policy.set_paused(e.paused)

    def _on_media_selected(self, e: ev.MediaSelected) -> None:
        play = self.playing.get(e.stream_id)
        if play is not None:
            play.outbox.policy.select(e.audio, e.video)

    # -- ending -----------------------------------------------------------------------------------
    def _stop_publishing(self, msid: int, notify: bool = True) -> None:
        entry = self.publishing.pop(msid, None)
        if entry is None:
            return
        stream, params = entry
        self.hub.unpublish(stream, self)
        self._notify_hook(self.hooks.on_publish_done, self, stream.name, params)
        codecs = stream.codecs()
        self.log.info("unpublish %r (%d messages, %d bytes; %s)", stream.name,
                      stream.messages_in, stream.bytes_in,
                      ", ".join(f"{k}={v}" for k, v in codecs.items()) or "no media")
        self.session.end_publish(msid, notify=notify and not self.closed)

    def _stop_playing(self, msid: int, flush: bool = True) -> None:
        play = self.playing.pop(msid, None)
        if play is None:
            return
        self.hub.stop_playing(play.stream, play.outbox)
        play.outbox.stop(flush=flush and not self.closed, timeout=2.0)
        play.stream.bytes_out += self.wire.bytes_out - play.bytes_base
        self.session.end_play(msid)
        self._notify_hook(self.hooks.on_play_done, self, play.stream.name, play.params)
        self.log.info("stop playing %r", play.stream.name)

    def taken_over(self, stream: Stream) -> None:
        """Another publisher took ``stream`` over (hub takeover rule): stop feeding it at
        once and close this connection."""
        for msid, (s, params) in list(self.publishing.items()):
            if s is stream:
                del self.publishing[msid]
                self.session.end_publish(msid, notify=False)
                self._notify_hook(self.hooks.on_publish_done, self, stream.name, params)
        self.log.warning("publish %r taken over by another publisher; closing", stream.name)
        self.close()

    def describe(self) -> dict[str, Any]:
        """What an operator sees of this connection (the JSON API's session object)."""
        reader = self.reader
        publishing = [{"app": s.app, "name": s.name} for s, _ in self.publishing.values()]
        playing = [{"app": p.stream.app, "name": p.stream.name,
                    "dropped": p.outbox.policy.dropped,
                    "lag_ms": ((p.stream.last_timestamp - p.outbox.policy.written_ts)
                               & 0xFFFFFFFF) if p.outbox.policy.written_ts is not None else 0}
                   for p in self.playing.values()]
        return {"id": self.id, "peer": self.peer, "protocol": self.protocol, "app": self.app,
                "role": "publisher" if publishing else "player" if playing else "idle",
                "publishing": publishing, "playing": playing,
                "bytes_in": reader.bytes_read if reader is not None else 0,
                "bytes_out": self.wire.bytes_out, "started": self.started_wall,
                "uptime": time.monotonic() - self.started}

    # -- API --------------------------------------------------------------------------------------
    def stop_streams(self) -> None:
        """End every publish of this connection (server shutdown); tell the client."""
        for msid in list(self.publishing):
            self._stop_publishing(msid)
        try:
            self.wire.flush()
        except OSError:
            pass

    def request_reconnect(self, tc_url: str | None = None,
                          description: str = "The server asks you to reconnect.") -> None:
        """Enhanced RTMP v2 Reconnect Request (see ``ServerSession.request_reconnect``)."""
        self.wire.flush(lambda: self.session.request_reconnect(tc_url, description))


#: Which method handles each event the session reports; bound once per connection, so a
#: subclass (or a test) that overrides a method is honoured.
_HANDLERS: dict[type, str] = {
    ev.MediaReceived: "_on_media",
    ev.ConnectRequested: "_on_connect",
    ev.PublishRequested: "_on_publish",
    ev.PlayRequested: "_on_play",
    ev.StreamEnded: "_on_stream_ended",
    ev.DataReceived: "_on_data",
    ev.MetadataReceived: "_on_metadata",
    ev.Paused: "_on_paused",
    ev.MediaSelected: "_on_media_selected",
}
