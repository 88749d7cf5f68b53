"""RedisDirectory against a real redis-server: nodes, TTL, HMAC, takeover, outages, slowness."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import gevent
import gevent.subprocess
import pytest

from grtmp.cluster.entry import DirectoryUnavailable, Entry, TakeoverRefused, encode, key
from grtmp.cluster.policy import Backoff, Takeover
from grtmp.cluster.redisdir import RedisDirectory
from tests.cluster import sleep_probe
from tests.helpers import ROOT, SECRET, wait_until

URL_A = "rtmp://10.0.0.1:1936/live/cam1"
URL_B = "rtmp://10.0.0.2:1936/live/cam1"
K = "grtmp:stream:live/cam1"


@pytest.fixture
def directories(redis_server):
    """Factory of RedisDirectory nodes on the test's redis-server; all closed at the end."""
    made: list[RedisDirectory] = []

    def factory(node_id: str, **kwargs) -> RedisDirectory:
        kwargs.setdefault("secret", SECRET)
        d = RedisDirectory(redis_server.url, node_id=node_id, **kwargs)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.close(unregister=False)


def test_register_lookup_across_nodes(directories, redis_server):
    a, b = directories("A"), directories("B")
    assert b.lookup("live", "cam1") is None
    reg = a.register("live", "cam1", URL_A)
    assert reg.state == "active" and reg.epoch
    found = b.lookup("live", "cam1")
    assert isinstance(found, Entry)
    assert (found.node, found.url, found.epoch, found.live) == ("A", URL_A, reg.epoch, True)
    assert found.started == pytest.approx(time.time(), abs=2)
    # A node never points a play at itself.
    assert a.lookup("live", "cam1") is None
    # Other names are independent; names are escaped, not parsed.
    assert b.lookup("live", "cam1/x") is None
    a.register("live", "cam 1/x:y", URL_A)
    assert b.lookup("live", "cam 1/x:y").url == URL_A
    # The stored key expires within the 10 s bound.
    pttl = redis_server.client().pttl(K)
    assert 9_000 < pttl <= 10_000
    reg.close()
    assert reg.state == "closed"
    assert b.lookup("live", "cam1") is None
    # Unregister leaves a signed tombstone that still expires.
    assert 0 < redis_server.client().pttl(K) <= 10_000


def test_ttl_is_bounded():
    with pytest.raises(ValueError):
        RedisDirectory("redis://127.0.0.1:1/0", SECRET, "A", ttl=11)
    with pytest.raises(ValueError):
        RedisDirectory("redis://127.0.0.1:1/0", b"", "A")


def test_refresh_keeps_entry_alive(directories, redis_server):
    a, b = directories("A", ttl=1.5), directories("B")
    a.register("live", "cam1", URL_A)
    gevent.sleep(4)  # well past the TTL: refreshed every 0.5 s
    assert b.lookup("live", "cam1").node == "A"
    assert redis_server.client().pttl(K) > 500


def test_dead_node_expires_within_ttl(redis_server, directories, nodes):
    """A node killed with SIGKILL (no unregister) is forgotten within the default 10 s TTL."""
    node = nodes("redis", redis_server.url, "A", "live", "cam1", URL_A)
    assert node.event(timeout=20)["state"] == "active"
    b = directories("B")
    assert b.lookup("live", "cam1").node == "A"
    node.kill()
    killed = time.monotonic()
    assert wait_until(lambda: b.lookup("live", "cam1") is None, timeout=12, interval=0.05)
    assert time.monotonic() - killed <= 10.3


def test_stopped_node_unregisters(redis_server, directories, nodes):
    node = nodes("redis", redis_server.url, "A", "live", "cam1", URL_A)
    assert node.event(timeout=20)["event"] == "registered"
    b = directories("B")
    assert b.lookup("live", "cam1").node == "A"
    assert node.stop() == 0
    assert b.lookup("live", "cam1") is None


def test_entries_without_the_secret_are_ignored(directories, redis_server, caplog):
    b = directories("B")
    raw = redis_server.client()
    forged = Entry(app="live", name="cam1", node="evil", url="rtmp://6.6.6.6/live/cam1",
                   started=time.time(), epoch=2**40, expires=time.time() + 10,
                   active=time.time())
    caplog.set_level(logging.WARNING, logger="grtmp.cluster")
    # Unsigned value, the JSON layout alone.
    raw.set(K, b'[1,"evil","rtmp://6.6.6.6/live/cam1",1,2,99999999999999,4,1]', px=10_000)
    assert b.lookup("live", "cam1") is None
    # Signed with a wrong secret.
    raw.set(K, encode(forged, b"guessed-secret-guessed-secret", "grtmp"), px=10_000)
    assert b.lookup("live", "cam1") is None
    # A genuine entry of another stream copied to this key.
    a = directories("A")
    a.register("live", "other", URL_A)
    raw.set(K, raw.get(key("grtmp", "live", "other")), px=10_000)
    assert b.lookup("live", "cam1") is None
    assert sum("bad signature" in r.getMessage() for r in caplog.records) >= 2
    assert any("not signed" in r.getMessage() for r in caplog.records)


