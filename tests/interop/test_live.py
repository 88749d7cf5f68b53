"""Publish -> play through the server with FFmpeg (PyAV) peers and grtmp's own client."""

from __future__ import annotations

import time

import gevent
import gevent.socket

from grtmp.errors import CommandError, ConnectionClosed
from grtmp.net.client import Client
from grtmp.wire.message import VIDEO
from tests.helpers import wait_until
from tests.helpers.media import encode_h264_tags

W, H = 160, 120


def _url(server, name="test", app="live"):
    return f"rtmp://127.0.0.1:{server.port}/{app}/{name}"


def _is_subsequence_tail(sub: list[str], full: list[str]) -> bool:
    """``sub`` is a contiguous run of ``full`` (what a late joiner must receive)."""
    if not sub:
        return False
    try:
        start = full.index(sub[0])
    except ValueError:
        return False
    return full[start:start + len(sub)] == sub


def test_publish_three_players_and_late_joiner(rtmp_server, av_peers):
    url = _url(rtmp_server)
    frames, fps, gop = 100, 25, 25
    pub = av_peers("publish", url, "--frames", str(frames), "--fps", str(fps),
                   "--gop", str(gop), "--width", str(W), "--height", str(H), "--linger", "0.5")
    assert wait_until(lambda: (s := rtmp_server.hub.get("live", "test")) is not None
                      and s.is_live, timeout=20)
    players = [av_peers("play", url, "--timeout", "20") for _ in range(3)]
    # A player that joins mid-stream, well after the first keyframe.
    gevent.sleep(1.5)
    late = av_peers("play", url, "--timeout", "20")
    sent = pub.result(60)
    assert "error" not in sent, sent
    assert sent["video_packets"] == frames
    for peer in players + [late]:
        got = peer.result(60)
        assert "error" not in got, got
        assert (got["width"], got["height"]) == (W, H)
        assert got["first_video_keyframe"] is True
        assert got["first_decode_error"] is None
        assert got["video_frames"] == got["video_packets"]
        # Every packet is the publisher's, in order, without a gap, up to the end.
        assert _is_subsequence_tail(got["hashes"], sent["hashes"])
        assert got["hashes"][-1] == sent["hashes"][-1]
        assert got["audio_frames"] > 0
        assert got["dts"] == sorted(got["dts"])
    # The early players got (nearly) everything; each GOP start is a keyframe.
    early = [p.result(1) for p in players]
    assert all(len(g["hashes"]) >= frames - gop for g in early)


def test_second_publisher_gets_badname_and_first_is_untouched(make_server, av_peers):
    rtmp_server = make_server(publisher_takeover="never")
    url = _url(rtmp_server, "dup")
    first = av_peers("publish", url, "--frames", "75", "--width", str(W), "--height", str(H))
    assert wait_until(lambda: (s := rtmp_server.hub.get("live", "dup")) is not None
                      and s.is_live, timeout=20)
    player = av_peers("play", url, "--timeout", "20")
    second = av_peers("publish", url, "--frames", "10")
    res2 = second.result(60)
    assert "error" in res2  # FFmpeg reports the server's error status
    # grtmp's own client sees the status code itself.
    with Client(url, socket_module=gevent.socket) as c:
        c.connect()
        try:
            c.publish()
        except CommandError as exc:
            assert exc.code == "NetStream.Publish.BadName"
        else:
            raise AssertionError("second publisher was accepted")
    res1 = first.result(60)
    assert "error" not in res1 and res1["video_packets"] == 75
    got = player.result(60)
    assert _is_subsequence_tail(got["hashes"], res1["hashes"])
    assert got["hashes"][-1] == res1["hashes"][-1]


