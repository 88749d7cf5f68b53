"""Per-frame added delay through the server: publisher send to player receive, grtmp vs nginx-rtmp.

Run: ``python bench/latency.py [--players 50,200] [--seconds 15] [--bitrate 2500]
[--compare-nginx] [--json out.json]``.

The publisher (a blocking raw-socket client, its own process) sends the synthetic H.264 + AAC
stream of ``bench/_media.py`` paced in real time. Into every video frame body, behind the
AVC tag header and the NAL length and type (offset 10), it writes a stamp: 8 magic bytes, a
frame sequence number and ``CLOCK_MONOTONIC`` in nanoseconds, taken just before the frame's
chunks are handed to ``sendall``. N players (raw sockets, one ``selectors`` loop, its own
process) parse the chunk stream; when a stamped frame completes, the frame's delay is taken two
ways, both printed:

- kernel receive time (``SO_TIMESTAMPNS`` on each player socket, the primary figure): when
  the read that completed the frame arrived at the player's socket, against the publisher's
  ``CLOCK_REALTIME`` stamp. This is the delay the server adds (plus loopback), independent of
  how long the players' loop takes to get round to that socket;
- the players' read time (``CLOCK_MONOTONIC``, one clock for every process of the machine)
  right after that ``recv``: this adds the players' own loop, which reads N sockets in turn
  (at 200 players the last socket of a round is read some 100s of µs after the first).

Frames sent during the first ``--warmup`` seconds are left out. Reported per server and player
count: p50 / p95 / p99 / max over all (player, frame) pairs, frames each player missed, and the
server's CPU. The same players and publisher run against both servers, on a machine where the
server, players and publisher share the cores.
"""

from __future__ import annotations

import argparse
import array
import collections
import multiprocessing as mp
import os
import pickle
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
from _media import StreamShape, messages, metadata  # noqa: E402
from fanout import int_list  # noqa: E402

_CDF_QS = [q / 2 for q in range(201)] + [99.9]


def players_main(port: int, n: int, ready: Any, stop: Any, out_path: str,
                 max_inflight: int, kernel_time: bool) -> None:
    """N parsing players; record (player, seq, delay s, kernel delay s) of every stamped
    video frame."""
    h.quiet_child()
    h.raise_nofile()
    import _rtmp

    eng = _rtmp.Engine(("127.0.0.1", port), kernel_time=kernel_time)
    who, seqs = array.array("I"), array.array("Q")
    delays, kdelays = array.array("d"), array.array("d")
    state = {"playing": 0, "failed": 0, "closed": 0, "finished": 0}
    errors: list[str] = []
    read_stamp = _rtmp.read_stamp

    def finished(c: _rtmp.Conn, ok: bool) -> None:
        state["finished"] += 1
        state["playing" if ok else "failed"] += 1
        if not ok:
            errors.append(c.error)

    def media(c: _rtmp.Conn, type_id: int, head: bytes, now: float) -> None:
        if type_id == _rtmp.VIDEO:
            st = read_stamp(head)
            if st is not None:
                who.append(c.index)
                seqs.append(st[0])
                delays.append(now - st[1] / 1e9)
                kdelays.append(c.ktime - st[2] / 1e9 if c.ktime else float("nan"))

    def closed(c: _rtmp.Conn) -> None:
        state["closed"] += 1

    eng.on_finished, eng.on_media, eng.on_closed = finished, media, closed
    nxt = 0
    try:
        while not stop.is_set():
            now = time.monotonic()
            while nxt < n and nxt - state["finished"] < max_inflight:
                eng.new(nxt, "play", parse=True).start(eng.addr, now)
                nxt += 1
            if state["finished"] == n and not ready.is_set():
                ready.set()
            eng.poll(0.05)
    finally:
        eng.close_all()
        with open(out_path, "wb") as f:
            pickle.dump({"who": who, "seq": seqs, "delay": delays, "kdelay": kdelays,
                         "kernel_time": eng.kernel_time, "state": state,
                         "errors": errors[:5]}, f)


