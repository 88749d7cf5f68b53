"""Other real peers: GStreamer (its own RTMP client, rtmp2sink/rtmp2src, and the librtmp
based rtmpsink) and rtmpdump (librtmp) publish to and play from grtmp.

These need Debian's gstreamer1.0-* and rtmpdump packages, which `.ci/run` installs; where they
are missing the tests are skipped with the reason.
"""

from __future__ import annotations

import shutil

import av
import gevent
import gevent.subprocess
import pytest

from tests.helpers import wait_until

GST = shutil.which("gst-launch-1.0")
RTMPDUMP = shutil.which("rtmpdump")
W, H = 160, 120


def _gst_has(*elements: str) -> bool:
    inspect = shutil.which("gst-inspect-1.0")
    if not GST or not inspect:
        return False
    return all(gevent.subprocess.run([inspect, e], capture_output=True, timeout=30).returncode
               == 0 for e in elements)


def _gst_publish(url: str, sink: str, seconds: int = 4) -> gevent.subprocess.Popen:
    frames = seconds * 25
    pipeline = (
        f"videotestsrc num-buffers={frames} is-live=true pattern=ball "
        f"! video/x-raw,width={W},height={H},framerate=25/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse "
        "! flvmux name=mux streamable=true "
        f"! {sink} location={url} "
        f"audiotestsrc is-live=true num-buffers={seconds * 44100 // 1024} "
        "! audio/x-raw,rate=44100,channels=2 ! voaacenc ! aacparse ! mux.")
    return gevent.subprocess.Popen([GST, "-q", *pipeline.split()],
                                   stdout=gevent.subprocess.PIPE,
                                   stderr=gevent.subprocess.PIPE)


@pytest.mark.parametrize("sink", ["rtmp2sink", "rtmpsink"])
def test_gstreamer_publishes_ffmpeg_plays(rtmp_server, av_peers, sink):
    if not _gst_has(sink, "x264enc", "voaacenc", "flvmux"):
        pytest.skip(f"GStreamer with {sink}, x264enc, voaacenc not installed")
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/{sink}"
    player = av_peers("play", url, "--timeout", "20")  # waits for the publisher
    gst = _gst_publish(url, sink)
    try:
        assert wait_until(lambda: (s := rtmp_server.hub.get("live", sink)) is not None
                          and s.is_live, timeout=20)
        out, err = gst.communicate(timeout=60)
        assert gst.returncode == 0, err.decode()[-2000:]
        got = player.result(60)
        assert "error" not in got, got
        assert (got["width"], got["height"]) == (W, H)
        assert got["first_video_keyframe"] is True and got["first_decode_error"] is None
        assert got["video_frames"] >= 80  # 100 sent; the player may join a little late
        assert got["audio_frames"] > 0
        stream = rtmp_server.hub.get("live", sink)
        assert stream is None or not stream.is_live
    finally:
        if gst.poll() is None:
            gst.kill()
            gst.wait(timeout=5)


def test_librtmp_rtmpdump_and_gstreamer_play(rtmp_server, av_peers, tmp_path):
    if not RTMPDUMP or not _gst_has("rtmp2src", "flvdemux"):
        pytest.skip("rtmpdump and GStreamer rtmp2src not installed")
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/dump"
    pub = av_peers("publish", url, "--frames", "125", "--gop", "25", "--width", str(W),
                   "--height", str(H), "--linger", "1")
    assert wait_until(lambda: (s := rtmp_server.hub.get("live", "dump")) is not None
                      and s.is_live, timeout=20)
    out = tmp_path / "dump.flv"
    dump = gevent.subprocess.Popen([RTMPDUMP, "-q", "-r", url, "--live", "-o", str(out)],
                                   stdout=gevent.subprocess.PIPE,
                                   stderr=gevent.subprocess.PIPE)
    gst = gevent.subprocess.Popen(
        [GST, "-q", "rtmp2src", f"location={url}", "!", "flvdemux", "name=d", "d.video",
         "!", "queue", "!", "h264parse", "!", "fakesink", "num-buffers=25"],
        stdout=gevent.subprocess.PIPE, stderr=gevent.subprocess.PIPE)
    try:
        sent = pub.result(60)
        assert "error" not in sent
        # rtmpdump stops at the end of the stream (UnpublishNotify / StreamEOF).
        dump.communicate(timeout=30)
        with av.open(str(out)) as f:
            vs = f.streams.video[0]
            frames = sum(len(p.decode()) for p in f.demux(vs))
            assert (vs.codec_context.width, vs.codec_context.height) == (W, H)
        assert frames >= 50
        # GStreamer's own RTMP client got 25 video buffers and ended cleanly.
        gout, gerr = gst.communicate(timeout=30)
        assert gst.returncode == 0, gerr.decode()[-2000:]
    finally:
        for p in (dump, gst):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
