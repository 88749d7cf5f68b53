"""The web app's rules: routes and bad input, hooks and HTTP callbacks, access rules and the
player cap, slow and broken clients, bounded blocking LL-HLS requests, viewers counted.

Servers run in this process (RTMP and the web app on one hub); clients are gevent sockets
(tests/helpers/web.py); media is synthetic FLV-shaped messages or a real encode.
"""

from __future__ import annotations

import gc
import json
import time
from urllib.parse import parse_qs

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from hypothesis import given
from hypothesis import strategies as st

from grtmp.auth import AccessList, HTTPCallbacks
from grtmp.errors import CommandError
from grtmp.formats.flv import FlvHeader, FlvTagWithSize
from grtmp.hooks import Hooks
from grtmp.live.packet import Packet
from grtmp.web import flv
from tests.helpers.hls import encode_flv, flv_messages
from tests.helpers.web import WSClient, publish, read_body, request

# -- synthetic media: an AVC-shaped stream (sequence header, keyframe every 25) -----------------
AVC_HEADER = bytes.fromhex("1700000000") + bytes.fromhex(
    "0142c00dffe100096742c00d8c8d40a0fa10010468ce3c80")


def _video(i: int, size: int = 200) -> tuple[int, int, bytes]:
    head = b"\x17\x01\x00\x00\x00" if i % 25 == 0 else b"\x27\x01\x00\x00\x00"
    return 9, i * 40, head + bytes([i % 251]) * size


def _synthetic(frames: int, size: int = 200) -> list[tuple[int, int, bytes]]:
    return [(9, 0, AVC_HEADER)] + [_video(i, size) for i in range(frames)]


_h264: list = []


def _real() -> list[tuple[int, int, bytes]]:
    """8 s of real H.264 + AAC (160x120, keyframe every second)."""
    if not _h264:
        _h264.extend(flv_messages(encode_flv("libx264", "aac", seconds=8.0)))
    return _h264


def _wait(cond, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        gevent.sleep(0.05)


# -- routes and bad input -------------------------------------------------------------------------
def test_status_page_static_files_and_json(make_stack) -> None:
    stack = make_stack()
    page = request(stack.http, "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    for script in (b"static/vendor/mpegts.js", b"static/vendor/hls.min.js", b"static/app.js"):
        assert script in page.body
    for path in ("/static/vendor/mpegts.js", "/static/vendor/hls.min.js",
                 "/static/vendor/LICENSE.hls.js.txt", "/static/vendor/LICENSE.mpegts.js.txt",
                 "/static/app.js", "/static/style.css"):
        r = request(stack.http, path)
        assert r.status == 200 and len(r.body) > 100, path
    assert request(stack.http, "/static/vendor/mpegts.js", method="HEAD").body == b""
    pub = gevent.spawn(publish, stack.rtmp_url("live/cam"), _real(), speed=4.0)
    _wait(lambda: stack.rtmp.hub.get("live", "cam") is not None
          and stack.rtmp.hub.get("live", "cam").gop.packets, what="the first GOP")
    status = json.loads(request(stack.http, "/status.json").body)
    (cam,) = status["streams"]
    assert cam["app"] == "live" and cam["name"] == "cam" and cam["live"] is True
    assert (cam["video"], cam["audio"], cam["width"], cam["height"]) == ("avc", "aac", 160, 120)
    assert cam["fps"] == 25.0 and cam["bitrate"] > 0
    pub.kill()


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nothing", 404),
    ("GET", "/a/b/c/d", 404),
    ("GET", "/static/../app.py", 404),
    ("GET", "/static/vendor/none.js", 404),
    ("POST", "/live/x.flv", 405),
    ("DELETE", "/live/x/index.m3u8", 405),
    ("PUT", "/", 405),
    ("GET", "/live/%01bad.flv", 400),
    ("GET", "/live/" + "n" * 300 + ".flv", 400),
    ("GET", "/live/x/index.m3u8?_HLS_msn=abc", 400),
    ("GET", "/live/x/index.m3u8?_HLS_part=1", 400),
    ("GET", "/live/x/notes.txt", 404),
    ("GET", "/" + "x/" * 2000, 404),
])
def test_bad_paths_and_methods(make_stack, method: str, path: str, status: int) -> None:
    stack = make_stack(wait_for_publisher=False)
    r = request(stack.http, path, method=method)
    assert r.status == status, (path, r.status, r.body)
    if status == 405:
        assert "GET" in r.headers["allow"]
    assert request(stack.http, "/").status == 200  # the server is unaffected


