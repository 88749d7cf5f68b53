"""The hub: every live stream of a server, keyed by (app, name)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
        """Start publishing (app, name) for ``publisher``; :class:`StreamBusy` if someone
        already does. Recording starts here when the app's ``record_dir`` is set (and
        ``record_auto``, the default)."""
        stream = self.get_or_create(app, name)
        if stream.publisher is not None:
            self.discard_if_idle(stream)
            raise StreamBusy(f"{name} is already being published.")
        stream.start_publishing(publisher)
        config = self.config.for_app(app)
        if config.record_dir and config.record_auto:
            try:
                path = record_path(config.record_dir, app, name)
                stream.start_recording(Recorder(path))
                log.info("recording %r to %s", peer_text(name), path)
            except OSError as exc:
                log.error("cannot record %r: %s", peer_text(name), exc)
        return stream

    def unpublish(self, stream: Stream, publisher: Any) -> None:
        """``publisher`` stopped publishing ``stream`` (a no-op if it no longer was)."""
        if stream.publisher is publisher:
            stream.stop_publishing()
        self.discard_if_idle(stream)

    def open_play(self, app: str, name: str) -> Stream:
        """The stream a new player of (app, name) joins (``stream.subscribe(player)``).

        A name nobody publishes waits for a publisher (the stream is created), or raises
        :class:`StreamNotFound` where the config says players of that app do not wait;
        :class:`TooManyPlayers` past ``max_players_per_stream``.
        """
        config = self.config.for_app(app)
        stream = self.get(app, name)
        if stream is None and not config.waits_for_publisher(app):
            raise StreamNotFound(f"No such stream: {name}")
        stream = stream or self.get_or_create(app, name)
        cap = config.max_players_per_stream
        if cap and len(stream.players) >= cap:
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
