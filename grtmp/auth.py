"""Access control: ready-made :class:`grtmp.hooks.Hooks`.

Provided here: :class:`HTTPCallbacks` (nginx-rtmp compatible ``on_publish``/``on_play``
form POSTs), :class:`AccessList` (allow/deny by CIDR), :class:`StreamKeys` (keys or tokens from
the query string) and :func:`chain` to combine them.
"""

from __future__ import annotations

import ipaddress
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import gevent

from grtmp.amf.command import text_arg
from grtmp.errors import CommandError
from grtmp.hooks import Decision, Hooks, as_hooks

log = logging.getLogger("grtmp.auth")

__all__ = ["AccessList", "Chain", "Decision", "HTTPCallbacks", "StreamKeys", "chain"]


class Chain(Hooks):
    """Ask several hooks in turn: the first reject or redirect wins; every notification is
    delivered to each (a failing one is logged and skipped)."""

    def __init__(self, handlers: Iterable[Any]):
        self.handlers = [as_hooks(h) for h in handlers if h is not None]

    @staticmethod
    def _first(decisions: Iterable[Callable[[], Decision]]) -> Decision:
        for decide in decisions:
            decision = decide()
            if decision is False or isinstance(decision, str):
                return decision
        return None

    @staticmethod
    def _each(calls: Iterable[Callable[[], None]], what: str) -> None:
        for call in calls:
            try:
                call()
            except Exception:  # a notification must not break the session
                log.exception("%s hook failed", what)

    def on_connect(self, conn: Any, params: dict[str, Any]) -> Decision:
        return self._first(lambda h=h: h.on_connect(conn, params) for h in self.handlers)

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._first(lambda h=h: h.on_publish(conn, name, params) for h in self.handlers)

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._first(lambda h=h: h.on_play(conn, name, params) for h in self.handlers)

    def on_publish_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self._each((lambda h=h: h.on_publish_done(conn, name, params) for h in self.handlers),
                   "on_publish_done")

    def on_play_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self._each((lambda h=h: h.on_play_done(conn, name, params) for h in self.handlers),
                   "on_play_done")

    def on_done(self, conn: Any) -> None:
        self._each((lambda h=h: h.on_done(conn) for h in self.handlers), "on_done")


def chain(*handlers: Any) -> Chain:
    """Combine handlers (``None`` entries are skipped)."""
    return Chain(handlers)