def publisher_main(port: int, shape: StreamShape, state: Any, frames: Any, stop: Any) -> None:
    """Publish the synthetic stream in real time with a stamp in every video frame."""
    h.quiet_child()
    import _rtmp

    pub = _rtmp.Publisher("127.0.0.1", port)
    try:
        pub.connect()
    except (OSError, ConnectionError, TimeoutError) as exc:
        print(f"latency publisher: {exc}", file=sys.stderr)
        state.value = 2
        return
    pub.send_metadata(metadata(shape))
    state.value = 1
    off = 12 + _rtmp.STAMP_OFFSET  # type 0 chunk header (12 bytes) + offset in the body
    mono_at = off + 16  # magic (8), seq (8), then monotonic ns (8) and realtime ns (8)
    seq = 0
    t0 = time.monotonic()
    try:
        for type_id, ts, payload in messages(shape):
            if stop.is_set():
                break
            stamped = type_id == _rtmp.VIDEO and payload[1:2] == b"\x01" and \
                len(payload) >= _rtmp.STAMP_OFFSET + _rtmp.STAMP.size
            if stamped:
                payload = payload[:_rtmp.STAMP_OFFSET] + \
                    _rtmp.STAMP.pack(_rtmp.STAMP_MAGIC, seq, 0, 0) + \
                    payload[_rtmp.STAMP_OFFSET + _rtmp.STAMP.size:]
            data = bytearray(pub.message(type_id, ts, payload))
            delay = t0 + ts / 1000.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if stamped:
                data[mono_at:mono_at + 16] = time.monotonic_ns().to_bytes(8, "big") + \
                    time.time_ns().to_bytes(8, "big")
                pub.sendall(data)
                seq += 1
                frames.value = seq
            else:
                pub.sendall(data)
    except Exception as exc:  # noqa: BLE001 - report; the parent sees the state
        if not stop.is_set():
            print(f"latency publisher: {type(exc).__name__}: {exc}", file=sys.stderr)
            state.value = 2
    finally:
        pub.close()


