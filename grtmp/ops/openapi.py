"""The JSON API as an OpenAPI 3.1 document (served at ``/api/v1/openapi.json``).

Written by hand, next to the route table (:data:`grtmp.ops.api.ROUTES`); a test checks that
both list the same operations and that real answers validate against these schemas.
"""

from __future__ import annotations

from typing import Any

from grtmp import __version__

__all__ = ["document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_STR = {"type": "string"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["status", "error", "message"],
        "properties": {"status": {"type": "integer"}, "error": _STR, "message": _STR},
    },
    "Index": {
        "type": "object", "required": ["server", "version", "links"],
        "properties": {"server": _STR, "version": _STR,
                       "links": {"type": "object", "additionalProperties": _STR}},
    },
    "Publisher": {
        "type": "object", "required": ["session", "peer", "protocol"],
        "properties": {"session": _nullable(_STR), "peer": _STR,
                       "address": _nullable(_STR), "protocol": _nullable(_STR)},
    },
    "Recording": {
        "type": "object", "required": ["path", "manual"],
        "properties": {"app": _STR, "name": _STR, "path": _nullable(_STR),
                       "tags": _nullable(_INT), "manual": {"type": "boolean"}},
    },
    "Push": {
        "type": "object", "required": ["url", "state", "origin", "connections", "bytes_out"],
        "properties": {"app": _STR, "name": _STR, "url": _STR,
                       "state": {**_STR, "description": "starting, connecting, pushing, "
                                                        "retrying or stopped"},
                       "origin": {**_STR, "description": "config or api"},
                       "connections": _INT, "bytes_out": _INT,
                       "last_error": _STR, "since": _nullable(_NUM)},
    },
    "Pull": {
        "type": "object", "required": ["app", "name", "url", "state", "connections"],
        "properties": {"app": _STR, "name": _STR, "url": _nullable(_STR),
                       "state": {**_STR, "description": "starting, connecting, pulling, "
                                                        "retrying or stopped"},
                       "connections": _INT},
    },
    "RelayList": {"type": "object", "required": ["pulls", "pushes"], "properties": {
        "pulls": {"type": "array", "items": _ref("Pull")},
        "pushes": {"type": "array", "items": _ref("Push")}}},
    "PushRequest": {"type": "object", "required": ["url"],
                    "properties": {"url": {**_STR, "description": "rtmp:// or rtmps:// URL"}}},
    "Stream": {
        "type": "object",
        "required": ["app", "name", "live", "uptime", "publisher", "video", "audio",
                     "bitrate_in", "bitrate_out", "bytes_in", "bytes_out", "players",
                     "players_total", "dropped", "recording", "push", "pull"],
        "properties": {
            "app": _STR, "name": _STR,
            "live": {"type": "boolean", "description": "a publisher is attached"},
            "uptime": _nullable({**_NUM, "description": "seconds since the publish started"}),
            "publisher": _nullable(_ref("Publisher")),
            "video": {"type": "object", "properties": {
                "codec": _nullable(_STR), "width": _nullable(_INT), "height": _nullable(_INT),
                "fps": _nullable({**_NUM, "description": "frames/s over the last seconds"}),
                "keyframe_interval": _nullable({**_NUM, "description": "seconds"})}},
            "audio": {"type": "object", "properties": {
                "codec": _nullable(_STR), "sample_rate": _nullable(_INT),
                "channels": _nullable(_INT)}},
            "bitrate_in": _nullable({**_NUM, "description": "bits/s over the last seconds"}),
            "bitrate_out": _nullable({**_NUM, "description": "bits/s to all players"}),
            "bytes_in": _INT, "bytes_out": _INT, "messages_in": _INT,
            "players": {"type": "object", "additionalProperties": _INT,
                        "description": "players by protocol (rtmp, rtmps, http-flv, ws-flv, "
                                       "hls)"},
            "players_total": _INT,
            "dropped": {**_INT, "description": "frames dropped for slow players"},
            "recording": _nullable(_ref("Recording")),
            "push": {"type": "array", "items": _ref("Push")},
            "pull": _nullable(_ref("Pull")),
        },
    },
    "StreamList": {"type": "object", "required": ["streams"],
                   "properties": {"streams": {"type": "array", "items": _ref("Stream")}}},
    "StreamRef": {
        "type": "object", "required": ["app", "name"],
        "properties": {"app": _STR, "name": _STR, "dropped": _INT,
                       "lag_ms": {"type": "integer"}},
    },
    "Session": {
        "type": "object",
        "required": ["id", "peer", "protocol", "role", "publishing", "playing", "bytes_in",
                     "bytes_out", "lag_ms", "dropped"],
        "properties": {
            "id": _STR, "peer": _STR,
            "protocol": {**_STR, "description": "rtmp, rtmps, http-flv, ws-flv, hls"},
            "app": _STR,
            "role": {**_STR, "description": "publisher, player or idle"},
            "publishing": {"type": "array", "items": _ref("StreamRef")},
            "playing": {"type": "array", "items": _ref("StreamRef")},
            "bytes_in": _INT, "bytes_out": _INT,
            "started": {**_NUM, "description": "Unix time"}, "uptime": _NUM,
            "lag_ms": {"type": "integer",
                       "description": "stream time between the newest message and the last "
                                      "one written to this player (worst of its plays)"},
            "dropped": {**_INT, "description": "frames dropped for this slow player"},
        },
    },
    "SessionList": {"type": "object", "required": ["sessions"],
                    "properties": {"sessions": {"type": "array", "items": _ref("Session")}}},
    "RecordingList": {"type": "object", "required": ["recordings"], "properties": {
        "recordings": {"type": "array", "items": _ref("Recording")}}},
    "RecordingAction": {"type": "object", "required": ["app", "name", "path"],
                        "properties": {"app": _STR, "name": _STR, "path": _nullable(_STR)}},
    "DropResult": {"type": "object", "required": ["app", "name", "session"],
                   "properties": {"app": _STR, "name": _STR, "session": _nullable(_STR)}},
    "ReloadResult": {
        "type": "object", "required": ["ok", "message", "changed", "restart_needed",
                                       "disconnected"],
        "properties": {"ok": {"type": "boolean"}, "message": _STR,
                       "changed": {"type": "array", "items": _STR},
                       "restart_needed": {"type": "array", "items": _STR},
                       "disconnected": {"type": "array", "items": _STR}},
    },
    "ReloadError": {"allOf": [_ref("Error"), {"type": "object", "required": ["result"],
                                               "properties": {"result": _ref("ReloadResult")}}]},
    "Config": {"type": "object", "required": ["port", "apps"],
               "description": "the running ServerConfig (secrets redacted)",
               "properties": {"port": _INT, "apps": {"type": "object"}}},
}

