"""Connection storm and idle connections: N RTMP clients connecting at once, grtmp vs nginx-rtmp.

Run: ``python bench/connect_storm.py [--clients 1000,5000] [--idle 10000] [--compare-nginx]
[--rounds 3] [--json out.json]``.

Storm: a fresh server; ``--procs`` load processes (default 1) each open their share of the N
non-blocking sockets, then, at one signal, all ``connect()`` at once; a ``selectors`` loop runs
every client's handshake (C0+C1 with a client digest as FFmpeg sends it, S0+S1+S2, C2) and the
AMF0 ``connect`` command in 128-byte chunks, until the server's ``_result`` arrives (an
``_error``, a reset or a close counts as failed; no ``_result`` within ``--timeout`` seconds as
timed out). Reported: time until every client had its ``_result`` (or until the timeout),
completed count, failures by reason, per-client time percentiles, server CPU per 1,000 completed
connects (from ``/proc``, over the storm only: clients stay open until it is sampled), the load
processes' own CPU, the accept-queue length of the server's listening socket (``ss``) and the
kernel's listen-overflow and SYN-retransmit counters over the storm (a full accept queue drops
SYNs; the client retransmits after 1, 3, 7, 15... s, which is what a slow storm looks like).

Idle: N clients (``--idle``, default 10,000) connect (at most ``--idle-inflight`` at a time, not
a storm) and stay connected and idle (pings are answered); the server's resident memory
(``VmRSS``) after they are all in, minus before, divided by N is the memory per idle
connection. A warm-up of 100 connect/close runs before the "before" sample.

The open-files soft limit of every process is raised to the hard limit; when that is too low
for N (the load processes and the server each need N descriptors) N is capped and the output
says so.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import resource
import shutil
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
from _harness import ServerProc, StartFn  # noqa: E402
from fanout import int_list  # noqa: E402

_CDF_POINTS = 101


# -- load processes ----------------------------------------------------------------------------
def storm_main(port: int, n: int, first: int, ready: Any, go: Any, release: Any,
               out: Any, timeout: float, digest: bool, inflight: int) -> None:
    """Open ``n`` clients; at ``go`` connect them all (or ``inflight`` at a time); report.

    Reports ``{"done": [abs monotonic times], "failed": {reason: count}, "cpu": s, ...}`` on
    ``out`` when every client finished or ``timeout`` passed; the connected clients stay open
    and idle (answering pings) until ``release``, then everything is closed.
    """
    h.quiet_child()
    h.raise_nofile()
    import _rtmp

    eng = _rtmp.Engine(("127.0.0.1", port), digest=digest)
    done: list[float] = []
    failed: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    finished_n = 0

    def finished(c: _rtmp.Conn, ok: bool) -> None:
        nonlocal finished_n
        finished_n += 1
        if ok:
            done.append(c.t_done)  # and it stays open, idle, until release
        else:
            stage, _, reason = c.error.partition(": ")
            failed[f"{stage}: {reason}"] += 1
            if len(examples) < 5:
                examples.append(f"client {c.index}: {c.error}")

    eng.on_finished = finished
    conns: list[_rtmp.Conn] = []
    try:
        for i in range(n):
            try:
                conns.append(eng.new(first + i, "connect"))
            except OSError as exc:
                failed[f"socket: {exc.strerror or exc}"] += n - i
                break
        ready.set()
        go.wait()
        t_go = time.monotonic()
        cpu0 = _self_cpu()
        total = len(conns)
        limit = inflight or total
        nxt = 0
        deadline = t_go + timeout
        while finished_n < total and time.monotonic() < deadline:
            if nxt < total and nxt - finished_n < limit:
                now = time.monotonic()
                upto = min(total, finished_n + limit)
                while nxt < upto:
                    conns[nxt].start(eng.addr, now)
                    nxt += 1
            eng.poll(0.05)
        timed_out = 0
        for c in conns:
            if c.state not in (_rtmp.CONNECTED, _rtmp.FAILED):
                timed_out += 1
                failed[f"timed out in {_rtmp.STATE_NAMES[c.state]}"] += 1
        out.put({"done": done, "failed": dict(failed), "examples": examples,
                 "cpu": _self_cpu() - cpu0, "t_go": t_go, "timed_out": timed_out,
                 "opened": len(conns)})
        # hold the connections (idle, answering pings) until the parent has sampled the server
        while not release.is_set():
            eng.poll(0.2)
        alive = sum(1 for c in conns if c.state == _rtmp.CONNECTED and c.sock is not None)
        out.put({"still_connected": alive})
    finally:
        eng.close_all()


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _warm_up(port: int, n: int) -> None:
    """``n`` clients connect and close (not measured): the server's lazy paths run once."""
    import _rtmp

    eng = _rtmp.Engine(("127.0.0.1", port))
    left = [n]

    def finished(c: _rtmp.Conn, ok: bool) -> None:
        left[0] -= 1
        c.close()

    eng.on_finished = finished
    now = time.monotonic()
    for i in range(n):
        eng.new(i, "connect").start(eng.addr, now)
    deadline = now + 30
    while left[0] > 0 and time.monotonic() < deadline:
        eng.poll(0.05)
    eng.close_all()