def run_once(name: str, start: StartFn, n: int, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    shape = StreamShape(bitrate_kbps=args.bitrate, fps=args.fps)
    workdir = tempfile.mkdtemp(prefix=f"latency-{name}-")
    out_path = os.path.join(workdir, "delays.pkl")
    port = h.free_port()
    server: ServerProc | None = None
    players = publisher = None
    stop, pstop, ready = ctx.Event(), ctx.Event(), ctx.Event()
    res: dict[str, Any] = {"server": name, "players": n}
    try:
        server = start(port, workdir)
        h.wait_listening(port, server.proc, 15.0)
        players = ctx.Process(target=players_main,
                              args=(port, n, ready, stop, out_path, args.max_inflight,
                                    args.clock == "kernel"),
                              name="latency-players", daemon=True)
        players.start()
        if not ready.wait(60):
            raise RuntimeError("players did not all start within 60 s")
        pub_state = ctx.Value("b", 0, lock=False)
        frames = ctx.Value("Q", 0, lock=False)
        publisher = ctx.Process(target=publisher_main,
                                args=(port, shape, pub_state, frames, pstop),
                                name="latency-publisher", daemon=True)
        publisher.start()
        deadline = time.monotonic() + 30
        while pub_state.value == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if pub_state.value != 1:
            raise RuntimeError("the publisher could not publish")
        time.sleep(args.warmup)
        first = frames.value
        s0, t0, busy0 = server.sample(), time.monotonic(), h.system_busy()
        c0 = h.proc_sample(players.pid).cpu + h.proc_sample(publisher.pid).cpu
        time.sleep(args.seconds)
        last = frames.value  # frames [first, last) are measured
        s1, t1, busy1 = server.sample(), time.monotonic(), h.system_busy()
        c1 = h.proc_sample(players.pid).cpu + h.proc_sample(publisher.pid).cpu
        if pub_state.value != 1 or not publisher.is_alive() or last <= first:
            raise RuntimeError("the publisher stopped sending")
        pstop.set()
        publisher.join(5)
        time.sleep(1.0)  # frames in flight
        if not server.alive():
            raise RuntimeError(f"{name} exited with code {server.proc.returncode}")
        stop.set()
        players.join(15)
        with open(out_path, "rb") as f:
            got = pickle.load(f)
        if args.dump:
            dump = f"{args.dump}.{name}.{n}.{len(os.listdir(os.path.dirname(args.dump) or '.'))}"
            shutil.copy(out_path, dump)
            res["dump"] = dump
    finally:
        with h.no_interrupts():
            stop.set()
            pstop.set()
            for child in (publisher, players):
                if child is not None:
                    child.join(5.0)
                    if child.is_alive():
                        child.terminate()
                        child.join(2.0)
            if server is not None:
                lines = server.log_lines()
                if lines:
                    res["log_tail"] = lines[-3:]
                server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    per_player: collections.Counter[int] = collections.Counter()
    user: list[float] = []
    kern: list[float] = []
    for i, s, d, k in zip(got["who"], got["seq"], got["delay"], got["kdelay"], strict=True):
        if first <= s < last:
            user.append(d * 1000.0)
            if k == k:
                kern.append(k * 1000.0)
            per_player[i] += 1
    # the primary figure: the kernel's receive time when every sample has one
    kernel = bool(got["kernel_time"]) and len(kern) == len(user) and bool(kern)
    vals = kern if kernel else user
    expected = last - first
    playing = got["state"]["playing"]
    missed = [expected - per_player.get(i, 0) for i in range(n)]
    res.update({
        "clock": "kernel receive time" if kernel else "players' read time",
        "frames": expected, "samples": len(vals), "playing": playing,
        "failed": got["state"]["failed"], "closed": got["state"]["closed"],
        "errors": got["errors"],
        "frames_missed_total": sum(max(0, m) for m in missed),
        "frames_missed_max": max(missed) if missed else 0,
        "p50_ms": h.percentile(vals, 50), "p95_ms": h.percentile(vals, 95),
        "p99_ms": h.percentile(vals, 99), "max_ms": max(vals) if vals else None,
        "min_ms": min(vals) if vals else None,
        "cdf_ms": {str(q): h.percentile(vals, q) for q in _CDF_QS},
        "user_p50_ms": h.percentile(user, 50), "user_p95_ms": h.percentile(user, 95),
        "user_p99_ms": h.percentile(user, 99),
        "user_cdf_ms": {str(q): h.percentile(user, q) for q in _CDF_QS},
        "server_cpu_share": (s1.cpu - s0.cpu) / (t1 - t0),
        "loadgen_cpu_share": (c1 - c0) / (t1 - t0),
        # the rest of the machine (other jobs), in cores
        "background_share": max(0.0, busy1 - busy0 - (s1.cpu - s0.cpu) - (c1 - c0))
        / (t1 - t0),
        "peak_rss": s1.hwm,
    })
    return res


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in runs:
        groups[(r["server"], r["players"])].append(r)
    out: dict[str, Any] = {}
    for (name, n), rs in groups.items():
        out.setdefault(name, {})[str(n)] = {
            "runs": len(rs),
            **{k: h.median([r[k] for r in rs if r[k] is not None])
               for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "user_p50_ms",
                         "user_p95_ms", "user_p99_ms")},
            "clock": rs[0]["clock"],
            "frames_missed_total": sum(r["frames_missed_total"] for r in rs),
            "background_share": h.median([r["background_share"] for r in rs]),
            "loadgen_cpu_share": h.median([r["loadgen_cpu_share"] for r in rs]),
            "p99_ms_all": [r["p99_ms"] for r in rs],
            # the CDF of the run whose p99 is the median one
            "cdf_ms": sorted(rs, key=lambda r: r["p99_ms"])[len(rs) // 2]["cdf_ms"],
            "user_cdf_ms": sorted(rs, key=lambda r: r["user_p99_ms"])[len(rs) // 2][
                "user_cdf_ms"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int_list, default=[50, 200],
                   help="player counts (default 50,200)")
    p.add_argument("--seconds", type=float, default=15.0, help="measured window (default 15)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds left out at the start")
    p.add_argument("--bitrate", type=float, default=2500.0,
                   help="stream bit rate in kbit/s (default 2500)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--max-inflight", type=int, default=50,
                   help="players connecting at the same time (default 50)")
    p.add_argument("--dump", metavar="PREFIX",
                   help="keep every run's raw samples (pickle: player, seq, delays) as "
                        "PREFIX.SERVER.PLAYERS.N")
    p.add_argument("--clock", choices=("kernel", "user"), default="kernel",
                   help="receive time of the primary figure: the kernel's (SO_TIMESTAMPNS, "
                        "default) or when the players' loop read it")
    h.add_common_args(p)
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1:
        print("latency: --seconds and --rounds must be positive", file=sys.stderr)
        return 2
    h.raise_nofile()
    targets = h.targets_from_args(args, "latency")
    if not targets:
        return 1
    print(f"per-frame added delay: synthetic {args.bitrate:.0f} kbit/s, {args.fps:g} fps, "
          f"paced; {args.seconds:g} s after {args.warmup:g} s; {os.cpu_count()} CPUs")
    print(f"{'':<26} {'receive time: kernel':^31} {'players read':^23}")
    print(f"{'server':<11} {'players':>7} {'frames':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'missed':>7} {'CPU %':>6} {'load%':>6} {'other%':>6}")
    runs: list[dict[str, Any]] = []
    try:
        with h.sigterm_as_interrupt():
            for rnd in range(args.rounds):
                for n in args.players:
                    order = targets if rnd % 2 == 0 else targets[::-1]
                    for name, start in order:
                        r = run_once(name, start, n, args)
                        r["round"] = rnd
                        runs.append(r)
                        print(f"{name:<11} {n:7d} {r['frames']:6d} {r['p50_ms']:7.2f} "
                              f"{r['p95_ms']:7.2f} {r['p99_ms']:7.2f} {r['max_ms'] or 0:7.2f} "
                              f"{r['user_p50_ms']:7.2f} {r['user_p95_ms']:7.2f} "
                              f"{r['user_p99_ms']:7.2f} {r['frames_missed_total']:7d} "
                              f"{100 * r['server_cpu_share']:6.1f} "
                              f"{100 * r['loadgen_cpu_share']:6.1f} "
                              f"{100 * r['background_share']:6.1f}")
                        if not r["clock"].startswith("kernel"):
                            print(f"{'':<11} ! no kernel receive times: the first columns "
                                  "are the players' read times too")
                        if r["failed"] or r["closed"]:
                            print(f"{'':<11} ! {r['failed']} players failed, {r['closed']} "
                                  f"disconnected: {r['errors'][:2]}")
                        sys.stdout.flush()
    except KeyboardInterrupt:
        print("\nlatency: interrupted; processes stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"latency: {exc}", file=sys.stderr)
        return 1
    summary = summarize(runs)
    if args.rounds > 1:
        print("\nmedians:")
        for name, per_n in summary.items():
            for n, v in per_n.items():
                print(f"{name:<11} {n:>7} p50 {v['p50_ms']:.2f} p95 {v['p95_ms']:.2f} "
                      f"p99 {v['p99_ms']:.2f} ms")
    for name, per_n in summary.items():
        for n, v in per_n.items():
            if name == "grtmp":
                print(f"grtmp p99 at {n} players: {v['p99_ms']:.2f} ms [target <= 2 ms]")
    if args.json:
        h.write_json(args.json, "latency", args, {"runs": runs, "summary": summary},
                     workload=f"synthetic H.264+AAC {args.bitrate:.0f} kbit/s paced, stamped "
                              "video frames, selector players")
        print(f"latency: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
