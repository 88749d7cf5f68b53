"""The OpenAPI document describes the real routes, and real answers match its schemas."""

from __future__ import annotations

import json

import jsonschema
from openapi_spec_validator import validate

from grtmp.ops.api import ROUTES
from grtmp.wire.message import VIDEO
from tests.helpers import AVC_HEADER, key, wait_until

_METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


def _operations(spec):
    return {(method.upper(), path): op for path, item in spec["paths"].items()
            for method, op in item.items() if method in _METHODS}


def test_served_document_is_valid_openapi_and_lists_exactly_the_routes(make_ops):
    env = make_ops()
    r = env.get("/api/v1/openapi.json")
    assert r.status == 200
    spec = r.json()
    validate(spec)  # OpenAPI 3.1 structure, every $ref resolves
    assert spec["openapi"].startswith("3.")
    ops = _operations(spec)
    assert set(ops) == {(route.method, route.path) for route in ROUTES}
    for route in ROUTES:
        assert ops[(route.method, route.path)]["operationId"] == route.operation
        for name in (p[1:-1] for p in route.parts if p.startswith("{")):
            assert name in {p["name"] for p in ops[(route.method, route.path)]["parameters"]
                            if p["in"] == "path"}


def _check(spec, method, path, response):
    """The answer's status is documented for the operation and its body fits the schema."""
    op = _operations(spec)[(method, path)]
    documented = op["responses"].get(str(response.status))
    assert documented is not None, (method, path, response.status, response.body[:200])
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": spec["components"]}).validate(
        response.json())


def test_every_operation_answers_what_the_document_says(make_ops, peers, tmp_path):
    env = make_ops(f'record_dir = "{tmp_path}"\nrecord_auto = false\n')
    spec = env.get("/api/v1/openapi.json").json()
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("cam", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(VIDEO, 0, key(1))
    player = peers(env.port)
    player.connect("live")
    player.play("cam", player.create_stream())
    assert wait_until(lambda: env.hub.get("live", "cam").video_frames == 1, 5)
    player_id = next(sid for sid, s in env.hub.sessions.items() if s.playing)
    mirror = f"rtmp://127.0.0.1:{env.port}/mirror/cam"

    calls = [
        ("GET", "/", "/api/v1/"),
        ("GET", "/openapi.json", "/api/v1/openapi.json"),
        ("GET", "/streams", "/api/v1/streams"),
        ("GET", "/streams/{app}/{name}", "/api/v1/streams/live/cam"),
        ("GET", "/streams/{app}/{name}", "/api/v1/streams/live/nope"),
        ("GET", "/recordings", "/api/v1/recordings"),
        ("POST", "/recordings/{app}/{name}", "/api/v1/recordings/live/cam"),
        ("POST", "/recordings/{app}/{name}", "/api/v1/recordings/live/cam"),  # 409
        ("GET", "/recordings", "/api/v1/recordings"),
        ("DELETE", "/recordings/{app}/{name}", "/api/v1/recordings/live/cam"),
        ("DELETE", "/recordings/{app}/{name}", "/api/v1/recordings/live/cam"),  # 409
        ("GET", "/sessions", "/api/v1/sessions"),
        ("GET", "/sessions/{id}", f"/api/v1/sessions/{player_id}"),
        ("GET", "/sessions/{id}", "/api/v1/sessions/zzz"),
        ("GET", "/config", "/api/v1/config"),
        ("POST", "/pushes/{app}/{name}", "/api/v1/pushes/live/cam", {"url": mirror}),
        ("POST", "/pushes/{app}/{name}", "/api/v1/pushes/live/cam", {"url": "http://x"}),
        ("POST", "/pushes/{app}/{name}", "/api/v1/pushes/live/cam", [1]),
        ("GET", "/relays", "/api/v1/relays"),
        ("DELETE", "/pushes/{app}/{name}", f"/api/v1/pushes/live/cam?url={mirror}"),
        ("DELETE", "/pushes/{app}/{name}", f"/api/v1/pushes/live/cam?url={mirror}"),  # 404
        ("DELETE", "/pushes/{app}/{name}", "/api/v1/pushes/live/cam"),  # 400: no url
        ("POST", "/reload", "/api/v1/reload"),
        ("DELETE", "/sessions/{id}", f"/api/v1/sessions/{player_id}"),
        ("DELETE", "/sessions/{id}", "/api/v1/sessions/zzz"),
        ("DELETE", "/publishers/{app}/{name}", "/api/v1/publishers/live/cam"),
    ]
    seen = set()
    for method, template, url, *body in calls:
        data = json.dumps(body[0]).encode() if body else b""
        r = env.request(method, url, body=data)
        _check(spec, method, template, r)
        seen.add((method, template))
        if template == "/sessions/{id}" and method == "DELETE" and r.status == 200:
            assert wait_until(lambda: player_id not in env.hub.sessions, 5)
    assert wait_until(lambda: not env.hub.get("live", "cam") or
                      not env.hub.get("live", "cam").is_live, 5)
    r = env.request("DELETE", "/api/v1/publishers/live/cam")
    _check(spec, "DELETE", "/publishers/{app}/{name}", r)
    assert r.status == 404  # the stream ended with its publisher (no player left)
    env.write_config("port = \"x\"\n")
    r = env.request("POST", "/api/v1/reload")
    assert r.status == 422
    _check(spec, "POST", "/reload", r)
    assert seen == set(_operations(spec))  # every operation was called
    env.hub.config = type(env.hub.config)(api_token="t")
    r = env.get("/api/v1/streams")
    assert r.status == 401
    _check(spec, "GET", "/streams", r)
