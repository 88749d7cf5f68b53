"""The hub: every live stream of a server, keyed by (app, name)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from grtmp.config import ServerConfig
from grtmp.errors import StreamBusy
from grtmp.live.record import Recorder, record_path
from grtmp.live.stream import Stream
from grtmp.logs import peer_text
from grtmp.wire.chunk import BufferBudget

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

    def get(self, app: str, name: str) -> Stream | None:
        return self.streams.get((app, name))

    def get_or_create(self, app: str, name: str) -> Stream:
        key = (app, name)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream(app, name, self.config)
        return stream

    def publish(self, app: str, name: str, publisher: Any) -> Stream:
        """Start publishing (app, name) for ``publisher``; :class:`StreamBusy` if someone
        already does. Recording starts here when ``config.record_dir`` is set."""
        stream = self.get_or_create(app, name)
        if stream.publisher is not None:
            self.discard_if_idle(stream)
            raise StreamBusy(f"{name} is already being published.")
        stream.start_publishing(publisher)
        if self.config.record_dir:
            try:
                path = record_path(self.config.record_dir, app, name)
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

    def discard_if_idle(self, stream: Stream) -> None:
        """Forget ``stream`` once nobody publishes or plays it."""
        if stream.idle and self.streams.get((stream.app, stream.name)) is stream:
            del self.streams[(stream.app, stream.name)]

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self.streams.values()))

    def __len__(self) -> int:
        return len(self.streams)
