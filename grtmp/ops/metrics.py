"""``/metrics``: Prometheus metrics read from the live state at scrape time.

:class:`GrtmpCollector` is a ``prometheus_client`` custom collector: nothing on the media path
updates a metric. Each scrape walks ``hub.sessions`` once (:class:`~grtmp.ops.state.Snapshot`)
and ``hub.streams`` once, and exports the event counters of ``hub.stats``
(:mod:`grtmp.stats`). Per-stream series exist while the stream does (a stream ends when nobody
publishes or plays it), so their number stays bounded by the streams running.

Metrics (``{labels}``):

- ``grtmp_connections{protocol,state}``: sessions by protocol and state (handshake,
  connecting, publishing, playing, idle);
- ``grtmp_handshake_failures_total{reason}``, ``grtmp_protocol_errors_total{reason}``;
- ``grtmp_streams{state}``: streams live (published) and waiting (players, no publisher);
- ``grtmp_stream_viewers{app,stream,protocol}``: players by protocol (rtmp, rtmps, http-flv,
  ws-flv, hls);
- ``grtmp_stream_bytes_in_total{app,stream}``, ``grtmp_stream_bytes_out_total{app,stream}``;
- ``grtmp_stream_ingest_bitrate_bps{app,stream}``, ``grtmp_stream_ingest_fps{app,stream}``,
  ``grtmp_stream_keyframe_interval_seconds{app,stream}``;
- ``grtmp_stream_frames_dropped_total{app,stream}``: frames dropped for slow players;
- ``grtmp_stream_start_time_seconds{app,stream}``, ``grtmp_stream_recording{app,stream}``;
- ``grtmp_player_lag_disconnects_total{protocol}``: players disconnected for lag;
- ``grtmp_auth_decisions_total{action,result,reason}``;
- ``grtmp_time_to_first_frame_seconds{protocol}`` (histogram);
- ``grtmp_relay_pulls{state}``, ``grtmp_relay_pushes{state}``,
  ``grtmp_relay_push_bytes_out_total{app,stream,target}``,
  ``grtmp_relay_push_connections_total{app,stream,target}``,
  ``grtmp_relay_pull_connections_total{app,stream}``;
- ``grtmp_config_reloads_total{result}``, ``grtmp_config_last_reload_success_timestamp_seconds``;
- ``grtmp_info{version}``; and the ``process_*`` metrics of ``prometheus_client``.

Rendering: ``prometheus_client.generate_latest`` validates and escapes every label of every
sample and formats every value as Go would (about 14 us a sample), too slow for a thousand
streams (~9,000 samples). The collector therefore builds light :class:`Family` objects once per
scrape, and :func:`render_text` writes the Prometheus text format from them, escaping each
stream's labels once and writing integers as integers; a test proves that prometheus-client's
parser reads from it exactly what it reads from ``generate_latest``. The same families become
``prometheus_client`` metrics (:class:`GrtmpCollector`) for OpenMetrics scrapers and any
registry.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.utils import floatToGoString

from grtmp import __version__
from grtmp.ops.access import Denied, check_access
from grtmp.ops.control import Operations
from grtmp.ops.state import Snapshot

__all__ = ["Family", "GrtmpCollector", "collect_families", "label_text", "make_metrics_app",
           "make_registry", "render_text", "scrape_text"]

_STATES = ("handshake", "connecting", "publishing", "playing", "idle")
_STREAM = ("app", "stream")
_VIEWER = ("app", "protocol", "stream")  # label names in the order the exposition sorts them


Sample = tuple[str, tuple[str, ...], tuple[str, ...], float, "str | None"]


class Family:
    """One metric family: ``samples`` are ``(suffix, label names, label values, value, label
    text)``, label names in sorted order (as the text format writes them); the label text
    (``{a="x",b="y"}``, escaped) may be given when the caller has it, else it is made when
    rendering."""

    __slots__ = ("name", "type", "doc", "samples")

    def __init__(self, name: str, mtype: str, doc: str):
        self.name = name
        self.type = mtype
        self.doc = doc
        self.samples: list[Sample] = []

    def add(self, names: tuple[str, ...], values: tuple[str, ...], value: float,
            suffix: str = "", text: str | None = None) -> None:
        self.samples.append((suffix, names, values, value, text))

    def metric(self) -> Metric:
        """As a ``prometheus_client`` metric."""
        m = Metric(self.name, self.doc, self.type)
        default = "_total" if self.type == "counter" else ""
        for suffix, names, values, value, _ in self.samples:
            m.add_sample(self.name + (suffix or default), dict(zip(names, values)), value)
        return m


def label_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """``{a="x",b="y"}`` with the values escaped as the text format wants ("" without labels).
    """
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_esc(v)}"' for n, v in zip(names, values)) + "}"


def _counter(name: str, doc: str, names: tuple[str, ...],
             items: Iterable[tuple[Any, int]]) -> Family:
    family = Family(name, "counter", doc)
    for key, n in sorted(items):
        family.add(names, key if isinstance(key, tuple) else (key,), n)
    return family


def collect_families(ops: Operations) -> list[Family]:
    """Every grtmp family, read from the hub now (see the module docstring)."""
    hub = ops.hub
    stats = hub.stats
    snap = Snapshot(hub)
    rates = ops.sampler.rates
    out = []

    info = Family("grtmp_info", "gauge", "grtmp version")
    info.add(("version",), (__version__,), 1)
    out.append(info)

    conns = Family("grtmp_connections", "gauge", "Client sessions by protocol and state")
    protocols = {"rtmp"} | {p for p, _ in snap.states}
    for proto in sorted(protocols):
        for state in _STATES:
            conns.add(("protocol", "state"), (proto, state), snap.states.get((proto, state), 0))
    for (proto, state), n in sorted(snap.states.items()):
        if state not in _STATES:
            conns.add(("protocol", "state"), (proto, state), n)
    out.append(conns)

    out.append(_counter("grtmp_handshake_failures", "Handshakes that did not complete, by cause",
                        ("reason",), stats.handshake_failures.items()))
    out.append(_counter("grtmp_protocol_errors", "Connections closed for a protocol error",
                        ("reason",), stats.protocol_errors.items()))

    streams = list(hub.streams.values())
    live = sum(1 for s in streams if s.publisher is not None)
    count = Family("grtmp_streams", "gauge",
                   "Streams: live (published) or waiting (players, no publisher)")
    count.add(("state",), ("live",), live)
    count.add(("state",), ("waiting",), len(streams) - live)
    out.append(count)

    viewers = Family("grtmp_stream_viewers", "gauge", "Players of a stream by protocol")
    bytes_in = Family("grtmp_stream_bytes_in", "counter",
                      "Bytes received from the publishers of a stream")
    bytes_out = Family("grtmp_stream_bytes_out", "counter",
                       "Bytes sent to the players of a stream")
    bitrate = Family("grtmp_stream_ingest_bitrate_bps", "gauge",
                     "Ingest bit rate over the last seconds (bits/s)")
    fps = Family("grtmp_stream_ingest_fps", "gauge",
                 "Ingest video frame rate over the last seconds")
    gop = Family("grtmp_stream_keyframe_interval_seconds", "gauge",
                 "Stream time between the last two keyframes")
    dropped = Family("grtmp_stream_frames_dropped", "counter",
                     "Frames dropped for slow players of a stream")
    started = Family("grtmp_stream_start_time_seconds", "gauge",
                     "When the current publish started (Unix time, seconds)")
    recording = Family("grtmp_stream_recording", "gauge", "1 while the stream is recorded")
    viewers_of = snap.viewers
    add_viewers = viewers.samples.append
    add_in, add_out = bytes_in.samples.append, bytes_out.samples.append
    add_dropped, add_rec = dropped.samples.append, recording.samples.append
    sent_out = snap.bytes_out
    for s in streams:
        key = (s.app, s.name)
        app, name = _esc(s.app), _esc(s.name)  # escaped once per stream, for every family
        text = f'{{app="{app}",stream="{name}"}}'
        players = viewers_of.get(s)
        for proto, n in (players.items() if players else (("rtmp", 0),)):
            add_viewers(("", _VIEWER, (s.app, proto, s.name), n,
                         f'{{app="{app}",protocol="{_esc(proto)}",stream="{name}"}}'))
        add_in(("", _STREAM, key, s.bytes_in, text))
        add_out(("", _STREAM, key, s.bytes_out + sent_out.get(s, 0), text))
        add_dropped(("", _STREAM, key, s.dropped + sum(p.policy.dropped for p in s.players)
                     if s.players else s.dropped, text))
        add_rec(("", _STREAM, key, 1 if s.recorder is not None else 0, text))
        if s.publisher is not None:
            started.add(_STREAM, key, int(s.published_at or 0), text=text)
            r = rates(s)
            if r is not None:
                bitrate.add(_STREAM, key, int(r["bitrate_in"]), text=text)
                fps.add(_STREAM, key, round(r["fps"], 2), text=text)
            if s.keyframe_interval_ms is not None:
                gop.add(_STREAM, key, s.keyframe_interval_ms / 1000, text=text)
    out += [viewers, bytes_in, bytes_out, bitrate, fps, gop, dropped, started, recording]

    out += _relay_families(ops.relays)

    out.append(_counter("grtmp_player_lag_disconnects", "Players disconnected for falling too "
                        "far behind", ("protocol",), stats.lag_disconnects.items()))
    out.append(_counter("grtmp_auth_decisions", "Access decisions on connect, publish and play",
                        ("action", "reason", "result"),
                        (((a, r, res), n) for (a, res, r), n in stats.auth_decisions.items())))

    ttff = Family("grtmp_time_to_first_frame_seconds", "histogram",
                  "From a play request to the first audio/video frame sent")
    for proto, hist in sorted(stats.first_frame.items()):
        for le, n in hist.cumulative():
            ttff.add(("le", "protocol"), (le, proto), n, "_bucket")
        ttff.add(("protocol",), (proto,), hist.count, "_count")
        ttff.add(("protocol",), (proto,), hist.sum, "_sum")
    out.append(ttff)

    out.append(_counter("grtmp_config_reloads", "Configuration reloads by result", ("result",),
                        stats.reloads.items()))
    last = Family("grtmp_config_last_reload_success_timestamp_seconds", "gauge",
                  "When the configuration was last reloaded (Unix time; 0: never)")
    last.add((), (), stats.last_reload)
    out.append(last)
    return out


_RELAY_STATES = ("starting", "connecting", "pulling", "pushing", "retrying", "stopped")
_TARGET = ("app", "stream", "target")


def _relay_families(relays: Any) -> list[Family]:
    """Pulls and pushes by state; per push target bytes and connections (the target's URL
    without its query string, which may hold a key)."""
    pulls = Family("grtmp_relay_pulls", "gauge", "Relay pulls by state")
    pushes = Family("grtmp_relay_pushes", "gauge", "Relay pushes by state")
    push_bytes = Family("grtmp_relay_push_bytes_out", "counter",
                        "Bytes pushed to a relay target")
    push_conns = Family("grtmp_relay_push_connections", "counter",
                        "Connections made to a relay target")
    pull_conns = Family("grtmp_relay_pull_connections", "counter",
                        "Connections made to pull a stream")
    families = [pulls, pushes, push_bytes, push_conns, pull_conns]
    pull_states: dict[str, int] = dict.fromkeys(_RELAY_STATES, 0)
    push_states: dict[str, int] = dict.fromkeys(_RELAY_STATES, 0)
    if relays is not None:
        for (app, name), pull in sorted(relays.pulls.items()):
            pull_states[pull.state] = pull_states.get(pull.state, 0) + 1
            pull_conns.add(_STREAM, (app, name), pull.connections)
        for (app, name), targets in sorted(relays.pushes.items()):
            for url, push in sorted(targets.items()):
                push_states[push.state] = push_states.get(push.state, 0) + 1
                info = push.describe()
                key = (app, name, url.split("?", 1)[0])
                push_bytes.add(_TARGET, key, info["bytes_out"])
                push_conns.add(_TARGET, key, push.connections)
    for state, n in pull_states.items():
        if state != "pushing":
            pulls.add(("state",), (state,), n)
    for state, n in push_states.items():
        if state != "pulling":
            pushes.add(("state",), (state,), n)
    return families


def _esc(value: str) -> str:
    """A label value escaped for the text format (backslash, newline, double quote)."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return value


