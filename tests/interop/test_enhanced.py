"""Enhanced RTMP through the server: HEVC/AV1/VP9 relay and recording, multitrack, connect
capabilities, Reconnect Request, and grtmp-inspect on an rtmp:// URL."""

from __future__ import annotations

import json
import sys

import av
import gevent
import gevent.socket
import gevent.subprocess
import pytest

from grtmp.amf.command import decode_data
from grtmp.media.flv import FLVReader
from grtmp.media.multitrack import MANY_TRACKS, build_multitrack, single_track
from grtmp.net.client import Client
from grtmp.wire.message import VIDEO
from tests.helpers import wait_until
from tests.helpers.media import encode_h264_tags

W, H = 160, 120


def _decode_file(path: str) -> tuple[int, str]:
    frames = 0
    with av.open(path) as f:
        vs = f.streams.video[0]
        name = vs.codec_context.name
        for pkt in f.demux(vs):
            frames += len(pkt.decode())
    return frames, name


@pytest.mark.parametrize("vcodec,acodec,expect", [
    ("libx265", "aac", "hevc"),
    ("libsvtav1", "libopus", "av1"),
    ("libvpx-vp9", "aac", "vp9"),
])
def test_enhanced_codecs_relay_and_record(make_server, av_peers, tmp_path, vcodec, acodec,
                                          expect):
    srv = make_server(record_dir=str(tmp_path))
    url = f"rtmp://127.0.0.1:{srv.port}/live/{expect}"
    frames = 50
    pub = av_peers("publish", url, "--frames", str(frames), "--gop", "10", "--vcodec", vcodec,
                   "--acodec", acodec, "--width", str(W), "--height", str(H), "--linger", "1")
    assert wait_until(lambda: (s := srv.hub.get("live", expect)) is not None and s.is_live,
                      timeout=30)
    gevent.sleep(0.8)  # join mid-stream: the GOP cache must give a decodable start
    player = av_peers("play", url, "--timeout", "20")
    sent = pub.result(90)
    assert "error" not in sent, sent
    got = player.result(90)
    assert "error" not in got, got
    assert (got["width"], got["height"]) == (W, H)
    assert got["first_video_keyframe"] is True
    assert got["first_decode_error"] is None
    assert got["video_packets"] >= 10 and got["video_frames"] >= got["video_packets"] - 3
    assert got["audio_packets"] > 0
    # The recording decodes to every frame the publisher sent.
    assert wait_until(lambda: srv.hub.get("live", expect) is None or
                      srv.hub.get("live", expect).recorder is None, timeout=10)
    files = list((tmp_path / "live").glob(f"{expect}-*.flv"))
    assert len(files) == 1
    count, codec_name = _decode_file(str(files[0]))
    assert count == frames
    assert expect in codec_name or (expect == "av1" and "av1" in codec_name)
    with FLVReader.open(str(files[0])) as reader:
        first = next(iter(reader))
        name, meta = decode_data(first.payload)[:2]
    assert name == "onMetaData" and meta["duration"] > 1.0 and meta["filesize"] > 0


def test_multitrack_only_to_players_that_declared_it(rtmp_server):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/mt"
    tags = encode_h264_tags(12, gop=6)
    seq = tags[0][2]
    assert seq[:2] == b"\x17\x00"
    fancy = Client(url, socket_module=gevent.socket)
    fancy.connect(capsEx=2.0, fourCcList=["avc1"])
    fancy.play()
    plain = Client(url, socket_module=gevent.socket)
    plain.connect()
    plain.play()
    pub = Client(url, socket_module=gevent.socket)
    pub.connect()
    pub.publish()
    sent = []
    for _, ts, payload in tags:
        # Enhanced single-track form of the H.264 message: ExHeader + avc1 + body
        frame_type = payload[0] & 0xF0
        packet_type = 0 if payload[1] == 0 else 1
        body = payload[5:] if packet_type == 0 else payload[2:]  # keep the CTS for frames
        track0 = bytes((0x80 | (frame_type & 0x70) | packet_type,)) + b"avc1" + body
        other = body  # track 1 carries the same bytes, as a second rendition would
        msg = build_multitrack(VIDEO, frame_type, packet_type,
                               [(0, b"avc1", track0[5:]), (1, b"avc1", other)], MANY_TRACKS)
        sent.append((msg, track0))
        pub.send_media(VIDEO, ts, msg)
    # A multitrack message without track 0 reaches only the multitrack player.
    only1 = build_multitrack(VIDEO, 0x20, 1, [(1, b"avc1", b"\x00\x00\x00xyz"),
                                             (2, b"avc1", b"abc")], MANY_TRACKS)
    pub.send_media(VIDEO, tags[-1][1] + 40, only1)
    gevent.sleep(0.1)
    pub.close()

    def videos(client, n):
        out = []
        with gevent.Timeout(10):
            while len(out) < n:
                m = client.read_message()
                if m.type_id == VIDEO:
                    out.append(m.payload)
        return out

    got_fancy = videos(fancy, len(sent) + 1)
    got_plain = videos(plain, len(sent))
    assert got_fancy == [m for m, _ in sent] + [only1]
    assert got_plain == [t for _, t in sent]
    assert all(single_track(VIDEO, m) == t for m, t in sent)
    fancy.close()
    plain.close()


