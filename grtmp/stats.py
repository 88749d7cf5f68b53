"""Event counters an operator wants that cannot be read from the live state.

Everything that *is* state (connections, streams, players, bytes, drops) is read from the hub
when metrics are scraped (:mod:`grtmp.ops.metrics`); this module holds only what happens and is
gone: handshakes that failed, protocol errors, access decisions, players cut off for lag, and
how long players waited for their first frame. One :class:`Stats` per hub (``hub.stats``); the
shell increments it at those few places. Every label is from a bounded set chosen by the server
(exception class names, status codes, protocol names), never peer text.

Pure: no gevent, no prometheus import (the exporter reads these numbers).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

__all__ = ["FIRST_FRAME_BUCKETS", "Histogram", "Stats"]

#: Upper bounds (seconds) of the time-to-first-frame histogram: from a GOP-cache start (a few
#: ms) to a player that waited for its publisher.
FIRST_FRAME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics): ``counts[i]`` observations
    ``<= buckets[i]``, the last entry for ``+Inf``; ``sum`` and ``count``."""

    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...] = FIRST_FRAME_BUCKETS):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, count)]`` with ``le`` formatted as Prometheus does, ``+Inf`` last."""
        out = []
        total = 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts):
            total += n
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return out


class Stats:
    """Counters of one hub (see the module docstring)."""

    def __init__(self) -> None:
        #: Handshakes that did not complete, by cause (exception class name).
        self.handshake_failures: Counter[str] = Counter()
        #: Connections closed for breaking the protocol, by error class name.
        self.protocol_errors: Counter[str] = Counter()
        #: Access decisions: ``(action, result, reason)`` with action connect/publish/play,
        #: result allow/deny/redirect, reason the status code of a refusal ("" otherwise).
        self.auth_decisions: Counter[tuple[str, str, str]] = Counter()
        #: Players disconnected for falling too far behind, by protocol.
        self.lag_disconnects: Counter[str] = Counter()
        #: Seconds from a play request to the first audio/video frame sent, by protocol.
        self.first_frame: dict[str, Histogram] = {}
        #: Configuration reloads by result (ok/error).
        self.reloads: Counter[str] = Counter()
        #: When the configuration was last loaded successfully (Unix time; 0: never reloaded).
        self.last_reload: float = 0.0

    def handshake_failed(self, reason: str) -> None:
        self.handshake_failures[reason] += 1

    def protocol_error(self, reason: str) -> None:
        self.protocol_errors[reason] += 1

    def auth(self, action: str, result: str, reason: str = "") -> None:
        self.auth_decisions[(action, result, reason)] += 1

    def lagged_out(self, protocol: str) -> None:
        self.lag_disconnects[protocol] += 1

    def first_frame_sent(self, protocol: str, seconds: float) -> None:
        hist = self.first_frame.get(protocol)
        if hist is None:
            hist = self.first_frame[protocol] = Histogram()
        hist.observe(seconds)
