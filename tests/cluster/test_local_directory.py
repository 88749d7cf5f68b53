"""LocalDirectory (--workers): the same directory between processes of one machine."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time

import gevent
import pytest

from grtmp.cluster.directory import CompositeDirectory
from grtmp.cluster.entry import DirectoryUnavailable, TakeoverRefused
from grtmp.cluster.localdir import FileStore, LocalDirectory, pid_alive, prepare_runtime_dir
from grtmp.cluster.policy import Takeover
from grtmp.cluster.redisdir import RedisDirectory
from tests.helpers import SECRET, wait_until

URL_1 = "rtmp://127.0.0.1:40001/live/cam1"
URL_2 = "rtmp://127.0.0.1:40002/live/cam1"


@pytest.fixture
def runtime_dir(tmp_path):
    return prepare_runtime_dir(str(tmp_path / "run"))


@pytest.fixture
def local(runtime_dir):
    made: list[LocalDirectory] = []

    def factory(node_id: str, **kwargs) -> LocalDirectory:
        d = LocalDirectory(runtime_dir, node_id, **kwargs)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.close(unregister=False)


def test_runtime_dir_is_private(runtime_dir):
    assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == 0o700
    secret = os.path.join(runtime_dir, "secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert os.path.getsize(secret) == 32
    with open(secret, "rb") as f:
        first = f.read()
    prepare_runtime_dir(runtime_dir)  # idempotent: the secret stays
    with open(secret, "rb") as f:
        assert f.read() == first


def test_two_worker_processes(runtime_dir, local, nodes):
    """A worker process registers; another finds it; its SIGKILL forgets it at once."""
    worker = nodes("local", runtime_dir, "worker-1", "live", "cam1", URL_1)
    assert worker.event()["state"] == "active"
    me = local("worker-2")
    found = me.lookup("live", "cam1")
    assert (found.node, found.url) == ("worker-1", URL_1)
    worker.kill()  # killed and reaped: its PID is gone, long before the 10 s TTL
    assert me.lookup("live", "cam1") is None


def test_worker_stops_cleanly(runtime_dir, local, nodes):
    worker = nodes("local", runtime_dir, "worker-1", "live", "cam1", URL_1)
    assert worker.event()["event"] == "registered"
    me = local("worker-2")
    assert me.lookup("live", "cam1").node == "worker-1"
    assert worker.stop() == 0
    assert me.lookup("live", "cam1") is None


def test_takeover_between_processes(runtime_dir, local, nodes):
    worker = nodes("local", runtime_dir, "worker-1", "live", "cam1", URL_1, "1.5")
    assert worker.event()["state"] == "active"
    me = local("worker-2")
    with pytest.raises(TakeoverRefused):
        me.register("live", "cam1", URL_2, takeover=Takeover("never"))
    reg = me.register("live", "cam1", URL_2)
    event = worker.event(timeout=3)  # its refresher runs every 0.5 s
    assert event == {"event": "taken_over", "state": "lost", "owner": "worker-2"}
    gevent.sleep(1)  # the old owner's refresher leaves our entry alone
    other = local("worker-3")
    assert other.lookup("live", "cam1").url == URL_2
    assert reg.state == "active"


def test_entry_expires_when_refreshing_stops(local):
    """A live process that stops refreshing (close without unregister) expires after ttl."""
    a, b = local("worker-1", ttl=1), local("worker-2")
    a.register("live", "cam1", URL_1)
    a.close(unregister=False)
    assert b.lookup("live", "cam1").node == "worker-1"
    stopped = time.monotonic()
    assert wait_until(lambda: b.lookup("live", "cam1") is None, timeout=3)
    assert time.monotonic() - stopped <= 1.2


def test_garbage_files_are_ignored(local, runtime_dir, caplog):
    a, b = local("worker-1"), local("worker-2")
    a.register("live", "cam1", URL_1)
    store = FileStore(runtime_dir)
    file = store._file("grtmp:stream:live/cam1")
    with open(file, "wb") as f:
        f.write(b"%d 1e12\nnot an entry" % os.getpid())
    assert b.lookup("live", "cam1") is None
    assert any("not signed" in r.getMessage() for r in caplog.records)
    store.close()


def test_pid_alive():
    assert pid_alive(os.getpid())
    proc = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join(timeout=10)
    assert not pid_alive(proc.pid)


def _increment(path: str, key: str, n: int, done) -> None:
    """Add 1 to a counter ``n`` times with compare-and-set (the lock is what makes it safe)."""
    store = FileStore(path)
    for _ in range(n):
        while True:
            cur = store.get(key, 1)
            ok, _ = store.cas(key, cur, b"%d" % (int(cur or b"0") + 1), 60, 5)
            if ok:
                break
    # Stay alive until all are done: a value whose writer exited reads as absent.
    done.wait(timeout=60)
    store.close()


def test_compare_and_set_across_processes(runtime_dir):
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Barrier(3)
    procs = [ctx.Process(target=_increment, args=(runtime_dir, "counter", 150, done))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = FileStore(runtime_dir)
    # The writers have exited, so get() says absent (their PIDs are gone); read the file.
    assert store.get("counter", 1) is None
    with open(store._file("counter"), "rb") as f:
        assert f.read().split(b"\n", 1)[1] == b"450"  # no update lost
    store.close()


def test_missing_runtime_dir(tmp_path):
    with pytest.raises(DirectoryUnavailable):
        FileStore(str(tmp_path / "nope"))


def test_composite_workers_and_cluster(runtime_dir, redis_server):
    """Two workers of machine M (local + Redis) and a node N elsewhere (Redis only)."""
    lost = []
    made = []

    def composite(worker: str, **kwargs) -> CompositeDirectory:
        d = CompositeDirectory(
            LocalDirectory(runtime_dir, worker, ttl=1.5),
            RedisDirectory(redis_server.url, SECRET, f"M/{worker}", ttl=1.5), **kwargs)
        made.append(d)
        return d

    n = RedisDirectory(redis_server.url, SECRET, "N")
    made.append(n)
    try:
        w1 = composite("w1", on_taken_over=lambda r, o: lost.append((r, o)))
        w2 = composite("w2")
        reg = w1.register("live", "cam1", URL_1)
        assert reg.state == "active"
        assert w2.lookup("live", "cam1").node == "w1"  # a sibling: found locally
        assert n.lookup("live", "cam1").node == "M/w1"  # another machine: through Redis
        # N takes the name over: w1 loses it in both directories, once.
        n.register("live", "cam1", "rtmp://10.9.9.9:1936/live/cam1")
        assert wait_until(lambda: lost, timeout=2)
        gevent.sleep(1)
        assert len(lost) == 1
        (creg, owner), = lost
        assert creg is reg and reg.state == "lost" and owner.node == "N"
        assert w2.lookup("live", "cam1").node == "N"  # no local entry: Redis answers
        # A cluster refusal withdraws the local registration too.
        with pytest.raises(TakeoverRefused):
            w2.register("live", "cam1", URL_2, takeover=Takeover("never"))
        assert w1.local.lookup("live", "cam1") is None
    finally:
        for d in made:
            d.close()
