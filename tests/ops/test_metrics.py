"""/metrics: real connections, parsed with prometheus-client's own parsers."""

from __future__ import annotations

import socket
import time

import gevent
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families

from grtmp.stats import Histogram, Stats
from grtmp.wire.message import AUDIO, VIDEO
from tests.helpers import AAC_HEADER, AVC_HEADER, aac, inter, key, status_of, wait_until


def scrape(env) -> dict[tuple[str, frozenset], float]:
    r = env.get("/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def series_of(samples, **labels):
    want = set(labels.items())
    return [name for name, lab in samples if want <= lab]


def _publish(env, peers, name="cam", frames=30, app="live"):
    pub = peers(env.port)
    pub.connect(app)
    pub.publish(name, pub.create_stream())
    sent = [AVC_HEADER, AAC_HEADER]
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(AUDIO, 0, AAC_HEADER)
    for i in range(frames):
        payload = (key if i % 10 == 0 else inter)(i % 256)
        pub.media(VIDEO, i * 40, payload)
        pub.media(AUDIO, i * 40, aac(i % 256))
        sent += [payload, aac(i % 256)]
    return pub, sum(len(p) for p in sent)


def _play(env, peers, name="cam", app="live"):
    p = peers(env.port)
    p.connect(app)
    p.play(name, p.create_stream())
    return p


def test_metrics_show_connections_streams_viewers_bytes_and_decisions(make_ops, peers):
    env = make_ops()
    players = [_play(env, peers) for _ in range(2)]  # waiting for the publisher
    pub, sent = _publish(env, peers)
    idle = peers(env.port)
    idle.connect("live")
    assert wait_until(lambda: env.hub.get("live", "cam").bytes_in == sent, 5)
    for p in players:
        p.read_for(0.2)
    m = scrape(env)
    assert value(m, "grtmp_info", version=__import__("grtmp").__version__) == 1
    assert value(m, "grtmp_connections", protocol="rtmp", state="publishing") == 1
    assert value(m, "grtmp_connections", protocol="rtmp", state="playing") == 2
    assert value(m, "grtmp_connections", protocol="rtmp", state="idle") == 1
    assert value(m, "grtmp_connections", protocol="rtmp", state="handshake") == 0
    assert value(m, "grtmp_streams", state="live") == 1
    assert value(m, "grtmp_streams", state="waiting") == 0
    cam = {"app": "live", "stream": "cam"}
    assert value(m, "grtmp_stream_viewers", protocol="rtmp", **cam) == 2
    assert value(m, "grtmp_stream_bytes_in_total", **cam) == sent
    assert value(m, "grtmp_stream_bytes_out_total", **cam) >= 2 * sent
    assert value(m, "grtmp_stream_keyframe_interval_seconds", **cam) == 0.4
    assert value(m, "grtmp_stream_frames_dropped_total", **cam) == 0
    assert value(m, "grtmp_stream_recording", **cam) == 0
    assert abs(value(m, "grtmp_stream_start_time_seconds", **cam) - time.time()) < 30
    assert value(m, "grtmp_auth_decisions_total", action="connect", result="allow",
                 reason="") == 4
    assert value(m, "grtmp_auth_decisions_total", action="play", result="allow",
                 reason="") == 2
    assert value(m, "grtmp_auth_decisions_total", action="publish", result="allow",
                 reason="") == 1
    # Both players waited for the publisher, then got their first frame.
    assert value(m, "grtmp_time_to_first_frame_seconds_count", protocol="rtmp") == 2
    assert value(m, "grtmp_time_to_first_frame_seconds_bucket", protocol="rtmp",
                 le="+Inf") == 2
    assert value(m, "grtmp_config_reloads_total", result="ok") is None
    assert any(name.startswith("process_") for name, _ in m)
    # A late joiner starts from the GOP cache: its first frame is counted too.
    _play(env, peers).read_for(0.2)
    m = scrape(env)
    assert value(m, "grtmp_time_to_first_frame_seconds_count", protocol="rtmp") == 3


def test_per_stream_series_disappear_when_the_stream_ends(make_ops, peers):
    env = make_ops()
    pub, _ = _publish(env, peers, name="gone", frames=3)
    player = _play(env, peers, name="gone")
    assert wait_until(lambda: env.hub.get("live", "gone") is not None, 5)
    assert series_of(scrape(env), stream="gone")
    pub.close()
    player.close()
    assert wait_until(lambda: env.hub.get("live", "gone") is None, 5)
    m = scrape(env)
    assert series_of(m, stream="gone") == []
    assert value(m, "grtmp_streams", state="live") == 0


def test_handshake_failures_protocol_errors_and_denials_are_counted(make_ops, peers):
    env = make_ops(access=["deny publish all"])
    bad = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    bad.sendall(b"\x07" + bytes(1536))  # RTMP version 7: not a handshake we speak
    bad.settimeout(5)
    try:
        while bad.recv(65536):
            pass
    except OSError:
        pass
    bad.close()
    garbage = peers(env.port)
    garbage.send_raw(b"\x02\x00\x00\x00\xff\xff\xff\x14" + bytes(64))  # 16 MiB command
    assert garbage.eof(5)
    denied = peers(env.port)
    denied.connect("live")
    sid = denied.create_stream()
    denied.command("publish", None, "x", "live", stream_id=sid, tid=0.0)
    assert denied.read_until(lambda msg: status_of(msg) == "NetStream.Publish.Forbidden")
    m = {}
    assert wait_until(lambda: m.update(scrape(env)) or
                      value(m, "grtmp_handshake_failures_total", reason="HandshakeError") == 1,
                      5)
    assert value(m, "grtmp_protocol_errors_total", reason="LimitExceeded") == 1
    assert value(m, "grtmp_auth_decisions_total", action="publish", result="deny",
                 reason="NetStream.Publish.Forbidden") == 1


def test_lagging_player_disconnect_and_drops_are_counted(make_ops, peers):
    env = make_ops(queue_size=64, max_lag_seconds=1.0)
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("s", pub.create_stream())
    pub.set_chunk_size(65536)
    stuck = peers(env.port, rcvbuf=4096)
    stuck.connect("live")
    stuck.play("s", stuck.create_stream())  # and never reads again
    stream = env.hub.get("live", "s")
    for i in range(300):
        pub.media(VIDEO, i * 40, (key if i % 10 == 0 else inter)(0)[:5] + bytes(40_000))
        gevent.sleep(0.002)
        if not stream.players:
            break
    assert wait_until(lambda: not stream.players, 5)
    m = scrape(env)
    assert value(m, "grtmp_player_lag_disconnects_total", protocol="rtmp") == 1
    assert value(m, "grtmp_stream_frames_dropped_total", app="live", stream="s") > 0


def test_ingest_bitrate_and_fps_from_a_paced_publisher(make_ops, peers):
    env = make_ops(sample_interval=0.2)
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("paced", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    frame = bytes(1000)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < 2.0:  # 25 fps of 1000+5 bytes: ~201 kbit/s
        pub.media(VIDEO, i * 40, (key if i % 25 == 0 else inter)(0)[:5] + frame)
        i += 1
        gevent.sleep(max(0.0, start + i * 0.04 - time.monotonic()))
    m = scrape(env)
    labels = {"app": "live", "stream": "paced"}
    fps = value(m, "grtmp_stream_ingest_fps", **labels)
    bps = value(m, "grtmp_stream_ingest_bitrate_bps", **labels)
    assert 20 <= fps <= 30, fps
    assert 150_000 <= bps <= 250_000, bps
    assert value(m, "grtmp_stream_keyframe_interval_seconds", **labels) == 1.0


def test_openmetrics_when_asked(make_ops):
    env = make_ops()
    r = env.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status == 200 and r.headers["content-type"].startswith("application/openmetrics")
    names = {f.name for f in om_parse(r.body.decode())}
    assert {"grtmp_connections", "grtmp_streams", "grtmp_handshake_failures"} <= names


def test_histogram_and_stats_are_prometheus_shaped():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and h.sum == pytest.approx(3.65)
    s = Stats()
    s.first_frame_sent("hls", 0.2)
    s.auth("play", "deny", "NetStream.Play.Forbidden")
    assert s.first_frame["hls"].count == 1
    assert s.auth_decisions[("play", "deny", "NetStream.Play.Forbidden")] == 1


def test_fast_text_renderer_reads_back_as_what_prometheus_client_writes(make_ops, peers):
    from prometheus_client import generate_latest

    from grtmp.ops.metrics import collect_families, make_registry, render_text

    env = make_ops(access=["deny publish 10.0.0.0/8"])
    pub = peers(env.port)
    pub.connect("li\"ve\\")  # label values that need escaping
    pub.publish("new\nline", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    for i in range(25):
        pub.media(VIDEO, i * 40, (key if i % 10 == 0 else inter)(i))
    _play(env, peers, name="new\nline", app="li\"ve\\").read_for(0.2)
    _play(env, peers, name="waiting")
    env.ops.sampler.sample()
    gevent.sleep(0.3)
    env.ops.sampler.sample()
    env.hub.stats.handshake_failed("HandshakeError")
    env.hub.stats.first_frame_sent("hls", 1234567.5)  # a value Go writes with an exponent
    env.hub.stats.protocol_error("ChunkError")
    env.hub.get("li\"ve\\", "new\nline").bytes_in = 123_456_789  # Go writes 1.23456789e+08
    registry = make_registry(env.ops, process=False)
    fast = render_text(collect_families(env.ops))
    reference = generate_latest(registry).decode()

    def parsed(text):
        return [(f.name, f.type, f.documentation,
                 sorted((s.name, sorted(s.labels.items()), s.value) for s in f.samples))
                for f in text_string_to_metric_families(text)]

    assert parsed(fast) == parsed(reference)
    # Same lines but for how integers are written (1.23456789e+08 vs 123456789).
    assert [ln for ln in fast.splitlines() if ln.startswith("#")] == \
        [ln for ln in reference.splitlines() if ln.startswith("#")]
    assert "123456789\n" in fast and "1.23456789e+08\n" in reference
    assert 'stream="new\\nline"' in fast and 'app="li\\"ve\\\\"' in fast
    assert "grtmp_stream_ingest_fps{" in fast  # rates were there to render
    families = {f.name for f in text_string_to_metric_families(fast)}
    assert "grtmp_time_to_first_frame_seconds" in families

