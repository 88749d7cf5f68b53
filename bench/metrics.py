"""/metrics and the JSON API with 1,000 connections: how long a scrape takes to render.

Run: ``python bench/metrics.py [--scenarios 50x19,500x1,1000x0] [--rounds 50] [--json FILE]``.

A scenario ``SxP`` is S streams, each with one publisher and P players (S x (1 + P)
connections). The server (a :class:`grtmp.Server` with its :class:`grtmp.ops.Operations`, the
API and ``/metrics`` on their own HTTP port) runs in this process; the clients (grtmp's
:class:`~grtmp.net.client.Client` in greenlets) run in a child process. Publishers send
sequence headers, a keyframe and frames, then a small frame every 200 ms, so streams have
codecs, GOPs, rates and bytes to report; players read everything.

Measured once every connection is up:

- ``render``: the ``/metrics`` WSGI app answering one scrape in this process (the collector
  walking the state, the text written; median, p95 and max of ``--rounds``), its CPU time
  (``time.thread_time``: what it costs even on a busy machine), and for comparison
  ``prometheus_client.generate_latest`` over the same collector;
- ``http``: ``GET /metrics`` over a socket, from request to last byte (median);
- ``series``: samples in one scrape, and bytes;
- the same two timings for ``GET /api/v1/streams`` and ``GET /api/v1/sessions``.

The issue's target: with 1,000 connections ``/metrics`` renders in at most 20 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f" \
             b"\x01\x00\x02\x68\xeb"
AAC_HEADER = b"\xaf\x00\x12\x10"


# -- the load generator (child process) --------------------------------------------------------
def load_generator(port: int, streams: int, players: int) -> None:
    import gevent
    import gevent.socket
    from _harness import raise_nofile

    from grtmp.net.client import Client
    from grtmp.wire.message import AUDIO, VIDEO

    raise_nofile()
    ready: list[int] = []

    def publish(i: int) -> None:
        c = Client(f"rtmp://127.0.0.1:{port}/live/s{i}", socket_module=gevent.socket,
                   timeout=60)
        c.connect()
        c.publish()
        c.send_media(VIDEO, 0, AVC_HEADER)
        c.send_media(AUDIO, 0, AAC_HEADER)
        ts = 0
        for n in range(10):
            c.send_media(VIDEO, ts, (b"\x17" if n == 0 else b"\x27") + b"\x01\0\0\0" + bytes(200))
            c.send_media(AUDIO, ts, b"\xaf\x01" + bytes(20))
            ts += 40
        ready.append(1)
        while True:
            gevent.sleep(0.2)
            kind = b"\x17" if ts % 2000 == 0 else b"\x27"
            c.send_media(VIDEO, ts, kind + b"\x01\0\0\0" + bytes(200))
            ts += 200

    def play(i: int) -> None:
        c = Client(f"rtmp://127.0.0.1:{port}/live/s{i}", socket_module=gevent.socket,
                   timeout=60)
        c.connect()
        c.play()
        ready.append(1)
        while True:
            c.read_message()

    workers = []
    for i in range(streams):
        workers.append(gevent.spawn(publish, i))
        gevent.sleep(0.002)
    gevent.sleep(0.5)
    for i in range(streams):
        for _ in range(players):
            workers.append(gevent.spawn(play, i))
            gevent.sleep(0.001)
    with gevent.Timeout(120):
        while len(ready) < streams * (1 + players):
            dead = [w for w in workers if w.dead and w.exception]
            if dead:
                print(f"client failed: {dead[0].exception!r}", file=sys.stderr)
                sys.exit(1)
            gevent.sleep(0.1)
    print("ready", flush=True)
    sys.stdin.readline()  # the parent closes our stdin when it is done


# -- the measurement (parent) ------------------------------------------------------------------
def http_get(port: int, path: str) -> bytes:
    import gevent.socket

    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = sock.recv(262144)
        if not chunk:
            break
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return body


def measure(streams: int, players: int, rounds: int) -> dict:
    import gevent
    from _harness import median, percentile, raise_nofile
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from grtmp.config import ServerConfig
    from grtmp.live.hub import StreamHub
    from grtmp.net.server import Server
    from grtmp.ops.control import Operations
    from grtmp.ops.metrics import make_metrics_app, make_registry
    from grtmp.ops.server import OpsServer

    raise_nofile()
    config = ServerConfig(host="127.0.0.1", port=0)
    hub = StreamHub(config)
    server = Server(("127.0.0.1", 0), config=config, hub=hub)
    server.start()
    ops = Operations(hub, servers=[server])
    ops.start()
    web = OpsServer(ops)
    web.start()
    total = streams * (1 + players)
    import gevent.subprocess

    child = gevent.subprocess.Popen([sys.executable, __file__, "--load-generator",
                                     str(server.port), str(streams), str(players)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with gevent.Timeout(180):
            if child.stdout.readline().strip() != "ready":
                raise SystemExit(f"load generator failed ({child.wait()})")
        with gevent.Timeout(60):
            while len(hub.sessions) < total or \
                    sum(len(s.players) for s in hub.streams.values()) < streams * players:
                gevent.sleep(0.1)
        gevent.sleep(2.5)  # a few rate samples
        app = make_metrics_app(ops)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "REMOTE_ADDR": "127.0.0.1"}

        def render() -> bytes:
            return b"".join(app(environ, lambda status, headers: None))

        registry = make_registry(ops)
        text = render()
        samples = sum(len(f.samples) for f in text_string_to_metric_families(text.decode()))
        if os.environ.get("GRTMP_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(5):
                render()
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumtime").print_stats(25)
        times = []
        cpu = []
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.thread_time()
            render()
            cpu.append((time.thread_time() - c0) * 1000)
            times.append((time.perf_counter() - t0) * 1000)
            gevent.sleep(0.01)
        lib = []  # prometheus_client's own writer, for comparison
        for _ in range(max(3, rounds // 10)):
            t0 = time.perf_counter()
            generate_latest(registry)
            lib.append((time.perf_counter() - t0) * 1000)
            gevent.sleep(0.01)
        out = {"streams": streams, "players_per_stream": players, "connections":
               len(hub.sessions), "series": samples, "bytes": len(text),
               "render_ms_median": median(times), "render_ms_p95": percentile(times, 95),
               "render_ms_max": max(times), "render_cpu_ms_median": median(cpu),
               "generate_latest_ms_median": median(lib), "loadavg": os.getloadavg()[0]}
        for name, path in (("metrics", "/metrics"), ("streams", "/api/v1/streams"),
                           ("sessions", "/api/v1/sessions")):
            times = []
            for _ in range(max(5, rounds // 5)):
                t0 = time.perf_counter()
                body = http_get(web.port, path)
                times.append((time.perf_counter() - t0) * 1000)
                gevent.sleep(0.01)
            out[f"http_{name}_ms_median"] = median(times)
            out[f"http_{name}_bytes"] = len(body)
        return out
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(10)
        except gevent.subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        web.stop()
        ops.stop()
        server.stop(timeout=10)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--load-generator":
        load_generator(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default="50x19,500x1,1000x0",
                   help="comma-separated SxP: S streams with one publisher and P players each")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    results = []
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'scenario':>10} {'conns':>6} {'series':>7} {'KiB':>6} {'render ms':>22} "
          f"{'cpu ms':>7} {'gen_latest':>10} {'GET /metrics':>13} {'/streams':>9} "
          f"{'/sessions':>10}")
    print(f"{'':>10} {'':>6} {'':>7} {'':>6} {'median   p95    max':>22} {'median':>7} "
          f"{'ms':>10} {'ms':>13} {'ms':>9} {'ms':>10}")
    for scenario in args.scenarios.split(","):
        s, _, pl = scenario.partition("x")
        r = measure(int(s), int(pl), args.rounds)
        results.append(r)
        print(f"{scenario:>10} {r['connections']:>6} {r['series']:>7} {r['bytes'] / 1024:>6.0f} "
              f"{r['render_ms_median']:>8.1f} {r['render_ms_p95']:>6.1f} "
              f"{r['render_ms_max']:>6.1f} {r['render_cpu_ms_median']:>7.1f} "
              f"{r['generate_latest_ms_median']:>10.1f} "
              f"{r['http_metrics_ms_median']:>13.1f} "
              f"{r['http_streams_ms_median']:>9.1f} {r['http_sessions_ms_median']:>10.1f}",
              flush=True)
    if args.json:
        from _harness import write_json

        write_json(args.json, "metrics", args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