def render_text(families: Iterable[Family]) -> str:
    """The Prometheus text format (0.0.4) of ``families``: what ``generate_latest`` writes,
    except that integer values are written as integers (``1234567`` where Go writes
    ``1.234567e+06``; both are the same float to every parser), which is most of the cost saved.
    """
    out: list[str] = []
    append = out.append
    memo: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    fmt = floatToGoString
    for f in families:
        counter = f.type == "counter"
        name = f.name + "_total" if counter else f.name
        doc = f.doc.replace("\\", r"\\").replace("\n", r"\n")
        append(f"# HELP {name} {doc}\n# TYPE {name} {f.type}\n")
        for suffix, names, values, value, text in f.samples:
            if text is None:
                key = (names, values)
                text = memo.get(key)
                if text is None:
                    text = memo[key] = label_text(names, values)
            sample = f.name + suffix if suffix else name
            if value.__class__ is int:
                append(f"{sample}{text} {value}\n")
            else:
                append(f"{sample}{text} {fmt(value)}\n")
    return "".join(out)


def scrape_text(ops: Operations) -> str:
    """:func:`collect_families` then :func:`render_text`, with the cyclic garbage collector
    paused: a scrape allocates tens of thousands of short-lived objects, which would otherwise
    set off collections of the whole heap (every connection's objects) in the middle of it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return render_text(collect_families(ops))
    finally:
        if enabled:
            gc.enable()


class GrtmpCollector:
    """``prometheus_client`` collector of one hub's families (see the module docstring)."""

    def __init__(self, ops: Operations):
        self.ops = ops

    def describe(self) -> list[Metric]:
        return []  # unchecked: families are only known at scrape time

    def collect(self) -> Iterator[Metric]:
        for family in collect_families(self.ops):
            yield family.metric()