def test_forged_overwrite_cannot_redirect_a_live_stream(directories, redis_server):
    """An attacker overwrites A's live entry: plays never go to the attacker, and A's next
    refresh puts its own entry back (a forged value is 'nothing valid', not a takeover)."""
    lost = []
    a = directories("A", ttl=1.5, on_taken_over=lambda r, o: lost.append(o))
    b = directories("B")
    reg = a.register("live", "cam1", URL_A)
    raw = redis_server.client()
    genuine = raw.get(K)
    tampered = genuine.replace(b"10.0.0.1", b"6.6.6.6")
    assert tampered != genuine
    raw.set(K, tampered, px=10_000)
    assert b.lookup("live", "cam1") is None
    assert wait_until(lambda: (e := b.lookup("live", "cam1")) is not None and e.url == URL_A,
                      timeout=3)
    assert reg.state == "active" and not lost


def test_register_interrupted_leaves_nothing_behind(directories, redis_server):
    """A publisher whose greenlet dies during register() leaves no registration to refresh."""
    a = directories("A", ttl=1.5)
    sleeper = gevent.subprocess.Popen(
        ["redis-cli", "-p", str(redis_server.port), "DEBUG", "SLEEP", "1"],
        stdout=gevent.subprocess.DEVNULL)
    try:
        gevent.sleep(0.2)
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.1):
            a.register("live", "cam1", URL_A)
        assert a.registrations() == []
    finally:
        assert sleeper.wait(timeout=10) == 0


def test_takeover_cluster_wide(directories):
    lost = []
    a = directories("A", ttl=3, on_taken_over=lambda r, o: lost.append((r, o)))
    b, c = directories("B", ttl=3), directories("C")
    reg_a = a.register("live", "cam1", URL_A)
    assert b.lookup("live", "cam1").node == "A"  # B sees the owner and its start time
    reg_b = b.register("live", "cam1", URL_B)
    assert reg_b.epoch > reg_a.epoch
    assert c.lookup("live", "cam1").url == URL_B
    # A learns at its next refresh (every ttl/3 = 1 s), and its callback gets B's entry.
    assert wait_until(lambda: lost, timeout=2.5)
    (reg, owner), = lost
    assert reg is reg_a and reg.state == "lost" and owner.node == "B"
    # A's refresher does not overwrite B, and A no longer refreshes the name.
    gevent.sleep(2.5)
    assert c.lookup("live", "cam1").node == "B"
    assert a.registrations() == []


def test_takeover_by_a_publisher_that_already_left(directories):
    """B takes over and unpublishes before A's refresh: the tombstone still tells A."""
    lost = []
    a = directories("A", ttl=3, on_taken_over=lambda r, o: lost.append(o))
    b, c = directories("B"), directories("C")
    a.register("live", "cam1", URL_A)
    b.register("live", "cam1", URL_B).close()
    assert c.lookup("live", "cam1") is None
    assert wait_until(lambda: lost, timeout=2.5)
    assert lost == [None]


def test_takeover_rules(directories):
    a, b = directories("A", ttl=1.5), directories("B")
    reg_a = a.register("live", "cam1", URL_A)
    with pytest.raises(TakeoverRefused) as refused:
        b.register("live", "cam1", URL_B, takeover=Takeover("never"))
    assert refused.value.owner.node == "A"
    assert b.registrations() == []
    with pytest.raises(TakeoverRefused):
        b.register("live", "cam1", URL_B, takeover=Takeover.parse("idle:2"))
    # A's publisher goes quiet; its refreshes report the last activity.
    reg_a.touch(time.time() - 3)
    gevent.sleep(0.8)  # one refresh (ttl/3 = 0.5 s)
    reg_b = b.register("live", "cam1", URL_B, takeover=Takeover.parse("idle:2"))
    assert reg_b.state == "active"


def test_local_replacement_is_not_a_takeover(directories):
    lost = []
    a = directories("A", ttl=1.5, on_taken_over=lambda r, o: lost.append(o))
    b = directories("B")
    first = a.register("live", "cam1", URL_A)
    second = a.register("live", "cam1", "rtmp://10.0.0.1:1937/live/cam1")
    assert first.state == "replaced" and second.epoch > first.epoch
    first.close()  # the old publisher's stop must not withdraw the new one
    gevent.sleep(1.2)
    assert b.lookup("live", "cam1").url == "rtmp://10.0.0.1:1937/live/cam1"
    assert not lost and a.registrations() == [second]


