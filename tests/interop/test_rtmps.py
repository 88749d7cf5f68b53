"""RTMPS beside RTMP: grtmp-server with --tls-cert/--tls-key, FFmpeg over rtmps://."""

from __future__ import annotations

import re
import shutil
import signal
import sys

import gevent
import gevent.subprocess

from tests.helpers import self_signed_cert


def test_rtmps_publish_and_play_beside_rtmp(tmp_path, av_peers):
    cert, key = self_signed_cert(tmp_path)
    exe = shutil.which("grtmp-server")
    cmd = [exe] if exe else [sys.executable, "-m", "grtmp.cli.server"]
    proc = gevent.subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", "0", "--tls-port", "0", "--tls-cert", cert,
         "--tls-key", key], stderr=gevent.subprocess.PIPE, text=True)
    try:
        ports = {}
        with gevent.Timeout(20):
            while len(ports) < 2:
                line = proc.stderr.readline()
                assert line, "server exited early"
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)( \(rtmps\))?", line)
                if m:
                    ports["rtmps" if m.group(2) else "rtmp"] = int(m.group(1))
        gevent.spawn(lambda: [None for _ in proc.stderr])
        secure = f"rtmps://127.0.0.1:{ports['rtmps']}/live/tls"
        plain = f"rtmp://127.0.0.1:{ports['rtmp']}/live/tls"
        pub = av_peers("publish", secure, "--frames", "60", "--linger", "0.5")
        gevent.sleep(1.0)
        # One player over TLS, one over plain RTMP: same hub, same stream.
        p_tls = av_peers("play", secure, "--timeout", "20")
        p_plain = av_peers("play", plain, "--timeout", "20")
        sent = pub.result(60)
        assert "error" not in sent, sent
        for peer in (p_tls, p_plain):
            got = peer.result(60)
            assert "error" not in got, got
            assert got["video_frames"] > 0 and got["first_video_keyframe"] is True
            assert got["hashes"][-1] == sent["hashes"][-1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
