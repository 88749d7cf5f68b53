"""Every web egress decodes to what the publisher sent (FFmpeg through PyAV reads it).

A real encode (FFmpeg's FLV muxer: H.264+AAC, HEVC+AAC and AV1+Opus, the last two as Enhanced
RTMP) is published over RTMP with grtmp's client; viewers that joined first read it back over
HTTP-FLV, WebSocket-FLV and LL-HLS (every part, followed with blocking playlist reloads as
hls.js does). Every packet and every decoded frame must equal what FFmpeg reads from the source
FLV (AV1 without temporal delimiters in fMP4), and the HLS decode timeline must be continuous
across parts and segments. FFmpeg's own HLS demuxer (a classic client) plays the same playlist.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from pathlib import Path

import gevent
import gevent.subprocess
import pytest

from tests.helpers.hls import H, W, encode_flv, flv_messages, summarize
from tests.helpers.web import LLHLSFollower, WSClient, publish, read_body, request

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "h264-aac": ("libx264", "aac"),
    "hevc-aac": ("libx265", "aac"),
    "av1-opus": ("libsvtav1", "libopus"),
}
_flv_cache: dict[str, bytes] = {}


def _flv(case: str) -> bytes:
    if case not in _flv_cache:
        vcodec, acodec = CASES[case]
        _flv_cache[case] = encode_flv(vcodec, acodec, seconds=4.0)
    return _flv_cache[case]


def _source(case: str, tmp_path: Path) -> dict:
    src = tmp_path / "source.flv"
    src.write_bytes(_flv(case))
    return summarize(src, strip_av1_td=True)


def _same_media(src: dict, got: dict, *, continuous: bool = False) -> None:
    assert set(got) == set(src)
    for kind, s in src.items():
        g = got[kind]
        assert g.codec == s.codec
        assert len(g.packets) == len(s.packets) > 20, kind
        assert g.packet_hashes == s.packet_hashes, kind
        assert len(g.frames) == len(s.frames) > 20, kind
        assert g.frames == s.frames, kind
        if kind == "video":
            assert (g.width, g.height) == (W, H)
        if continuous:
            steps = {b - a for a, b in zip(g.dts, g.dts[1:])}
            expected = {Fraction(1, 25)} if kind == "video" else (
                {Fraction(1024, 48000)} if s.codec == "aac" else {Fraction(960, 48000)})
            assert steps == expected, (kind, sorted(steps)[:5])


def _publisher(stack, name: str, case: str) -> gevent.Greenlet:
    return gevent.spawn(publish, stack.rtmp_url(f"live/{name}"), flv_messages(_flv(case)),
                        speed=2.0)


@pytest.mark.parametrize("case", list(CASES))
def test_http_flv_gives_every_published_frame(make_stack, case: str, tmp_path: Path) -> None:
    stack = make_stack()
    viewer = request(stack.http, f"/live/{case}.flv?token=1", keep_open=True)
    assert viewer.status == 200
    assert viewer.headers["content-type"] == "video/x-flv"
    assert viewer.headers["access-control-allow-origin"] == "*"
    pub = _publisher(stack, case, case)
    body = read_body(viewer, timeout=60)  # ends when the publisher leaves
    viewer.sock.close()
    pub.get(timeout=30)
    assert body[:3] == b"FLV"
    out = tmp_path / "egress.flv"
    out.write_bytes(body)
    _same_media(_source(case, tmp_path), summarize(out, strip_av1_td=True))


def test_ws_flv_gives_every_published_frame(make_stack, tmp_path: Path) -> None:
    stack = make_stack()
    ws = WSClient(stack.http, "/live/ws.flv")
    assert ws.accepted
    pub = _publisher(stack, "ws", "h264-aac")
    messages = ws.read_until(timeout=60)  # until the server closes (publisher gone)
    ws.close()
    pub.get(timeout=30)
    assert ws.closed is not None and ws.closed.code == 1000
    assert messages[0][:3] == b"FLV" and len(messages[0]) == 13  # header + PreviousTagSize0
    out = tmp_path / "egress.flv"
    out.write_bytes(b"".join(messages))
    _same_media(_source("h264-aac", tmp_path), summarize(out, strip_av1_td=True))


@pytest.mark.parametrize("case", list(CASES))
def test_ll_hls_parts_give_every_published_frame(make_stack, case: str,
                                                  tmp_path: Path) -> None:
    """Follow the playlist from before the publish with blocking reloads; init + every part
    in order is the whole stream, frame for frame, with a continuous timeline."""
    stack = make_stack(hls_segment_duration=1.0, hls_part_duration=0.25)
    follower = LLHLSFollower(stack.http, f"/live/{case}/index.m3u8")
    published: list[bool] = []
    reader = gevent.spawn(follower.run, until_parts=10**6, timeout=40,
                          done=lambda: bool(published))
    gevent.sleep(0.3)  # the first playlist request is waiting: the muxer exists
    pub = _publisher(stack, case, case)
    pub.get(timeout=30)
    published.append(True)
    reader.join(timeout=45)
    reader.kill()
    assert follower.parts and len(follower.inits) == 1
    assert any(s == 200 for s in follower.statuses)
    out = tmp_path / "parts.mp4"
    out.write_bytes(next(iter(follower.inits.values())) + b"".join(p[1] for p in follower.parts))
    _same_media(_source(case, tmp_path), summarize(out), continuous=True)


_CLASSIC_READER = r"""
import json, sys, av
c = av.open(sys.argv[1], options={"live_start_index": "0"}, timeout=20)
v = c.streams.video[0]
out = {"dts": [], "sizes": [], "width": None, "codec": v.codec_context.name}
for pkt in c.demux(v):
    if pkt.size == 0:
        continue
    out["dts"].append(str(pkt.dts * pkt.time_base))
    for f in pkt.decode():
        out["width"] = f.width
    if len(out["dts"]) >= int(sys.argv[2]):
        break
print(json.dumps(out))
"""


def test_ffmpeg_plays_the_live_playlist_as_classic_hls(make_stack) -> None:
    """FFmpeg's HLS demuxer (no LL-HLS support) plays the same playlist: segments only."""
    stack = make_stack(hls_segment_duration=1.0)
    name = "classic"
    messages = flv_messages(_flv("h264-aac"))
    pub = gevent.spawn(publish, stack.rtmp_url(f"live/{name}"), messages * 1, speed=1.0)
    gevent.sleep(0.5)
    first = request(stack.http, f"/live/{name}/index.m3u8", timeout=20)
    assert first.status == 200
    assert b"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in first.body
    url = f"http://127.0.0.1:{stack.http}/live/{name}/index.m3u8"
    proc = gevent.subprocess.Popen([sys.executable, "-c", _CLASSIC_READER, url, "50"],
                                   stdout=gevent.subprocess.PIPE,
                                   stderr=gevent.subprocess.PIPE,
                                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    pub.get(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    got = json.loads(out.decode().strip().splitlines()[-1])
    assert got["codec"] == "h264" and got["width"] == W
    assert len(got["dts"]) == 50
    dts = [Fraction(x) for x in got["dts"]]
    assert {b - a for a, b in zip(dts, dts[1:])} == {Fraction(1, 25)}
