"""The directory's pure rules: takeover, register/refresh decisions, epochs, backoff."""

from __future__ import annotations

import pytest

from grtmp.cluster.entry import Entry
from grtmp.cluster.policy import (
    ALWAYS,
    Backoff,
    Lost,
    Refused,
    Takeover,
    Write,
    decide,
    next_epoch,
)

NOW = 1_700_000_000.0


def owner(node="A", epoch=1_699_999_990_000, active=NOW - 1, live=True) -> Entry:
    return Entry(app="live", name="x", node=node, url="rtmp://a/live/x", started=NOW - 10,
                 epoch=epoch, expires=NOW + 5, active=active, live=live)


@pytest.mark.parametrize("text, mode, idle", [
    ("always", "always", 0), ("never", "never", 0), ("idle:5", "idle", 5),
    (" idle:0.5 ", "idle", 0.5),
])
def test_parse(text, mode, idle):
    t = Takeover.parse(text)
    assert (t.mode, t.idle_seconds) == (mode, idle)
    assert Takeover.parse(str(t)) == t


@pytest.mark.parametrize("text", ["", "sometimes", "idle", "idle:", "idle:x", "idle:-1",
                                  "idle:nan", "idle:inf", "always:3", "never:1"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        Takeover.parse(text)


def test_allows():
    assert ALWAYS.allows(owner(), NOW)
    assert not Takeover("never").allows(owner(), NOW)
    assert Takeover("never").allows(None, NOW)
    assert Takeover("never").allows(owner(live=False), NOW)
    idle = Takeover("idle", 5)
    assert not idle.allows(owner(active=NOW - 4.9), NOW)
    assert idle.allows(owner(active=NOW - 5), NOW)


def test_new_registration():
    assert decide("B", None, ALWAYS, None, NOW) == Write(int(NOW * 1000))
    cur = owner(epoch=int(NOW * 1000) + 50)  # a clock ahead of ours
    assert decide("B", None, ALWAYS, cur, NOW) == Write(cur.epoch + 1)
    assert decide("B", None, Takeover("never"), cur, NOW) == Refused(cur)
    # A tombstone or our own entry never blocks a registration.
    assert isinstance(decide("B", None, Takeover("never"), owner(live=False), NOW), Write)
    assert isinstance(decide("A", None, Takeover("never"), owner(), NOW), Write)


def test_refresh():
    mine = owner(node="A", epoch=7)
    assert decide("A", 7, ALWAYS, mine, NOW) == Write(7)
    assert decide("A", 7, ALWAYS, None, NOW) == Write(7)  # expired, lost by Redis, forged
    newer = owner(node="B", epoch=8)
    assert decide("A", 7, ALWAYS, newer, NOW) == Lost(newer)
    assert decide("A", 7, ALWAYS, owner(node="B", epoch=8, live=False), NOW) == Lost(None)
    # Another node's entry with a smaller epoch (clocks disagree) still replaced ours.
    assert decide("A", 7, ALWAYS, owner(node="B", epoch=3), NOW) == Lost(owner(node="B",
                                                                               epoch=3))
    # Our own node, another epoch: a newer local registration replaced this one.
    assert isinstance(decide("A", 7, ALWAYS, owner(node="A", epoch=9), NOW), Lost)


def test_epochs_grow():
    e = next_epoch(None, NOW)
    assert next_epoch(owner(epoch=e), NOW) == e + 1
    assert next_epoch(owner(epoch=e), NOW + 1) == e + 1000


def test_backoff():
    b = Backoff(0.1, 1.0, rand=lambda: 1.0)
    assert [round(b.next(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next() == 0.1
    low = Backoff(0.1, 1.0, rand=lambda: 0.0)
    assert [round(low.next(), 3) for _ in range(3)] == [0.05, 0.1, 0.2]
    real = Backoff(0.1, 5.0)
    for _ in range(100):
        assert 0 < real.next() <= 5.0
    with pytest.raises(ValueError):
        Backoff(0, 1)
