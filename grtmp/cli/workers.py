"""``grtmp-server --workers N``: N server processes sharing the ports (``SO_REUSEPORT``).

The parent only supervises: it makes the runtime directory the workers share (their local
stream directory, :mod:`grtmp.cluster.localdir`), starts one ``grtmp-server`` process per
worker with the same flags, restarts a worker that dies (the others keep serving), forwards
SIGTERM/SIGINT/SIGHUP, and exits when they have stopped. It never imports gevent, never binds a
port and never touches a stream.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["supervise"]

log = logging.getLogger("grtmp.workers")


def supervise(argv: Sequence[str], count: int) -> int:
    """Run ``count`` workers with ``argv`` until a signal stops them; the exit code."""
    from grtmp.cluster.localdir import prepare_runtime_dir

    runtime = prepare_runtime_dir()
    children: dict[int, subprocess.Popen] = {}
    started: dict[int, float] = {}
    stopping: list[int] = []

    def spawn(index: int) -> None:
        cmd = [sys.executable, "-m", "grtmp.cli.server", *argv,
               "--worker-index", str(index), "--runtime-dir", runtime]
        children[index] = subprocess.Popen(cmd)
        started[index] = time.monotonic()
        log.info("worker %d started (pid %d)", index, children[index].pid)

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            for child in children.values():
                child.send_signal(signum)
            return
        if stopping:
            log.warning("second signal: killing the workers")
            for child in children.values():
                child.kill()
            return
        stopping.append(signum)
        log.info("signal %d: stopping %d workers", signum, len(children))
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        for index in range(count):
            spawn(index)
        while True:
            time.sleep(0.2)
            alive = [i for i, c in children.items() if c.poll() is None]
            if stopping:
                if not alive:
                    break
                continue
            for index, child in list(children.items()):
                rc = child.poll()
                if rc is None:
                    continue
                if time.monotonic() - started[index] < 1.0:
                    time.sleep(1.0)  # a worker that dies at once: do not spin
                log.warning("worker %d (pid %d) exited with %d; restarting", index, child.pid,
                            rc)
                spawn(index)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
            child.wait()
        shutil.rmtree(runtime, ignore_errors=True)
    return 0 if stopping and stopping[0] != signal.SIGKILL else 1
