"""Redis sleeps (DEBUG SLEEP) while directory calls are in flight; measure the hub's ticks.

Used in-process by the tests, and as ``sleep_probe.py URL PORT --patch`` in a subprocess
that monkey-patches first, like ``grtmp-server`` does. Prints one JSON report.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--patch" in sys.argv:
    from gevent import monkey

    monkey.patch_all()

import json
import time

import gevent
import gevent.event
import gevent.subprocess

from grtmp.cluster.policy import Backoff
from grtmp.cluster.redisdir import RedisDirectory

SECRET = b"0123456789abcdef-cluster-secret"
URL = "rtmp://10.0.0.1:1936/live/cam1"


def _ticker(gaps: list[float], stop: gevent.event.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        gevent.sleep(0.01)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def _outcome(fn, *args) -> str:
    try:
        result = fn(*args)
    except Exception as exc:
        return type(exc).__name__
    return getattr(result, "state", None) or type(result).__name__


def _wait(predicate, timeout: float) -> bool:
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(0.02)
    return bool(predicate())


def run(url: str, port: int, seconds: int = 3) -> dict:
    """The scenario; returns the largest tick gap and what each call ended with."""
    a = RedisDirectory(url, SECRET, "A", ttl=1.5, backoff=Backoff(0.05, 0.5))
    b = RedisDirectory(url, SECRET, "B", ttl=1.5, backoff=Backoff(0.05, 0.5))
    gaps: list[float] = []
    stop = gevent.event.Event()
    ticker = gevent.spawn(_ticker, gaps, stop)
    sleeper = None
    report: dict = {}
    try:
        a.register("live", "cam1", URL)
        gevent.sleep(0.1)
        sleeper = gevent.subprocess.Popen(
            ["redis-cli", "-p", str(port), "DEBUG", "SLEEP", str(seconds)],
            stdout=gevent.subprocess.DEVNULL)
        gevent.sleep(0.2)  # Redis is asleep now; A's refreshes (every 0.5 s) hit it too
        started = time.perf_counter()
        calls = [gevent.spawn(_outcome, a.register, "live", f"s{i}", URL) for i in range(3)]
        calls += [gevent.spawn(_outcome, b.lookup, "live", "cam1") for _ in range(3)]
        gevent.joinall(calls, timeout=seconds + 5)
        report["calls_seconds"] = time.perf_counter() - started
        report["outcomes"] = [g.value for g in calls]
        report["sleep_exit"] = sleeper.wait(timeout=seconds + 10)
        report["recovered"] = _wait(lambda: a.available and b.available, 5) and _wait(
            lambda: sum(r.state == "active" for r in a.registrations()) == 4, 5)
        entry = b.lookup("live", "s2")
        report["lookup_after"] = entry.node if entry else None
    finally:
        stop.set()
        ticker.join(timeout=2)
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(timeout=5)
        a.close()
        b.close()
    report["ticks"] = len(gaps)
    report["ticked_seconds"] = sum(gaps)
    report["max_gap"] = max(gaps)
    return report


if __name__ == "__main__":
    from gevent import monkey as _monkey

    report = run(sys.argv[1], int(sys.argv[2]))
    report["patched"] = _monkey.is_module_patched("socket")
    print(json.dumps(report))
