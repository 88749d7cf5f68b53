"""The JSON API (``/api/v1/``): streams, sessions, actions; a WSGI app.

``make_api(ops)`` returns the app; mount it at ``/api/v1/`` (it also works mounted elsewhere or
served alone: paths are matched after any ``/api/v1`` prefix, and with or without the mount's
``SCRIPT_NAME``). Every answer is JSON; errors are ``{"status", "error", "message"}``.

Routes (the table :data:`ROUTES` is the one list; the OpenAPI document at
``/api/v1/openapi.json`` is checked against it by a test):

=======  ================================  =================================================
GET      /                                 index: version and links
GET      /openapi.json                     this API as an OpenAPI 3.1 document
GET      /streams                          every stream (live, or with players waiting)
GET      /streams/{app}/{name}             one stream
DELETE   /publishers/{app}/{name}          drop the publisher (its players stay, waiting)
GET      /recordings                       streams being recorded
POST     /recordings/{app}/{name}          start recording to the app's record_dir
DELETE   /recordings/{app}/{name}          stop recording
GET      /relays                           pulls and pushes (:mod:`grtmp.net.relay`)
POST     /pushes/{app}/{name}              push the stream to ``{"url": "rtmp://..."}`` too
DELETE   /pushes/{app}/{name}?url=URL      stop that push
GET      /sessions                         every client session (``?app= &name= &protocol=
                                           &role=`` filter)
GET      /sessions/{id}                    one session
DELETE   /sessions/{id}                    disconnect it
GET      /config                           the running configuration (token redacted)
POST     /reload                           re-read the configuration file
=======  ================================  =================================================

``{app}/{name}``: app and stream names are matched against the streams that exist, so names
with ``/`` in them work too (``/streams/live/sub/cam`` finds app ``live/sub`` stream ``cam``,
or app ``live`` stream ``sub/cam``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from grtmp import __version__
from grtmp.live.stream import Stream
from grtmp.ops.access import Denied, check_access
from grtmp.ops.control import Operations, OpsError
from grtmp.ops.state import Snapshot, session_view, stream_view

__all__ = ["ROUTES", "Route", "make_api"]

log = logging.getLogger("grtmp.api")

PREFIX = "/api/v1"

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
            422: "Unprocessable Content", 500: "Internal Server Error"}


class _Request:
    __slots__ = ("environ", "method", "segments", "query")

    def __init__(self, environ: dict[str, Any], method: str, segments: list[str],
                 query: dict[str, str]):
        self.environ = environ
        self.method = method
        self.segments = segments
        self.query = query


@dataclass(frozen=True)
class Route:
    """``method`` + ``path`` (OpenAPI template) -> ``handler(api, request, *params)``."""

    method: str
    path: str
    operation: str
    handler: Callable[..., tuple[int, Any]]

    @property
    def parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]


class _Api:
    """The WSGI callable (see the module docstring)."""

    def __init__(self, ops: Operations):
        self.ops = ops
        self.hub = ops.hub

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> \
            Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            check_access(environ, self.hub.config)
            status, body, headers = self._dispatch(environ, method)
        except Denied as exc:
            status, body = exc.status, _error(exc.status, exc.message)
            headers = [("WWW-Authenticate", 'Bearer realm="grtmp"')] if exc.status == 401 \
                else []
        except OpsError as exc:
            status, body, headers = exc.status, _error(exc.status, exc.message), []
        except Exception:  # a bug: answer 500, log it, keep serving
            log.exception("API request %s failed", method)
            status, body, headers = 500, _error(500, "internal error"), []
        data = json.dumps(body, default=str, separators=(",", ":")).encode()
        start_response(f"{status} {_REASONS.get(status, 'Error')}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), *headers])
        return [] if method == "HEAD" else [data]

    def _dispatch(self, environ: dict[str, Any], method: str) -> \
            tuple[int, Any, list[tuple[str, str]]]:
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        try:  # WSGI strings are latin-1 code points of the request's bytes
            path = path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise OpsError(400, "the path is not UTF-8") from None
        if path.startswith(PREFIX):
            path = path[len(PREFIX):]
        segments = [s for s in path.split("/") if s]
        query = _query(str(environ.get("QUERY_STRING", "")))
        allowed: list[str] = []
        for route in ROUTES:
            params = _match(route.parts, segments)
            if params is None:
                continue
            allowed.append(route.method)
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                status, body = route.handler(self, _Request(environ, method, segments, query),
                                             *params)
                return status, body, []
        if allowed:
            return 405, _error(405, f"{method} is not allowed here"), [
                ("Allow", ", ".join(sorted(set(allowed))))]
        raise OpsError(404, "no such resource")

    # -- helpers ------------------------------------------------------------------------------
    def find_stream(self, parts: list[str]) -> Stream:
        """The stream ``parts`` (``app.../name...``) names: every split is tried."""
        for i in range(1, len(parts)):
            stream = self.hub.get("/".join(parts[:i]), "/".join(parts[i:]))
            if stream is not None:
                return stream
        raise OpsError(404, f"no stream {'/'.join(parts)}")

    def _rates(self, stream: Stream) -> dict[str, float] | None:
        return self.ops.sampler.rates(stream)

    # -- handlers -----------------------------------------------------------------------------
    def index(self, req: _Request) -> tuple[int, Any]:
        return 200, {"server": "grtmp", "version": __version__, "links": {
            "streams": f"{PREFIX}/streams", "sessions": f"{PREFIX}/sessions",
            "recordings": f"{PREFIX}/recordings", "relays": f"{PREFIX}/relays",
            "config": f"{PREFIX}/config",
            "openapi": f"{PREFIX}/openapi.json", "metrics": "/metrics"}}

    def openapi(self, req: _Request) -> tuple[int, Any]:
        from grtmp.ops.openapi import document

        return 200, document()

    def list_streams(self, req: _Request) -> tuple[int, Any]:
        snap = Snapshot(self.hub)
        now = time.time()
        app = req.query.get("app")
        relays = self.ops.relays
        streams = [stream_view(s, snap, self._rates(s), now, relays) for s in self.hub
                   if app is None or s.app == app]
        return 200, {"streams": streams}

    def get_stream(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        return 200, stream_view(stream, Snapshot(self.hub), self._rates(stream),
                                relays=self.ops.relays)

    def drop_publisher(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        return 200, self.ops.drop_publisher(stream.app, stream.name)

    def list_recordings(self, req: _Request) -> tuple[int, Any]:
        out = []
        for s in self.hub:
            rec = s.recorder
            if rec is not None:
                out.append({"app": s.app, "name": s.name, "path": getattr(rec, "path", None),
                            "tags": getattr(rec, "tags", None),
                            "manual": bool(getattr(rec, "grtmp_manual", False))})
        return 200, {"recordings": out}

    def start_recording(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        return 200, self.ops.start_recording(stream.app, stream.name)

    def stop_recording(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        return 200, self.ops.stop_recording(stream.app, stream.name)

    def list_relays(self, req: _Request) -> tuple[int, Any]:
        relays = self.ops.relays
        if relays is None:
            return 200, {"pulls": [], "pushes": []}
        pushes = [{"app": app, "name": name, **p.describe()}
                  for (app, name), targets in list(relays.pushes.items())
                  for p in list(targets.values())]
        return 200, {"pulls": [p.describe() for p in list(relays.pulls.values())],
                     "pushes": pushes}

    def add_push(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        body = _json_body(req.environ)
        return 200, self.ops.add_push(stream.app, stream.name, body.get("url"))

    def remove_push(self, req: _Request, parts: list[str]) -> tuple[int, Any]:
        stream = self.find_stream(parts)
        url = req.query.get("url")
        if not url:
            raise OpsError(400, "give the target as ?url=")
        return 200, self.ops.remove_push(stream.app, stream.name, url)

    def list_sessions(self, req: _Request) -> tuple[int, Any]:
        snap = Snapshot(self.hub)
        out = []
        q = req.query
        for sid, session in list(self.hub.sessions.items()):
            try:
                view = session_view(sid, session, snap)
            except Exception:  # gone while we looked
                continue
            if "protocol" in q and view.get("protocol") != q["protocol"]:
                continue
            if "role" in q and view.get("role") != q["role"]:
                continue
            if ("app" in q or "name" in q) and not _on_stream(view, q):
                continue
            out.append(view)
        return 200, {"sessions": out}

    def _session(self, sid: str) -> Any:
        session = self.hub.sessions.get(sid)
        if session is None:
            raise OpsError(404, f"no session {sid}")
        return session

    def get_session(self, req: _Request, sid: str) -> tuple[int, Any]:
        return 200, session_view(sid, self._session(sid))

    def kick_session(self, req: _Request, sid: str) -> tuple[int, Any]:
        view = session_view(sid, self._session(sid))
        self.ops.kick(sid)
        return 200, view

    def get_config(self, req: _Request) -> tuple[int, Any]:
        return 200, config_view(self.hub.config)

    def reload(self, req: _Request) -> tuple[int, Any]:
        result = self.ops.reload()
        if not result["ok"]:
            return 422, {**_error(422, result["message"]), "result": result}
        return 200, result


def _on_stream(view: dict[str, Any], q: dict[str, str]) -> bool:
    """The session plays or publishes a stream matching ``?app=`` and ``?name=`` (or, with
    only ``?app=``, is connected to that app)."""
    if "name" not in q and view.get("app") == q["app"]:
        return True
    return any(("app" not in q or e.get("app") == q["app"]) and
               ("name" not in q or e.get("name") == q["name"])
               for e in [*(view.get("playing") or []), *(view.get("publishing") or [])])


def config_view(config: Any) -> dict[str, Any]:
    """The configuration as JSON, secrets redacted."""
    out = dataclasses.asdict(config)
    if out.get("api_token"):
        out["api_token"] = "(set)"
    for scope in [out, *out.get("apps", {}).values()]:
        keys = scope.get("stream_keys")
        if keys:
            scope["stream_keys"] = {k: "(set)" for k in keys}
    w = config.wait_for_publisher
    if not isinstance(w, bool):
        out["wait_for_publisher"] = sorted(w)
    return out


#: Largest request body the API reads.
MAX_BODY = 64 * 1024


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON object (400 when it is not one, 413-like 400 when too big)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise OpsError(400, "bad Content-Length") from None
    if length > MAX_BODY:
        raise OpsError(400, f"the body is larger than {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise OpsError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise OpsError(400, "the body must be a JSON object")
    return body


def _error(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "error": _REASONS.get(status, "Error"), "message": message}


def _query(qs: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return {k: v for k, v in parse_qsl(qs, keep_blank_values=True)}


def _match(parts: list[str], segments: list[str]) -> list[Any] | None:
    """Params of ``segments`` for a route template; ``{app}/{name}`` last takes 2+ segments."""
    if parts[-2:] == ["{app}", "{name}"]:
        fixed = parts[:-2]
        if len(segments) < len(fixed) + 2 or segments[:len(fixed)] != fixed:
            return None
        return [segments[len(fixed):]]
    if len(parts) != len(segments):
        return None
    params = []
    for p, s in zip(parts, segments):
        if p.startswith("{"):
            params.append(s)
        elif p != s:
            return None
    return params


#: Every route of the API (the OpenAPI document lists exactly these).
ROUTES = [
    Route("GET", "/", "index", _Api.index),
    Route("GET", "/openapi.json", "openapi", _Api.openapi),
    Route("GET", "/streams", "listStreams", _Api.list_streams),
    Route("GET", "/streams/{app}/{name}", "getStream", _Api.get_stream),
    Route("DELETE", "/publishers/{app}/{name}", "dropPublisher", _Api.drop_publisher),
    Route("GET", "/recordings", "listRecordings", _Api.list_recordings),
    Route("POST", "/recordings/{app}/{name}", "startRecording", _Api.start_recording),
    Route("DELETE", "/recordings/{app}/{name}", "stopRecording", _Api.stop_recording),
    Route("GET", "/relays", "listRelays", _Api.list_relays),
    Route("POST", "/pushes/{app}/{name}", "addPush", _Api.add_push),
    Route("DELETE", "/pushes/{app}/{name}", "removePush", _Api.remove_push),
    Route("GET", "/sessions", "listSessions", _Api.list_sessions),
    Route("GET", "/sessions/{id}", "getSession", _Api.get_session),
    Route("DELETE", "/sessions/{id}", "kickSession", _Api.kick_session),
    Route("GET", "/config", "getConfig", _Api.get_config),
    Route("POST", "/reload", "reloadConfig", _Api.reload),
]


def make_api(ops: Operations) -> Callable[..., Iterable[bytes]]:
    """The JSON API over ``ops`` (an :class:`~grtmp.ops.control.Operations`) as a WSGI app."""
    return _Api(ops)
