"""Access control: Python hooks, nginx-rtmp style HTTP callbacks, CIDR rules, stream keys."""

from __future__ import annotations

import urllib.parse

import gevent
import gevent.socket
import pytest
from gevent.pywsgi import WSGIServer

from grtmp.auth import AccessList, HTTPCallbacks, StreamKeys, chain
from grtmp.config import ServerConfig
from grtmp.errors import CommandError, ConnectionClosed
from grtmp.net.client import Client
from grtmp.net.server import Server
from tests.helpers import wait_until


@pytest.fixture
def hooked_server():
    servers = []

    def factory(handler, **config):
        srv = Server(("127.0.0.1", 0), config=ServerConfig(**config), hooks=handler)
        srv.start()
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.stop(timeout=5)


class Recorder:
    """A handler that records calls and decides from a table."""

    def __init__(self, publish=None, play=None, connect=None):
        self.calls = []
        self.decisions = {"publish": publish, "play": play, "connect": connect}

    def _decide(self, what, *args):
        self.calls.append((what, *args))
        d = self.decisions[what]
        if isinstance(d, Exception):
            raise d
        return d

    def on_connect(self, conn, params):
        return self._decide("connect", params.get("app"))

    def on_publish(self, conn, name, params):
        return self._decide("publish", name, dict(params))

    def on_play(self, conn, name, params):
        return self._decide("play", name, dict(params))

    def on_publish_done(self, conn, name, params):
        self.calls.append(("publish_done", name))

    def on_play_done(self, conn, name, params):
        self.calls.append(("play_done", name))

    def on_done(self, conn):
        self.calls.append(("done",))


def _client(srv, path="live/cam"):
    return Client(f"rtmp://127.0.0.1:{srv.port}/{path}", socket_module=gevent.socket)


def test_publish_rejected_before_anything_is_sent(hooked_server):
    h = Recorder(publish=CommandError("wrong key", "NetStream.Publish.Unauthorized"))
    srv = hooked_server(h)
    c = _client(srv, "live/cam?key=nope")
    c.connect()
    with pytest.raises(CommandError) as info:
        c.publish()
    assert info.value.code == "NetStream.Publish.Unauthorized"
    assert "wrong key" in str(info.value)
    codes = [s["code"] for s in c.statuses]
    assert "NetStream.Publish.Start" not in codes
    assert srv.hub.get("live", "cam") is None
    assert ("publish", "cam", {"key": "nope", "type": "live"}) in h.calls
    c.close()
    assert wait_until(lambda: ("done",) in h.calls, timeout=5)


def test_publish_false_and_redirect(hooked_server):
    h = Recorder(publish="other?x=1")
    srv = hooked_server(h)
    c = _client(srv)
    c.connect()
    c.publish()
    assert srv.hub.get("live", "other") is not None and srv.hub.get("live", "other").is_live
    assert srv.hub.get("live", "cam") is None
    h.decisions["publish"] = False
    d = _client(srv, "live/cam2")
    d.connect()
    with pytest.raises(CommandError) as info:
        d.publish()
    assert info.value.code == "NetStream.Publish.Denied"
    c.close()
    d.close()
    assert wait_until(lambda: ("publish_done", "other") in h.calls, timeout=5)


def test_play_rejected_and_connect_rejected(hooked_server):
    h = Recorder(play=False)
    srv = hooked_server(h)
    c = _client(srv)
    c.connect()
    with pytest.raises(CommandError) as info:
        c.play()
    assert info.value.code == "NetStream.Play.Failed"
    c.close()
    h.decisions["connect"] = CommandError("go away")
    d = _client(srv)
    with pytest.raises(CommandError):
        d.connect()
    # The server closed the connection after the _error.
    with pytest.raises((ConnectionClosed, OSError)), gevent.Timeout(5):
        d.read_message()
    d.close()


def test_access_list_rules():
    acl = AccessList(["allow publish 10.0.0.0/8", "deny publish all",
                      "deny play 192.168.1.7", "allow play all"])
    assert acl.allowed("publish", "10.1.2.3")
    assert not acl.allowed("publish", "127.0.0.1")
    assert acl.allowed("publish", "::ffff:10.9.9.9")  # IPv4-mapped IPv6
    assert not acl.allowed("publish", "2001:db8::1")
    assert not acl.allowed("play", "192.168.1.7")
    assert acl.allowed("play", "192.168.1.8")
    assert AccessList([]).allowed("play", "1.2.3.4")
    with pytest.raises(ValueError):
        AccessList(["permit publish all"])
    with pytest.raises(ValueError):
        AccessList(["allow publish 300.1.1.1"])


