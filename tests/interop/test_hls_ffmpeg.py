"""LL-HLS output read by FFmpeg's HLS demuxer (through PyAV).

Real encodes (libx264 with B-frames + AAC, libx265 + AAC, SVT-AV1 + Opus, audio only, video
only) are muxed to FLV by FFmpeg, the FLV tags are fed to :class:`grtmp.hls.HLSStream` as RTMP
messages, and FFmpeg reads the result: every packet and every decoded frame must equal what
FFmpeg reads from the FLV itself (AV1 without its temporal delimiters, which ISOBMFF samples do
not carry), timestamps must be the publisher's, continuous across segments and parts, and the
picture size right. Also played: the parts alone (as a playlist of parts), and the live
playlist while it grows (with its EXT-X-PART and EXT-X-PRELOAD-HINT tags) until EXT-X-ENDLIST.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from grtmp.hls import HLSConfig, HLSStream
from grtmp.hls.inspect import describe_mp4
from tests.helpers.hls import (
    H,
    W,
    encode_flv,
    flv_messages,
    parts_playlist,
    publish,
    summarize,
    write_hls,
)

CASES = {
    "h264-aac": ("libx264", "aac", 2),
    "hevc-aac": ("libx265", "aac", 0),
    "av1-opus": ("libsvtav1", "libopus", 0),
    "aac-only": (None, "aac", 0),
    "opus-only": (None, "libopus", 0),
    "h264-only": ("libx264", None, 2),
}

_flv_cache: dict[str, bytes] = {}


def _flv(case: str) -> bytes:
    if case not in _flv_cache:
        vcodec, acodec, bframes = CASES[case]
        _flv_cache[case] = encode_flv(vcodec, acodec, seconds=5.0, bframes=bframes)
    return _flv_cache[case]


def _source_summary(case: str, tmp_path: Path) -> dict:
    src = tmp_path / "source.flv"
    src.write_bytes(_flv(case))
    return summarize(src, strip_av1_td=True)


def _check_same_media(src: dict, got: dict) -> None:
    assert set(got) == set(src)
    for kind, s in src.items():
        g = got[kind]
        assert g.codec == s.codec
        assert len(g.packets) == len(s.packets) > 20, kind
        assert g.packet_hashes == s.packet_hashes, kind
        assert len(g.frames) == len(s.frames) > 20, kind
        assert g.frames == s.frames, kind
        # the publisher's timestamps (FLV has milliseconds; fMP4 keeps exact sample times)
        for a, b in zip(s.pts, g.pts):
            assert abs(a - b) <= Fraction(1, 1000), (kind, a, b)
        if kind == "video":
            assert (g.width, g.height) == (W, H)
            assert [p[3] for p in g.packets] == [p[3] for p in s.packets]
        # continuous decode timeline: every step one frame, no gap or jump at a boundary
        steps = {b - a for a, b in zip(g.dts, g.dts[1:])}
        expected = {Fraction(1, 25)} if kind == "video" else (
            {Fraction(1024, 48000)} if s.codec == "aac" else {Fraction(960, 48000)})
        assert steps == expected, (kind, sorted(steps)[:5])


@pytest.mark.parametrize("case", list(CASES))
def test_ffmpeg_plays_segments(case: str, tmp_path: Path) -> None:
    hls = HLSStream(HLSConfig(segment_duration=2.0, max_segments=10), name=case)
    publish(hls, flv_messages(_flv(case)))
    out = tmp_path / "hls"
    out.mkdir()
    index = write_hls(hls, out)
    text = index.read_text()
    assert "#EXT-X-ENDLIST" in text and "#EXT-X-PART:" in text
    assert len(hls.segmenter.segments) >= 2
    # the segments and init segment are what the box declarations read
    init = describe_mp4(hls.get_resource("init0.mp4"), strict=True)
    assert [b["type"] for b in init] == ["ftyp", "moov"]
    _check_same_media(_source_summary(case, tmp_path), summarize(index))


@pytest.mark.parametrize("case", ["h264-aac", "av1-opus", "aac-only"])
def test_ffmpeg_plays_the_parts(case: str, tmp_path: Path) -> None:
    """Each part is a self-contained fragment: a playlist of only the parts plays the same."""
    hls = HLSStream(HLSConfig(max_segments=20, part_window=100), name=case)
    publish(hls, flv_messages(_flv(case)))
    out = tmp_path / "hls"
    out.mkdir()
    path = parts_playlist(hls, out)
    n_parts = path.read_text().count("#EXTINF")
    assert n_parts == hls.segmenter.parts_published > 10
    _check_same_media(_source_summary(case, tmp_path), summarize(path))


_LIVE_READER = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from tests.helpers.hls import summarize
s = summarize(sys.argv[1], options={"live_start_index": "0"})
print(json.dumps({k: [v.packet_hashes, [str(x) for x in v.dts]] for k, v in s.items()}))
"""


def test_ffmpeg_follows_the_live_playlist(tmp_path: Path) -> None:
    """FFmpeg reads the live playlist (EXT-X-PART, EXT-X-PRELOAD-HINT, no ENDLIST) while it
    grows in real time, reloads it, and stops at EXT-X-ENDLIST with every frame."""
    case = "h264-aac"
    messages = flv_messages(_flv(case))
    hls = HLSStream(HLSConfig(segment_duration=1.0), name=case)
    out = tmp_path / "hls"
    out.mkdir()
    i = 0
    while not hls.ready:
        hls.feed(*messages[i])
        i += 1
    index = write_hls(hls, out)
    assert "#EXT-X-PRELOAD-HINT:TYPE=PART" in index.read_text()
    root = str(Path(__file__).resolve().parents[2])
    reader = subprocess.Popen([sys.executable, "-c", _LIVE_READER, str(index), root],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=root))
    try:
        start, t0 = time.monotonic(), messages[i][1]
        for msg in messages[i:]:
            delay = (msg[1] - t0) / 1000 / 2 - (time.monotonic() - start)  # twice real time
            if delay > 0:
                time.sleep(delay)
            if hls.feed(*msg):
                write_hls(hls, out)
        hls.end()
        write_hls(hls, out)
        stdout, stderr = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate(timeout=5)
    assert reader.returncode == 0, stderr.decode()[-2000:]
    got = json.loads(stdout.decode().strip().splitlines()[-1])
    src = _source_summary(case, tmp_path)
    for kind, s in src.items():
        hashes, dts = got[kind]
        assert hashes == s.packet_hashes, kind
        steps = {Fraction(b) - Fraction(a) for a, b in zip(dts, dts[1:])}
        assert len(steps) == 1, (kind, steps)
