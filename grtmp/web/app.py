"""The WSGI app: a small table-driven router over the web players and the status page.

======================================  =================================================
``GET /``                               status page: live streams, each with players
``GET /status.json``                    what the page shows, as JSON
``GET /static/...``                     the page's scripts (mpegts.js, hls.js, ours)
``GET /{app}/{name}.flv``               HTTP-FLV; with ``Upgrade: websocket``, WS-FLV
``GET /{app}/{name}/index.m3u8``        LL-HLS playlist (blocking reload)
``GET /{app}/{name}/{resource}``        LL-HLS init segment, segment or part
``OPTIONS`` on media paths              CORS preflight
extra ``routes``                        ``{prefix: wsgi_app}`` (operator API, metrics)
======================================  =================================================

Extra routes are mounted as werkzeug's ``DispatcherMiddleware`` mounts apps: the prefix moves
from ``PATH_INFO`` to ``SCRIPT_NAME``. The app itself can be mounted the same way inside
another WSGI app (Flask, see ``examples/flask_app.py``): its links are relative.

Every answer other than success is a short ``text/plain`` body with the status; bad input
(unknown paths, methods, names) is one log line at most and never affects another request.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import time
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from grtmp.config import ServerConfig
from grtmp.hooks import Hooks, as_hooks
from grtmp.live.hub import StreamHub
from grtmp.web.client import HTTPError, check_name
from grtmp.web.hls import HLSService
from grtmp.web.live import serve_flv
from grtmp.web.status import status_data

__all__ = ["WebApp", "make_app"]

log = logging.getLogger("grtmp.web")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 426: "Upgrade Required",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}

#: Longest request path looked at (app + name + resource are bounded far below this).
MAX_PATH = 2048


class WebApp:
    """The grtmp web app over a :class:`StreamHub` (a WSGI callable; see the module doc).

    ``hooks`` decide about viewers as about RTMP players; ``config`` defaults to the hub's;
    ``routes`` maps path prefixes to more WSGI apps.
    """

    def __init__(self, hub: StreamHub, *, hooks: Any = None, config: ServerConfig | None = None,
                 routes: dict[str, WSGIApp] | None = None):
        self.hub = hub
        self.config = config or hub.config
        self.hooks: Hooks = as_hooks(hooks)
        self.hls = HLSService(self)
        self.started = time.time()
        self.mounts = sorted((routes or {}).items(), key=lambda kv: -len(kv[0]))
        # (methods, compiled path pattern, handler(environ, start_response, **groups))
        self.table: list[tuple[frozenset[str], re.Pattern[str], Callable[..., Any]]] = [
            (frozenset({"GET", "HEAD"}), re.compile(r"/"), self._page),
            (frozenset({"GET", "HEAD"}), re.compile(r"/status\.json"), self._status),
            (frozenset({"GET", "HEAD"}), re.compile(r"/static/(?P<path>[A-Za-z0-9._/-]+)"),
             self._static),
            (frozenset({"GET", "OPTIONS"}), re.compile(r"/(?P<app>[^/]+)/(?P<name>[^/]+)\.flv"),
             self._flv),
            (frozenset({"GET", "HEAD", "OPTIONS"}),
             re.compile(r"/(?P<app>[^/]+)/(?P<name>[^/]+)/(?P<resource>[^/]+)"), self._hls),
        ]

    # -- life cycle (the server calls these; a mounted app starts on its first HLS request) --
    def start(self) -> None:
        """Start background work (LL-HLS housekeeping; muxing every publish with
        ``hls_always``)."""
        self.hls.start()

    def close(self) -> None:
        """Release every LL-HLS muxer and stop the housekeeping."""
        self.hls.stop()

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD") or "GET")
        try:
            for prefix, app in self.mounts:
                if path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/"):
                    return self._mount(prefix, app, environ, start_response)
            if len(path) > MAX_PATH:
                raise HTTPError(404, "not found")
            for methods, pattern, handler in self.table:
                m = pattern.fullmatch(path)
                if m is None:
                    continue
                if method not in methods:
                    raise HTTPError(405, "method not allowed",
                                    [("Allow", ", ".join(sorted(methods)))])
                return handler(environ, start_response, **m.groupdict())
            raise HTTPError(404, "not found")
        except HTTPError as exc:
            return self.error(start_response, exc)

    @staticmethod
    def _mount(prefix: str, app: WSGIApp, environ: dict[str, Any],
               start_response: Callable[..., Any]) -> Any:
        base = prefix.rstrip("/")
        env = dict(environ)
        env["SCRIPT_NAME"] = str(environ.get("SCRIPT_NAME", "")) + base
        env["PATH_INFO"] = str(environ.get("PATH_INFO", ""))[len(base):]
        return app(env, start_response)

    def cors_headers(self) -> list[tuple[str, str]]:
        """``Access-Control-Allow-Origin`` (and what it exposes) for media responses."""
        origin = self.config.cors_origin
        if not origin:
            return []
        return [("Access-Control-Allow-Origin", origin),
                ("Access-Control-Expose-Headers", "Content-Length, Content-Type")]

    def error(self, start_response: Callable[..., Any], exc: HTTPError) -> list[bytes]:
        body = f"{exc.status} {exc.reason}\n".encode("utf-8", "replace")
        reason = _REASONS.get(exc.status, "Error")
        start_response(f"{exc.status} {reason}",
                       [("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(body))), ("Cache-Control", "no-cache"),
                        *exc.headers, *self.cors_headers()])
        return [body]

    # -- handlers --------------------------------------------------------------------------
    def _preflight(self, start_response: Callable[..., Any], methods: str) -> list[bytes]:
        start_response("204 No Content", [
            *self.cors_headers(), ("Access-Control-Allow-Methods", methods),
            ("Access-Control-Allow-Headers", "Range, Content-Type"),
            ("Access-Control-Max-Age", "86400"), ("Content-Length", "0")])
        return []

    def _flv(self, environ: dict[str, Any], start_response: Callable[..., Any], app: str,
             name: str) -> Any:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._preflight(start_response, "GET, OPTIONS")
        check_name(app, "app name")
        check_name(name, "stream name")
        return serve_flv(self, environ, start_response, app, name)

    def _hls(self, environ: dict[str, Any], start_response: Callable[..., Any], app: str,
             name: str, resource: str) -> Any:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._preflight(start_response, "GET, HEAD, OPTIONS")
        check_name(app, "app name")
        check_name(name, "stream name")
        return self.hls.serve(environ, start_response, app, name, resource)

    def _page(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._send_static(environ, start_response, "index.html", "no-cache")

    def _static(self, environ: dict[str, Any], start_response: Callable[..., Any],
                path: str) -> Any:
        if ".." in path.split("/"):
            raise HTTPError(404, "not found")
        return self._send_static(environ, start_response, path, "public, max-age=3600")

    def _send_static(self, environ: dict[str, Any], start_response: Callable[..., Any],
                     path: str, cache: str) -> Any:
        body = static_file(path)
        if body is None:
            raise HTTPError(404, "not found")
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                  ("Cache-Control", cache)])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _status(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = json.dumps(status_data(self), separators=(",", ":")).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-cache"), *self.cors_headers()])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


_STATIC_CACHE: dict[str, bytes | None] = {}


def static_file(path: str) -> bytes | None:
    """The bytes of ``grtmp/web/static/PATH`` (package data), cached; None if absent."""
    if path in _STATIC_CACHE:
        return _STATIC_CACHE[path]
    node = resources.files("grtmp.web").joinpath("static")
    for part in path.split("/"):
        if not part or part.startswith("."):
            return None
        node = node.joinpath(part)
    try:
        data: bytes | None = node.read_bytes() if node.is_file() else None
    except OSError:
        data = None
    if len(_STATIC_CACHE) < 256:
        _STATIC_CACHE[path] = data
    return data


def make_app(hub: StreamHub, *, hooks: Any = None, config: ServerConfig | None = None,
             routes: dict[str, WSGIApp] | None = None) -> WebApp:
    """The grtmp web app for ``hub`` (a WSGI callable; see :class:`WebApp`)."""
    return WebApp(hub, hooks=hooks, config=config, routes=routes)