def test_access_list_and_stream_keys_in_server(hooked_server):
    handler = chain(AccessList(["deny play 127.0.0.0/8"]),
                    StreamKeys({"live/cam": "s3cret"}))
    srv = hooked_server(handler)
    bad = _client(srv, "live/cam?key=wrong")
    bad.connect()
    with pytest.raises(CommandError) as info:
        bad.publish()
    assert info.value.code == "NetStream.Publish.Unauthorized"
    good = _client(srv, "live/cam?key=s3cret")
    good.connect()
    assert good.publish()["code"] == "NetStream.Publish.Start"
    viewer = _client(srv)
    viewer.connect()
    with pytest.raises(CommandError) as info:
        viewer.play()
    assert info.value.code == "NetStream.Play.Forbidden"
    for c in (bad, good, viewer):
        c.close()


@pytest.fixture
def callback_server():
    """An HTTP endpoint answering like an nginx-rtmp on_publish/on_play backend."""
    calls = []

    def app(environ, start_response):
        body = environ["wsgi.input"].read().decode()
        form = dict(urllib.parse.parse_qsl(body))
        calls.append((environ["PATH_INFO"], form))
        if form.get("name") == "moved":
            start_response("302 Found", [("Location", "renamed")])
        elif form.get("key") == "good" or form.get("call", "").endswith("done") \
                or form.get("call") == "connect":
            start_response("200 OK", [("Content-Type", "text/plain")])
        else:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b""]

    http = WSGIServer(("127.0.0.1", 0), app, log=None)
    http.start()
    yield f"http://127.0.0.1:{http.server_port}", calls
    http.stop(timeout=1)


def test_http_callbacks_nginx_compatible(hooked_server, callback_server):
    base, calls = callback_server
    handler = HTTPCallbacks(on_connect=f"{base}/connect", on_publish=f"{base}/publish",
                            on_play=f"{base}/play", on_publish_done=f"{base}/done",
                            timeout=5)
    srv = hooked_server(handler)
    ok = _client(srv, "live/cam?key=good")
    ok.connect()
    assert ok.publish()["code"] == "NetStream.Publish.Start"
    path, form = [c for c in calls if c[0] == "/publish"][0]
    assert form["call"] == "publish" and form["app"] == "live" and form["name"] == "cam"
    assert form["key"] == "good" and form["type"] == "live" and form["addr"] == "127.0.0.1"
    assert form["tcurl"].startswith("rtmp://127.0.0.1:")
    denied = _client(srv, "live/cam2?key=bad")
    denied.connect()
    with pytest.raises(CommandError) as info:
        denied.publish()
    assert "HTTP 403" in str(info.value)
    moved = _client(srv, "live/moved?key=x")
    moved.connect()
    assert moved.publish()["code"] == "NetStream.Publish.Start"
    assert srv.hub.get("live", "renamed").is_live
    ok.close()
    assert wait_until(lambda: any(f.get("call") == "publish_done" for _, f in calls), 5)
    denied.close()
    moved.close()


def test_http_callback_unreachable_rejects(hooked_server):
    # Nothing listens on this port: the publish is refused, not allowed.
    s = gevent.socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = hooked_server(HTTPCallbacks(on_publish=f"http://127.0.0.1:{port}/x", timeout=2))
    c = _client(srv)
    c.connect()
    with pytest.raises(CommandError) as info:
        c.publish()
    assert "publish check failed" in str(info.value)
    c.close()


def test_ffmpeg_shows_the_rejection_reason(hooked_server, av_peers):
    srv = hooked_server(StreamKeys({"live/cam": "good"}))
    bad = av_peers("publish", f"rtmp://127.0.0.1:{srv.port}/live/cam?key=bad", "--frames", "5")
    res = bad.result(60)
    assert "Server error: bad or missing stream key for cam" in res["error"]
    good = av_peers("publish", f"rtmp://127.0.0.1:{srv.port}/live/cam?key=good",
                    "--frames", "10")
    assert "error" not in good.result(60)
