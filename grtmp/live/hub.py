"""The hub: every live stream of a server, keyed by (app, name)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from grtmp.config import ServerConfig
from grtmp.errors import StreamBusy, StreamNotFound, TooManyPlayers
from grtmp.live.record import Recorder, record_path
from grtmp.live.stream import Stream
from grtmp.logs import peer_text
from grtmp.stats import Stats
from grtmp.wire.chunk import BufferBudget

if TYPE_CHECKING:
    from grtmp.live.player import Player

__all__ = ["StreamHub"]

log = logging.getLogger("grtmp.hub")


class StreamHub:
    """All streams of a server (or of several servers sharing it: RTMP beside RTMPS, the web
    app, Python consumers). A stream exists while it has a publisher or a player."""

    def __init__(self, config: ServerConfig | None = None):
        self.config = config or ServerConfig()
        self.streams: dict[tuple[str, str], Stream] = {}
        #: Partly received message bytes, all connections of this hub together.
        self.buffer_budget = BufferBudget(self.config.max_buffered_total)
        #: Every client session (RTMP connections, HTTP players...) by id, for operators.
        self.sessions: dict[str, Any] = {}
        self._next_session = 0
        #: Event counters for operators (handshake failures, auth decisions...).
        self.stats = Stats()
        #: Called with the stream when a publish starts / ends (directory, relays, metrics).
        #: They must not block: start a greenlet for anything slow.
        self.publish_listeners: list[Callable[[Stream], None]] = []
        #: Asked before a publish is accepted, ``guard(stream, publisher)``; may raise
        #: :class:`StreamBusy` (the cluster directory keeps the name elsewhere).
        self.publish_guards: list[Callable[[Stream, Any], None]] = []
        self.unpublish_listeners: list[Callable[[Stream], None]] = []
        #: Asked, in order, when a player wants a stream nobody publishes here:
        #: ``resolver(app, name, url)`` returns True when it will bring the stream (a relay
        #: pull from ``url``, an upstream or the cluster's owner), so the player waits for it.
        #: It may raise :class:`StreamNotFound`.
        self.resolvers: list[Callable[[str, str, str | None], bool]] = []

    def register(self, session: Any) -> str:
        """Add a client session (anything with ``describe()`` and ``close()``); its id."""
        self._next_session += 1
        sid = f"{self._next_session:x}"
        self.sessions[sid] = session
        return sid

    def unregister(self, sid: str) -> None:
        self.sessions.pop(sid, None)

    def get(self, app: str, name: str) -> Stream | None:
        return self.streams.get((app, name))

    def get_or_create(self, app: str, name: str) -> Stream:
        key = (app, name)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream(app, name, self.config.for_app(app))
        return stream

    def publish(self, app: str, name: str, publisher: Any) -> Stream:
        """Start publishing (app, name) for ``publisher``.

        When someone already publishes the name, ``config.publisher_takeover`` decides:
        ``always`` (the default, as MediaMTX) hands the stream to the new publisher
        (:meth:`Stream.hand_over`) and tells the old one (``publisher.taken_over(stream)``,
        which closes it); ``idle:SECONDS`` does so only when the old one sent nothing for that
        long; ``never`` raises :class:`StreamBusy` (``NetStream.Publish.BadName``). Players
        stay attached across a takeover, with no notification, and see timestamps continue.
        Recording starts here when the app's ``record_dir`` is set (and
        ``record_auto``, the default).
        """
        stream = self.get_or_create(app, name)
        old = stream.publisher
        try:
            if old is not None and not self._may_take_over(stream, publisher):
                raise StreamBusy(f"{name} is already being published.")
            for guard in self.publish_guards:
                guard(stream, publisher)
        except StreamBusy:
            self.discard_if_idle(stream)
            raise
        if old is not None:
            log.warning("publish %r: taking the stream over from its publisher",
                        peer_text(name))
            stream.hand_over(publisher)
            taken_over = getattr(old, "taken_over", None)
            if taken_over is not None:
                taken_over(stream)
            for listener in self.publish_listeners:
                listener(stream)
            return stream
        stream.start_publishing(publisher)
        config = self.config.for_app(app)
        if config.record_dir and config.record_auto:
            try:
                path = record_path(config.record_dir, app, name)
                stream.start_recording(Recorder(path))
                log.info("recording %r to %s", peer_text(name), path)
            except OSError as exc:
                log.error("cannot record %r: %s", peer_text(name), exc)
        for listener in self.publish_listeners:
            listener(stream)
        return stream

    def _may_take_over(self, stream: Stream, publisher: Any) -> bool:
        if getattr(stream.publisher, "relay", False) and not getattr(publisher, "relay", False):
            return True  # a real publisher always replaces a relay pull
        rule = self.config.publisher_takeover
        if rule == "always":
            return True
        if rule == "never":
            return False
        idle = float(rule.partition(":")[2])
        return time.monotonic() - stream.last_feed >= idle

    def _end_publish(self, stream: Stream) -> None:
        stream.stop_publishing()
        for listener in self.unpublish_listeners:
            listener(stream)

    def unpublish(self, stream: Stream, publisher: Any) -> None:
        """``publisher`` stopped publishing ``stream`` (a no-op if it no longer was)."""
        if stream.publisher is publisher:
            self._end_publish(stream)
        self.discard_if_idle(stream)

    def open_play(self, app: str, name: str, url: str | None = None) -> Stream:
        """The stream a new player of (app, name) joins (``stream.subscribe(player)``).

        A name nobody publishes here is first offered to the ``resolvers`` (relay pulls, the
        cluster; ``url`` is where an ``on_play`` hook said to pull it from). Then it waits for
        a publisher (the stream is created), or raises :class:`StreamNotFound` where the
        config says players of that app do not wait; :class:`TooManyPlayers` past
        ``max_players_per_stream``.
        """
        config = self.config.for_app(app)
        stream = self.get(app, name)
        if stream is None or not stream.is_live:
            brought = any(resolve(app, name, url) for resolve in self.resolvers)
            if stream is None and not brought and not config.waits_for_publisher(app):
                raise StreamNotFound(f"No such stream: {name}")
        stream = stream or self.get_or_create(app, name)
        cap = config.max_players_per_stream
        if cap and stream.viewers() >= cap:
            self.discard_if_idle(stream)
            raise TooManyPlayers("Too many players.")
        return stream

    def play(self, app: str, name: str, player: Player) -> Stream:
        """:meth:`open_play` and subscribe ``player``: the catch-up first, then live packets."""
        stream = self.open_play(app, name)
        stream.subscribe(player)
        return stream

    def stop_playing(self, stream: Stream, player: Player) -> None:
        """Detach ``player``; the stream is forgotten once nobody publishes or plays it."""
        stream.unsubscribe(player)
        self.discard_if_idle(stream)

    def discard_if_idle(self, stream: Stream) -> None:
        """Forget ``stream`` once nobody publishes or plays it."""
        if stream.idle and self.streams.get((stream.app, stream.name)) is stream:
            del self.streams[(stream.app, stream.name)]

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self.streams.values()))

    def __len__(self) -> int:
        return len(self.streams)
