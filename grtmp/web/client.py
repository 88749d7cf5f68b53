"""A web viewer as hooks and operators see it, and the play decision every web player makes.

:class:`WebClient` carries what :class:`grtmp.hooks.PeerInfo` promises (``app``, ``address``,
``peer``, ``protocol``, ``tc_url``, ``connect_params``), built from the WSGI environ, so the
same hooks, :class:`grtmp.auth.AccessList` rules and :class:`grtmp.auth.HTTPCallbacks`
(with the request's query string as the stream's params) decide HTTP-FLV, WS-FLV and LL-HLS
viewers as they decide RTMP ones. It registers in ``hub.sessions`` with a ``describe()`` like
:meth:`grtmp.net.connection.Conn.describe`, so the operator API lists web viewers too.

:func:`open_play` is the one decision path: the user's ``on_play`` hook (allow, refuse,
redirect), then :meth:`grtmp.live.StreamHub.open_play` (the no-wait rule, relay resolvers, the
per-stream player cap); refusals become :class:`HTTPError` with the status an HTTP client
expects (403, 404, 503).
"""

from __future__ import annotations

import time
from typing import Any

from grtmp.errors import CommandError, StreamNotFound, TooManyPlayers
from grtmp.hooks import Hooks, decide_stream
from grtmp.live.hub import StreamHub
from grtmp.live.stream import Stream
from grtmp.names import MAX_NAME, MAX_NAME_WITH_QUERY, split_name
from grtmp.protocol.status import Status

__all__ = ["HTTPError", "WebClient", "open_play", "decide_play", "check_name",
           "query_params"]

#: Longest header value copied into ``connect_params`` (they reach HTTP callbacks and logs).
MAX_HEADER_TEXT = 512


class HTTPError(Exception):
    """An HTTP answer other than success: ``status`` (e.g. 404) and a short reason."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


def check_name(text: str, what: str) -> None:
    """400 for an app or stream name that no RTMP client could have published."""
    if not text or len(text) > MAX_NAME or any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise HTTPError(400, f"bad {what}")


class WebClient:
    """One web viewer (see the module docstring). ``close()`` ends it from any greenlet."""

    def __init__(self, environ: dict[str, Any], app: str, protocol: str, hub: StreamHub):
        host = str(environ.get("REMOTE_ADDR") or "?")
        try:
            port = int(environ.get("REMOTE_PORT") or 0)
        except ValueError:
            port = 0
        self.app = app
        self.address = (host, port)
        self.peer = f"{host}:{port}"
        self.protocol = protocol
        server = _header(environ, "HTTP_HOST") or \
            f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '')}"
        scheme = str(environ.get("wsgi.url_scheme") or "http")
        if protocol == "ws-flv":
            scheme = "wss" if scheme == "https" else "ws"
        self.tc_url = f"{scheme}://{server}{environ.get('SCRIPT_NAME', '')}/{app}"
        self.user_agent = _header(environ, "HTTP_USER_AGENT")
        self.connect_params: dict[str, Any] = {
            "app": app, "tcUrl": self.tc_url, "flashVer": self.user_agent,
            "pageUrl": _header(environ, "HTTP_REFERER"), "swfUrl": ""}
        self.hub = hub
        self.stream: Stream | None = None
        self.name = ""
        self.params: dict[str, str] = {}
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.bytes_out = 0
        self.closer: Any = None
        #: The player object (an :class:`grtmp.net.outbox.Outbox`) once playing.
        self.player: Any = None
        self.id = hub.register(self)

    def close(self) -> None:
        """End this viewer (operator API, lag, shutdown)."""
        if self.closer is not None:
            self.closer()

    def done(self) -> None:
        """Forget this viewer (called once, when its response ends)."""
        self.hub.unregister(self.id)

    def describe(self) -> dict[str, Any]:
        """What an operator sees of this viewer (the shape of ``Conn.describe()``)."""
        playing = []
        player = self.player
        if self.stream is not None:
            entry: dict[str, Any] = {"app": self.stream.app, "name": self.stream.name}
            policy = getattr(player, "policy", None)
            if policy is not None:
                entry["dropped"] = policy.dropped
                entry["lag_ms"] = ((self.stream.last_timestamp - policy.written_ts)
                                   & 0xFFFFFFFF) if policy.written_ts is not None else 0
            playing.append(entry)
        wire = getattr(player, "wire", None)
        return {"id": self.id, "peer": self.peer, "protocol": self.protocol, "app": self.app,
                "role": "player" if playing else "idle", "publishing": [],
                "playing": playing, "bytes_in": 0,
                "bytes_out": wire.bytes_out if wire is not None else self.bytes_out,
                "started": self.started_wall, "uptime": time.monotonic() - self.started,
                "user_agent": self.user_agent}


def _header(environ: dict[str, Any], key: str) -> str:
    value = environ.get(key)
    return str(value)[:MAX_HEADER_TEXT] if value else ""


def query_params(environ: dict[str, Any]) -> dict[str, str]:
    """The request's query string as stream params (the last value of a key wins)."""
    query = str(environ.get("QUERY_STRING") or "")
    if len(query) > MAX_NAME_WITH_QUERY:
        raise HTTPError(400, "query string too long")
    return split_name("?" + query)[1]


def decide_play(hooks: Hooks, client: WebClient, name: str,
                params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The user's ``on_play`` decision: the (possibly redirected) name and params, or
    :class:`HTTPError` 403 when refused (by a hook, an access rule, an HTTP callback)."""
    try:
        name, params = decide_stream(hooks.on_play, client, name, params, Status.PLAY_FAILED)
    except CommandError as exc:
        raise HTTPError(403, str(exc)) from None
    if not name.startswith(("rtmp://", "rtmps://")):
        check_name(name, "stream name")
    return name, params


def open_play(hub: StreamHub, hooks: Hooks, client: WebClient, name: str,
              params: dict[str, str], *, ask_hook: bool = True) -> Stream:
    """Decide and open a play of ``client.app``/``name`` (see the module docstring).

    On success ``client.stream``, ``client.name`` and ``client.params`` are set; the caller
    subscribes its player. Raises :class:`HTTPError` (403 refused by a hook or an access rule,
    404 no such stream under the no-wait rule, 503 player cap).
    """
    url = None
    if ask_hook:
        asked = name
        try:
            name, params = decide_play(hooks, client, name, params)
        except HTTPError as exc:
            hub.stats.auth("play", "deny", exc.reason)
            raise
        if name.startswith(("rtmp://", "rtmps://")):
            # on_play answered with an RTMP URL (nginx-rtmp's convention): pull it from there.
            url, name = name, asked
        hub.stats.auth("play", "redirect" if name != asked or url else "allow")
    try:
        stream = hub.open_play(client.app, name, url)
    except StreamNotFound:
        raise HTTPError(404, "no such stream") from None
    except TooManyPlayers:
        raise HTTPError(503, "too many players", [("Retry-After", "5")]) from None
    except CommandError as exc:
        raise HTTPError(403, str(exc)) from None
    client.stream, client.name, client.params = stream, name, params
    return stream
