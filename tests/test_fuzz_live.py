"""The live harness (fuzz/fuzz_live.py) without atheris: a real ``grtmp-server`` subprocess,
a healthy publisher -> player pair in a child process, and connections carrying the session
seeds and mutations of them. Also: each of the harness's checks fires (a server log line with
a traceback, a stalled healthy pair, a dead server)."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from fuzz import fuzz_live
from fuzz.mutate import mutate


@pytest.fixture
def live():
    world = fuzz_live.LiveWorld()
    yield world
    world.close()


def test_seeds_and_mutations_against_a_live_server(live: fuzz_live.LiveWorld) -> None:
    corpus = fuzz_live.seeds()
    assert len(corpus) >= 50
    rng = random.Random(5)
    replies = 0
    for data in corpus + [mutate(rng, corpus) for _ in range(150)]:
        replies += live.send(data)
        live.check()
    assert live.inputs == len(corpus) + 150
    assert replies > 10000  # the server answered: connects, statuses, media to players
    assert live.closing_lines >= 20  # mutations bite: typed errors closed connections
    time.sleep(0.3)
    live.check()
    assert live.shared[fuzz_live.RECEIVED] >= 10


def test_checks_fire(live: fuzz_live.LiveWorld) -> None:
    live.send(fuzz_live.seeds()[0])
    live.check()
    # A traceback in the server's log.
    with open(live.log_path, "ab") as f:
        f.write(b"Traceback (most recent call last):\n")
    with pytest.raises(AssertionError, match="server log: Traceback"):
        live.check()
    # The server stops serving for longer than the stall bound: the healthy pair stalls.
    os.kill(live.server.pid, signal.SIGSTOP)
    try:
        time.sleep(fuzz_live.STALL + 0.5)
        with pytest.raises(AssertionError, match="stalled"):
            live.check()
    finally:
        os.kill(live.server.pid, signal.SIGCONT)
    # The server dies.
    live.server.kill()
    live.server.wait(5)
    with pytest.raises(AssertionError, match="server exited"):
        live.check()
