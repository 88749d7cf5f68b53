"""What operators see, read from the live state at the moment they ask.

Nothing here is on the media path: :class:`Snapshot` walks ``hub.sessions`` once (who plays
what over which protocol, what each connection sent each stream), :func:`stream_view` and
:func:`session_view` turn a stream and a session into the JSON API's objects, and
:class:`RateSampler` keeps a few seconds of byte and frame counters per stream (one sample a
second, in its own greenlet) for bit rates and frame rates.

Sessions other than RTMP connections (the web layer's HTTP-FLV, WS-FLV and HLS players) are
read through their ``describe()`` dict: ``protocol``, ``playing`` (``[{"app", "name",
"dropped", "lag_ms"}]``), ``publishing``, ``bytes_in``/``bytes_out``.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import Counter, deque
from typing import Any

import gevent

from grtmp.live.hub import StreamHub
from grtmp.live.stream import Stream
from grtmp.net.connection import Conn

__all__ = ["RateSampler", "Snapshot", "conn_state", "session_view", "stream_view"]

#: Player protocols always shown (with 0) in a stream's ``players``.
PROTOCOLS = ("rtmp", "rtmps", "http-flv", "ws-flv", "hls")


def conn_state(conn: Conn) -> str:
    """handshake, connecting (no connect accepted yet), publishing, playing or idle."""
    if conn.reader is None:
        return "handshake"
    if not conn.connected:
        return "connecting"
    if conn.publishing:
        return "publishing"
    if conn.playing:
        return "playing"
    return "idle"


class Snapshot:
    """One pass over ``hub.sessions`` (see the module docstring)."""

    __slots__ = ("hub", "viewers", "bytes_out", "states", "described")

    def __init__(self, hub: StreamHub):
        self.hub = hub
        #: stream -> Counter(protocol -> players)
        self.viewers: dict[Stream, Counter[str]] = {}
        #: stream -> bytes the players attached now were sent since they started
        self.bytes_out: dict[Stream, int] = {}
        #: (protocol, state) -> sessions
        self.states: Counter[tuple[str, str]] = Counter()
        #: sid -> describe() of the sessions that are not RTMP connections
        self.described: dict[str, dict[str, Any]] = {}
        viewers = self.viewers
        bytes_out = self.bytes_out
        states = self.states
        for sid, session in list(hub.sessions.items()):
            if isinstance(session, Conn):
                proto = session.protocol
                states[(proto, conn_state(session))] += 1
                sent = session.wire.bytes_out
                for play in session.playing.values():
                    stream = play.stream
                    counter = viewers.get(stream)
                    if counter is None:
                        counter = viewers[stream] = Counter()
                    counter[proto] += 1
                    bytes_out[stream] = bytes_out.get(stream, 0) + sent - play.bytes_base
                continue
            try:
                info = session.describe()
            except Exception:  # a session going away while we look: skip it
                continue
            self.described[sid] = info
            proto = str(info.get("protocol", "other"))
            playing = info.get("playing") or []
            state = info.get("state") or ("publishing" if info.get("publishing") else
                                          "playing" if playing else "idle")
            states[(proto, str(state))] += 1
            for entry in playing:
                stream = hub.get(entry.get("app", ""), entry.get("name", ""))
                if stream is None:
                    continue
                viewers.setdefault(stream, Counter())[proto] += 1
                if len(playing) == 1:
                    bytes_out[stream] = bytes_out.get(stream, 0) + int(info.get("bytes_out", 0))

    def stream_bytes_out(self, stream: Stream) -> int:
        """Bytes sent to this stream's players: those gone, plus those attached now."""
        return stream.bytes_out + self.bytes_out.get(stream, 0)

    def players(self, stream: Stream) -> Counter[str]:
        return self.viewers.get(stream) or Counter()


def stream_dropped(stream: Stream) -> int:
    """Frames dropped for slow players of this stream (gone and attached)."""
    return stream.dropped + sum(p.policy.dropped for p in stream.players)


class RateSampler:
    """Per-stream bit rates in and out and video frame rate over the last ``window`` seconds,
    from one sample of the counters every ``interval`` seconds (:meth:`start`) or whenever
    :meth:`sample` is called."""

    def __init__(self, hub: StreamHub, *, interval: float = 1.0, window: float = 5.0):
        self.hub = hub
        self.interval = interval
        self.window = window
        self._samples: dict[Stream, deque[tuple[float, int, int, int]]] = {}
        self._greenlet: gevent.Greenlet | None = None

    def sample(self, snapshot: Snapshot | None = None, now: float | None = None) -> None:
        snap = snapshot or Snapshot(self.hub)
        now = time.monotonic() if now is None else now
        keep = int(math.ceil(self.window / self.interval)) + 1
        samples = self._samples
        live = self.hub.streams.values()
        for stream in live:
            q = samples.get(stream)
            if q is None:
                q = samples[stream] = deque(maxlen=keep)
            q.append((now, stream.bytes_in, snap.stream_bytes_out(stream), stream.video_frames))
        if len(samples) > len(self.hub.streams):
            current = set(live)
            for stream in [s for s in samples if s not in current]:
                del samples[stream]

    def rates(self, stream: Stream) -> dict[str, float] | None:
        """``{"bitrate_in", "bitrate_out" (bits/s), "fps"}``, or None before two samples."""
        q = self._samples.get(stream)
        if not q or len(q) < 2:
            return None
        t0, in0, out0, f0 = q[0]
        t1, in1, out1, f1 = q[-1]
        dt = t1 - t0
        if dt <= 0:
            return None
        return {"bitrate_in": (in1 - in0) * 8 / dt, "bitrate_out": max(0, out1 - out0) * 8 / dt,
                "fps": (f1 - f0) / dt}

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        g, self._greenlet = self._greenlet, None
        if g is not None:
            g.kill(block=True, timeout=1.0)

    def _run(self) -> None:
        while True:
            self.sample()
            gevent.sleep(self.interval)


