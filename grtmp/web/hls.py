"""LL-HLS over HTTP: one muxer per stream, any number of viewers, bounded waiting.

``GET /{app}/{name}/index.m3u8`` (blocking reload with ``_HLS_msn``/``_HLS_part``) and
``GET /{app}/{name}/{init*.mp4,seg*.m4s,part*.m4s}`` are answered from one
:class:`HLSMuxer` per stream: a :class:`~grtmp.live.Player` of the stream that feeds
:class:`grtmp.hls.HLSStream` in the publisher's greenlet, so every sample is muxed once
whatever the number of viewers, and only the last few segments stay in memory (the pure core's
bound). It is created by the first HLS request of a stream (or at publish with
``hls_always``) and released ``hls_idle_timeout`` seconds after the last request.

Waiting (RFC 8216bis 6.2.5.2, 6.2.6): a playlist request whose ``_HLS_msn``/``_HLS_part`` is
not there yet, and a request for the preload-hinted part, wait for the muxer's next change, at
most three target durations (then 503). Each wait is one ``gevent.event.Event`` wait of the
request's own greenlet (the muxer replaces its event at every change, so waking is one
``set()`` however many wait); at most ``hls_max_waiting`` requests of a stream wait at once,
beyond that 503, so a flood of blocking requests is bounded in greenlets and memory.

Viewers: HLS has no connection, so a viewer is a distinct client (address and User-Agent) seen
in the last few seconds (three target durations, at least 6 s). A new one passes the
``on_play`` hook (params from the query string), the access rules and the per-stream player cap
(HLS viewers plus the stream's other players, the muxer itself not counted), and is registered
in ``hub.sessions``; ``on_play_done`` is called when it has not been seen for that window.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

from grtmp.hls import NOT_READY, BadRequest, HLSConfig, HLSStream, parse_delivery_directives
from grtmp.live.player import PlayerPolicy
from grtmp.live.stream import Stream
from grtmp.logs import peer_text
from grtmp.web.client import HTTPError, WebClient, decide_play, open_play, query_params

if TYPE_CHECKING:
    from grtmp.web.app import WebApp

__all__ = ["HLSMuxer", "HLSService"]

log = logging.getLogger("grtmp.web.hls")

#: A stream's playlist name.
PLAYLIST = "index.m3u8"
#: Shortest window in which a client counts as an HLS viewer.
MIN_VIEWER_WINDOW = 6.0
#: How often the housekeeping greenlet runs.
HOUSEKEEPING_INTERVAL = 1.0


class HLSMuxer:
    """One stream's LL-HLS output (a :class:`~grtmp.live.Player` of the stream)."""

    #: Not a viewer itself: the player cap counts the HLS viewers it serves (viewer_count).
    internal = True
    #: Set by the HLS app: how many viewers read this muxer now.
    viewer_count: Any = staticmethod(lambda: 0)

    def __init__(self, stream: Stream, config: HLSConfig):
        self.stream = stream
        #: Only :meth:`PlayerPolicy.adapt` is used (multitrack -> track 0): the muxer never
        #: drops, it is not a network peer.
        self.policy = PlayerPolicy(stream)
        self.hls = HLSStream(config, name=f"{stream.app}/{stream.name}")
        self.changed = Event()
        self.last_request = time.monotonic()
        self.waiting = 0
        #: Distinct clients: key -> viewer.
        self.viewers: dict[tuple[str, str], _Viewer] = {}
        self.closed = False

    # -- Player (the publisher's greenlet; never blocks) -----------------------------------
    def catch_up(self, packets: list[Any]) -> None:
        for packet in packets:
            self._feed(packet)

    def offer(self, packet: Any) -> None:
        packet = self.policy.adapt(packet)
        if packet is not None:
            self._feed(packet)

    def notify(self, published: bool) -> None:
        if not published:
            # No EXT-X-ENDLIST: viewers stay, a republish continues after a discontinuity
            # (as RTMP players stay attached across a republish).
            self.hls.end(endlist=False)
            self._wake()

    def _feed(self, packet: Any) -> None:
        if not self.closed and self.hls.feed(packet.type_id, packet.timestamp, packet.payload):
            self._wake()

    def _wake(self) -> None:
        event, self.changed = self.changed, Event()
        event.set()

    # -- viewer side -----------------------------------------------------------------------
    def wait(self, ready: Callable[[], Any], deadline: float, limit: int) -> Any:
        """``ready()`` once truthy (re-checked at every change), or its last value at the
        deadline. 503 when ``limit`` requests already wait."""
        value = ready()
        if value:
            return value
        if self.waiting >= limit:
            raise HTTPError(503, "too many waiting requests", [("Retry-After", "1")])
        self.waiting += 1
        try:
            while not value:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    break
                self.changed.wait(left)
                value = ready()
        finally:
            self.waiting -= 1
        return value

    def close(self) -> None:
        self.closed = True
        self._wake()


