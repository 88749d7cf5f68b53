"""Web egress benchmarks: fan-out CPU per GB and latency, HTTP-FLV / WS-FLV / LL-HLS vs RTMP.

Run: ``python bench/web.py fanout [--players 50] [--seconds 20] [--bitrate 4000] [--rounds 2]``
     ``python bench/web.py latency [--seconds 60]``
     ``python bench/web.py browser [--seconds 30]``

``fanout``: ``grtmp-server`` (RTMP and the web app, one process) gets the synthetic paced
stream of ``bench/fanout.py`` from one publisher process; N players in one other process read
as fast as they can, either RTMP (bench/fanout.py's raw-socket players) or HTTP-FLV (raw sockets
in a selector loop, ``GET /live/bench.flv``). Server CPU seconds (``/proc``) per GB delivered,
per protocol, alternating the order each round; the ratio HTTP-FLV / RTMP is printed.

``latency``: publisher wall clock to availability at the client. One process runs a paced
publisher whose video frames carry their send time, and one client of each kind (RTMP play,
HTTP-FLV, WS-FLV) that reads the time back out of each frame as it arrives: p50/p99 per
protocol, for the first minute and for the whole run (drift). LL-HLS: a real H.264 encode
(``bench/_publishers.ensure_flv``) is published in real time and an LL-HLS client follows the
playlist with blocking reloads; for each new part, the delay from the arrival of its last frame
at the server to the playlist that lists it.

``browser``: headless Chromium opens the status page while the same encode is published; every
0.5 s it reads ``hls.latency`` (hls.js, LL-HLS) or the mpegts.js buffer lead (buffered end minus
currentTime: what the player holds that it has not shown) and prints p50/p90.

Nothing here is a test; it prints figures (for the README's "Browser playback" section). Every
process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _harness as h  # noqa: E402
from _media import StreamShape  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


# -- the server ----------------------------------------------------------------------------------
def start_server(extra: list[str] | None = None) -> tuple[subprocess.Popen, int, int]:
    rtmp, http = h.free_port(), h.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "grtmp.cli.server", "--host", "127.0.0.1",
                             "--port", str(rtmp), "--http-port", str(http), "--log-level",
                             "warning", *(extra or [])],
                            env=ENV, stdin=subprocess.DEVNULL, start_new_session=True)
    h.wait_listening(rtmp, proc, 15.0)
    h.wait_listening(http, proc, 15.0)
    return proc, rtmp, http


# -- fan-out -------------------------------------------------------------------------------------
def http_players_main(port: int, n: int, path: str, counts: Any, status: Any, stop: Any) -> None:
    """N HTTP-FLV players in one selector loop: request, then read and count everything."""
    h.quiet_child()
    h.raise_nofile()
    sel = selectors.DefaultSelector()
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n").encode()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.send(request)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
        status[i] = 1
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            try:
                k = key.fileobj.recv_into(view)
            except BlockingIOError:
                continue
            except OSError:
                k = 0
            if not k:
                sel.unregister(key.fileobj)
                status[key.data] = 3
                continue
            counts[key.data] += k
    for s in socks:
        s.close()


def fanout_once(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing as mp

    import fanout

    ctx = mp.get_context("spawn")
    proc, rtmp, http = start_server(["--queue-size", "4096"])
    stop = ctx.Event()
    counts = ctx.Array("Q", n, lock=False)
    status = ctx.Array("b", n, lock=False)
    sent = ctx.Value("Q", 0, lock=False)
    pub_state = ctx.Value("b", 0, lock=False)
    late = ctx.Value("d", 0.0, lock=False)
    shape = StreamShape(bitrate_kbps=args.bitrate, fps=30.0)
    players = publisher = None
    try:
        publisher = ctx.Process(target=fanout.publisher_main,
                                args=(f"rtmp://127.0.0.1:{rtmp}/live/bench", shape, 1.0, sent,
                                      pub_state, late, stop), daemon=True)
        publisher.start()
        deadline = time.monotonic() + 30
        while pub_state.value == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if kind == "rtmp":
            players = ctx.Process(target=fanout.selector_players_main,
                                  args=("127.0.0.1", rtmp, n, counts, status, stop, 50),
                                  daemon=True)
        else:
            players = ctx.Process(target=http_players_main,
                                  args=(http, n, "/live/bench.flv", counts, status, stop),
                                  daemon=True)
        players.start()
        deadline = time.monotonic() + 60
        while any(s == 0 for s in status) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(args.warmup)
        s0, b0, t0 = h.proc_sample(proc.pid), sum(counts), time.monotonic()
        time.sleep(args.seconds)
        s1, b1, t1 = h.proc_sample(proc.pid), sum(counts), time.monotonic()
    finally:
        stop.set()
        for p in (players, publisher):
            if p is not None:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
        h.stop_process(proc)
    gb = (b1 - b0) / 1e9
    cpu = s1.cpu - s0.cpu
    return {"kind": kind, "players": n, "cpu_s": cpu, "gb": gb,
            "cpu_per_gb": cpu / gb if gb else float("nan"),
            "mb_per_s": (b1 - b0) / 1e6 / (t1 - t0), "rss_mb": s1.rss / 1e6}


def cmd_fanout(args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    kinds = ["rtmp", "http-flv"]
    for r in range(args.rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            res = fanout_once(kind, args.players, args)
            res["round"] = r
            results.append(res)
            print(f"  round {r} {kind:8s} {args.players} players: "
                  f"{res['cpu_per_gb']:.2f} CPU s/GB, {res['mb_per_s']:.1f} MB/s, "
                  f"RSS {res['rss_mb']:.0f} MB", flush=True)
    med = {k: statistics.median(x["cpu_per_gb"] for x in results if x["kind"] == k)
           for k in kinds}
    print(f"median CPU s/GB: RTMP {med['rtmp']:.2f}, HTTP-FLV {med['http-flv']:.2f}, "
          f"ratio HTTP-FLV/RTMP {med['http-flv'] / med['rtmp']:.2f}")
    return {"results": results, "median": med}


# -- latency -------------------------------------------------------------------------------------
_STAMP = struct.Struct(">d")


def _stamped_frame(i: int) -> bytes:
    head = b"\x17\x01\x00\x00\x00" if i % 60 == 0 else b"\x27\x01\x00\x00\x00"
    return head + _STAMP.pack(time.time()) + bytes(2000)


def _flv_tags(buf: bytearray):
    """Complete FLV tags at the front of ``buf`` (after the 13-byte header): (type, data)."""
    out = []
    pos = 0
    while len(buf) - pos >= 11:
        size = int.from_bytes(buf[pos + 1:pos + 4], "big")
        if len(buf) - pos < 11 + size + 4:
            break
        out.append((buf[pos], bytes(buf[pos + 11:pos + 11 + size])))
        pos += 15 + size
    del buf[:pos]
    return out


def _delay(data: bytes, now: float) -> float | None:
    if len(data) >= 13 and data[1] == 1 and data[0] in (0x17, 0x27):
        return now - _STAMP.unpack_from(data, 5)[0]
    return None


def cmd_latency(args: argparse.Namespace) -> dict[str, Any]:
    import gevent
    import gevent.socket
    from wsproto import WSConnection
    from wsproto.connection import ConnectionType
    from wsproto.events import BytesMessage, Request

    from grtmp.net.client import Client

    proc, rtmp, http = start_server(["--hls-segment-duration", "1", "--hls-part-duration",
                                     "0.25"])
    delays: dict[str, list[tuple[float, float]]] = {"rtmp": [], "http-flv": [], "ws-flv": []}
    url = f"rtmp://127.0.0.1:{rtmp}/live/lat"
    t_start = time.monotonic()
    end = t_start + args.seconds

    def publisher() -> None:
        c = Client(url, socket_module=gevent.socket)
        c.connect()
        c.publish()
        c.send_media(9, 0, b"\x17\x00\x00\x00\x00" + bytes.fromhex(
            "0142c01effe100096742c01e8c8d40a0fa10010468ce3c80"))
        i = 0
        t0 = time.monotonic()
        while time.monotonic() < end:
            c.send_media(9, i * 40, _stamped_frame(i))
            i += 1
            gevent.sleep(max(0.0, t0 + i * 0.04 - time.monotonic()))
        c.close()

    def rtmp_player() -> None:
        c = Client(url, socket_module=gevent.socket)
        c.connect()
        c.play()
        for msg in c.media():
            d = _delay(msg.payload, time.time())
            if d is not None:
                delays["rtmp"].append((time.monotonic() - t_start, d))
            if time.monotonic() > end:
                break

    def http_player() -> None:
        s = gevent.socket.create_connection(("127.0.0.1", http))
        s.sendall(b"GET /live/lat.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        buf = buf.split(b"\r\n\r\n", 1)[1]
        raw = bytearray()
        while time.monotonic() < end:
            data = s.recv(65536)
            if not data:
                break
            now = time.time()
            buf += data
            while True:  # chunked framing
                m = re.match(rb"([0-9a-f]+)\r\n", buf)
                if m is None:
                    break
                size = int(m.group(1), 16)
                if len(buf) < m.end() + size + 2:
                    break
                raw += buf[m.end():m.end() + size]
                del buf[:m.end() + size + 2]
            if raw[:3] == b"FLV":
                del raw[:13]
            for t, payload in _flv_tags(raw):
                d = _delay(payload, now) if t == 9 else None
                if d is not None:
                    delays["http-flv"].append((time.monotonic() - t_start, d))
        s.close()

    def ws_player() -> None:
        s = gevent.socket.create_connection(("127.0.0.1", http))
        ws = WSConnection(ConnectionType.CLIENT)
        s.sendall(ws.send(Request(host="x", target="/live/lat.flv")))
        raw = bytearray()
        while time.monotonic() < end:
            data = s.recv(65536)
            if not data:
                break
            now = time.time()
            ws.receive_data(data)
            for ev in ws.events():
                if isinstance(ev, BytesMessage):
                    raw += ev.data
            if raw[:3] == b"FLV":
                del raw[:13]
            for t, payload in _flv_tags(raw):
                d = _delay(payload, now) if t == 9 else None
                if d is not None:
                    delays["ws-flv"].append((time.monotonic() - t_start, d))
        s.close()

    try:
        pub = gevent.spawn(publisher)
        gevent.sleep(0.5)
        clients = [gevent.spawn(f) for f in (rtmp_player, http_player, ws_player)]
        pub.join(timeout=args.seconds + 10)
        gevent.joinall(clients, timeout=5)
        for c in clients:
            c.kill()
        hls = hls_part_delays(rtmp, http, min(args.seconds, 30.0))
    finally:
        h.stop_process(proc)
    out: dict[str, Any] = {}
    for kind, samples in delays.items():
        ms = [d * 1000 for _, d in samples]
        first = [d * 1000 for t, d in samples if t <= 60]
        out[kind] = {"frames": len(ms), "p50_ms": statistics.median(ms),
                     "p99_ms": sorted(ms)[int(len(ms) * 0.99) - 1],
                     "p50_first_minute_ms": statistics.median(first)}
        print(f"  {kind:8s} {len(ms)} frames: p50 {out[kind]['p50_ms']:.2f} ms, "
              f"p99 {out[kind]['p99_ms']:.2f} ms (first minute p50 "
              f"{out[kind]['p50_first_minute_ms']:.2f} ms)")
    for kind in ("http-flv", "ws-flv"):
        out[kind]["over_rtmp_p50_ms"] = out[kind]["p50_ms"] - out["rtmp"]["p50_ms"]
    out["ll-hls"] = hls
    print(f"  LL-HLS   {hls['parts']} parts (part target 250 ms): listed after the last "
          f"frame: p50 {hls['p50_ms']:.1f} ms, p90 {hls['p90_ms']:.1f} ms, "
          f"max {hls['max_ms']:.1f} ms")
    return out


def hls_part_delays(rtmp: int, http: int, seconds: float) -> dict[str, Any]:
    """Publish a real encode in real time; delay from each part's last frame to its listing."""
    import gevent
    import gevent.socket
    from _publishers import ensure_flv

    from grtmp.media.flv import FLVReader
    from grtmp.net.client import Client

    with open(ensure_flv(seconds=30, kbps=2000, log=lambda m: print("  " + m)), "rb") as f:
        tags = [(t.tag_type, t.timestamp, t.payload) for t in FLVReader(io.BytesIO(f.read()))]
    sent: dict[int, float] = {}
    listed: list[tuple[float, float]] = []  # (part end, media seconds; wall time listed)
    end = time.monotonic() + seconds

    def publisher() -> None:
        c = Client(f"rtmp://127.0.0.1:{rtmp}/live/hls", socket_module=gevent.socket)
        c.connect()
        c.publish()
        t0 = time.monotonic()
        for t, ts, payload in tags:
            if time.monotonic() > end:
                break
            gevent.sleep(max(0.0, t0 + ts / 1000 - time.monotonic()))
            c.send_media(t, ts, payload)
            if t == 9:
                sent[ts] = time.time()
        c.close()

    def follower() -> None:
        query, total, seen = "", 0.0, set()
        while time.monotonic() < end:
            s = gevent.socket.create_connection(("127.0.0.1", http))
            s.sendall(f"GET /live/hls/index.m3u8{query} HTTP/1.1\r\nHost: x\r\n"
                      f"Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                more = s.recv(65536)
                if not more:
                    break
                data += more
            s.close()
            now = time.time()
            text = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
            if not data.startswith(b"HTTP/1.1 200"):
                gevent.sleep(0.1)
                continue
            for m in re.finditer(r'#EXT-X-PART:DURATION=([\d.]+).*?URI="([^"]+)"', text):
                if m.group(2) not in seen:
                    seen.add(m.group(2))
                    total += float(m.group(1))
                    listed.append((total, now))
            msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
            segs = len(re.findall(r"^#EXTINF", text, re.M))
            tail = text.rsplit("#EXTINF", 1)[-1]
            query = f"?_HLS_msn={msn + segs}&_HLS_part={tail.count('#EXT-X-PART:')}"

    pub = gevent.spawn(publisher)
    gevent.sleep(0.3)
    fol = gevent.spawn(follower)
    pub.join(timeout=seconds + 10)
    fol.join(timeout=5)
    fol.kill()
    stamps = sorted(sent)
    delays = []
    for part_end, when in listed[1:]:  # the first playlist lists parts from before it was asked
        last = [ts for ts in stamps if ts / 1000 < part_end - 1e-6]
        if last:
            delays.append((when - sent[last[-1]]) * 1000)
    delays.sort()
    return {"parts": len(delays), "p50_ms": statistics.median(delays) if delays else None,
            "p90_ms": delays[int(len(delays) * 0.9) - 1] if delays else None,
            "max_ms": delays[-1] if delays else None}


# -- browser -------------------------------------------------------------------------------------
def cmd_browser(args: argparse.Namespace) -> dict[str, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    proc, rtmp, http = start_server()
    avclient = os.path.join(_ROOT, "tests", "interop", "avclient.py")
    pub = subprocess.Popen([sys.executable, avclient, "publish",
                            f"rtmp://127.0.0.1:{rtmp}/live/browser", "--frames",
                            str(int(25 * (3 * args.seconds + 60))), "--width", "640", "--height",
                            "360"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=ENV)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                 "--mute-audio"):
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="bench-web-"))
    driver = None
    out: dict[str, Any] = {}
    try:
        time.sleep(3)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        for via in ("http-flv", "ws-flv", "hls"):
            driver.get(f"http://127.0.0.1:{http}/?play=live/browser&via={via}")
            time.sleep(5)
            samples = []
            for _ in range(int(args.seconds * 2)):
                v = driver.execute_script("return window.grtmp.latency()")
                if isinstance(v, int | float):
                    samples.append(v)
                time.sleep(0.5)
            samples.sort()
            out[via] = {"samples": len(samples), "p50_s": statistics.median(samples),
                        "p90_s": samples[int(len(samples) * 0.9) - 1]}
            what = "hls.latency" if via == "hls" else "mpegts.js buffer lead"
            print(f"  {via:8s} {what}: p50 {out[via]['p50_s']:.2f} s, "
                  f"p90 {out[via]['p90_s']:.2f} s")
    finally:
        if driver is not None:
            driver.quit()
        pub.kill()
        pub.wait(timeout=10)
        h.stop_process(proc)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fanout")
    f.add_argument("--players", type=int, default=50)
    f.add_argument("--seconds", type=float, default=20.0)
    f.add_argument("--warmup", type=float, default=3.0)
    f.add_argument("--bitrate", type=float, default=4000.0)
    f.add_argument("--rounds", type=int, default=2)
    lat = sub.add_parser("latency")
    lat.add_argument("--seconds", type=float, default=60.0)
    b = sub.add_parser("browser")
    b.add_argument("--seconds", type=float, default=30.0)
    for sp in (f, lat, b):
        sp.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    print(f"bench/web.py {args.cmd} ({h.now_iso()}, {os.cpu_count()} cores)")
    result = {"fanout": cmd_fanout, "latency": cmd_latency, "browser": cmd_browser}[args.cmd](
        args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"when": h.now_iso(), "machine": h.machine_info(), "cmd": args.cmd,
                       "result": result}, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