# -- JSON views -------------------------------------------------------------------------------

def _publisher(stream: Stream) -> dict[str, Any] | None:
    pub = stream.publisher
    if pub is None:
        return None
    address = getattr(pub, "address", None)
    return {"session": getattr(pub, "id", None), "peer": getattr(pub, "peer", str(pub)),
            "address": address[0] if isinstance(address, tuple) else address,
            "protocol": getattr(pub, "protocol", None)}


def _recording(stream: Stream) -> dict[str, Any] | None:
    rec = stream.recorder
    if rec is None:
        return None
    return {"path": getattr(rec, "path", None), "tags": getattr(rec, "tags", None),
            "manual": bool(getattr(rec, "grtmp_manual", False))}


_codecs: weakref.WeakKeyDictionary[Stream, tuple[tuple[int, ...], dict[str, Any]]] = \
    weakref.WeakKeyDictionary()


def stream_codecs(stream: Stream) -> dict[str, Any]:
    """``stream.codecs()``, parsed again only when its sequence headers or first frames
    change (parsing costs about 0.25 ms a stream)."""
    first = getattr(stream, "_first_frame", {})
    signature = (*map(id, stream.headers.values()), -1, *map(id, first.values()))
    cached = _codecs.get(stream)
    if cached is not None and cached[0] == signature:
        return cached[1]
    info = stream.codecs()
    _codecs[stream] = (signature, info)
    return info


def relay_views(relays: Any, stream: Stream) -> tuple[list[dict[str, Any]],
                                                     dict[str, Any] | None]:
    """The stream's push targets and its pull (:mod:`grtmp.net.relay`), as the API shows
    them."""
    if relays is None:
        return [], None
    pushes = [p.describe() for p in relays.push_targets(stream.app, stream.name)]
    pull = relays.pulls.get((stream.app, stream.name))
    return pushes, pull.describe() if pull is not None else None


def stream_view(stream: Stream, snapshot: Snapshot, rates: dict[str, float] | None,
                now: float | None = None, relays: Any = None) -> dict[str, Any]:
    """A stream as the JSON API shows it (schema ``Stream`` in the OpenAPI document)."""
    now = time.time() if now is None else now
    codecs = stream_codecs(stream)
    players = snapshot.players(stream)
    by_protocol = {p: players.get(p, 0) for p in PROTOCOLS}
    for proto, n in players.items():
        by_protocol.setdefault(proto, n)
    interval = stream.keyframe_interval_ms
    pushes, pull = relay_views(relays, stream)
    return {
        "app": stream.app,
        "name": stream.name,
        "live": stream.is_live,
        "uptime": round(now - stream.published_at, 3) if stream.published_at else None,
        "publisher": _publisher(stream),
        "video": {"codec": codecs.get("video"), "width": codecs.get("width"),
                  "height": codecs.get("height"),
                  "fps": round(rates["fps"], 2) if rates else None,
                  "keyframe_interval": interval / 1000 if interval is not None else None},
        "audio": {"codec": codecs.get("audio"), "sample_rate": codecs.get("sample_rate"),
                  "channels": codecs.get("channels")},
        "bitrate_in": round(rates["bitrate_in"]) if rates else None,
        "bitrate_out": round(rates["bitrate_out"]) if rates else None,
        "bytes_in": stream.bytes_in,
        "bytes_out": snapshot.stream_bytes_out(stream),
        "messages_in": stream.messages_in,
        "players": by_protocol,
        "players_total": sum(players.values()),
        "dropped": stream_dropped(stream),
        "recording": _recording(stream),
        "push": pushes,
        "pull": pull,
    }


def session_view(sid: str, session: Any, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """A session as the JSON API shows it (schema ``Session``): its ``describe()`` plus
    ``lag_ms`` (the worst of its plays) and ``dropped`` (all its plays)."""
    info = None
    if snapshot is not None:
        info = snapshot.described.get(sid)
    if info is None:
        info = session.describe()
    view = dict(info)
    view["id"] = sid
    playing = view.get("playing") or []
    view.setdefault("playing", playing)
    view.setdefault("publishing", [])
    view["lag_ms"] = max((int(p.get("lag_ms") or 0) for p in playing), default=0)
    view["dropped"] = sum(int(p.get("dropped") or 0) for p in playing)
    return view