def test_unknown_stream_is_404_under_the_no_wait_rule(make_stack) -> None:
    stack = make_stack(wait_for_publisher=False)
    for path in ("/live/none.flv", "/live/none/index.m3u8", "/live/none/seg0.m4s"):
        t0 = time.monotonic()
        assert request(stack.http, path).status == 404, path
        assert time.monotonic() - t0 < 2
    ws = WSClient(stack.http, "/live/none.flv")
    assert ws.accepted is False and ws.status == 404
    assert not stack.rtmp.hub.streams and not stack.rtmp.hub.sessions


def test_cors_preflight_and_headers(make_stack) -> None:
    stack = make_stack(cors_origin="https://example.org")
    r = request(stack.http, "/live/x.flv", method="OPTIONS",
                headers={"Origin": "https://example.org",
                         "Access-Control-Request-Method": "GET"})
    assert r.status == 204
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    assert "GET" in r.headers["access-control-allow-methods"]
    none = make_stack(cors_origin="", wait_for_publisher=False)
    assert "access-control-allow-origin" not in request(none.http, "/live/x.flv").headers


def test_flv_header_flags_follow_the_stream(make_stack) -> None:
    stack = make_stack()
    video_only = gevent.spawn(publish, stack.rtmp_url("live/v"), _synthetic(100), speed=4.0)
    _wait(lambda: stack.rtmp.hub.get("live", "v") is not None
          and stack.rtmp.hub.get("live", "v").gop.packets, what="a GOP")
    body = request(stack.http, "/live/v.flv", body_limit=13, timeout=10).body
    header = FlvHeader.parse(body[:9])
    assert header.flags.has_video and not header.flags.has_audio
    video_only.kill()
    waiting = request(stack.http, "/live/later.flv", body_limit=13, timeout=10).body
    flags = FlvHeader.parse(waiting[:9]).flags
    assert flags.has_audio and flags.has_video  # nothing known yet: both


@given(st.sampled_from([8, 9, 18]), st.integers(0, 0xFFFFFFFF), st.binary(max_size=300))
def test_flv_tag_bytes_match_the_construct_declaration(type_id: int, ts: int,
                                                       payload: bytes) -> None:
    packet = Packet(type_id, ts, payload)
    tag = flv.flv_tag(packet)
    parsed = FlvTagWithSize.parse(tag)
    assert int(parsed.tag.header.type.tag_type) == type_id
    assert parsed.tag.header.timestamp == ts and parsed.tag.data == payload
    assert parsed.previous_tag_size == 11 + len(payload)
    assert flv.flv_tag(packet) is tag  # built once per packet
    assert flv.chunked_tag(packet) == b"%x\r\n" % len(tag) + tag + b"\r\n"


# -- hooks, callbacks, access, limits ------------------------------------------------------------
class _Recorder(Hooks):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_play(self, conn, name, params):
        self.calls.append(("play", conn.protocol, conn.app, name, dict(params), conn.peer))
        if name == "secret":
            raise CommandError("no", "NetStream.Play.Forbidden")
        if name == "old":
            return "new?from=old"
        return None

    def on_play_done(self, conn, name, params):
        self.calls.append(("done", conn.protocol, conn.app, name, dict(params)))


