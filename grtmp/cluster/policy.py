"""The directory's rules, pure: the takeover rule, what a register or refresh does, backoff.

Every decision about an entry in the store is made by :func:`decide` from the entry found
there (already verified, or ``None``), so the Redis and the local directory share one rule.
The store only offers "get" and "compare-and-set", and the node writes only after deciding.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from grtmp.cluster.entry import Entry


@dataclass(frozen=True)
class Takeover:
    """``publisher_takeover = always | idle:SECONDS | never`` (default ``always``).

    A new publisher of a name that is live on another node takes it over ``always``, only if
    that node's publisher has been idle for ``SECONDS`` (``idle``), or ``never``. The idle time
    cluster-wide is known to within one refresh interval (TTL/3): the owner reports its last
    activity when it refreshes its entry.
    """

    mode: str = "always"
    idle_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("always", "idle", "never"):
            raise ValueError(f"unknown takeover mode {self.mode!r}")
        if self.idle_seconds < 0 or (self.mode != "idle" and self.idle_seconds):
            raise ValueError("idle_seconds is for mode 'idle' and must be >= 0")

    @classmethod
    def parse(cls, text: str) -> Takeover:
        """Parse ``always``, ``never`` or ``idle:SECONDS``."""
        mode, sep, arg = text.strip().partition(":")
        if mode == "idle" and sep:
            try:
                seconds = float(arg)
            except ValueError:
                raise ValueError(f"bad idle seconds in {text!r}") from None
            if not seconds >= 0 or seconds == float("inf"):
                raise ValueError(f"bad idle seconds in {text!r}")
            return cls("idle", seconds)
        if sep or mode not in ("always", "never"):
            raise ValueError(f"publisher_takeover must be always, idle:SECONDS or never: "
                             f"{text!r}")
        return cls(mode)

    def __str__(self) -> str:
        return f"idle:{self.idle_seconds:g}" if self.mode == "idle" else self.mode

    def allows(self, owner: Entry | None, now: float) -> bool:
        """Whether a new publisher may take the name from ``owner`` (a live entry or None)."""
        if owner is None or not owner.live:
            return True
        if self.mode == "always":
            return True
        if self.mode == "never":
            return False
        return now - owner.active >= self.idle_seconds


ALWAYS = Takeover("always")


class Write(NamedTuple):
    """Write our entry with this epoch."""

    epoch: int


class Lost(NamedTuple):
    """Another registration replaced ours; ``owner`` is the new live entry (None: it left)."""

    owner: Entry | None


class Refused(NamedTuple):
    """The takeover rule keeps ``owner``; we must not publish."""

    owner: Entry


Decision = Write | Lost | Refused


def next_epoch(current: Entry | None, now: float) -> int:
    """An epoch larger than ``current``'s, close to the time in ms (a hybrid logical clock).

    Using the time keeps epochs growing even when the store lost the previous entry (a Redis
    restart); the ``+ 1`` keeps them growing when clocks disagree.
    """
    return max(int(now * 1000), current.epoch + 1 if current is not None else 0)


def decide(node: str, epoch: int | None, takeover: Takeover, current: Entry | None,
           now: float) -> Decision:
    """What node ``node`` does about its registration given the ``current`` stored entry.

    ``epoch`` is None for a registration never written yet (a new publish), else the epoch
    it was written with (a refresh). ``current`` is the verified entry in the store (live or
    tombstone), or None when the store has nothing valid (absent, expired, forged).

    - New registration: refused if another node's live entry is protected by ``takeover``;
      otherwise written with an epoch above the current one.
    - Refresh: rewritten if the store still holds our entry, or holds nothing valid (it
      expired while the store was unreachable, Redis restarted, or someone wrote garbage);
      lost as soon as anything else valid is there, because only a later registration of
      the name (or the tombstone left by its unpublish) can have replaced ours.
    """
    if epoch is None:
        if (current is not None and current.live and current.node != node
                and not takeover.allows(current, now)):
            return Refused(current)
        return Write(next_epoch(current, now))
    if current is None or (current.node == node and current.epoch == epoch):
        return Write(epoch)
    return Lost(current if current.live else None)


class Backoff:
    """Exponential backoff with jitter for reconnecting: ``base * 2**n`` capped at ``cap``.

    Each delay is drawn uniformly from [d/2, d] ("equal jitter"), so nodes that lost Redis at
    the same moment do not reconnect in lockstep, and the delay never collapses to zero.
    """

    def __init__(self, base: float = 0.1, cap: float = 5.0,
                 rand: Callable[[], float] = random.random) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rand = rand
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        d = min(self.cap, self.base * 2 ** min(self.attempts, 60))
        self.attempts += 1
        return d / 2 + self._rand() * d / 2

    def reset(self) -> None:
        self.attempts = 0