_ERRORS = {
    "400": "bad request", "401": "no or bad bearer token", "403": "address not allowed",
    "404": "no such stream, session or resource", "405": "method not allowed here",
    "409": "the action does not apply now", "422": "the configuration file is invalid",
    "500": "internal error",
}

_APP = {"name": "app", "in": "path", "required": True, "schema": _STR,
        "description": "application name (names with '/' are matched too)"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": _STR,
         "description": "stream name"}
_ID = {"name": "id", "in": "path", "required": True, "schema": _STR,
       "description": "session id"}


def _query(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": _STR, "description": text}


def _op(operation: str, summary: str, schema: str, errors: tuple[str, ...] = (),
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {
        "application/json": {"schema": _ref(schema)}}}}
    for code in ("401", "403", *errors):
        responses[code] = {"description": _ERRORS[code], "content": {"application/json": {
            "schema": _ref("ReloadError" if code == "422" else "Error")}}}
    op: dict[str, Any] = {"operationId": operation, "summary": summary,
                          "responses": responses}
    if params:
        op["parameters"] = params
    return op


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (paths relative to the server URL ``/api/v1``)."""
    stream = [_APP, _NAME]
    return {
        "openapi": "3.1.0",
        "info": {"title": "grtmp operator API", "version": __version__,
                 "description": "Streams, sessions and actions of a grtmp server. Access: "
                                "bearer token (api_token), address allow list (api_allow); "
                                "with neither, loopback only."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {}],
        "paths": {
            "/": {"get": _op("index", "Version and links", "Index")},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OK", "content": {
                    "application/json": {"schema": {"type": "object"}}}}}}},
            "/streams": {"get": _op("listStreams", "Every stream", "StreamList", params=[
                _query("app", "only this app")])},
            "/streams/{app}/{name}": {"get": _op("getStream", "One stream", "Stream",
                                                 ("404",), stream)},
            "/publishers/{app}/{name}": {"delete": _op(
                "dropPublisher", "Disconnect the stream's publisher", "DropResult",
                ("404", "409"), stream)},
            "/recordings": {"get": _op("listRecordings", "Streams being recorded",
                                       "RecordingList")},
            "/recordings/{app}/{name}": {
                "post": _op("startRecording", "Record the stream to its app's record_dir",
                            "RecordingAction", ("404", "409", "500"), stream),
                "delete": _op("stopRecording", "Stop recording the stream", "RecordingAction",
                              ("404", "409"), stream)},
            "/relays": {"get": _op("listRelays", "Pulls and pushes", "RelayList")},
            "/pushes/{app}/{name}": {
                "post": {**_op("addPush", "Push the live stream to a URL too", "Push",
                               ("400", "404", "409"), stream),
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": _ref("PushRequest")}}}},
                "delete": _op("removePush", "Stop pushing the stream to a URL", "Push",
                              ("400", "404", "409"), [*stream, {
                                  "name": "url", "in": "query", "required": True,
                                  "schema": _STR, "description": "the push target"}])},
            "/sessions": {"get": _op("listSessions", "Every client session", "SessionList",
                                     params=[_query("app", "app (of a stream played or "
                                                           "published, or connected to)"),
                                             _query("name", "stream name"),
                                             _query("protocol", "rtmp, http-flv..."),
                                             _query("role", "publisher, player or idle")])},
            "/sessions/{id}": {
                "get": _op("getSession", "One session", "Session", ("404",), [_ID]),
                "delete": _op("kickSession", "Disconnect the session", "Session", ("404",),
                              [_ID])},
            "/config": {"get": _op("getConfig", "The running configuration", "Config")},
            "/reload": {"post": _op("reloadConfig", "Re-read the configuration file",
                                    "ReloadResult", ("409", "422"))},
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