def test_hooks_decide_web_viewers(make_stack) -> None:
    hooks = _Recorder()
    stack = make_stack(hooks=hooks, hls_segment_duration=1.0)
    pub = gevent.spawn(publish, stack.rtmp_url("live/new"), _real(), speed=1.0)
    _wait(lambda: stack.rtmp.hub.get("live", "new") is not None
          and stack.rtmp.hub.get("live", "new").gop.packets, what="a GOP")
    assert request(stack.http, "/live/secret.flv").status == 403
    assert request(stack.http, "/live/secret/index.m3u8").status == 403
    body = request(stack.http, "/live/old.flv?token=abc", body_limit=2000).body
    assert body[:3] == b"FLV" and len(body) >= 2000  # redirected to the live stream "new"
    ws = WSClient(stack.http, "/live/new.flv?k=v")
    ws.read_until(count=5)
    ws.close()
    assert request(stack.http, "/live/new/index.m3u8?_HLS_msn=0&x=1", timeout=15).status == 200
    _wait(lambda: sum(1 for c in hooks.calls if c[0] == "done") >= 2, what="on_play_done")
    plays = [c for c in hooks.calls if c[0] == "play"]
    assert ("play", "http-flv", "live", "old", {"token": "abc"}) in [p[:5] for p in plays]
    assert ("play", "hls", "live", "secret", {}) in [p[:5] for p in plays]
    assert ("play", "ws-flv", "live", "new", {"k": "v"}) in [p[:5] for p in plays]
    assert ("play", "hls", "live", "new", {"x": "1"}) in [p[:5] for p in plays]  # no _HLS_
    done = [c for c in hooks.calls if c[0] == "done"]
    assert ("done", "http-flv", "live", "new", {"token": "abc", "from": "old"}) in done
    assert ("done", "ws-flv", "live", "new", {"k": "v"}) in done
    stack.app.hls.housekeep(now=time.monotonic() + 3600)  # the HLS viewer's window passes
    assert ("done", "hls", "live", "new", {"x": "1"}) in hooks.calls
    pub.kill()


def test_http_callbacks_get_the_query_string(make_stack) -> None:
    posts: list[dict] = []

    def callback_app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        posts.append(form)
        status = "403 Forbidden" if form.get("name") == "denied" else "200 OK"
        start_response(status, [("Content-Length", "0")])
        return []

    cb = WSGIServer(("127.0.0.1", 0), callback_app, log=None)
    cb.start()
    try:
        url = f"http://127.0.0.1:{cb.server_port}/cb"
        stack = make_stack(hooks=HTTPCallbacks(on_play=url, on_play_done=url))
        assert request(stack.http, "/live/denied.flv?key=1").status == 403
        r = request(stack.http, "/live/cam.flv?key=s3cret", keep_open=True)
        assert r.status == 200
        r.sock.close()
        _wait(lambda: any(p["call"] == "play_done" for p in posts), what="play_done POST")
    finally:
        cb.stop(timeout=2)
    play = next(p for p in posts if p["call"] == "play" and p["name"] == "cam")
    assert play["key"] == "s3cret" and play["app"] == "live" and play["addr"] == "127.0.0.1"
    assert play["tcurl"].startswith("http://127.0.0.1:") and play["tcurl"].endswith("/live")
    assert next(p for p in posts if p["call"] == "play_done")["key"] == "s3cret"


def test_access_rules_refuse_web_viewers(make_stack) -> None:
    stack = make_stack(hooks=AccessList(["deny play 127.0.0.0/8"]))
    for path in ("/live/x.flv", "/live/x/index.m3u8"):
        r = request(stack.http, path)
        assert r.status == 403 and b"not allowed" in r.body, path
    assert WSClient(stack.http, "/live/x.flv").status == 403