class AccessList(Hooks):
    """Allow or deny publish/play by client address, nginx-rtmp style: first match wins.

    ``rules`` are strings such as ``"allow publish 127.0.0.1"``, ``"deny publish all"``,
    ``"allow play 10.0.0.0/8"``. With no matching rule, access is allowed.
    """

    def __init__(self, rules: Iterable[str]):
        self.rules: list[tuple[bool, str, Any]] = []
        for rule in rules:
            parts = rule.split()
            if len(parts) != 3 or parts[0] not in ("allow", "deny") or \
                    parts[1] not in ("publish", "play"):
                raise ValueError(f"bad access rule {rule!r}: want 'allow|deny publish|play CIDR'")
            net = None if parts[2] == "all" else ipaddress.ip_network(parts[2], strict=False)
            self.rules.append((parts[0] == "allow", parts[1], net))

    def allowed(self, action: str, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            ip = None
        if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for allow, act, net in self.rules:
            if act != action:
                continue
            if net is None or (ip is not None and ip.version == net.version and ip in net):
                return allow
        return True

    def _check(self, action: str, conn: Any) -> Decision:
        address = conn.address[0] if isinstance(conn.address, tuple) else str(conn.address)
        if not self.allowed(action, address):
            raise CommandError(f"{action} not allowed from {address}",
                               f"NetStream.{action.capitalize()}.Forbidden")
        return None

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._check("publish", conn)

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._check("play", conn)


class StreamKeys(Hooks):
    """Require a key (or token) in the stream name's query string: ``name?key=SECRET``.

    ``keys`` maps ``"app/name"`` (or just ``"name"``) to its key, or is a callable
    ``(app, name, key) -> bool``. ``play=True`` checks players too.
    """

    def __init__(self, keys: Mapping[str, str] | Callable[[str, str, str | None], bool], *,
                 param: str = "key", publish: bool = True, play: bool = False):
        self.keys = keys
        self.param = param
        self.publish = publish
        self.play = play

    def valid(self, app: str, name: str, key: str | None) -> bool:
        if callable(self.keys):
            return bool(self.keys(app, name, key))
        want = self.keys.get(f"{app}/{name}", self.keys.get(name))
        return want is not None and key is not None and key == want

    def _check(self, conn: Any, name: str, params: dict[str, str], action: str) -> Decision:
        if not self.valid(conn.app, name, params.get(self.param)):
            raise CommandError(f"bad or missing stream key for {name}",
                               f"NetStream.{action}.Unauthorized")
        return None

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._check(conn, name, params, "Publish") if self.publish else None

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._check(conn, name, params, "Play") if self.play else None


class HTTPCallbacks(Hooks):
    """nginx-rtmp compatible HTTP notifications.

    Each event POSTs an ``application/x-www-form-urlencoded`` body (``call``, ``addr``,
    ``clientid``, ``app``, ``flashver``, ``swfurl``, ``tcurl``, ``pageurl``, ``name``,
    ``type`` and the stream name's query arguments) to its URL. For ``on_connect``,
    ``on_publish`` and ``on_play``: 2xx allows, 3xx redirects to the stream named by
    ``Location``, anything else (or no answer within ``timeout``) rejects.

    The request runs in gevent's thread pool, so it never blocks other connections even when
    the process is not monkey-patched.
    """

    def __init__(self, *, on_connect: str | None = None, on_publish: str | None = None,
                 on_play: str | None = None, on_publish_done: str | None = None,
                 on_play_done: str | None = None, on_done: str | None = None,
                 timeout: float = 5.0):
        self.urls = {"connect": on_connect, "publish": on_publish, "play": on_play,
                     "publish_done": on_publish_done, "play_done": on_play_done,
                     "done": on_done}
        self.timeout = timeout

    @staticmethod
    def form(call: str, conn: Any, name: str = "", params: Mapping[str, str] | None = None,
             ) -> dict[str, str]:
        """The form fields nginx-rtmp sends for ``call``."""
        cp = getattr(conn, "connect_params", {}) or {}
        addr = conn.address[0] if isinstance(conn.address, tuple) else str(conn.address)
        # Only string values, bounded: never str() of a decoded value (a reference graph).
        def text(key: str) -> str:
            return text_arg(cp.get(key), 2048) or ""

        fields = {"call": call, "addr": addr, "clientid": str(id(conn) & 0xFFFFFFFF),
                  "app": conn.app, "flashver": text("flashVer"), "swfurl": text("swfUrl"),
                  "tcurl": text("tcUrl"), "pageurl": text("pageUrl")}
        if name:
            fields["name"] = name
        for k, v in (params or {}).items():
            fields.setdefault(k, v)
        return fields

    def _post(self, url: str, fields: Mapping[str, str]) -> tuple[int, str | None]:
        body = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})

        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(_NoRedirect)

        def call() -> tuple[int, str | None]:
            try:
                with opener.open(req, timeout=self.timeout) as resp:
                    return resp.status, resp.headers.get("Location")
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers.get("Location") if exc.headers else None

        return gevent.get_hub().threadpool.apply(call)

    def _decide(self, call: str, conn: Any, name: str = "",
                params: Mapping[str, str] | None = None) -> Decision:
        url = self.urls[call]
        if not url:
            return None
        try:
            status, location = self._post(url, self.form(call, conn, name, params))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{call} check failed: {exc}",
                               f"NetStream.{call.capitalize()}.Failed") from None
        if 200 <= status < 300:
            return None
        if 300 <= status < 400 and location and call != "connect":
            return location
        raise CommandError(f"{call} rejected (HTTP {status})",
                           "NetConnection.Connect.Rejected" if call == "connect"
                           else f"NetStream.{call.capitalize()}.Unauthorized")

    def _notify(self, call: str, conn: Any, name: str = "",
                params: Mapping[str, str] | None = None) -> None:
        url = self.urls[call]
        if url:
            try:
                self._post(url, self.form(call, conn, name, params))
            except (OSError, ValueError) as exc:
                log.warning("%s notification to %s failed: %s", call, url, exc)

    def on_connect(self, conn: Any, params: dict[str, Any]) -> Decision:
        return self._decide("connect", conn)

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._decide("publish", conn, name, params)

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self._decide("play", conn, name, params)

    def on_publish_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self._notify("publish_done", conn, name, params)

    def on_play_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self._notify("play_done", conn, name, params)

    def on_done(self, conn: Any) -> None:
        self._notify("done", conn)
