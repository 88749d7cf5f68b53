"""Relays: pull a stream from an upstream into the hub, push a stream out to targets.

A :class:`Pull` plays an upstream URL with :class:`~grtmp.net.client.Client` and is the local
stream's publisher: exactly one upstream connection per (stream, process), whatever the number
of local players and protocols. It starts on the first play (the hub asks
:meth:`Relays.resolve`), follows the source when it moves (a new owner in the cluster
directory after a takeover or a crash) and is released ``pull_idle_timeout`` seconds after
the last player left. Players that wait for a name nobody publishes yet, in a process with a
cluster directory (``--workers``, ``--cluster``), get a pull that keeps looking the name up
(every :data:`SOURCE_POLL` seconds) and starts as soon as another worker or node publishes it.

A :class:`Push` is a player of a local stream that publishes it to one target (``rtmp://`` or
``rtmps://``), through the same outbox and policy as any player, so a slow target drops to
keyframes and never slows the publisher. Targets come from the config, from a hook
(:meth:`grtmp.hooks.Hooks.on_push`) or from :meth:`Relays.add_push` (the API); they can be
added and removed while the stream is live, and each reconnects with backoff.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.socket

from grtmp.amf import amf0
from grtmp.amf.command import decode_data
from grtmp.cluster.entry import DirectoryUnavailable, TakeoverRefused
from grtmp.cluster.policy import Backoff, Takeover
from grtmp.config import ServerConfig
from grtmp.errors import RTMPError, StreamBusy, StreamNotFound
from grtmp.live.hub import StreamHub
from grtmp.live.packet import Packet
from grtmp.live.player import PlayerPolicy
from grtmp.live.stream import Stream
from grtmp.logs import peer_text
from grtmp.net.client import Client
from grtmp.net.outbox import Outbox, Wire
from grtmp.net.tls import client_context
from grtmp.protocol.server import SUPPORTED_FOURCCS
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO

__all__ = ["Pull", "Push", "Relays"]

log = logging.getLogger("grtmp.relay")

#: What a relay declares in connect, so an Enhanced RTMP upstream sends every codec and track.
ENHANCED_CONNECT = {"fourCcList": list(SUPPORTED_FOURCCS), "capsEx": float(0x01 | 0x02 | 0x04)}
#: Seconds between directory look-ups of a pull whose stream is published nowhere yet.
SOURCE_POLL = 0.25
_SET_DATA_FRAME = amf0.encode("@setDataFrame")
_ON_METADATA = amf0.encode("onMetaData")


class Pull:
    """One upstream feeding the local stream (app, name): that stream's publisher.

    ``source()`` names the URL to pull from now (it is asked again after each loss, so it can
    follow the cluster directory); None means "nowhere yet".
    """

    relay = True
    protocol = "relay-pull"

    def __init__(self, relays: Relays, app: str, name: str, source: Callable[[], str | None]):
        self.relays = relays
        self.app = app
        self.name = name
        self.source = source
        self.url: str | None = None
        self.state = "starting"
        self.stopped = False
        self.connections = 0
        self.idle_since: float | None = None
        self._client: Client | None = None
        self._greenlet: gevent.Greenlet | None = None
        self.peer = f"pull:{app}/{name}"

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """End the pull (the stream's players get UnpublishNotify and wait)."""
        self.stopped = True
        client = self._client
        if client is not None:
            client.close()
        g = self._greenlet
        if g is not None and g is not gevent.getcurrent():
            g.join(timeout=5)
            if not g.dead:
                g.kill(block=False)

    def taken_over(self, stream: Stream) -> None:
        """A local publisher took the name: the upstream is not needed any more."""
        self.stopped = True
        if self._client is not None:
            self._client.close()

    def close(self) -> None:
        self.stop()

    def _run(self) -> None:
        backoff = Backoff(0.2, 1.0)  # players wait: look for the source again soon
        hub = self.relays.hub
        try:
            while not self.stopped:
                try:
                    url = self.source()
                except RTMPError as exc:
                    log.info("pull %s/%s: no source: %s", self.app, peer_text(self.name), exc)
                    url = None
                if self._local_publisher():
                    break  # published here now; if it goes, Relays follows the name again
                if url and self._pull_once(url):
                    backoff.reset()
                if self.stopped or self.relays.release_if_idle(self):
                    break
                if url:
                    self.state = "retrying"
                    gevent.sleep(backoff.next())
                else:
                    self.state = "waiting"  # for someone to publish the name somewhere
                    gevent.sleep(SOURCE_POLL)
        finally:
            self.state = "stopped"
            stream = hub.get(self.app, self.name)
            if stream is not None:
                hub.unpublish(stream, self)
            self.relays.forget_pull(self)

    def _local_publisher(self) -> bool:
        stream = self.relays.hub.get(self.app, self.name)
        return stream is not None and stream.publisher is not None \
            and stream.publisher is not self

    def _pull_once(self, url: str) -> bool:
        """Play ``url`` and publish what arrives; True when media flowed."""
        hub = self.relays.hub
        self.url = url
        self.state = "connecting"
        client = self._client = self.relays.client(url)
        flowed = False
        stream = None
        try:
            client.connect(**ENHANCED_CONNECT)
            client.play()
            self.connections += 1
            if self.stopped or self._local_publisher():
                return False
            stream = hub.publish(self.app, self.name, self)
            self.state = "pulling"
            log.info("pulling %s/%s from %s", self.app, peer_text(self.name), peer_text(url))
            for msg in client.media():
                if self.stopped or stream.publisher is not self:
                    break
                t = msg.type_id
                if t == VIDEO or t == AUDIO:
                    stream.feed(t, msg.timestamp, bytes(msg.payload))
                    flowed = True
                elif t == DATA_AMF0:
                    self._data(stream, msg.timestamp, bytes(msg.payload))
        except (RTMPError, OSError) as exc:
            if not self.stopped:
                log.info("pull %s/%s from %s ended: %s", self.app, peer_text(self.name),
                         peer_text(url), peer_text(str(exc)))
        finally:
            client.close()
            self._client = None
            if stream is not None and stream.publisher is self:
                hub.unpublish(stream, self)
        return flowed

    @staticmethod
    def _data(stream: Stream, timestamp: int, payload: bytes) -> None:
        try:
            values = decode_data(payload)
        except RTMPError:
            return
        if not values or values[0] == "|RtmpSampleAccess":
            return
        if values[0] == "onMetaData" and len(values) > 1 and isinstance(values[1], dict):
            stream.set_metadata(values[1], payload)
        else:
            stream.feed(DATA_AMF0, timestamp, payload)

    def describe(self) -> dict[str, Any]:
        return {"app": self.app, "name": self.name, "url": self.url, "state": self.state,
                "connections": self.connections}


class Push:
    """Publishes the local ``stream`` to ``url``, reconnecting with backoff until stopped."""

    def __init__(self, relays: Relays, stream: Stream, url: str, *, origin: str = "config"):
        self.relays = relays
        self.stream = stream
        self.url = url
        self.origin = origin
        self.state = "starting"
        self.last_error = ""
        self.connections = 0
        self.bytes_out = 0
        self.since: float | None = None
        self.stopped = False
        self._client: Client | None = None
        self._outbox: Outbox | None = None
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self.stopped = True
        self._detach()
        g = self._greenlet
        if g is not None and g is not gevent.getcurrent():
            g.join(timeout=5)
            if not g.dead:
                g.kill(block=False)
        self.state = "stopped"

    def _detach(self) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            self.stream.unsubscribe(outbox)
            outbox.stop(flush=False)
            self.bytes_out += outbox.wire.bytes_out
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _run(self) -> None:
        backoff = Backoff(0.5, 10.0)
        while not self.stopped:
            try:
                self._push_once()
                backoff.reset()
            except (RTMPError, OSError) as exc:
                self.last_error = peer_text(str(exc))
                if not self.stopped:
                    log.warning("push of %s/%s to %s: %s", self.stream.app,
                                peer_text(self.stream.name), peer_text(self.url),
                                self.last_error)
            finally:
                self._detach()
            if self.stopped:
                break
            self.state = "retrying"
            gevent.sleep(backoff.next())

    def _push_once(self) -> None:
        self.state = "connecting"
        client = self._client = self.relays.client(self.url)
        client.connect()
        client.publish()
        self.connections += 1
        self.state = "pushing"
        self.since = time.time()
        log.info("pushing %s/%s to %s", self.stream.app, peer_text(self.stream.name),
                 peer_text(self.url))
        session = client.session
        wire = Wire(client.sock, session.data_to_send)
        chunk_size = client.out_chunk_size
        sid = client.stream_id

        def encode(packet: Packet) -> bytes:
            if packet.type_id == DATA_AMF0 and packet.payload.startswith(_ON_METADATA):
                # Targets (nginx-rtmp, YouTube...) keep metadata sent as @setDataFrame.
                wrapped = Packet(DATA_AMF0, packet.timestamp, _SET_DATA_FRAME + packet.payload)
                return wrapped.chunked(chunk_size, sid)
            return packet.chunked(chunk_size, sid)

        outbox = self._outbox = Outbox(
            wire, PlayerPolicy(self.stream, multitrack=False),
            queue_size=self.relays.config.queue_size, encode=encode,
            on_lag=client.close, name=f"push:{self.url}")
        outbox.internal = True  # a push target is not a viewer (player caps, counts)
        self.stream.subscribe(outbox)
        outbox.start()
        reader = client.reader
        assert reader is not None
        # Read what the target sends (acks, pings, statuses) until it goes away; replies go
        # out through the wire's lock, like the media.
        while not self.stopped and not outbox.closed:
            msg = reader.read_message()
            session.receive(msg, reader.bytes_read)
            if session._out:
                wire.flush()

    def describe(self) -> dict[str, Any]:
        out = self.bytes_out + (self._outbox.wire.bytes_out if self._outbox else 0)
        return {"url": self.url, "state": self.state, "origin": self.origin,
                "connections": self.connections, "bytes_out": out,
                "last_error": self.last_error, "since": self.since}


class Relays:
    """Every pull and push of one server process, wired into a hub.

    ``directories`` are ``(directory, node_url)`` pairs (:mod:`grtmp.cluster`), asked in
    order: plays of streams that are live elsewhere pull from their owner, and local publishes
    are registered in each under ``node_url`` (how the others reach this process:
    ``rtmp://host:port``). With ``--workers`` the first is the machine's local directory
    (workers' internal addresses), then the Redis cluster (the advertised address). ``hooks``
    may give push targets (:meth:`grtmp.hooks.Hooks.on_push`).
    """

    def __init__(self, hub: StreamHub, config: ServerConfig | None = None, *,
                 directories: list[tuple[Any, str]] = (), hooks: Any = None):  # type: ignore[assignment]
        self.hub = hub
        self.config = config or hub.config
        self.directories = list(directories)
        self.hooks = hooks
        self.pulls: dict[tuple[str, str], Pull] = {}
        self.pushes: dict[tuple[str, str], dict[str, Push]] = {}
        #: Directory registrations of local publishes: (app, name) -> [Registration, ...].
        self.registrations: dict[tuple[str, str], list[Any]] = {}
        self._watcher: gevent.Greenlet | None = None
        self._ssl: Any = None
        hub.resolvers.append(self.resolve)
        hub.publish_guards.append(self._guard)
        hub.publish_listeners.append(self._published)
        hub.unpublish_listeners.append(self._unpublished)
        for directory, _url in self.directories:
            directory.on_taken_over = self._taken_over_elsewhere
        self._watcher = gevent.spawn(self._watch)

    def client(self, url: str) -> Client:
        """A relay's client for ``url`` (``rtmps://`` verified with ``relay_ca_file``)."""
        ctx = None
        if url.startswith("rtmps:"):
            if self._ssl is None:
                self._ssl = client_context(self.config.relay_ca_file)
            ctx = self._ssl
        return Client(url, socket_module=gevent.socket, ssl_context=ctx,
                      timeout=self.config.handshake_timeout, fair=True)

    # -- pulls ----------------------------------------------------------------------------------
    def resolve(self, app: str, name: str, url: str | None) -> bool:
        """The hub's resolver: start (or reuse) a pull that brings (app, name) here."""
        key = (app, name)
        if key in self.pulls:
            return True
        if url is not None:
            return self._start_pull(app, name, lambda: url)
        templates = self.config.for_app(app).pull
        if templates:
            # Upstreams in turn: each loss or failure tries the next one.
            turns = itertools.cycle([t.format(app=app, name=name) for t in templates])
            return self._start_pull(app, name, lambda: next(turns))
        if self.directories:
            try:
                url = self._owner_url(app, name)
            except DirectoryUnavailable as exc:
                raise StreamNotFound(f"No such stream: {name} (directory unavailable)") \
                    from exc
            if url is None and not self.config.for_app(app).waits_for_publisher(app):
                return False
            # Published elsewhere: pull it now; else the players wait and the pull keeps
            # looking the name up until another worker or node publishes it.
            return self._start_pull(app, name, lambda: self._owner_url(app, name))
        return False

    def _owner_url(self, app: str, name: str) -> str | None:
        """Where the owner of (app, name) can be pulled from: the first directory that knows
        (the local one before the cluster). DirectoryUnavailable only when none answered."""
        unavailable: DirectoryUnavailable | None = None
        for directory, _url in self.directories:
            try:
                entry = directory.lookup(app, name)
            except DirectoryUnavailable as exc:
                unavailable = exc
                continue
            if entry is not None:
                return entry.url
        if unavailable is not None:
            raise unavailable
        return None

    def _start_pull(self, app: str, name: str, source: Callable[[], str | None]) -> bool:
        pull = Pull(self, app, name, source)
        self.pulls[(app, name)] = pull
        pull.start()
        return True

    def forget_pull(self, pull: Pull) -> None:
        if self.pulls.get((pull.app, pull.name)) is pull:
            del self.pulls[(pull.app, pull.name)]

    def release_if_idle(self, pull: Pull) -> bool:
        """True when nobody plays the pulled stream any more (for ``pull_idle_timeout``)."""
        stream = self.hub.get(pull.app, pull.name)
        if stream is not None and stream.players:
            pull.idle_since = None
            return False
        now = time.monotonic()
        if pull.idle_since is None:
            pull.idle_since = now
        return now - pull.idle_since >= self.config.pull_idle_timeout

    def _watch(self) -> None:
        """Release pulls nobody plays any more (their greenlet may be blocked reading)."""
        while True:
            gevent.sleep(min(1.0, max(0.05, self.config.pull_idle_timeout / 4)))
            for pull in list(self.pulls.values()):
                if self.release_if_idle(pull):
                    log.info("pull %s/%s released: no players", pull.app, peer_text(pull.name))
                    gevent.spawn(pull.stop)

    # -- the directory and pushes follow local publishes -------------------------------------
    def _guard(self, stream: Stream, publisher: Any) -> None:
        """Before a local publish: register it in each directory, under the takeover rule
        cluster-wide (:class:`StreamBusy` when another node keeps the name)."""
        if not self.directories or getattr(publisher, "relay", False):
            return
        key = (stream.app, stream.name)
        for old in self.registrations.pop(key, []):
            old.close()
        rule = Takeover.parse(self.config.publisher_takeover)
        regs = []
        try:
            for directory, node_url in self.directories:
                regs.append(directory.register(stream.app, stream.name,
                                               f"{node_url}/{stream.app}/{stream.name}",
                                               takeover=rule))
        except TakeoverRefused as exc:
            for reg in regs:
                reg.close()
            raise StreamBusy(f"{stream.name} is published on another node.") from exc
        self.registrations[key] = regs

    def _published(self, stream: Stream) -> None:
        if getattr(stream.publisher, "relay", False):
            return
        targets = [t.format(app=stream.app, name=stream.name)
                   for t in self.config.for_app(stream.app).push]
        if self.hooks is not None:
            try:
                targets += list(self.hooks.on_push(stream.publisher, stream.name) or ())
            except Exception:  # a hook failure must not break the publish
                log.exception("on_push hook failed")
        for url in dict.fromkeys(targets):
            self.add_push(stream.app, stream.name, url, origin="config")

    def _taken_over_elsewhere(self, reg: Any, owner: Any) -> None:
        """Another node took the name over: end the local publish; local players follow."""
        key = (reg.app, reg.name)
        mine = self.registrations.get(key, [])
        if reg not in mine:
            return  # an older registration of ours
        for other in self.registrations.pop(key):
            if other is not reg:
                gevent.spawn(other.close)
        stream = self.hub.get(reg.app, reg.name)
        if stream is None or stream.publisher is None:
            return
        log.warning("publish %s/%s taken over by node %s", reg.app, peer_text(reg.name),
                    getattr(owner, "node", "?"))
        publisher = stream.publisher
        self.hub.unpublish(stream, publisher)
        taken_over = getattr(publisher, "taken_over", None)
        if taken_over is not None:
            taken_over(stream)
        if stream.players:
            self.resolve(reg.app, reg.name, None)

    def _unpublished(self, stream: Stream) -> None:
        key = (stream.app, stream.name)
        for reg in self.registrations.pop(key, []):
            gevent.spawn(reg.close)
        for push in list(self.pushes.pop(key, {}).values()):
            gevent.spawn(push.stop)
        if stream.players and key not in self.pulls and self.directories:
            # Players keep waiting; if the name comes back elsewhere, follow it.
            gevent.spawn(self._follow, stream.app, stream.name)

    def _follow(self, app: str, name: str) -> None:
        try:
            self.resolve(app, name, None)
        except StreamNotFound:
            pass

    def add_push(self, app: str, name: str, url: str, *, origin: str = "api") -> Push:
        """Start pushing the live stream (app, name) to ``url`` (no-op if already)."""
        stream = self.hub.get(app, name)
        if stream is None or stream.publisher is None:
            raise StreamNotFound(f"No such stream: {name}")
        targets = self.pushes.setdefault((app, name), {})
        push = targets.get(url)
        if push is None:
            push = targets[url] = Push(self, stream, url, origin=origin)
            push.start()
        return push

    def remove_push(self, app: str, name: str, url: str) -> bool:
        """Stop pushing (app, name) to ``url``; False when it was not pushed there."""
        push = self.pushes.get((app, name), {}).pop(url, None)
        if push is None:
            return False
        push.stop()
        return True

    def push_targets(self, app: str, name: str) -> list[Push]:
        return list(self.pushes.get((app, name), {}).values())

    def close(self) -> None:
        """Stop every pull and push, and leave the directory."""
        if self._watcher is not None:
            self._watcher.kill(block=False)
        for pull in list(self.pulls.values()):
            pull.stop()
        for targets in list(self.pushes.values()):
            for push in list(targets.values()):
                push.stop()
        self.pushes.clear()
        for regs in list(self.registrations.values()):
            for reg in regs:
                reg.close()
        self.registrations.clear()
