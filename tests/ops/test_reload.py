"""Hot reload: new settings reach running streams at once; players never notice."""

from __future__ import annotations

import hashlib
import logging
import os

import gevent
import pytest

from grtmp.errors import RTMPError
from grtmp.wire.message import AUDIO, VIDEO
from tests.helpers import AAC_HEADER, AVC_HEADER, aac, inter, key, status_of, wait_until


def _media(i: int) -> tuple[int, bytes]:
    if i % 3 == 2:
        return AUDIO, aac(i % 256) + i.to_bytes(4, "big")
    frame = (key if i % 30 == 0 else inter)(i % 256)
    return VIDEO, frame + i.to_bytes(4, "big") + bytes(200)


def _player(env, peers, name):
    p = peers(env.port, timeout=30)
    p.connect("live")
    p.play(name, p.create_stream())
    return p


def test_100_players_through_reloads_see_no_disconnect_and_every_byte(make_ops, peers,
                                                                       tmp_path, caplog):
    rec = tmp_path / "rec"
    env = make_ops("[apps.live]\nmax_lag_seconds = 20.0\n")
    streams = [f"s{i}" for i in range(4)]
    players = {name: [_player(env, peers, name) for _ in range(25)] for name in streams}
    n = 240  # messages per stream, after the two sequence headers
    expected = {}
    for name in streams:
        h = hashlib.sha256()
        for type_id, payload in [(VIDEO, AVC_HEADER), (AUDIO, AAC_HEADER)] + \
                [_media(i) for i in range(n)]:
            h.update(bytes([type_id]) + len(payload).to_bytes(4, "big") + payload)
        expected[name] = h.hexdigest()

    got: dict[int, str] = {}
    eof: list[int] = []

    def read(player, count):
        h = hashlib.sha256()
        seen = 0
        try:
            while seen < count:
                msg = player.read(30)
                if msg.type_id in (AUDIO, VIDEO):
                    h.update(bytes([msg.type_id]) + len(msg.payload).to_bytes(4, "big") +
                             bytes(msg.payload))
                    seen += 1
        except (RTMPError, OSError, AssertionError):
            eof.append(id(player))
            return
        got[id(player)] = h.hexdigest()

    readers = [gevent.spawn(read, p, n + 2) for ps in players.values() for p in ps]
    pubs = {}
    for name in streams:
        pub = peers(env.port, timeout=30)
        pub.connect("live")
        pub.publish(name, pub.create_stream())
        pub.media(VIDEO, 0, AVC_HEADER)
        pub.media(AUDIO, 0, AAC_HEADER)
        pubs[name] = pub

    def publish(name, start, stop):
        for i in range(start, stop):
            type_id, payload = _media(i)
            pubs[name].media(type_id, i * 20, payload)
            if i % 10 == 9:
                gevent.sleep(0.02)

    def run(start, stop):
        gevent.joinall([gevent.spawn(publish, name, start, stop) for name in streams],
                       timeout=30, raise_error=True)

    run(0, n // 3)
    # Reload 1, through the API: recording on, new access rules that still allow us, a new lag
    # limit, a smaller GOP cache. It applies to the running streams at once.
    env.write_config(f'access = ["allow publish 127.0.0.1", "deny publish all"]\n'
                     f'[apps.live]\nmax_lag_seconds = 15.0\nrecord_dir = "{rec}"\n'
                     f'gop_cache_max_messages = 64\n')
    r = env.request("POST", "/api/v1/reload")
    assert r.status == 200, r.body
    assert r.json()["disconnected"] == []
    for name in streams:
        stream = env.hub.get("live", name)
        assert stream.recorder is not None  # recording started with the reload
        assert stream.gop.max_messages == 64
        assert {p.policy.max_lag_ms for p in stream.players} == {15000}
    run(n // 3, 2 * n // 3)
    # Reload 2: a broken file. Nothing changes; the log says why.
    env.write_config('[apps.live]\nmax_lag_seconds = "soon"\n')
    with caplog.at_level(logging.ERROR, logger="grtmp.ops"):
        result = env.ops.reload()
    assert result["ok"] is False
    assert any("keeping the running configuration" in r.getMessage() and
               ":2: apps.live.max_lag_seconds: must be a number" in r.getMessage()
               for r in caplog.records)
    assert env.hub.config.apps["live"].max_lag_seconds == 15.0
    run(2 * n // 3, n)

    gevent.joinall(readers, timeout=60)
    assert eof == []
    assert len(got) == 100
    for name, ps in players.items():
        assert {got[id(p)] for p in ps} == {expected[name]}, name
    # Every player is still connected, none was cut for lag.
    assert sum(1 for s in env.hub.sessions.values() if s.playing) == 100
    assert env.hub.stats.lag_disconnects == {}
    for name in streams:
        path = env.hub.get("live", name).recorder.path
        assert path.startswith(str(rec)) and os.path.getsize(path) > 2 * n // 3 * 20


def test_new_keys_and_access_rules_disconnect_who_they_refuse(make_ops, peers):
    env = make_ops('[apps.live]\nstream_keys = { cam = "k1" }\n')
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("cam?key=k1", pub.create_stream())
    player = _player(env, peers, "cam")
    other = peers(env.port)
    other.connect("other")
    other.publish("free", other.create_stream())  # no keys in this app
    # The key changes: the publisher with the old one is disconnected, the player stays.
    env.write_config('[apps.live]\nstream_keys = { cam = "k2" }\n')
    result = env.ops.reload()
    assert result["ok"] and len(result["disconnected"]) == 1
    assert pub.eof(1.0)
    assert player.read_until(lambda m: status_of(m) == "NetStream.Play.UnpublishNotify")
    stale = peers(env.port)
    stale.connect("live")
    sid = stale.create_stream()
    stale.command("publish", None, "cam?key=k1", "live", stream_id=sid, tid=0.0)
    assert stale.read_until(lambda m: status_of(m) == "NetStream.Publish.Unauthorized")
    fresh = peers(env.port)
    fresh.connect("live")
    fresh.publish("cam?key=k2", fresh.create_stream())
    # Players of the app are now refused: the one playing goes, new ones are turned away.
    env.write_config('[apps.live]\nstream_keys = { cam = "k2" }\n'
                     'access = ["deny play all"]\n')
    result = env.ops.reload()
    assert len(result["disconnected"]) == 1
    assert player.eof(1.0)
    late = peers(env.port)
    late.connect("live")
    sid = late.create_stream()
    late.command("play", None, "cam", -2.0, stream_id=sid, tid=0.0)
    assert late.read_until(lambda m: status_of(m) == "NetStream.Play.Forbidden")
    assert not other.eof(0.2)  # the other app is untouched
    assert env.hub.get("other", "free").is_live and env.hub.get("live", "cam").is_live


def test_limits_gop_and_no_wait_apply_to_running_streams(make_ops, peers):
    env = make_ops("queue_size = 512\n")
    pub = peers(env.port)
    pub.connect("live")
    pub.publish("cam", pub.create_stream())
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(VIDEO, 0, key(1))
    pub.media(VIDEO, 40, inter(2))
    first = [_player(env, peers, "cam") for _ in range(2)]
    stream = env.hub.get("live", "cam")
    assert wait_until(lambda: len(stream.gop) == 2, 5)
    env.write_config("queue_size = 512\n[apps.live]\nmax_players_per_stream = 2\n"
                     "gop_cache = false\nqueue_size = 16\n[apps.vod]\n"
                     "wait_for_publisher = false\n")
    result = env.ops.reload()
    assert result["changed"] == ["apps.live", "apps.vod"] and result["disconnected"] == []
    assert len(stream.gop) == 0  # GOP cache off: emptied now, nothing cached from here on
    pub.media(VIDEO, 80, key(3))
    assert wait_until(lambda: stream.messages_in == 4, 5) and len(stream.gop) == 0
    third = peers(env.port)
    third.connect("live")
    sid = third.create_stream()
    third.command("play", None, "cam", -2.0, stream_id=sid, tid=0.0)
    assert third.read_until(lambda m: status_of(m) == "NetStream.Play.Failed")  # too many
    first[0].close()
    assert wait_until(lambda: len(stream.players) == 1, 5)
    newcomer = _player(env, peers, "cam")
    conn = next(c for c in env.hub.sessions.values() if c.peer == newcomer.name)
    assert next(iter(conn.playing.values())).outbox.queue.maxsize == 16  # the app's new size
    vod = peers(env.port)
    vod.connect("vod")
    sid = vod.create_stream()
    vod.command("play", None, "nothing", -2.0, stream_id=sid, tid=0.0)
    assert vod.read_until(lambda m: status_of(m) == "NetStream.Play.StreamNotFound")


def test_recording_follows_reloads_but_api_recordings_stay(make_ops, peers, tmp_path):
    rec = tmp_path / "rec"
    env = make_ops(f'[apps.live]\nrecord_dir = "{rec}"\nrecord_auto = false\n')
    for name in ("auto", "manual"):
        pub = peers(env.port)
        pub.connect("live")
        pub.publish(name, pub.create_stream())
        pub.media(VIDEO, 0, AVC_HEADER)
        pub.media(VIDEO, 0, key(1))
    assert wait_until(lambda: env.hub.get("live", "manual") is not None and
                      env.hub.get("live", "auto") is not None, 5)
    manual = env.ops.start_recording("live", "manual")["path"]
    env.write_config(f'[apps.live]\nrecord_dir = "{rec}"\n')  # record_auto on
    env.ops.reload()
    auto = env.hub.get("live", "auto").recorder
    assert auto is not None and not getattr(auto, "grtmp_manual", False)
    assert env.hub.get("live", "manual").recorder.path == manual
    env.write_config("")  # recording off
    env.ops.reload()
    assert env.hub.get("live", "auto").recorder is None
    assert env.hub.get("live", "manual").recorder.path == manual  # asked for: kept
    with open(auto.path, "rb") as f:
        assert f.read(3) == b"FLV"  # finalised when the reload stopped it


def test_settings_bound_at_start_keep_their_running_values(make_ops):
    env = make_ops("port = 0\nhost = \"127.0.0.1\"\nchunk_size = 4096\n")
    env.write_config("port = 1999\nhost = \"127.0.0.1\"\nchunk_size = 8192\n")
    result = env.ops.reload()
    assert result["ok"] and result["restart_needed"] == ["port"]
    assert result["changed"] == ["chunk_size"]
    assert env.hub.config.port == 0 and env.hub.config.chunk_size == 8192
    assert env.server.config is env.hub.config  # new connections get the new settings


def test_flags_win_over_the_file_on_reload(make_ops, tmp_path):
    env = make_ops("max_players_per_stream = 5\n")
    env.ops.overrides = {"max_players_per_stream": 7}
    env.write_config("max_players_per_stream = 6\nqueue_size = 99\n")
    assert env.ops.reload()["ok"]
    assert env.hub.config.max_players_per_stream == 7 and env.hub.config.queue_size == 99


@pytest.mark.parametrize(("text", "expect"), [
    ("[apps.live]\nplayers = 3\n", ":2: apps.live.players: unknown setting for an app"),
    ("chunk_size = 1\n", ":1: chunk_size: must be between 128 and 2147483647"),
    ("on_play = \"ftp://x\"\n", ":1: on_play: must be an http:// or https:// URL"),
    ("port = [\n", ": invalid TOML"),
])
def test_a_bad_file_is_refused_with_file_line_and_key(make_ops, text, expect):
    env = make_ops("")
    before = env.hub.config
    env.write_config(text)
    result = env.ops.reload()
    assert not result["ok"] and expect in result["message"]
    assert env.hub.config is before
    assert env.hub.stats.reloads["error"] == 1
