"""Relays between real servers on loopback: pull (config upstreams, on_play redirects), push to
several targets (one over RTMPS) changed while live."""

from __future__ import annotations

from typing import Any

import gevent
import gevent.socket
import pytest

from grtmp import Client, Hooks, Server, ServerConfig, StreamHub
from grtmp.errors import RTMPError
from grtmp.net.relay import Relays
from grtmp.net.tls import client_context, server_context
from grtmp.wire.message import VIDEO
from tests.helpers import AVC_HEADER, self_signed_cert, wait_until

FPS = 50


def frame(n: int) -> bytes:
    """A video keyframe message whose body carries its number (what players check)."""
    return b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")


def number(payload: bytes) -> int | None:
    if len(payload) == 14 and payload[:2] == b"\x17\x01":
        return int.from_bytes(payload[10:14], "big")
    return None


class Publisher:
    """A grtmp Client publishing numbered frames every 1/FPS s from a greenlet."""

    def __init__(self, url: str):
        self.client = Client(url, socket_module=gevent.socket, timeout=10)
        self.client.connect()
        self.client.publish()
        self.client.send_media(VIDEO, 0, AVC_HEADER)
        self.sent = 0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            while True:
                self.client.send_media(VIDEO, self.sent * 1000 // FPS, frame(self.sent))
                self.sent += 1
                gevent.sleep(1 / FPS)
        except (OSError, RTMPError):
            pass

    def close(self) -> None:
        self._greenlet.kill()
        self.client.close()


class Player:
    """A grtmp Client playing from a greenlet, keeping the frame numbers it gets."""

    def __init__(self, url: str, ssl_context: Any = None):
        self.client = Client(url, socket_module=gevent.socket, timeout=10,
                             ssl_context=ssl_context)
        self.client.connect()
        self.client.play()
        self.got: list[int] = []
        self.codes: list[str] = []
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            for msg in self.client.media():
                n = number(bytes(msg.payload)) if msg.type_id == VIDEO else None
                if n is not None:
                    self.got.append(n)
        except (OSError, RTMPError):
            pass

    def close(self) -> None:
        self._greenlet.kill()
        self.client.close()


def contiguous(numbers: list[int]) -> bool:
    return numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else False


@pytest.fixture
def servers():
    made: list[Any] = []

    def factory(*, hooks: Any = None, ssl_context: Any = None, relays: bool = False,
                **config: Any) -> Server:
        cfg = ServerConfig(**config)
        hub = StreamHub(cfg)
        srv = Server(("127.0.0.1", 0), config=cfg, hub=hub, hooks=hooks,
                     ssl_context=ssl_context)
        srv.start()
        made.append(srv)
        if relays:
            srv.relays = Relays(hub, cfg, hooks=srv.hooks)  # type: ignore[attr-defined]
            made.append(srv.relays)  # type: ignore[attr-defined]
        return srv

    yield factory
    for thing in reversed(made):
        if isinstance(thing, Relays):
            thing.close()
        else:
            thing.stop(timeout=5)


def players_of(srv: Server, name: str) -> int:
    """Connections on ``srv`` playing ``name`` (what an upstream sees of its edges)."""
    return sum(1 for c in srv.conns for p in c.playing.values() if p.stream.name == name)


def test_pull_from_an_upstream_one_connection_for_many_players(servers):
    origin = servers()
    edge = servers(relays=True, pull=[f"rtmp://127.0.0.1:{origin.port}/{{app}}/{{name}}"],
                   pull_idle_timeout=1.0)
    pub = Publisher(f"rtmp://127.0.0.1:{origin.port}/live/cam")
    players = [Player(f"rtmp://127.0.0.1:{edge.port}/live/cam") for _ in range(20)]
    try:
        assert wait_until(lambda: all(len(p.got) >= 20 for p in players), timeout=15)
        # Exactly one upstream connection from the edge, whatever the number of players.
        assert players_of(origin, "cam") == 1
        for p in players:
            assert contiguous(p.got), p.got[:10]
        pull = edge.relays.pulls[("live", "cam")]
        assert pull.state == "pulling" and pull.connections == 1
        for p in players:
            p.close()
        # Released pull_idle_timeout after the last player left.
        assert wait_until(lambda: players_of(origin, "cam") == 0, timeout=10)
        assert wait_until(lambda: ("live", "cam") not in edge.relays.pulls, timeout=5)
        assert edge.hub.get("live", "cam") is None
    finally:
        pub.close()
        for p in players:
            p.close()


def test_on_play_redirect_to_an_rtmp_url_pulls_from_there(servers):
    origin = servers()

    class Redirect(Hooks):
        def on_play(self, conn, name, params):
            return f"rtmp://127.0.0.1:{origin.port}/live/source"

    edge = servers(relays=True, hooks=Redirect())
    pub = Publisher(f"rtmp://127.0.0.1:{origin.port}/live/source")
    player = Player(f"rtmp://127.0.0.1:{edge.port}/live/anything")
    try:
        assert wait_until(lambda: len(player.got) >= 10, timeout=15)
        assert contiguous(player.got)
        assert ("live", "anything") in edge.relays.pulls
        assert players_of(origin, "source") == 1
    finally:
        pub.close()
        player.close()


def test_pull_follows_the_upstream_when_it_comes_back(servers):
    """The upstream's publisher goes and comes back: edge players stay attached and resume."""
    origin = servers()
    edge = servers(relays=True, pull=[f"rtmp://127.0.0.1:{origin.port}/{{app}}/{{name}}"])
    pub = Publisher(f"rtmp://127.0.0.1:{origin.port}/live/cam")
    player = Player(f"rtmp://127.0.0.1:{edge.port}/live/cam")
    try:
        assert wait_until(lambda: len(player.got) >= 10, timeout=15)
        pub.close()
        before = len(player.got)
        pub = Publisher(f"rtmp://127.0.0.1:{origin.port}/live/cam")
        assert wait_until(lambda: len(player.got) >= before + 10, timeout=15)
        got = player.got
        restart = next(i for i in range(1, len(got)) if got[i] < got[i - 1])
        assert got[restart] < 5 and contiguous(got[restart:])  # the new publisher's frames
    finally:
        pub.close()
        player.close()


def test_push_to_three_targets_changed_while_live(servers, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    tls = server_context(cert, key)
    t1, t2 = servers(), servers()
    t3 = servers(ssl_context=tls)
    t4 = servers()
    targets = [f"rtmp://127.0.0.1:{t1.port}/live/out", f"rtmp://127.0.0.1:{t2.port}/live/out",
               f"rtmps://127.0.0.1:{t3.port}/live/out"]
    source = servers(relays=True, push=targets[:2], relay_ca_file=cert)
    pub = Publisher(f"rtmp://127.0.0.1:{source.port}/live/cam")
    relays = source.relays
    watchers = {}
    try:
        assert wait_until(lambda: all(s.hub.get("live", "out") is not None
                                      and s.hub.get("live", "out").is_live
                                      for s in (t1, t2)), timeout=15)
        relays.add_push("live", "cam", targets[2])
        assert wait_until(lambda: t3.hub.get("live", "out") is not None
                          and t3.hub.get("live", "out").is_live, timeout=15)
        for srv in (t1, t2):
            watchers[srv] = Player(f"rtmp://127.0.0.1:{srv.port}/live/out")
        watchers[t3] = Player(f"rtmps://127.0.0.1:{t3.port}/live/out", client_context(cert))
        assert wait_until(lambda: all(len(w.got) >= 10 for w in watchers.values()), timeout=15)
        states = {p.url: p.state for p in relays.push_targets("live", "cam")}
        assert set(states.values()) == {"pushing"}
        # Remove one target, add another, while live: the rest are not interrupted.
        assert relays.remove_push("live", "cam", targets[1])
        relays.add_push("live", "cam", f"rtmp://127.0.0.1:{t4.port}/live/out")
        assert wait_until(lambda: t4.hub.get("live", "out") is not None
                          and t4.hub.get("live", "out").is_live, timeout=15)
        assert wait_until(lambda: not t2.hub.get("live", "out")
                          or not t2.hub.get("live", "out").is_live, timeout=10)
        mark = {srv: len(w.got) for srv, w in watchers.items()}
        gevent.sleep(1.0)
        for srv in (t1, t3):
            w = watchers[srv]
            assert len(w.got) > mark[srv] + 20
            assert contiguous(w.got), f"push to {srv.port} was interrupted"
        assert [p.url for p in relays.push_targets("live", "cam")] == \
            [targets[0], targets[2], f"rtmp://127.0.0.1:{t4.port}/live/out"]
    finally:
        pub.close()
        for w in watchers.values():
            w.close()


def test_push_target_reconnects_with_backoff(servers):
    source = servers(relays=True)
    pub = Publisher(f"rtmp://127.0.0.1:{source.port}/live/cam")
    target = servers()
    try:
        assert wait_until(lambda: source.hub.get("live", "cam") is not None, timeout=10)
        push = source.relays.add_push("live", "cam", f"rtmp://127.0.0.1:{target.port}/live/o")
        assert wait_until(lambda: push.state == "pushing", timeout=10)
        for conn in list(target.conns):
            conn.close()  # the target drops us
        assert wait_until(lambda: push.connections >= 2 and push.state == "pushing",
                          timeout=15)
        assert wait_until(lambda: target.hub.get("live", "o") is not None
                          and target.hub.get("live", "o").is_live, timeout=10)
    finally:
        pub.close()