def test_ffmpeg_publisher_takes_over_and_the_player_goes_on(rtmp_server, av_peers):
    """publisher_takeover = always (the default): a second FFmpeg publisher of a live name is
    accepted at once, the first is closed, and an FFmpeg player sees both publishers' frames
    without reconnecting. Video only: with audio, FFmpeg's FLV demuxer adds a stream when the
    second publisher's AAC header arrives, which PyAV's ``demux()`` (our test client) cannot
    follow."""
    url = _url(rtmp_server, "over")
    first = av_peers("publish", url, "--frames", "500", "--fps", "25", "--width", str(W),
                     "--height", str(H), "--no-audio")
    assert wait_until(lambda: (s := rtmp_server.hub.get("live", "over")) is not None
                      and s.is_live, timeout=20)
    player = av_peers("play", url, "--timeout", "20")
    gevent.sleep(2.0)
    second = av_peers("publish", url, "--frames", "50", "--fps", "25", "--width", str(W),
                      "--height", str(H), "--noise", "--no-audio")
    res2 = second.result(60)
    assert "error" not in res2 and res2["video_packets"] == 50
    res1 = first.result(60)
    assert "error" in res1  # the server closed it
    got = player.result(60)
    assert "error" not in got
    # The player ends on the second publisher's frames, after two seconds of the first one's.
    assert got["hashes"][-1] == res2["hashes"][-1]
    assert _is_subsequence_tail(got["hashes"][-30:], res2["hashes"])
    assert len(got["hashes"]) >= 50 + 25
    assert got["first_video_keyframe"] is True


def test_publisher_drops_and_comes_back_player_keeps_going(rtmp_server):
    url = _url(rtmp_server, "resume")
    tags = encode_h264_tags(30)
    player = Client(url, socket_module=gevent.socket)
    player.connect()
    player.play()  # waits for a publisher (nginx-rtmp's idle streams)
    got: list = []

    def read_all():
        try:
            for msg in player.media():
                got.append(msg)
        except (ConnectionClosed, OSError):
            pass

    reader = gevent.spawn(read_all)
    try:
        for _round in range(2):
            pub = Client(url, socket_module=gevent.socket)
            pub.connect()
            pub.publish()
            for ttype, ts, payload in tags:
                pub.send_media(ttype, ts, payload)
                gevent.sleep(0.002)
            want = len(tags) * (_round + 1)
            assert wait_until(lambda n=want: sum(m.type_id == VIDEO for m in got) >= n,
                              timeout=10)
            pub.close()  # abrupt drop: no FCUnpublish, no deleteStream
            assert wait_until(lambda n=_round + 1: [
                s.get("code") for s in player.statuses].count(
                    "NetStream.Play.UnpublishNotify") == n, timeout=10)
        codes = [s.get("code") for s in player.statuses]
        assert codes.count("NetStream.Play.UnpublishNotify") == 2
        assert "NetStream.Play.PublishNotify" in codes
        video = [m for m in got if m.type_id == VIDEO]
        assert [m.payload for m in video] == [t[2] for t in tags] * 2
        stamps = [m.timestamp for m in video]
        assert stamps == sorted(stamps), "timestamps must continue across a republish"
        assert stamps[len(tags)] > stamps[len(tags) - 1]
    finally:
        player.close()
        reader.kill()


def test_slow_player_does_not_slow_publisher_or_others(make_server, av_peers):
    srv = make_server(queue_size=64, max_lag_seconds=2.0)
    url = _url(srv, "slow")
    frames, fps = 125, 25
    pub = av_peers("publish", url, "--frames", str(frames), "--fps", str(fps),
                   "--filler", "200000", "--linger", "0.5")
    assert wait_until(lambda: (s := srv.hub.get("live", "slow")) is not None
                      and s.is_live, timeout=20)
    fast = av_peers("play", url, "--timeout", "20")
    # A player that plays and then never reads: its socket buffers fill up.
    stuck = Client(url, socket_module=gevent.socket)
    stuck.connect()
    stuck.play()
    stuck_port = stuck.sock.getsockname()[1]
    stuck_conn = next(c for c in srv.conns if c.address[1] == stuck_port)
    stuck_sub = next(iter(stuck_conn.playing.values())).outbox
    t0 = time.monotonic()
    sent = pub.result(60)
    elapsed = time.monotonic() - t0
    assert "error" not in sent
    # Real-time publishing of 5 s was not held back by the stuck player.
    assert elapsed < frames / fps + 4
    got = fast.result(60)
    assert _is_subsequence_tail(got["hashes"], sent["hashes"])
    assert got["hashes"][-1] == sent["hashes"][-1]
    # The stuck player was dropped (too far behind) or is dropping; never unbounded.
    subs = [s for st in srv.hub for s in st.players]
    assert all(s.queue.qsize() <= 64 for s in subs)
    # ~25 MB of video (filler NAL units) never read: the stuck player dropped to keyframes
    # and, being more than max_lag_seconds behind, was disconnected with a log line.
    assert stuck_sub.policy.dropped > 0
    assert wait_until(lambda: stuck_conn.closed, timeout=10)
    stuck.close()