def test_redis_down_and_back(redis_server, directories):
    a = directories("A", ttl=3, backoff=Backoff(0.05, 0.5))
    b = directories("B", ttl=3, backoff=Backoff(0.05, 0.5))
    a.register("live", "cam1", URL_A)
    assert b.lookup("live", "cam1").node == "A"
    redis_server.kill()
    # The first lookup finds out; every later one answers at once without touching Redis.
    t = time.perf_counter()
    with pytest.raises(DirectoryUnavailable):
        b.lookup("live", "cam1")
    assert time.perf_counter() - t < 0.05
    for _ in range(20):
        t = time.perf_counter()
        with pytest.raises(DirectoryUnavailable):
            b.lookup("live", "other")
        assert time.perf_counter() - t < 0.005
    assert not b.available
    # Publishing keeps working while Redis is down: the registration waits, pending.
    t = time.perf_counter()
    pending = a.register("live", "cam2", URL_A)
    assert time.perf_counter() - t < 0.05
    assert wait_until(lambda: not a.available, timeout=2)
    gevent.sleep(1)  # a few reconnect attempts fail
    redis_server.start()  # same port, empty: every entry was lost
    assert wait_until(lambda: b.available and a.available, timeout=3)
    # A registers its live streams again, the pending one included.
    assert wait_until(lambda: pending.state == "active", timeout=3)
    assert b.lookup("live", "cam1").node == "A"
    assert b.lookup("live", "cam2").node == "A"


def test_redis_absent_at_start(directories):
    """A node started while Redis is unreachable: publishing and lookups answer at once."""
    from tests.helpers import free_port
    d = RedisDirectory(f"redis://127.0.0.1:{free_port()}/0", SECRET, "A",
                       backoff=Backoff(0.05, 0.2))
    try:
        t = time.perf_counter()
        reg = d.register("live", "cam1", URL_A)
        assert reg.state == "pending"
        with pytest.raises(DirectoryUnavailable):
            d.lookup("live", "x")
        assert time.perf_counter() - t < 0.1
    finally:
        d.close()


def _check_sleep_report(report: dict) -> None:
    assert report["calls_seconds"] < 1.5, report  # bounded by op_timeout, not by Redis
    assert report["sleep_exit"] == 0, report
    # The registers returned pending at once; the lookups hit the sleeping Redis.
    assert report["outcomes"][:3] == ["pending"] * 3, report
    assert "DirectoryUnavailable" in report["outcomes"][3:], report
    assert report["recovered"] and report["lookup_after"] == "A", report
    assert report["ticked_seconds"] > 3.0, report  # the ticker ran across the sleep
    assert report["max_gap"] < 0.1, f"hub blocked for {report['max_gap'] * 1000:.0f} ms"


def test_debug_sleep_never_blocks_the_hub(redis_server):
    """Redis sleeps 3 s (DEBUG SLEEP) while registers, lookups and refreshes are in flight;
    a greenlet ticking every 10 ms keeps ticking (largest gap < 100 ms)."""
    _check_sleep_report(sleep_probe.run(redis_server.url, redis_server.port))


def test_debug_sleep_never_blocks_the_hub_monkey_patched(redis_server):
    """The same in a monkey-patched process, as grtmp-server runs."""
    res = gevent.subprocess.run(
        [sys.executable, sleep_probe.__file__, redis_server.url, str(redis_server.port),
         "--patch"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["patched"] is True
    _check_sleep_report(report)


def test_stream_keeps_flowing_while_redis_sleeps(redis_server, make_server):
    """A real RTMP stream through a grtmp Server, while Redis sleeps 3 s under directory calls:
    every frame arrives, in order, with no gap over 100 ms."""
    from grtmp.errors import RTMPError
    from grtmp.net.client import Client
    from grtmp.wire.message import VIDEO

    srv = make_server()
    url = f"rtmp://127.0.0.1:{srv.port}/live/flow"
    pub = Client(url, socket_module=gevent.socket, timeout=10)
    player = Client(url, socket_module=gevent.socket, timeout=10)
    pub.connect()
    pub.publish()
    player.connect()
    player.play()
    arrivals: list[tuple[int, float]] = []
    running = gevent.event.Event()
    running.set()

    def frame(n: int) -> bytes:  # an AVC keyframe NALU packet numbered in its body
        return b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")

    def read() -> None:
        try:
            for msg in player.media():
                p = msg.payload
                if msg.type_id == VIDEO and len(p) == 14:
                    arrivals.append((int.from_bytes(p[10:14], "big"), time.perf_counter()))
        except (RTMPError, OSError):
            pass  # closed at the end of the test

    def write() -> int:
        n = 0
        while running.is_set():
            pub.send_media(VIDEO, 10 * n, frame(n))
            n += 1
            gevent.sleep(0.01)
        return n

    reader, writer = gevent.spawn(read), gevent.spawn(write)
    try:
        report = sleep_probe.run(redis_server.url, redis_server.port)
        running.clear()
        sent = writer.get(timeout=5)
        assert wait_until(lambda: len(arrivals) >= sent, timeout=5), (sent, len(arrivals))
    finally:
        running.clear()
        pub.close()
        player.close()
        gevent.joinall([reader, writer], timeout=5)
        gevent.killall([reader, writer], timeout=2)
    _check_sleep_report(report)
    assert [n for n, _ in arrivals] == list(range(sent))
    assert sent > 250
    gaps = [b - a for (_, a), (_, b) in zip(arrivals, arrivals[1:])]
    assert max(gaps) < 0.1, f"stream stalled {max(gaps) * 1000:.0f} ms"