def test_enhanced_connect_capabilities_and_reconnect_request(rtmp_server):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/x"
    c = Client(url, socket_module=gevent.socket)
    props, info = c.connect(fourCcList=["hvc1", "av01"], capsEx=1.0,
                            videoFourCcInfoMap={"hvc1": 4.0, "*": 1.0})
    assert info["code"] == "NetConnection.Connect.Success"
    assert "hvc1" in props["fourCcList"] and "av01" in props["fourCcList"]
    assert int(props["capsEx"]) & 0x03 == 0x03  # Reconnect and Multitrack
    assert props["videoFourCcInfoMap"]["*"] == 4.0  # CanForward
    conn = next(iter(rtmp_server.conns))
    assert conn.session.caps.caps_ex == 1 and conn.session.caps.fourcc_list == ("hvc1", "av01")
    assert conn.session.caps.video_fourcc_info == {"hvc1": 4, "*": 1}
    conn.request_reconnect("rtmp://127.0.0.1/live", "maintenance")
    with gevent.Timeout(5):
        while not c.statuses:
            c.read_message()
    assert c.statuses[-1]["code"] == "NetConnection.Connect.ReconnectRequest"
    assert c.statuses[-1]["tcUrl"] == "rtmp://127.0.0.1/live"
    # A legacy client gets the legacy reply, without Enhanced RTMP fields.
    legacy = Client(url, socket_module=gevent.socket)
    props2, _ = legacy.connect()
    assert "fourCcList" not in props2
    c.close()
    legacy.close()


def test_grtmp_inspect_rtmp_url(rtmp_server):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/insp"
    tags = encode_h264_tags(20, gop=10)
    pub = Client(url, socket_module=gevent.socket)
    pub.connect()
    pub.publish()
    pub.send_metadata({"width": float(W), "height": float(H), "encoder": "test"})
    for ttype, ts, payload in tags[:11]:
        pub.send_media(ttype, ts, payload)
    proc = gevent.subprocess.Popen(
        [sys.executable, "-m", "grtmp.cli.inspect", url, "--json", "--limit", "8"],
        stdout=gevent.subprocess.PIPE, stderr=gevent.subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    rows = result["tags"]
    assert len(rows) == 8
    scripts = [r.get("name") for r in rows if r["type"] == "script"]
    assert scripts == ["|RtmpSampleAccess", "onMetaData"]
    video = [r for r in rows if r["type"] == "video"]
    assert video[0]["packet_type"] == "SequenceStart"
    assert video[0]["tracks"][0]["width"] == W and video[0]["tracks"][0]["height"] == H
    assert video[1]["frame_type"].lower().startswith("key")
    pub.close()


@pytest.mark.parametrize("acodec,expect", [
    ("flac", "flac"), ("ac3", "ac3"), ("eac3", "eac3"), ("libmp3lame", "mp3"),
    ("libopus", "opus"), ("aac", "aac"),
])
def test_audio_codecs_relay_and_are_detected_from_packets(rtmp_server, av_peers, acodec,
                                                          expect):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/a{expect}"
    pub = av_peers("publish", url, "--frames", "40", "--acodec", acodec, "--linger", "1")
    assert wait_until(lambda: (s := rtmp_server.hub.get("live", f"a{expect}")) is not None
                      and "audio" in s.codecs() and "video" in s.codecs(), timeout=30)
    codecs = rtmp_server.hub.get("live", f"a{expect}").codecs()
    player = av_peers("play", url, "--timeout", "20")
    sent = pub.result(90)
    got = player.result(90)
    assert "error" not in sent and "error" not in got, (sent, got)
    assert codecs["video"] in ("avc", "h264") and (codecs["width"], codecs["height"]) == (W, H)
    assert expect in codecs["audio"].lower().replace("-", "")
    assert codecs.get("sample_rate") in (44100, 48000)
    assert got["audio_packets"] > 0 and got["audio_frames"] > 0
    assert any(expect[:3] in c for c in got["codecs"])
