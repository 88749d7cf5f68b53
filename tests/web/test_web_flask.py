"""grtmp's web app mounted inside Flask (examples/flask_app.py), under gevent's own WSGI server
and under gunicorn's gevent worker: the status page, HTTP-FLV (through the response iterator:
these servers give no socket to the app), WebSocket-FLV and LL-HLS play what FFmpeg publishes."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import gevent
import gevent.subprocess
import pytest

from tests.helpers.web import WSClient, free_port, request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "flask_app.py"
AVCLIENT = ROOT / "tests" / "interop" / "avclient.py"
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def _wait_for(proc, pattern: str, lines: list[str], timeout: float = 30) -> re.Match:
    with gevent.Timeout(timeout, AssertionError(f"no {pattern!r}: {''.join(lines)[-2000:]}")):
        while True:
            line = proc.stderr.readline()
            assert line, f"exited early: {''.join(lines)[-2000:]}"
            lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m


def _av(mode: str, url: str, *args: str):
    return gevent.subprocess.Popen([sys.executable, str(AVCLIENT), mode, url, *args],
                                   stdout=gevent.subprocess.PIPE, stderr=gevent.subprocess.PIPE,
                                   env=ENV)


def _result(proc, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])


def _check_players(http: int, rtmp: int, *, websocket: bool) -> None:
    publisher = _av("publish", f"rtmp://127.0.0.1:{rtmp}/live/flask", "--frames", "400")
    try:
        gevent.sleep(2.0)
        page = request(http, "/media/")
        assert page.status == 200 and b"vendor/mpegts.js" in page.body
        assert request(http, "/media/static/vendor/hls.min.js").status == 200
        status = json.loads(request(http, "/media/status.json").body)
        assert [s["name"] for s in status["streams"]] == ["flask"]
        flask_view = json.loads(request(http, "/streams").body)  # Flask's own route
        assert flask_view[0]["codecs"]["video"] == "avc"
        for path in ("/media/live/flask.flv", "/media/live/flask/index.m3u8"):
            got = _result(_av("play", f"http://127.0.0.1:{http}{path}", "--max-frames", "40",
                              "--timeout", "30"))
            assert got["video_frames"] >= 40 and got["width"] == 160, (path, got)
            assert got["first_video_keyframe"] is True
        if websocket:
            ws = WSClient(http, "/media/live/flask.flv")
            assert ws.accepted
            messages = ws.read_until(count=30, timeout=20)
            ws.close()
            assert messages[0][:3] == b"FLV" and len(messages) >= 30
    finally:
        publisher.kill()
        publisher.communicate(timeout=10)


def test_flask_example_under_gevent_pywsgi() -> None:
    rtmp, http = free_port(), free_port()
    proc = gevent.subprocess.Popen([sys.executable, str(EXAMPLE), str(rtmp), str(http)],
                                   stderr=gevent.subprocess.PIPE, text=True, env=ENV)
    lines: list[str] = []
    try:
        _wait_for(proc, r"Flask on http://127\.0\.0\.1:(\d+)/", lines)
        _check_players(http, rtmp, websocket=True)
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_flask_example_under_gunicorn_gevent_worker() -> None:
    gunicorn = shutil.which("gunicorn")
    if gunicorn is None:
        pytest.skip("gunicorn is not installed (pip install gunicorn)")
    rtmp, http = free_port(), free_port()
    proc = gevent.subprocess.Popen(
        [gunicorn, "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{http}", "--chdir",
         str(EXAMPLE.parent), "--log-level", "info", "flask_app:create_app()"],
        stderr=gevent.subprocess.PIPE, text=True, env=dict(ENV, GRTMP_RTMP_PORT=str(rtmp)))
    lines: list[str] = []
    try:
        _wait_for(proc, r"Booting worker", lines)
        with gevent.Timeout(20):
            while True:
                try:
                    if request(http, "/").status == 200:
                        break
                except OSError:
                    pass
                gevent.sleep(0.2)
        _check_players(http, rtmp, websocket=False)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except gevent.subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)
