"""``grtmp-server`` with a config file, as a user runs it: -c, --check-config, SIGHUP, JSON logs."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import gevent
import gevent.socket
import gevent.subprocess
import pytest

from grtmp.config import ServerConfig
from grtmp.errors import CommandError, ConnectionClosed
from grtmp.logs import ContextLog
from grtmp.net.client import Client
from grtmp.ops.cli import explicit_settings, load
from grtmp.ops.configfile import load_config
from grtmp.ops.logjson import JSONFormatter
from grtmp.wire.message import VIDEO

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "grtmp.toml"


def _cmd() -> list[str]:
    exe = shutil.which("grtmp-server")
    return [exe] if exe else [sys.executable, "-m", "grtmp.cli.server"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grtmp.cli.server", *args],
                          capture_output=True, text=True, timeout=60)


def test_example_config_is_valid_and_documents_every_setting():
    r = _run("--check-config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{EXAMPLE}: ok (apps: ")
    text = EXAMPLE.read_text()
    from dataclasses import fields

    from grtmp.config import APP_SETTINGS
    for f in fields(ServerConfig):  # every setting appears, set or commented out
        assert re.search(rf"^#? ?{f.name} =|^\[{f.name}\.", text, re.M), f.name
    for name in APP_SETTINGS:
        assert re.search(rf"^#? ?{name} =", text, re.M), name
    config = load_config(str(EXAMPLE))
    assert config.apps  # the example shows per-app sections


def test_check_config_names_file_line_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("port = 1935\n\n[apps.live]\nmax_players_per_stream = -1\n")
    r = _run("--check-config", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"grtmp-server: {bad}:4: apps.live.max_players_per_stream: "
                                "must be 0 (unlimited) or more")
    r = _run("--check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_server_does_not_start_with_a_bad_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 1935\n")
    r = _run("-c", str(bad), "--port", "0")
    assert r.returncode == 2
    assert f"{bad}:1: prot: unknown setting (did you mean port?)" in r.stderr
    # A flag that makes the merged settings invalid is named as the flag.
    good = tmp_path / "good.toml"
    good.write_text("tls_cert = \"a.pem\"\ntls_key = \"b.pem\"\n")
    r = _run("-c", str(good), "--chunk-size", "5")
    assert r.returncode == 2 and "--chunk-size: must be between 128" in r.stderr


def test_flags_override_the_file(tmp_path):
    from grtmp.cli.server import build_parser, config_from_args

    path = tmp_path / "g.toml"
    path.write_text("port = 2000\nqueue_size = 64\naccess = [\"deny play all\"]\n"
                    "[apps.tv]\nqueue_size = 8\n")
    parser = build_parser()
    argv = ["-c", str(path), "--port", "3000", "--access", "allow play all", "--no-wait"]
    args = parser.parse_args(argv)
    assert explicit_settings(parser, argv) == {"port", "access", "wait_for_publisher"}
    config, overrides = load(parser, args, config_from_args(args, validate=False), argv)
    assert config.port == 3000 and config.queue_size == 64  # flag, then file
    assert config.access == ["allow play all"] and config.wait_for_publisher is False
    assert config.for_app("tv").queue_size == 8
    assert overrides == {"port": 3000, "access": ["allow play all"],
                         "wait_for_publisher": False}


def _start(config: Path, *args: str):
    proc = gevent.subprocess.Popen([*_cmd(), "-c", str(config), "--host", "127.0.0.1",
                                    "--port", "0", *args],
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


def _wait_log(lines: list[str], needle: str, timeout: float = 10.0) -> str:
    with gevent.Timeout(timeout, AssertionError(f"no log line with {needle!r}: {lines}")):
        while True:
            for line in list(lines):
                if needle in line:
                    return line
            gevent.sleep(0.05)


def _publisher(port: int, name: str) -> Client:
    c = Client(f"rtmp://127.0.0.1:{port}/live/{name}", socket_module=gevent.socket)
    c.connect()
    c.publish()
    return c


def test_sighup_reloads_the_file_and_json_logs(tmp_path):
    path = tmp_path / "grtmp.toml"
    path.write_text('port = 1\n[apps.live]\nstream_keys = { cam = "k1" }\n')
    proc, port, lines = _start(path, "--log-format", "json")
    try:
        pub = _publisher(port, "cam?key=k1")
        pub.send_media(VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f")
        path.write_text('[apps.live]\nstream_keys = { cam = "k2" }\n')
        proc.send_signal(signal.SIGHUP)
        with gevent.Timeout(2, AssertionError("the publisher with the old key stayed")):
            with pytest.raises((ConnectionClosed, OSError)):
                while True:
                    pub.read_message()
        reloaded = json.loads(_wait_log(lines, "configuration reloaded"))
        assert reloaded["level"] == "info" and reloaded["logger"] == "grtmp.ops"
        assert reloaded["message"].endswith(": apps.live")  # port: the flag still wins
        with pytest.raises(CommandError):
            _publisher(port, "cam?key=k1")
        again = _publisher(port, "cam?key=k2")
        # A broken file: logged, the running configuration stays.
        path.write_text('[apps.live]\nstream_keys = { cam = 5 }\n')
        proc.send_signal(signal.SIGHUP)
        failed = json.loads(_wait_log(lines, "reload failed"))
        assert failed["level"] == "error"
        assert failed["message"].endswith(f"{path}:2: apps.live.stream_keys: must be a table of "
                                          'strings (name = "value")')
        again.close()
        _publisher(port, "cam?key=k2").close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    connects = [r for r in records if r["message"].startswith("connect app='live'")]
    assert connects and connects[0]["context"].startswith("127.0.0.1:")
    assert connects[0]["peer"] == connects[0]["context"].split()[0]
    assert any(r["message"] == "publish 'cam' (live)" and r["context"].endswith("live/cam")
               for r in records)
    assert any("rejected" in r["message"] and r["level"] == "warning" for r in records)


def test_json_formatter_one_line_per_record_with_context_and_exception():
    stream_lines: list[str] = []

    class Sink(logging.Handler):
        def emit(self, record):
            stream_lines.append(self.format(record))

    logger = logging.getLogger("grtmp.test.json")
    logger.propagate = False
    handler = Sink()
    handler.setFormatter(JSONFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log = ContextLog(logger, lambda: "10.0.0.1:5 live/cam")
        log.info("publish %r (%s)", "na\nme\"", "live")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("internal error; closing")
        logger.warning("plain %d%%", 5)
    finally:
        logger.removeHandler(handler)
    assert all("\n" not in line for line in stream_lines)
    first, second, third = (json.loads(line) for line in stream_lines)
    assert first["message"] == "publish 'na\\nme\"' (live)"
    assert first["context"] == "10.0.0.1:5 live/cam" and first["peer"] == "10.0.0.1:5"
    assert first["time"].endswith("Z") and first["level"] == "info"
    assert "ValueError: boom" in second["exception"]
    assert third == {**third, "message": "plain 5%", "logger": "grtmp.test.json"}
    assert "context" not in third


def test_sighup_reaches_every_worker(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    path = tmp_path / "grtmp.toml"
    path.write_text("queue_size = 100\n")
    proc = gevent.subprocess.Popen([*_cmd(), "-c", str(path), "--host", "127.0.0.1", "--port",
                                    str(port), "--workers", "2", "--log-format", "json"],
                                   stderr=gevent.subprocess.PIPE, text=True)
    lines: list[str] = []

    def pump():
        for line in proc.stderr:
            lines.append(line)

    gevent.spawn(pump)
    try:
        with gevent.Timeout(20):
            while sum("listening on" in line for line in lines) < 4:  # public + internal
                gevent.sleep(0.05)
        path.write_text("queue_size = 200\n")
        proc.send_signal(signal.SIGHUP)
        with gevent.Timeout(10):
            while True:
                done = [json.loads(line) for line in lines if "configuration reloaded" in line]
                if len(done) == 2:
                    break
                gevent.sleep(0.05)
        assert sorted(r["worker"] for r in done) == [0, 1]
        assert all(r["message"].endswith(": queue_size") for r in done)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