class _Viewer:
    """A distinct HLS client of one stream path (see the module docstring)."""

    __slots__ = ("client", "muxer", "last_seen", "allowed", "reason")

    def __init__(self, client: WebClient, muxer: HLSMuxer | None):
        self.client = client
        self.muxer = muxer
        self.last_seen = time.monotonic()
        self.allowed = muxer is not None
        self.reason = ""


class HLSService:
    """Every LL-HLS muxer of a web app, its viewers, the requests and the housekeeping."""

    def __init__(self, web: WebApp):
        self.web = web
        self.muxers: dict[tuple[str, str], HLSMuxer] = {}
        #: (app, name in the path, address, User-Agent) -> viewer.
        self.clients: dict[tuple[str, str, str, str], _Viewer] = {}
        self._housekeeper: gevent.Greenlet | None = None
        self._listening = False

    # -- configuration -----------------------------------------------------------------------
    def hls_config(self) -> HLSConfig:
        cfg = self.web.config
        return HLSConfig(segment_duration=cfg.hls_segment_duration,
                         part_duration=cfg.hls_part_duration, max_segments=cfg.hls_segments,
                         max_segment_duration=max(15.0, cfg.hls_segment_duration),
                         prefix=secrets.token_hex(4))

    @property
    def viewer_window(self) -> float:
        return max(MIN_VIEWER_WINDOW, 3 * self.web.config.hls_segment_duration)

    def start(self) -> None:
        """Start the housekeeping (and, with ``hls_always``, mux every publish)."""
        if self.web.config.hls_always and not self._listening:
            self._listening = True
            self.web.hub.publish_listeners.append(self._on_publish)
            for stream in self.web.hub:
                if stream.is_live:
                    self._on_publish(stream)
        if self._housekeeper is None or self._housekeeper.dead:
            self._housekeeper = gevent.spawn(self._housekeeping)

    def stop(self) -> None:
        """Stop the housekeeping, release every muxer and forget every viewer."""
        if self._listening:
            self._listening = False
            try:
                self.web.hub.publish_listeners.remove(self._on_publish)
            except ValueError:
                pass
        if self._housekeeper is not None:
            self._housekeeper.kill(block=True, timeout=2)
            self._housekeeper = None
        for key in list(self.clients):
            self._forget(key)
        for key in list(self.muxers):
            self._release(key)

    def _on_publish(self, stream: Stream) -> None:
        if (stream.app, stream.name) not in self.muxers:
            self._create(stream)

    # -- muxers ------------------------------------------------------------------------------
    def _create(self, stream: Stream) -> HLSMuxer:
        muxer = HLSMuxer(stream, self.hls_config())
        app, name = stream.app, stream.name
        muxer.viewer_count = lambda: self.viewers(app, name)
        self.muxers[(stream.app, stream.name)] = muxer
        stream.subscribe(muxer)
        log.info("LL-HLS muxer for %r/%r started", peer_text(stream.app),
                 peer_text(stream.name))
        self.start()
        return muxer

    def _release(self, key: tuple[str, str]) -> None:
        muxer = self.muxers.pop(key, None)
        if muxer is None:
            return
        muxer.close()
        for ckey, viewer in list(self.clients.items()):
            if viewer.muxer is muxer:
                self._forget(ckey)
        self.web.hub.stop_playing(muxer.stream, muxer)
        log.info("LL-HLS muxer for %r/%r released", peer_text(key[0]), peer_text(key[1]))

    def _housekeeping(self) -> None:
        while True:
            gevent.sleep(HOUSEKEEPING_INTERVAL)
            try:
                self.housekeep()
            except Exception:  # a bug here must not stop the housekeeping
                log.exception("LL-HLS housekeeping failed")

    def housekeep(self, now: float | None = None) -> None:
        """Forget viewers not seen for the viewer window; release muxers unused for
        ``hls_idle_timeout`` (with ``hls_always``, only those of streams not live) and those
        whose stream the hub no longer holds."""
        now = time.monotonic() if now is None else now
        window = self.viewer_window
        for ckey, viewer in list(self.clients.items()):
            if now - viewer.last_seen > window:
                self._forget(ckey)
        for key, muxer in list(self.muxers.items()):
            idle = now - muxer.last_request > self.web.config.hls_idle_timeout
            keep = self.web.config.hls_always and muxer.stream.is_live
            stale = self.web.hub.get(*key) is not muxer.stream
            if (idle and not keep and not muxer.waiting) or stale:
                self._release(key)

    def _forget(self, ckey: tuple[str, str, str, str]) -> None:
        viewer = self.clients.pop(ckey, None)
        if viewer is None:
            return
        client = viewer.client
        if viewer.allowed:
            try:
                self.web.hooks.on_play_done(client, client.name, client.params)
            except Exception:  # a notification never breaks the server
                log.exception("on_play_done hook failed")
            log.info("%s stop playing %r (hls)", client.peer, peer_text(client.name))
        client.done()

    def viewers(self, app: str, name: str) -> int:
        """HLS viewers of a stream now."""
        muxer = self.muxers.get((app, name))
        if muxer is None:
            return 0
        now = time.monotonic()
        window = self.viewer_window
        return sum(1 for v in self.clients.values()
                   if v.muxer is muxer and v.allowed and now - v.last_seen <= window)

    # -- requests ----------------------------------------------------------------------------
    def _admit(self, environ: dict[str, Any], app: str, name: str) -> HLSMuxer:
        """The muxer this client reads, once it may (see the module docstring)."""
        ckey = (app, name, str(environ.get("REMOTE_ADDR") or "?"),
                str(environ.get("HTTP_USER_AGENT") or "")[:256])
        now = time.monotonic()
        viewer = self.clients.get(ckey)
        if viewer is not None:
            viewer.last_seen = now
            muxer = viewer.muxer
            if not viewer.allowed or muxer is None:
                raise HTTPError(403, viewer.reason)
            if not muxer.closed:
                muxer.last_request = now
                return muxer
            self._forget(ckey)  # its muxer was released: decide again
        client = WebClient(environ, app, "hls", self.web.hub)
        try:
            params = query_params(environ)
            params = {k: v for k, v in params.items() if not k.startswith("_HLS_")}
            try:
                name, params = decide_play(self.web.hooks, client, name, params)
            except HTTPError as exc:
                # Remembered for the viewer window: a refusing hook is asked once, not at
                # every part request.
                refused = _Viewer(client, None)
                refused.reason = exc.reason
                self.clients[ckey] = refused
                raise
            muxer = self.muxers.get((app, name))
            stream = self.web.hub.get(app, name)
            if muxer is not None and stream is muxer.stream and not muxer.closed:
                client.stream, client.name, client.params = stream, name, params
            else:
                stream = open_play(self.web.hub, self.web.hooks, client, name, params,
                                   ask_hook=False)
                if muxer is not None:
                    self._release((app, name))
                muxer = self._create(stream)
            cap = self.web.config.max_players_per_stream
            if cap and stream.viewers() >= cap:
                raise HTTPError(503, "too many players", [("Retry-After", "5")])
        except HTTPError:
            if ckey not in self.clients:
                client.done()
            raise
        viewer = _Viewer(client, muxer)
        self.clients[ckey] = viewer
        muxer.last_request = now
        client.player = muxer
        client.closer = lambda: self._forget(ckey)
        log.info("%s play %r/%r (hls)", client.peer, peer_text(app), peer_text(name))
        return muxer

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any], app: str,
              name: str, resource: str) -> list[bytes]:
        """Answer a playlist or resource request of ``app``/``name``."""
        if resource == PLAYLIST:
            try:
                directives = parse_delivery_directives(str(environ.get("QUERY_STRING") or ""))
            except BadRequest as exc:
                raise HTTPError(400, str(exc)) from None
        elif not resource.endswith((".mp4", ".m4s")):
            raise HTTPError(404, "not found")
        muxer = self._admit(environ, app, name)
        hls = muxer.hls
        deadline = time.monotonic() + max(hls.block_timeout,
                                          3 * self.web.config.hls_segment_duration)
        limit = self.web.config.hls_max_waiting
        if resource == PLAYLIST:
            try:
                ok = muxer.wait(lambda: hls.playlist_ready(directives), deadline, limit)
            except BadRequest as exc:
                raise HTTPError(400, str(exc)) from None
            if not ok:
                if not hls.ready and not muxer.stream.is_live:
                    raise HTTPError(404, "no such stream")
                raise HTTPError(503, "not ready", [("Retry-After", "1")])
            body = hls.playlist().encode()
            cache = "no-cache"
        else:
            def fetch() -> tuple[Any] | None:
                data = hls.get_resource(resource)
                return None if data is NOT_READY else (data,)

            found = muxer.wait(fetch, deadline, limit)
            if found is None:
                raise HTTPError(503, "not ready", [("Retry-After", "1")])
            if found[0] is None:
                raise HTTPError(404, "not found")
            body = found[0]
            cache = "public, max-age=60"
        headers = [("Content-Type", hls.content_type(resource)),
                   ("Content-Length", str(len(body))), ("Cache-Control", cache),
                   *self.web.cors_headers()]
        start_response("200 OK", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [body]
