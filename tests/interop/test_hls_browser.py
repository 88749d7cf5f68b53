"""LL-HLS played by hls.js in low-latency mode in headless Chromium.

A small threaded HTTP server in this test drives :class:`grtmp.hls.HLSStream` the way the web
layer will (one lock and condition around the pure core; blocking playlist reload with
``_HLS_msn``/``_HLS_part``, bounded by ``block_timeout``; the preload-hinted part answered
when ready), while a publisher thread feeds a real encode in real time. The page reports what
hls.js did: it must load parts (low-latency mode), use blocking reloads, play with no fatal
error (a codec configuration change included: discontinuity and new init segment) and stay
close to the live edge.

Needs Chromium and hls.js (``npm install hls.js`` in the repository or in tests/interop, or
``GRTMP_HLSJS=/path/to/hls.min.js``); skips, saying which is missing, otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from grtmp.hls import NOT_READY, BadRequest, HLSConfig, HLSStream, parse_delivery_directives
from tests.helpers.hls import encode_flv, flv_messages

ROOT = Path(__file__).resolve().parents[2]

PAGE = """<!doctype html><html><body>
<video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById("v");
const out = {errors: [], parts: 0, segments: 0, codecs: "%CODECS%"};
out.supported = MediaSource.isTypeSupported('video/mp4; codecs="%CODECS%"');
const hls = new Hls({lowLatencyMode: true});
hls.on(Hls.Events.ERROR, (e, d) => out.errors.push([d.type, d.details, d.fatal]));
hls.on(Hls.Events.FRAG_LOADED, (e, d) => { if (d.part) out.parts++; else out.segments++; });
hls.on(Hls.Events.LEVEL_LOADED, (e, d) => {
  out.partTarget = d.details.partTarget; out.canBlockReload = d.details.canBlockReload;
  out.live = d.details.live;
});
hls.loadSource("/live/index.m3u8");
hls.attachMedia(v);
const t0 = performance.now();
let sent = false;
const timer = setInterval(() => {
  const elapsed = performance.now() - t0;
  if (sent || (v.currentTime < %UNTIL% && elapsed < 30000 && !out.errors.some(e => e[2]))) {
    return;
  }
  sent = true;
  clearInterval(timer);
  out.currentTime = v.currentTime;
  out.latency = hls.latency;
  const q = v.getVideoPlaybackQuality();
  out.frames = q.totalVideoFrames;
  out.width = v.videoWidth;
  fetch("/result", {method: "POST", body: JSON.stringify(out)});
}, 200);
</script></body></html>"""


def _hlsjs() -> Path | None:
    candidates = [os.environ.get("GRTMP_HLSJS", "")]
    for base in (ROOT, ROOT / "tests" / "interop"):
        candidates.append(str(base / "node_modules" / "hls.js" / "dist" / "hls.min.js"))
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hls: HLSStream, page: str, script: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hls = hls
        self.page = page.encode()
        self.script = script
        self.cond = threading.Condition()
        self.result: dict | None = None
        self.got_result = threading.Event()
        self.playlist_queries: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain",
              cache: str = "no-cache") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.result = json.loads(body)
        self.server.got_result.set()
        self._send(204)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        srv, hls = self.server, self.server.hls
        if url.path == "/":
            return self._send(200, srv.page, "text/html")
        if url.path == "/hls.min.js":
            return self._send(200, srv.script, "text/javascript")
        if not url.path.startswith("/live/"):
            return self._send(404)
        name = url.path[len("/live/"):]
        deadline = time.monotonic() + hls.block_timeout
        if name == "index.m3u8":
            srv.playlist_queries.append(url.query)
            try:
                directives = parse_delivery_directives(url.query)
                with srv.cond:
                    while not hls.playlist_ready(directives):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return self._send(503)
                        srv.cond.wait(left)
                    body = hls.playlist().encode()
            except BadRequest:
                return self._send(400)
            return self._send(200, body, hls.content_type(name))
        with srv.cond:
            data = hls.get_resource(name)
            while data is NOT_READY and time.monotonic() < deadline:
                srv.cond.wait(deadline - time.monotonic())
                data = hls.get_resource(name)
        if data is None:
            return self._send(404)
        if data is NOT_READY:
            return self._send(503)
        return self._send(200, data, hls.content_type(name), "max-age=60")


def _publish(srv: _Server, messages: list[tuple[int, int, bytes]], stop: threading.Event) -> None:
    start = time.monotonic()
    for msg in messages:
        delay = msg[1] / 1000 - (time.monotonic() - start)
        if delay > 0 and stop.wait(delay):
            return
        with srv.cond:
            if srv.hls.feed(*msg):
                srv.cond.notify_all()
    with srv.cond:
        srv.hls.end()
        srv.cond.notify_all()


@pytest.mark.parametrize(("vcodec", "acodec", "switch"), [
    ("libx264", "aac", False),
    ("libsvtav1", "libopus", False),
    ("libx264", "aac", True),  # a new codec configuration at 6 s: discontinuity, new init
])
def test_hlsjs_low_latency_playback(vcodec: str, acodec: str, switch: bool,
                                    tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    script = _hlsjs()
    if chromium is None:
        pytest.skip("chromium is not installed")
    if script is None:
        pytest.skip("hls.js not found (npm install hls.js, or set GRTMP_HLSJS)")
    until = 6
    if switch:
        first = flv_messages(encode_flv(vcodec, acodec, seconds=6.0, gop=25))
        second = flv_messages(encode_flv(vcodec, acodec, seconds=10.0, gop=25, bframes=2))
        messages = first + [(t, ts + 6000, p) for t, ts, p in second]
        until = 9  # well past the discontinuity
    else:
        messages = flv_messages(encode_flv(vcodec, acodec, seconds=16.0, gop=25))
    hls = HLSStream(HLSConfig(segment_duration=1.0, part_duration=0.25), name=vcodec)
    # the CODECS the stream will have, for the page's MediaSource.isTypeSupported check
    probe = HLSStream(HLSConfig())
    for m in messages[:40]:
        probe.feed(*m)
    codecs = ",".join(t.codec_string for t in probe.source.tracks.tracks)
    page = PAGE.replace("%CODECS%", codecs).replace("%UNTIL%", str(until))
    srv = _Server(hls, page, script.read_bytes())
    serve = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True)
    serve.start()
    stop = threading.Event()
    publisher = threading.Thread(target=_publish, args=(srv, messages, stop), daemon=True)
    publisher.start()
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
         "--autoplay-policy=no-user-gesture-required", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}",
         f"http://127.0.0.1:{srv.server_address[1]}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert srv.got_result.wait(60), "the page reported nothing"
    finally:
        stop.set()
        browser.kill()
        browser.wait(timeout=10)
        srv.shutdown()
        srv.server_close()
        publisher.join(timeout=10)
    r = srv.result
    assert r is not None
    print("hls.js:", json.dumps(r), len(srv.playlist_queries), "playlist requests")
    if not r["supported"]:
        pytest.skip(f"this Chromium cannot play {codecs} with MSE")
    assert not [e for e in r["errors"] if e[2]], r["errors"]
    assert r["live"] is True and r["canBlockReload"] is True
    assert r["partTarget"] == pytest.approx(0.25)
    assert r["parts"] >= 5, r  # hls.js loaded parts: low-latency mode is on
    assert any("_HLS_msn=" in q and "_HLS_part=" in q for q in srv.playlist_queries)
    assert r["currentTime"] >= until, r
    if switch:
        assert "#EXT-X-DISCONTINUITY" in hls.playlist() or hls.segmenter.discontinuity_sequence
    assert r["frames"] > 50 and r["width"] == 160
    # near the live edge (part hold back 0.75 s; a classic client would be ~3 segments back)
    assert r["latency"] < 4.0, r
