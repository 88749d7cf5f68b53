"""The JSON API against a real in-process server with raw RTMP peers (and one FFmpeg peer)."""

from __future__ import annotations

import io
import os

import gevent
import pytest

from grtmp.config import ServerConfig
from grtmp.ops.access import Denied, check_access
from grtmp.ops.api import make_api
from grtmp.wire.message import AUDIO, VIDEO
from tests.helpers import AAC_HEADER, AVC_HEADER, aac, inter, key, status_of, wait_until


def _publish(env, peers, name="cam", app="live", frames=30):
    pub = peers(env.port)
    pub.connect(app)
    pub.publish(name, pub.create_stream())
    sent = [AVC_HEADER, AAC_HEADER]
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(AUDIO, 0, AAC_HEADER)
    for i in range(frames):
        payload = (key if i % 10 == 0 else inter)(i % 256)
        pub.media(VIDEO, i * 40, payload)
        pub.media(AUDIO, i * 40, aac(i % 256))
        sent += [payload, aac(i % 256)]
    return pub, sum(len(p) for p in sent)


def _play(env, peers, name="cam", app="live"):
    p = peers(env.port)
    p.connect(app)
    p.play(name, p.create_stream())
    return p


def _call(app, method, path, remote="127.0.0.1", headers=None):
    """Call the WSGI app directly (any client address)."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
               "QUERY_STRING": "", "REMOTE_ADDR": remote, "wsgi.input": io.BytesIO()}
    environ.update(headers or {})
    out = {}

    def start_response(status, hdrs):
        out["status"] = int(status.split()[0])
        out["headers"] = dict(hdrs)

    body = b"".join(app(environ, start_response))
    return out["status"], out["headers"], body


def test_index_unknown_path_and_wrong_method_answer_json(make_ops):
    env = make_ops()
    r = env.get("/api/v1/")
    assert r.status == 200
    index = r.json()
    assert index["server"] == "grtmp" and index["links"]["streams"] == "/api/v1/streams"
    r = env.get("/api/v1/nothing/here")
    assert r.status == 404 and r.json()["message"] == "no such resource"
    r = env.request("PUT", "/api/v1/streams")
    assert r.status == 405 and r.headers["allow"] == "GET"
    assert r.json() == {"status": 405, "error": "Method Not Allowed",
                        "message": "PUT is not allowed here"}
    r = env.request("POST", "/api/v1/sessions/1")
    assert r.status == 405 and r.headers["allow"] == "DELETE, GET"
    assert env.get("/api/v1/streams/live/nobody").json()["message"] == "no stream live/nobody"


def test_streams_list_and_get(make_ops, peers):
    env = make_ops()
    pub, sent_bytes = _publish(env, peers)
    players = [_play(env, peers) for _ in range(2)]
    assert wait_until(lambda: env.hub.get("live", "cam").bytes_in == sent_bytes, 5)
    streams = env.get("/api/v1/streams").json()["streams"]
    assert len(streams) == 1
    s = streams[0]
    assert (s["app"], s["name"], s["live"]) == ("live", "cam", True)
    assert s["players"]["rtmp"] == 2 and s["players_total"] == 2
    assert s["players"]["http-flv"] == 0
    assert s["bytes_in"] == sent_bytes and s["messages_in"] == 62
    assert s["video"]["codec"] == "avc" and s["audio"]["codec"] == "aac"
    assert s["audio"]["sample_rate"] == 44100
    assert s["video"]["keyframe_interval"] == 0.4  # keyframes every 10 frames of 40 ms
    assert s["uptime"] >= 0 and s["recording"] is None
    sessions = {x["id"]: x for x in env.get("/api/v1/sessions").json()["sessions"]}
    assert sessions[s["publisher"]["session"]]["role"] == "publisher"
    assert s["publisher"]["peer"] == pub.name and s["publisher"]["protocol"] == "rtmp"
    one = env.get("/api/v1/streams/live/cam").json()
    assert one["name"] == "cam" and one["players_total"] == 2
    # Players got the catch-up at least: the stream's bytes out count what they were sent.
    for p in players:
        p.read_for(0.3)
    assert env.get("/api/v1/streams/live/cam").json()["bytes_out"] > 0
    assert env.get("/api/v1/streams?app=other").json() == {"streams": []}


def test_stream_with_slash_in_app_is_found(make_ops, peers):
    env = make_ops()
    _publish(env, peers, name="cam", app="live/sub", frames=1)
    assert wait_until(lambda: env.hub.get("live/sub", "cam") is not None, 5)
    s = env.get("/api/v1/streams/live/sub/cam").json()
    assert (s["app"], s["name"]) == ("live/sub", "cam")
    assert env.get("/api/v1/streams/live%2Fsub/cam").json()["app"] == "live/sub"


def test_real_publisher_codecs_resolution_fps_and_bitrate(make_ops, av_peers):
    env = make_ops()
    url = f"rtmp://127.0.0.1:{env.port}/live/av"
    pub = av_peers("publish", url, "--frames", "100", "--fps", "25", "--gop", "25",
                   "--width", "320", "--height", "240")
    try:
        assert wait_until(lambda: (s := env.hub.get("live", "av")) is not None
                          and s.video_frames >= 75, 30)
        s = env.get("/api/v1/streams/live/av").json()
    finally:
        pub.kill()
    assert s["video"]["codec"] == "avc"
    assert (s["video"]["width"], s["video"]["height"]) == (320, 240)
    assert s["audio"]["codec"] == "aac"
    assert s["video"]["keyframe_interval"] == 1.0
    assert 20 <= s["video"]["fps"] <= 30, s["video"]
    assert s["bitrate_in"] > 10_000 and s["bitrate_out"] == 0


def test_sessions_list_filter_get_and_kick(make_ops, peers):
    env = make_ops()
    _publish(env, peers, frames=2)
    player = _play(env, peers)
    idle = peers(env.port)
    idle.connect("live")
    sessions = env.get("/api/v1/sessions").json()["sessions"]
    assert sorted(s["role"] for s in sessions) == ["idle", "player", "publisher"]
    players = env.get("/api/v1/sessions?role=player").json()["sessions"]
    assert [s["peer"] for s in players] == [player.name]
    assert players[0]["playing"][0]["name"] == "cam" and players[0]["lag_ms"] >= 0
    assert players[0]["dropped"] == 0 and players[0]["protocol"] == "rtmp"
    on_cam = env.get("/api/v1/sessions?app=live&name=cam").json()["sessions"]
    assert len(on_cam) == 2
    assert env.get("/api/v1/sessions?protocol=hls").json()["sessions"] == []
    sid = players[0]["id"]
    assert env.get(f"/api/v1/sessions/{sid}").json()["peer"] == player.name
    r = env.request("DELETE", f"/api/v1/sessions/{sid}")
    assert r.status == 200 and r.json()["id"] == sid
    assert player.eof(5)
    assert wait_until(lambda: sid not in env.hub.sessions, 5)
    assert env.get(f"/api/v1/sessions/{sid}").status == 404
    r = env.request("DELETE", f"/api/v1/sessions/{sid}")
    assert r.status == 404 and r.json()["message"] == f"no session {sid}"


def test_drop_publisher_players_stay(make_ops, peers):
    env = make_ops()
    pub, _ = _publish(env, peers, frames=2)
    player = _play(env, peers)
    r = env.request("DELETE", "/api/v1/publishers/live/cam")
    assert r.status == 200 and r.json()["name"] == "cam"
    assert pub.eof(5)
    msgs = player.read_until(lambda m: status_of(m) == "NetStream.Play.UnpublishNotify")
    assert msgs
    assert wait_until(lambda: not env.hub.get("live", "cam").is_live, 5)
    s = env.get("/api/v1/streams/live/cam").json()
    assert s["live"] is False and s["players_total"] == 1 and s["publisher"] is None
    r = env.request("DELETE", "/api/v1/publishers/live/cam")
    assert r.status == 409 and r.json()["message"] == "live/cam has no publisher"
    assert env.request("DELETE", "/api/v1/publishers/live/none").status == 404


def test_recording_start_stop_and_list(make_ops, peers, tmp_path):
    rec = tmp_path / "rec"
    env = make_ops(f'[apps.live]\nrecord_dir = "{rec}"\nrecord_auto = false\n')
    pub, _ = _publish(env, peers, frames=2)
    assert wait_until(lambda: env.hub.get("live", "cam") is not None, 5)
    assert env.hub.get("live", "cam").recorder is None  # record_auto = false
    r = env.request("POST", "/api/v1/recordings/live/cam")
    assert r.status == 200
    path = r.json()["path"]
    assert path.startswith(str(rec / "live" / "cam-")) and path.endswith(".flv")
    assert env.request("POST", "/api/v1/recordings/live/cam").status == 409
    listed = env.get("/api/v1/recordings").json()["recordings"]
    assert [(x["name"], x["path"], x["manual"]) for x in listed] == [("cam", path, True)]
    assert env.get("/api/v1/streams/live/cam").json()["recording"]["path"] == path
    for i in range(10, 20):
        pub.media(VIDEO, i * 40, (key if i % 10 == 0 else inter)(i))
    assert wait_until(lambda: env.hub.get("live", "cam").recorder.tags >= 10, 5)
    r = env.request("DELETE", "/api/v1/recordings/live/cam")
    assert r.status == 200 and r.json()["path"] == path
    assert os.path.getsize(path) > 13 + 10 * 20
    with open(path, "rb") as f:
        assert f.read(3) == b"FLV"
    assert env.request("DELETE", "/api/v1/recordings/live/cam").json()["message"] == \
        "live/cam is not being recorded"
    other = make_ops()
    _publish(other, peers, frames=1)
    assert wait_until(lambda: other.hub.get("live", "cam") is not None, 5)
    r = other.request("POST", "/api/v1/recordings/live/cam")
    assert r.status == 409 and "no record_dir" in r.json()["message"]


def test_config_and_reload_endpoints(make_ops, tmp_path):
    env = make_ops(max_players_per_stream=3, api_token="s3cret",
                   stream_keys={"cam": "k"})
    env.headers = {"Authorization": "Bearer s3cret"}
    cfg = env.get("/api/v1/config").json()
    assert cfg["max_players_per_stream"] == 3 and cfg["api_token"] == "(set)"
    assert cfg["stream_keys"] == {"cam": "(set)"}
    r = env.request("POST", "/api/v1/reload")
    assert r.status == 409 and "no configuration file" in r.json()["message"]

    env = make_ops("max_players_per_stream = 3\n")
    env.write_config("max_players_per_stream = 5\n[apps.tv]\nqueue_size = 64\n")
    r = env.request("POST", "/api/v1/reload")
    assert r.status == 200
    result = r.json()
    assert result["ok"] is True and result["changed"] == ["max_players_per_stream", "apps.tv"]
    assert env.get("/api/v1/config").json()["apps"]["tv"]["queue_size"] == 64
    env.write_config("max_players_per_stream = 5\n\n[apps.tv]\nqueue_size = 0\n")
    r = env.request("POST", "/api/v1/reload")
    assert r.status == 422
    body = r.json()
    assert body["message"].endswith(".toml:4: apps.tv.queue_size: must be at least 1")
    assert body["result"]["ok"] is False
    assert env.hub.config.apps["tv"].queue_size == 64  # the running config stays


def test_token_guards_api_and_metrics(make_ops):
    env = make_ops(api_token="s3cret")
    for path in ("/api/v1/streams", "/metrics"):
        r = env.get(path)
        assert r.status == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert env.get(path, headers={"Authorization": "Bearer nope"}).status == 401
        assert env.get(path, headers={"Authorization": "Basic s3cret"}).status == 401
        assert env.get(path, headers={"Authorization": "Bearer s3cret"}).status == 200
    assert "bearer token" in env.get("/api/v1/streams").json()["message"]
    # With a token, other addresses are answered too (the token is the guard).
    app = make_api(env.ops)
    status, _, _ = _call(app, "GET", "/api/v1/streams", remote="203.0.113.9",
                         headers={"HTTP_AUTHORIZATION": "Bearer s3cret"})
    assert status == 200


def test_loopback_only_without_token_or_allow_list(make_ops):
    env = make_ops()
    app = make_api(env.ops)
    assert _call(app, "GET", "/api/v1/streams")[0] == 200
    assert _call(app, "GET", "/api/v1/streams", remote="::1")[0] == 200
    status, headers, body = _call(app, "GET", "/api/v1/streams", remote="192.0.2.7")
    assert status == 403 and headers["Content-Type"] == "application/json"
    assert b"loopback" in body


@pytest.mark.parametrize(("config", "remote", "token", "expect"), [
    ({"api_allow": ["10.0.0.0/8"]}, "10.1.2.3", None, None),
    ({"api_allow": ["10.0.0.0/8"]}, "::ffff:10.1.2.3", None, None),
    ({"api_allow": ["10.0.0.0/8"]}, "127.0.0.1", None, 403),  # the list replaces loopback
    ({"api_allow": ["10.0.0.0/8"], "api_token": "t"}, "10.1.2.3", None, 401),
    ({"api_allow": ["10.0.0.0/8"], "api_token": "t"}, "10.1.2.3", "t", None),
    ({"api_allow": ["10.0.0.0/8"], "api_token": "t"}, "192.0.2.1", "t", 403),
    ({}, "garbage", None, 403),
])
def test_access_rules(config, remote, token, expect):
    environ = {"REMOTE_ADDR": remote}
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if expect is None:
        check_access(environ, ServerConfig(**config))
    else:
        with pytest.raises(Denied) as info:
            check_access(environ, ServerConfig(**config))
        assert info.value.status == expect


def test_allow_list_through_http(make_ops):
    env = make_ops(api_allow=["127.0.0.0/8"])
    assert env.get("/api/v1/streams").status == 200
    env.hub.config = ServerConfig(api_allow=["10.0.0.0/8"])  # as a reload would
    r = env.get("/api/v1/streams")
    assert r.status == 403 and "api_allow" in r.json()["message"]


def test_an_internal_error_is_a_json_500_and_the_api_keeps_serving(make_ops, monkeypatch):
    env = make_ops()
    from grtmp.ops import api

    def boom(*a):
        raise RuntimeError("bug")

    monkeypatch.setattr(api, "stream_view", boom)
    env.hub.get_or_create("live", "x")
    r = env.get("/api/v1/streams")
    assert r.status == 500 and r.json()["message"] == "internal error"
    monkeypatch.undo()
    assert env.get("/api/v1/streams").status == 200
    gevent.sleep(0)