def make_registry(ops: Operations, *, process: bool = True) -> CollectorRegistry:
    """A registry with grtmp's collector (and the process collector)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GrtmpCollector(ops))  # type: ignore[arg-type]
    if process:
        ProcessCollector(registry=registry)
    return registry


def make_metrics_app(ops: Operations) -> Callable[..., Iterable[bytes]]:
    """``/metrics`` as a WSGI app, behind the API's access rules (:mod:`grtmp.ops.access`).

    Answers in the Prometheus text format (:func:`render_text`, then the process metrics), or
    OpenMetrics when the scraper asks for it (through ``prometheus_client``).
    """
    registry = make_registry(ops)
    process = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            check_access(environ, ops.hub.config)
        except Denied as exc:
            body = (exc.message + "\n").encode()
            headers = [("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body)))]
            if exc.status == 401:
                headers.append(("WWW-Authenticate", 'Bearer realm="grtmp"'))
            start_response(f"{exc.status} {'Unauthorized' if exc.status == 401 else 'Forbidden'}",
                           headers)
            return [body]
        encoder, content_type = choose_encoder(str(environ.get("HTTP_ACCEPT", "")))
        if encoder is generate_latest:
            body = scrape_text(ops).encode() + generate_latest(process)
        else:
            body = encoder(registry)
        start_response("200 OK", [("Content-Type", content_type),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app
