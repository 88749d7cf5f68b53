"""The status page in a real browser: Debian's Chromium, headless, driven by selenium.

``grtmp-server`` runs as a user runs it (a subprocess, RTMP and the web app on one hub) while
FFmpeg (PyAV, tests/interop/avclient.py) publishes a 320x240 H.264+AAC stream in real time.
The page must list the stream (codecs, picture size) and play it with its own vendored players:
mpegts.js over HTTP-FLV and over WebSocket-FLV, hls.js in low-latency mode over LL-HLS. For each
the video element's ``currentTime`` must advance by at least 3 s with no fatal player error and
``videoWidth`` must be the published width. A screenshot of each is written beside the test
output (the test's tmp dir, and ``$GRTMP_ARTIFACTS`` when set).

Skips, saying which is missing, only where Chromium, chromedriver or selenium cannot be had
(``.ci/run`` installs them: ``chromium chromium-driver`` from Debian, ``selenium`` from PyPI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AVCLIENT = ROOT / "tests" / "interop" / "avclient.py"
WIDTH, HEIGHT = 320, 240
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--window-size=1000,800")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    if driver is None:
        pytest.skip("chromedriver is not installed (Debian: apt-get install chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
    return chromium, driver


def _start_server(tmp_path: Path) -> tuple[subprocess.Popen, int, int, Path]:
    """grtmp-server on free ports; returns (process, rtmp port, http port, log file)."""
    http = _free_port()
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "grtmp.cli.server", "--host", "127.0.0.1", "--port", "0",
           "--http-port", str(http), "--log-level", "info"]
    out = open(log, "w")  # noqa: SIM115 - the child writes it until it ends
    proc = subprocess.Popen(cmd, stderr=out, stdout=out,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 20
    rtmp = None
    while time.monotonic() < deadline:
        text = log.read_text()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        if m and "web app listening" in text:
            rtmp = int(m.group(1))
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if rtmp is None:
        proc.kill()
        proc.wait(timeout=5)
        raise AssertionError(f"grtmp-server did not start: {log.read_text()[-2000:]}")
    return proc, rtmp, http, log


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _driver(chromium: str, chromedriver: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


_PROBE = """
const v = document.querySelector('video');
const g = window.grtmp;
return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight, kind: g.kind,
        latency: g.latency(), errors: g.errors,
        rows: Array.from(document.querySelectorAll('#streams tbody tr'))
                   .map(r => r.innerText)};
"""


def _watch(driver, timeout: float, want_advance: float) -> tuple[dict, dict, list[dict]]:
    """Poll the page until currentTime advanced ``want_advance`` s past its first value > 0;
    (first sample playing, last sample, every sample)."""
    samples: list[dict] = []
    first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = driver.execute_script(_PROBE)
        samples.append(s)
        if first is None and s["t"] > 0:
            first = s
        if first is not None and s["t"] >= first["t"] + want_advance:
            break
        if any(e["fatal"] for e in s["errors"]):
            break
        time.sleep(0.25)
    return first or samples[0], samples[-1], samples


def test_status_page_plays_http_flv_ws_flv_and_ll_hls(tmp_path: Path) -> None:
    chromium, chromedriver = _browser_or_skip()
    server, rtmp, http, log = _start_server(tmp_path)
    publisher = subprocess.Popen(
        [sys.executable, str(AVCLIENT), "publish", f"rtmp://127.0.0.1:{rtmp}/live/browser",
         "--frames", str(25 * 90), "--width", str(WIDTH), "--height", str(HEIGHT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    driver = None
    results = {}
    artifacts = [tmp_path]
    if os.environ.get("GRTMP_ARTIFACTS"):
        artifacts.append(Path(os.environ["GRTMP_ARTIFACTS"]))
        artifacts[-1].mkdir(parents=True, exist_ok=True)
    try:
        time.sleep(2.5)  # the first GOP is in
        driver = _driver(chromium, chromedriver, tmp_path / "profile")
        for via in ("http-flv", "ws-flv", "hls"):
            driver.get(f"http://127.0.0.1:{http}/?play=live/browser&via={via}")
            first, last, samples = _watch(driver, timeout=40, want_advance=3.0)
            for folder in artifacts:
                driver.save_screenshot(str(folder / f"status-page-{via}.png"))
            results[via] = {"first": first, "last": last, "samples": len(samples)}
    finally:
        if driver is not None:
            driver.quit()
        publisher.kill()
        publisher.communicate(timeout=10)
        _stop(server)
    print(json.dumps({k: {"t0": v["first"]["t"], "t1": v["last"]["t"],
                          "latency": v["last"]["latency"], "width": v["last"]["w"]}
                      for k, v in results.items()}))
    print("screenshots:", ", ".join(str(p) for p in sorted(tmp_path.glob("*.png"))))
    for via, r in results.items():
        first, last = r["first"], r["last"]
        assert not [e for e in last["errors"] if e["fatal"]], (via, last["errors"])
        assert last["kind"] == via
        assert last["t"] >= first["t"] + 3.0, (via, first["t"], last["t"])
        assert last["w"] == WIDTH and last["h"] == HEIGHT, (via, last["w"], last["h"])
        # the table lists the stream with what the publisher sends
        row = next(row for row in last["rows"] if "live/browser" in row)
        assert "avc" in row and "aac" in row and f"{WIDTH}x{HEIGHT}" in row, row
    assert server.returncode == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "(http-flv)" in text and "(ws-flv)" in text and "(hls)" in text