# -- one storm ---------------------------------------------------------------------------------
def run_load(server: ServerProc, port: int, n: int, procs: int, timeout: float, digest: bool,
             inflight: int = 0, settle: float = 0.0) -> dict[str, Any]:
    """Run the load processes against a started server; returns the measured figures."""
    ctx = mp.get_context("spawn")
    ready = [ctx.Event() for _ in range(procs)]
    go, release = ctx.Event(), ctx.Event()
    out = ctx.Queue()
    shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    firsts = [sum(shares[:i]) for i in range(procs)]
    children = [ctx.Process(target=storm_main,
                            args=(port, shares[i], firsts[i], ready[i], go, release, out,
                                  timeout, digest, max(1, inflight // procs) if inflight else 0),
                            name=f"storm-{i}", daemon=True) for i in range(procs)]
    res: dict[str, Any] = {"clients": n, "procs": procs}
    try:
        for c in children:
            c.start()
        deadline = time.monotonic() + 60
        for e in ready:
            if not e.wait(max(0.1, deadline - time.monotonic())):
                raise RuntimeError("load processes did not get ready")
        time.sleep(0.2)
        base = server.sample()
        net0 = h.tcp_ext_counters()
        busy0 = h.system_busy()
        t_go = time.monotonic()
        go.set()
        reports = []
        for _ in children:
            reports.append(out.get(timeout=timeout + 60))
        s1 = server.sample()
        t_end = time.monotonic()
        net1 = h.tcp_ext_counters()
        busy1 = h.system_busy()
        if settle:
            time.sleep(settle)
        s2 = server.sample()
        release.set()
        alive = 0
        for _ in children:
            alive += out.get(timeout=30).get("still_connected", 0)
    finally:
        with h.no_interrupts():
            release.set()
            go.set()
            for c in children:
                c.join(10)
                if c.is_alive():
                    c.terminate()
                    c.join(2)
    done = sorted(t - t_go for r in reports for t in r["done"])
    failed: collections.Counter[str] = collections.Counter()
    for r in reports:
        failed.update(r["failed"])
    completed = len(done)
    res.update({
        "completed": completed, "failed": n - completed,
        "failures": dict(failed.most_common()),
        "examples": [e for r in reports for e in r["examples"]][:5],
        "all_completed": completed == n,
        "time_all": done[-1] if completed == n else None,
        "time_last": done[-1] if done else None,
        "wall": t_end - t_go,
        "p50": h.percentile(done, 50), "p90": h.percentile(done, 90),
        "p99": h.percentile(done, 99),
        "cdf": [h.percentile(done, q) for q in range(_CDF_POINTS)] if done else [],
        "server_cpu": s1.cpu - base.cpu,
        "server_cpu_per_1000": (s1.cpu - base.cpu) / completed * 1000 if completed else None,
        "loadgen_cpu": sum(r["cpu"] for r in reports),
        "machine_busy": busy1 - busy0,
        "rss_before": base.rss, "rss_after": s2.rss, "peak_rss": s2.hwm,
        "still_connected": alive,
        "tcp": {k: net1.get(k, 0) - net0.get(k, 0) for k in net1},
        "load_start_spread": max(r["t_go"] for r in reports) - t_go,
    })
    return res


def run_storm(name: str, start: StartFn, n: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"storm-{name}-")
    port = h.free_port()
    server: ServerProc | None = None
    try:
        server = start(port, workdir)
        h.wait_listening(port, server.proc, 15.0)
        backlog = h.listen_backlog(port)
        _warm_up(port, 10)
        time.sleep(0.3)
        res = run_load(server, port, n, args.procs, args.timeout, not args.simple_handshake)
        res["server"] = name
        res["listen_backlog"] = backlog
        if not server.alive():
            res["server_exit"] = server.proc.returncode
        return res
    finally:
        with h.no_interrupts():
            if server is not None:
                lines = server.log_lines()
                server.stop()
                if lines:
                    print(f"  {name}: {len(lines)} log lines, last: {lines[-1][:160]}")
            shutil.rmtree(workdir, ignore_errors=True)


def run_idle(name: str, start: StartFn, n: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"idle-{name}-")
    port = h.free_port()
    server: ServerProc | None = None
    try:
        server = start(port, workdir)
        h.wait_listening(port, server.proc, 15.0)
        _warm_up(port, 100)
        time.sleep(1.0)
        res = run_load(server, port, n, args.procs, max(args.timeout, n / 50),
                       not args.simple_handshake, inflight=args.idle_inflight, settle=2.0)
        res["server"] = name
        res["rss_delta"] = res["rss_after"] - res["rss_before"]
        res["bytes_per_conn"] = res["rss_delta"] / res["completed"] if res["completed"] \
            else None
        return res
    finally:
        with h.no_interrupts():
            if server is not None:
                server.stop()
            shutil.rmtree(workdir, ignore_errors=True)


# -- output ------------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None or x != x else format(x, spec)


def print_storm(r: dict[str, Any]) -> None:
    t = r["time_all"]
    when = f"{t:.2f} s" if t is not None else f"not all ({r['wall']:.1f} s)"
    tcp = r["tcp"]
    print(f"{r['server']:<11} {r['clients']:>6} {r['completed']:>6} {when:>16} "
          f"{_fmt(r['p50'])} / {_fmt(r['p90'])} / {_fmt(r['p99'])} s  "
          f"CPU {r['server_cpu']:.2f} s = {_fmt(r['server_cpu_per_1000'], '.3f')} s/1000  "
          f"load CPU {r['loadgen_cpu']:.2f} s  backlog {r['listen_backlog']}  "
          f"listen overflows {tcp.get('ListenOverflows', 0)}, "
          f"SYN retrans {tcp.get('TCPSynRetrans', 0)}")
    for reason, k in list(r["failures"].items())[:4]:
        print(f"{'':<11} ! {k} failed: {reason}")


def summarize(storms: list[dict[str, Any]], idles: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"storm": {}, "idle": {}}
    groups: dict[tuple[str, int], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in storms:
        groups[(r["server"], r["clients"])].append(r)
    for (name, n), rs in groups.items():
        times = [r["time_all"] if r["time_all"] is not None else float("inf") for r in rs]
        med_t = h.median(times)
        out["storm"].setdefault(name, {})[str(n)] = {
            "runs": len(rs),
            "time_all": None if med_t == float("inf") else med_t,
            "time_last": h.median([r["time_last"] for r in rs if r["time_last"] is not None]),
            "completed": h.median([float(r["completed"]) for r in rs]),
            "completed_min": min(r["completed"] for r in rs),
            "all_completed_runs": sum(1 for r in rs if r["all_completed"]),
            "server_cpu_per_1000": h.median([r["server_cpu_per_1000"] for r in rs
                                             if r["server_cpu_per_1000"] is not None]),
            "p50": h.median([r["p50"] for r in rs]),
            "p99": h.median([r["p99"] for r in rs]),
            "loadgen_cpu": h.median([r["loadgen_cpu"] for r in rs]),
            "listen_overflows": h.median([float(r["tcp"].get("ListenOverflows", 0))
                                          for r in rs]),
            "syn_retrans": h.median([float(r["tcp"].get("TCPSynRetrans", 0)) for r in rs]),
            "listen_backlog": rs[0]["listen_backlog"],
        }
    for r in idles:
        out["idle"][r["server"]] = {"clients": r["clients"], "completed": r["completed"],
                                    "still_connected": r["still_connected"],
                                    "bytes_per_conn": r["bytes_per_conn"],
                                    "rss_before": r["rss_before"], "rss_after": r["rss_after"]}
    return out


def print_summary(s: dict[str, Any]) -> None:
    st = s["storm"]
    if st:
        print("\nmedians:")
        for name, per_n in st.items():
            for n, v in sorted(per_n.items(), key=lambda kv: int(kv[0])):
                print(f"{name:<11} {n:>6} clients: all done in {_fmt(v['time_all'])} s "
                      f"({v['all_completed_runs']}/{v['runs']} runs complete, median "
                      f"{v['completed']:.0f} connected), server CPU "
                      f"{_fmt(v['server_cpu_per_1000'], '.3f')} s per 1000")
    g, x = st.get("grtmp", {}), st.get("nginx-rtmp", {})
    for n in sorted(set(g) & set(x), key=int):
        tg, tx = g[n]["time_all"], x[n]["time_all"]
        tr = f"{tg / tx:.1f}" if tg and tx else "-"
        cg, cx = g[n]["server_cpu_per_1000"], x[n]["server_cpu_per_1000"]
        cr = f"{cg / cx:.1f}" if cg and cx else "-"
        print(f"ratio grtmp/nginx-rtmp at {n}: time {tr} [target <= 2, all complete], "
              f"CPU per 1000 connects {cr} [target <= 3]")
    for name, v in s["idle"].items():
        per = v["bytes_per_conn"]
        print(f"{name:<11} idle: {v['completed']} connected ({v['still_connected']} still after "
              f"settling), {_fmt(per / 1024 if per else None, '.1f')} KiB per connection"
              + (" [target <= 30 KiB]" if name == "grtmp" else ""))


# -- main --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int_list, default=[1000, 5000],
                   help="clients connecting at once, a list (default 1000,5000)")
    p.add_argument("--idle", type=int, default=10000,
                   help="idle connections to hold for the memory figure (0: skip)")
    p.add_argument("--idle-inflight", type=int, default=200,
                   help="idle clients connecting at the same time (default 200)")
    p.add_argument("--procs", type=int, default=1, help="load processes (default 1)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a storm may take before the rest count as timed out")
    p.add_argument("--simple-handshake", action="store_true",
                   help="C1 without a digest (default: a digest, as FFmpeg and Flash send)")
    p.add_argument("--no-storm", action="store_true", help="only the idle measurement")
    h.add_common_args(p)
    return p


def _cap(n: int, what: str, procs: int) -> int:
    """N capped to what the open-files limits allow (server: N + 64, each load process N/P)."""
    soft = h.raise_nofile()
    room = soft - 64
    if n > room:
        print(f"connect_storm: open-files limit {soft} (hard limit "
              f"{resource.getrlimit(resource.RLIMIT_NOFILE)[1]}) allows {room} {what}, "
              f"not {n}; capped (raise the hard limit: ulimit -Hn, or LimitNOFILE)",
              file=sys.stderr)
        return room
    return n


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.procs < 1 or args.rounds < 1 or args.timeout <= 0:
        print("connect_storm: --procs, --rounds, --timeout must be positive", file=sys.stderr)
        return 2
    targets = h.targets_from_args(args, "connect_storm")
    if not targets:
        return 1
    clients = [] if args.no_storm else [_cap(n, "clients", args.procs) for n in args.clients]
    idle = _cap(args.idle, "idle connections", args.procs) if args.idle > 0 else 0
    storms: list[dict[str, Any]] = []
    idles: list[dict[str, Any]] = []
    print(f"connection storm: handshake ({'simple' if args.simple_handshake else 'digest'}) "
          f"+ connect, {args.procs} load process(es), timeout {args.timeout:g} s, "
          f"{os.cpu_count()} CPUs")
    print(f"{'server':<11} {'clients':>6} {'done':>6} {'all done after':>16} "
          f"{'p50 / p90 / p99':>20}")
    try:
        with h.sigterm_as_interrupt():
            for rnd in range(args.rounds):
                for n in clients:
                    order = targets if rnd % 2 == 0 else targets[::-1]
                    for name, start in order:
                        r = run_storm(name, start, n, args)
                        r["round"] = rnd
                        storms.append(r)
                        print_storm(r)
                        sys.stdout.flush()
            if idle:
                for name, start in targets:
                    r = run_idle(name, start, idle, args)
                    idles.append(r)
                    per = r["bytes_per_conn"]
                    print(f"{name:<11} idle {r['completed']}/{idle} connected, RSS "
                          f"{r['rss_before'] / 1e6:.1f} -> {r['rss_after'] / 1e6:.1f} MB, "
                          f"{_fmt(per / 1024 if per else None, '.1f')} KiB per connection"
                          f" ({r['still_connected']} still connected after 2 s)")
                    sys.stdout.flush()
    except KeyboardInterrupt:
        print("\nconnect_storm: interrupted; processes stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"connect_storm: {exc}", file=sys.stderr)
        return 1
    summary = summarize(storms, idles)
    print_summary(summary)
    if args.json:
        h.write_json(args.json, "connect_storm", args,
                     {"storms": storms, "idle": idles, "summary": summary},
                     workload=f"handshake ({'simple' if args.simple_handshake else 'digest'})"
                              f" + AMF0 connect; {args.procs} selector load process(es)")
        print(f"connect_storm: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
