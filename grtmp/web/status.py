"""What the status page shows: every stream with its codecs, picture, rate and viewers.

:func:`status_data` reads the hub (streams, and ``hub.sessions`` for players by protocol), the
streams' own counters (``bytes_in``, the GOP cache's video timestamps for the frame rate when
onMetaData gives none) and the LL-HLS service's viewer counts. The bit rate is measured
between two calls of the page (it polls every two seconds), falling back to the average since
the publish started.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Any

from grtmp.wire.message import VIDEO

if TYPE_CHECKING:
    from grtmp.web.app import WebApp

__all__ = ["status_data", "stream_info"]

#: Per stream: (monotonic time, bytes_in) at the previous call, and when it went live.
_seen: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) < 1e9 else None


def _fps(stream: Any) -> float | None:
    meta = stream.metadata or {}
    for key in ("framerate", "fps", "videoframerate"):
        fps = _number(meta.get(key))
        if fps:
            return round(fps, 2)
    stamps = [p.timestamp for p in stream.gop.packets if p.type_id == VIDEO]
    if len(stamps) >= 3:
        span = (stamps[-1] - stamps[0]) & 0xFFFFFFFF
        if 0 < span < 600_000:
            return round((len(stamps) - 1) * 1000 / span, 2)
    return None


def stream_info(web: WebApp, stream: Any, players: Counter[str], now: float) -> dict[str, Any]:
    """One stream as the status page shows it."""
    codecs = stream.codecs()
    entry = _seen.get(stream)
    if entry is None or entry[2] is not stream.publisher:
        # [time, bytes_in at that time, publisher, live since, last measured rate]
        entry = _seen[stream] = [now, stream.bytes_in, stream.publisher, now, None]
    started = getattr(stream.publisher, "started", None)
    uptime = now - started if isinstance(started, float) and started <= now else now - entry[3]
    dt = now - entry[0]
    if dt >= 0.5:
        entry[4] = (stream.bytes_in - entry[1]) * 8 / dt
        entry[0], entry[1] = now, stream.bytes_in
    if entry[4] is not None:
        bitrate = entry[4]
    else:
        bitrate = stream.bytes_in * 8 / uptime if uptime > 0 else 0.0
    hls = web.hls.viewers(stream.app, stream.name)
    by_protocol = dict(players)
    if hls:
        by_protocol["hls"] = hls
    return {
        "app": stream.app, "name": stream.name, "live": stream.is_live,
        "video": codecs.get("video"), "audio": codecs.get("audio"),
        "width": codecs.get("width"), "height": codecs.get("height"),
        "sample_rate": codecs.get("sample_rate"), "channels": codecs.get("channels"),
        "fps": _fps(stream), "bitrate": round(bitrate),
        "uptime": round(uptime, 1) if stream.is_live else 0,
        "players": by_protocol, "viewers": sum(by_protocol.values()),
        "messages_in": stream.messages_in, "bytes_in": stream.bytes_in,
    }


def status_data(web: WebApp) -> dict[str, Any]:
    """The JSON of ``GET /status.json``."""
    now = time.monotonic()
    players: dict[tuple[str, str], Counter[str]] = {}
    for session in list(web.hub.sessions.values()):
        describe = getattr(session, "describe", None)
        if describe is None:
            continue
        try:
            info = describe()
        except Exception:  # a session in the middle of closing: skip it this time
            continue
        if info.get("protocol") == "hls":
            continue  # counted by the LL-HLS service (distinct recent clients)
        for play in info.get("playing", ()):
            key = (play.get("app"), play.get("name"))
            players.setdefault(key, Counter())[str(info.get("protocol"))] += 1
    streams = [stream_info(web, s, players.get((s.app, s.name), Counter()), now)
               for s in web.hub]
    streams.sort(key=lambda s: (not s["live"], s["app"], s["name"]))
    return {"server": "grtmp", "time": time.time(), "streams": streams}