def test_player_cap_counts_web_viewers(make_stack) -> None:
    stack = make_stack(max_players_per_stream=1, hls_segment_duration=1.0)
    pub = gevent.spawn(publish, stack.rtmp_url("live/cap"), _real(), speed=1.0)
    _wait(lambda: stack.rtmp.hub.get("live", "cap") is not None, what="the publish")
    first = request(stack.http, "/live/cap.flv", keep_open=True)
    assert first.status == 200
    assert request(stack.http, "/live/cap.flv").status == 503
    assert WSClient(stack.http, "/live/cap.flv").status == 503
    first.sock.close()
    _wait(lambda: not stack.rtmp.hub.get("live", "cap").players, what="the viewer to go")
    # one HLS viewer takes the one place; a second distinct client is refused
    assert request(stack.http, "/live/cap/index.m3u8", timeout=15).status == 200
    r = request(stack.http, "/live/cap/index.m3u8", headers={"User-Agent": "other"})
    assert r.status == 503
    # The HLS viewer counts against the cap for every protocol, its muxer does not.
    assert stack.rtmp.hub.get("live", "cap").viewers() == 1
    assert request(stack.http, "/live/cap.flv").status == 503
    pub.kill()


def test_the_hls_muxer_is_not_a_viewer(make_stack) -> None:
    stack = make_stack(max_players_per_stream=1, hls_segment_duration=1.0, hls_always=True)
    pub = gevent.spawn(publish, stack.rtmp_url("live/mux"), _real(), speed=1.0)
    _wait(lambda: stack.rtmp.hub.get("live", "mux") is not None
          and stack.rtmp.hub.get("live", "mux").players, what="the muxer")
    assert stack.rtmp.hub.get("live", "mux").viewers() == 0
    first = request(stack.http, "/live/mux.flv", keep_open=True)  # the one place
    assert first.status == 200
    first.sock.close()
    pub.kill()


# -- slow and broken clients ----------------------------------------------------------------------
def test_a_client_that_never_reads_is_dropped_and_slows_nobody(make_stack) -> None:
    stack = make_stack(queue_size=32, max_lag_seconds=1.0)
    messages = _synthetic(25 * 20, size=60_000)  # 12 Mbit/s for 20 s
    pub = gevent.spawn(publish, stack.rtmp_url("live/fat"), messages, speed=2.0)
    _wait(lambda: stack.rtmp.hub.get("live", "fat") is not None, what="the publish")
    stuck = request(stack.http, "/live/fat.flv", keep_open=True)  # never reads again
    ws_stuck = WSClient(stack.http, "/live/fat.flv")  # nor does this one
    good = request(stack.http, "/live/fat.flv", keep_open=True)
    t0 = time.monotonic()
    body = read_body(good, timeout=30, limit=20_000_000)
    assert len(body) >= 20_000_000
    hub = stack.rtmp.hub
    _wait(lambda: len([s for s in hub.sessions.values()
                       if getattr(s, "protocol", "") in ("http-flv", "ws-flv")]) == 1,
          timeout=15, what="the stuck viewers to be dropped")
    assert time.monotonic() - t0 < 25
    stuck.sock.close()
    ws_stuck.close()
    good.sock.close()
    pub.get(timeout=30)  # the publisher was never held up


