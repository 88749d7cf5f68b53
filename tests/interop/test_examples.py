"""The examples run as users run them: the hand-written accept loop serves FFmpeg peers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import gevent
import gevent.subprocess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_simple_server_example(av_peers):
    proc = gevent.subprocess.Popen(
        [sys.executable, str(EXAMPLES / "simple_server.py"), "0", "127.0.0.1"],
        stderr=gevent.subprocess.PIPE, text=True)
    try:
        with gevent.Timeout(20):
            while True:
                line = proc.stderr.readline()
                assert line, "example exited early"
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    break
        gevent.spawn(lambda: [None for _ in proc.stderr])
        url = f"rtmp://127.0.0.1:{m.group(1)}/live/example"
        pub = av_peers("publish", url, "--frames", "50", "--linger", "0.5")
        gevent.sleep(0.8)
        player = av_peers("play", url, "--timeout", "20")
        sent = pub.result(60)
        got = player.result(60)
        assert "error" not in sent and "error" not in got, (sent, got)
        assert got["first_video_keyframe"] is True and got["video_frames"] > 10
        assert got["hashes"][-1] == sent["hashes"][-1]
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_wsgi_example_imports_and_lists_streams():
    # Run in a subprocess: the example monkey-patches, which must not leak into the tests.
    path = str(EXAMPLES / "wsgi_app.py")
    code = "\n".join([
        "import runpy",
        f"ns = runpy.run_path({path!r})",
        "out = []",
        "body = ns['app']({'PATH_INFO': '/streams'}, lambda s, h: out.append(s))",
        "print(out[0], b''.join(body).decode())",
    ])
    res = gevent.subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "200 OK []"
