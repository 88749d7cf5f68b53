"""The ``grtmp-server`` command as a user runs it: subprocess, FFmpeg peers, signals."""

from __future__ import annotations

import re
import shutil
import signal
import sys

import gevent
import gevent.socket
import gevent.subprocess

from grtmp.errors import ConnectionClosed
from grtmp.net.client import Client
from grtmp.wire.message import USER_CONTROL, VIDEO


def _start_server(*args: str) -> tuple[gevent.subprocess.Popen, int, list[str]]:
    exe = shutil.which("grtmp-server")
    cmd = [exe] if exe else [sys.executable, "-m", "grtmp.cli.server"]
    proc = gevent.subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", "0",
                                    "--http-port", "0", *args],
                                   stderr=gevent.subprocess.PIPE, text=True)
    lines: list[str] = []
    with gevent.Timeout(20):
        while True:
            line = proc.stderr.readline()
            assert line, f"server exited early: {''.join(lines)}"
            lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break

    def pump():
        for line in proc.stderr:
            lines.append(line)

    gevent.spawn(pump)
    return proc, port, lines


def test_grtmp_server_end_to_end_and_sigterm(av_peers):
    proc, port, log = _start_server("--log-level", "info", "--chunk-size", "8192")
    try:
        url = f"rtmp://127.0.0.1:{port}/live/cli"
        pub = av_peers("publish", url, "--frames", "50", "--linger", "3")
        gevent.sleep(0.5)
        player = av_peers("play", url, "--timeout", "20", "--max-frames", "20")
        got = player.result(60)
        assert "error" not in got, got
        assert got["video_frames"] >= 20 and got["first_video_keyframe"] is True
        # A second player stays attached while we stop the server.
        watcher = Client(url, socket_module=gevent.socket)
        watcher.connect()
        watcher.play()
        assert any(m.type_id == VIDEO for m in _take(watcher, 10))
        proc.send_signal(signal.SIGTERM)
        seen = []
        try:
            with gevent.Timeout(10):
                while True:
                    seen.append(watcher.read_message())
        except (ConnectionClosed, OSError):
            pass
        codes = [s.get("code") for s in watcher.statuses]
        assert "NetStream.Play.UnpublishNotify" in codes
        assert any(m.type_id == USER_CONTROL and m.payload[:2] == b"\x00\x01" for m in seen)
        assert proc.wait(timeout=10) == 0
        watcher.close()
        pub.kill()
        text = "".join(log)
        # One line per connect / publish / play / unpublish, with peer and stream.
        assert re.search(r"\[127\.0\.0\.1:\d+ live\] connect app='live'", text)
        assert "publish 'cli' (live)" in text
        assert "play 'cli'" in text
        assert "unpublish 'cli'" in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def _take(client: Client, n: int) -> list:
    out = []
    with gevent.Timeout(10):
        while len(out) < n:
            out.append(client.read_message())
    return out


def test_grtmp_server_second_signal_exits_at_once():
    proc, port, log = _start_server("--log-level", "info")
    try:
        # Hold a connection open so the graceful stop has something to wait for.
        sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=5)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        gevent.sleep(0.2)
        text = "".join(log)
        assert "shutting down" in text
        # Either the graceful stop finished first (0) or the second signal cut it short (1).
        assert rc == (1 if "second signal" in text else 0), text
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_grtmp_server_rejects_bad_arguments():
    exe = shutil.which("grtmp-server")
    cmd = [exe] if exe else [sys.executable, "-m", "grtmp.cli.server"]
    proc = gevent.subprocess.run([*cmd, "--chunk-size", "1"], capture_output=True, text=True,
                                 timeout=20)
    assert proc.returncode == 2
    assert "--chunk-size" in proc.stderr


def test_sigterm_finishes_recordings(tmp_path, av_peers):
    import av

    from grtmp.amf.command import decode_data
    from grtmp.media.flv import FLVReader

    proc, port, log = _start_server("--record", str(tmp_path))
    try:
        url = f"rtmp://127.0.0.1:{port}/live/rec"
        pub = av_peers("publish", url, "--frames", "250", "--gop", "25")
        with gevent.Timeout(20):
            while "publish 'rec'" not in "".join(log):
                gevent.sleep(0.05)
        gevent.sleep(2.0)  # ~50 frames recorded, the publisher still going
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        pub.kill()
        files = list((tmp_path / "live").glob("rec-*.flv"))
        assert len(files) == 1
        with FLVReader.open(str(files[0])) as reader:
            tags = list(reader)
            assert not reader.truncated
        name, meta = decode_data(tags[0].payload)[:2]
        assert name == "onMetaData"
        assert meta["duration"] > 1.0 and meta["filesize"] == files[0].stat().st_size
        with av.open(str(files[0])) as f:
            frames = sum(len(p.decode()) for p in f.demux(f.streams.video[0]))
        video_tags = sum(t.tag_type == 9 for t in tags)
        assert frames >= video_tags - 2 > 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