def test_websocket_garbage_and_bad_handshakes(make_stack) -> None:
    stack = make_stack()
    pub = gevent.spawn(publish, stack.rtmp_url("live/ws"), _synthetic(1000), speed=1.0)
    _wait(lambda: stack.rtmp.hub.get("live", "ws") is not None, what="the publish")
    good = WSClient(stack.http, "/live/ws.flv")
    bad = WSClient(stack.http, "/live/ws.flv")
    bad.send_raw(b"\x81\x05hello" + bytes(range(256)))  # unmasked, then noise
    bad.read_until(timeout=10)
    assert bad.closed is not None and bad.closed.code == 1002
    for headers, status in (
            ({"Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAA=="},
             426),
            ({"Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, 400),
            ({"Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAA=="}, 400)):
        assert request(stack.http, "/live/ws.flv", headers=headers).status == status
    n = len(good.messages)
    good.read_until(count=n + 20, timeout=10)  # still playing
    good.close()
    pub.kill()


def test_thousands_of_blocking_playlist_requests_are_bounded(make_stack) -> None:
    """2000 requests for a part that never comes: at most ``hls_max_waiting`` wait (the rest
    get 503 at once), all end within the block timeout, and when the clients have gone no
    greenlet, waiter or viewer is left."""
    stack = make_stack(hls_segment_duration=1.0, hls_part_duration=0.25, hls_max_waiting=1500)
    messages = _real()[:40]
    silent = publish(stack.rtmp_url("live/block"), messages, realtime=False, keep_open=True)
    stack.rtmp.hub.get("live", "block")
    first = request(stack.http, "/live/block/index.m3u8", timeout=15)
    assert first.status in (200, 503)
    muxer = stack.app.hls.muxers[("live", "block")]
    msn = muxer.hls.segmenter.open_msn
    gc.collect()
    before = sum(1 for o in gc.get_objects() if isinstance(o, gevent.Greenlet))
    results: list[int] = []

    def one(i: int) -> None:
        try:
            r = request(stack.http, f"/live/block/index.m3u8?_HLS_msn={msn}&_HLS_part=3",
                        headers={"User-Agent": f"client-{i % 50}"}, timeout=20)
            results.append(r.status)
        except OSError:
            results.append(0)

    clients = [gevent.spawn(one, i) for i in range(2000)]
    _wait(lambda: muxer.waiting >= 1500 or len(results) >= 500, timeout=30,
          what="the requests to arrive")
    peak = muxer.waiting
    gevent.joinall(clients, timeout=30)
    assert all(c.dead for c in clients)
    assert len(results) == 2000
    assert results.count(503) == 2000 and peak <= 1500
    _wait(lambda: len(stack.web.group) == 0, timeout=10, what="the handlers to end")
    assert muxer.waiting == 0
    assert muxer.changed.linkcount() == 0  # no waiter left on the muxer's event
    stack.app.hls.housekeep(now=time.monotonic() + 3600)
    assert not stack.app.hls.clients and not stack.app.hls.muxers
    assert not [s for s in stack.rtmp.hub.sessions.values() if s.protocol == "hls"]
    del clients
    gc.collect()
    after = sum(1 for o in gc.get_objects() if isinstance(o, gevent.Greenlet))
    assert after <= before, (before, after)  # gevent's own thread pool aside
    silent.close()


def test_hls_viewers_are_distinct_recent_clients(make_stack) -> None:
    stack = make_stack(hls_segment_duration=1.0, hls_part_duration=0.25)
    pub = gevent.spawn(publish, stack.rtmp_url("live/count"), _real(), speed=1.0)
    _wait(lambda: stack.rtmp.hub.get("live", "count") is not None, what="the publish")
    for agent in ("a", "b", "a"):
        assert request(stack.http, "/live/count/index.m3u8", timeout=15,
                       headers={"User-Agent": agent}).status == 200
    status = json.loads(request(stack.http, "/status.json").body)
    assert status["streams"][0]["players"] == {"hls": 2}
    assert len([s for s in stack.rtmp.hub.sessions.values() if s.protocol == "hls"]) == 2
    muxer = stack.app.hls.muxers[("live", "count")]
    assert len(stack.rtmp.hub.get("live", "count").players) == 1  # one muxer for both
    stack.app.hls.housekeep(now=time.monotonic() + stack.app.hls.viewer_window + 1)
    assert stack.app.hls.viewers("live", "count") == 0 and muxer.hls is not None
    pub.kill()


def test_extra_routes_are_mounted(make_stack) -> None:
    def api(environ, start_response):
        body = json.dumps([environ["SCRIPT_NAME"], environ["PATH_INFO"]]).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    stack = make_stack(routes={"/api/v1/": api, "/metrics": api})
    assert json.loads(request(stack.http, "/api/v1/streams").body) == ["/api/v1", "/streams"]
    assert json.loads(request(stack.http, "/metrics").body) == ["/metrics", ""]
