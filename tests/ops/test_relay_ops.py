"""Relays (push, pull) as operators see and steer them: per-app config, reload, API, metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from grtmp.wire.message import VIDEO
from tests.helpers import AVC_HEADER, inter, key, wait_until


def _metrics(env) -> dict:
    out = {}
    for family in text_string_to_metric_families(env.get("/metrics").body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _live(env, app, name):
    s = env.hub.get(app, name)
    return s is not None and s.is_live


def test_app_push_targets_follow_reloads_and_show_in_api_and_metrics(make_ops, peers):
    target = make_ops()
    first = f"rtmp://127.0.0.1:{target.port}/mirror/{{name}}"
    env = make_ops(f'[apps.live]\npush = ["{first}"]\n')
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("cam", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(VIDEO, 0, key(1))
    other = peers(env.port)
    other.connect("studio")  # no push in this app
    other.publish("cam", other.create_stream())
    assert wait_until(lambda: _live(target, "mirror", "cam"), 10)
    for i in range(2, 30):
        pub.media(VIDEO, i * 40, inter(i))
    url = first.format(name="cam")
    assert wait_until(lambda: target.hub.get("mirror", "cam").video_frames >= 20, 10)
    s = env.get("/api/v1/streams/live/cam").json()
    assert [(p["url"], p["state"], p["origin"]) for p in s["push"]] == [(url, "pushing",
                                                                          "config")]
    assert s["pull"] is None and s["players_total"] == 0  # a push is not a viewer
    assert env.get("/api/v1/streams/studio/cam").json()["push"] == []
    assert [p["name"] for p in env.get("/api/v1/relays").json()["pushes"]] == ["cam"]
    m = _metrics(env)
    assert m[("grtmp_relay_pushes", frozenset({("state", "pushing")}))] == 1
    key_ = frozenset({("app", "live"), ("stream", "cam"), ("target", url)})
    assert m[("grtmp_relay_push_bytes_out_total", key_)] > 28 * 8
    assert m[("grtmp_relay_push_connections_total", key_)] == 1
    # The app's push list changes: the running stream follows within a second.
    second = f"rtmp://127.0.0.1:{target.port}/backup/{{name}}"
    env.write_config(f'[apps.live]\npush = ["{second}"]\n')
    result = env.ops.reload()
    assert result["ok"] and result["changed"] == ["apps.live"]
    assert wait_until(lambda: _live(target, "backup", "cam"), 1.0)
    assert wait_until(lambda: not _live(target, "mirror", "cam"), 5)
    assert [p["url"] for p in env.get("/api/v1/streams/live/cam").json()["push"]] == \
        [second.format(name="cam")]
    # A push added through the API survives a reload that does not list it.
    extra = f"rtmp://127.0.0.1:{target.port}/extra/cam"
    r = env.request("POST", "/api/v1/pushes/live/cam", body=b'{"url": "%s"}' % extra.encode())
    assert r.status == 200 and r.json()["origin"] == "api"
    assert wait_until(lambda: _live(target, "extra", "cam"), 5)
    env.write_config("")
    env.ops.reload()
    assert wait_until(lambda: not _live(target, "backup", "cam"), 5)
    assert [p["url"] for p in env.get("/api/v1/streams/live/cam").json()["push"]] == [extra]
    r = env.request("DELETE", f"/api/v1/pushes/live/cam?url={extra}")
    assert r.status == 200
    assert wait_until(lambda: not _live(target, "extra", "cam"), 5)


def test_pull_state_in_api_and_metrics(make_ops, peers):
    origin = make_ops()
    pub = peers(origin.port)
    pub.connect("live")
    pub.publish("cam", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(VIDEO, 0, key(1))
    edge = make_ops(f'[apps.live]\npull = ["rtmp://127.0.0.1:{origin.port}/live/{{name}}"]\n')
    player = peers(edge.port)
    player.connect("live")
    player.play("cam", player.create_stream())
    assert wait_until(lambda: _live(edge, "live", "cam"), 10)
    s = edge.get("/api/v1/streams/live/cam").json()
    assert s["pull"]["state"] == "pulling" and s["pull"]["url"].endswith("/live/cam")
    assert s["publisher"]["protocol"] == "relay-pull" and s["players"]["rtmp"] == 1
    m = _metrics(edge)
    assert m[("grtmp_relay_pulls", frozenset({("state", "pulling")}))] == 1
    assert m[("grtmp_relay_pull_connections_total",
              frozenset({("app", "live"), ("stream", "cam")}))] == 1
    pulls = edge.get("/api/v1/relays").json()["pulls"]
    assert [(p["app"], p["name"], p["state"]) for p in pulls] == [("live", "cam", "pulling")]
    # The origin sees the edge's pull as one RTMP player.
    assert origin.get("/api/v1/streams/live/cam").json()["players"]["rtmp"] == 1
