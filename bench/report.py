"""Turn the runners' JSON records into ``bench/README.md`` (tables, targets) and PNG plots.

Run: ``python bench/report.py [--results bench/results] [--readme bench/README.md]
[--plots bench/plots]``. Reads ``fanout.json``, ``connect_storm.json``, ``latency.json``,
``capacity.json`` and ``fanout_workers.json`` when present (written by the runners' ``--json``,
``bench/run_all.py`` writes them all), and writes the README with every figure next to
nginx-rtmp's, the ratio grtmp / nginx-rtmp, the target, and the date and machine of the
measurement. Plots (matplotlib, ``pip install -e '.[bench]'``): CPU per GB against players,
connect time against clients, latency CDF, capacity (CPU share against players). Without
matplotlib the README is written without plots, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))

RUNNERS = ("fanout", "connect_storm", "connect_storm_simple", "latency", "capacity",
           "fanout_workers")


def load(results: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name in RUNNERS:
        path = os.path.join(results, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                out[name] = json.load(f)
    return out


# -- formatting ----------------------------------------------------------------------------------
def f(x: Any, spec: str = ".3f", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{format(x, spec)}{unit}"


def ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**not met**")


def cmd(rec: dict[str, Any]) -> str:
    """The command that measured a record (from the record, or rebuilt from its runner)."""
    c = rec.get("command")
    return f"`{c}`" if c else f"`python bench/{rec.get('runner', '?')}.py`"


def machine_line(rec: dict[str, Any]) -> str:
    m = rec.get("machine", {})
    parts = [f"measured {rec.get('date', '?')}", f"{m.get('cpu', '?')}",
             f"{m.get('cores', '?')} cores", f"Linux {m.get('kernel', '?')}",
             f"Python {m.get('python', '?')}", f"grtmp {m.get('grtmp', '?')}"]
    if m.get("nginx"):
        parts.append(f"nginx {m['nginx']} + libnginx-mod-rtmp {m.get('nginx_rtmp_module') or '?'}")
    if m.get("loadavg_at_start") is not None:
        parts.append(f"load average at start {m['loadavg_at_start']:.2f}")
    return "_" + ", ".join(parts) + "._"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# -- sections ------------------------------------------------------------------------------------
def fanout_section(rec: dict[str, Any], targets: list[list[str]]) -> list[str]:
    s = rec["results"]["summary"]
    g, x = s.get("grtmp", {}), s.get("nginx-rtmp", {})
    ns = sorted(set(g) | set(x), key=int)
    lines = ["## Fan-out: server CPU seconds per GB delivered", "",
             f"Workload: {rec.get('workload', '?')}. {cmd(rec)}.",
             "Medians over the rounds; `recv/exp` is bytes received over payload bytes "
             "published times players (about 1.00: nothing dropped).", ""]
    rows = []
    for n in ns:
        a, b = g.get(n, {}), x.get(n, {})
        r = ratio(a.get("cpu_per_gb"), b.get("cpu_per_gb"))
        rows.append([n, f(a.get("cpu_per_gb")), f(b.get("cpu_per_gb")), f(r, ".2f"),
                     f(a.get("mb_per_s"), ".0f"), f(b.get("mb_per_s"), ".0f"),
                     f(a.get("delivered_ratio"), ".3f"), f(b.get("delivered_ratio"), ".3f"),
                     f(a.get("peak_rss", 0) / 1e6 if a.get("peak_rss") else None, ".1f"),
                     f(b.get("peak_rss", 0) / 1e6 if b.get("peak_rss") else None, ".1f"),
                     f"{_pct(a.get('background_share'))} / {_pct(b.get('background_share'))}"])
        targets.append([f"fan-out CPU per GB, {n} players", "<= 1.0x nginx-rtmp",
                        f(r, ".2f") + "x", verdict(None if r is None else r <= 1.0)])
    lines += table(["players", "grtmp CPU s/GB", "nginx-rtmp CPU s/GB", "ratio",
                    "grtmp MB/s", "nginx MB/s", "grtmp recv/exp", "nginx recv/exp",
                    "grtmp peak RSS MB", "nginx peak RSS MB", "other CPU g / n"], rows)
    if "50" in g and "50" in x:
        r = ratio(g["50"].get("peak_rss"), x["50"].get("peak_rss"))
        targets.append(["peak RSS, 50 players", "<= 1.5x nginx-rtmp", f(r, ".2f") + "x",
                        verdict(None if r is None else r <= 1.5)])
    flagged = [f"{k} at {n}" for k, per in s.items() for n, v in per.items()
               if v.get("loadgen_bottleneck")]
    lines += ["", "Peak RSS is the kernel's high-water mark (`VmHWM`) of the server process "
              "at the end of the run. \"Other CPU\" is what the rest of the machine (other "
              "jobs, not the server or this load generator) used meanwhile, in % of one core.",
              "", machine_line(rec), ""]
    if flagged:
        lines += [f"No idle CPU left on the machine (other jobs, see \"other CPU\"), or a "
                  f"load process above 90 % of a core, in: {', '.join(flagged)}.", ""]
    lines += ["![CPU per GB against players](plots/fanout_cpu_per_gb.png)", ""]
    return lines


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _done(v: dict[str, Any], n: str) -> str:
    if not v:
        return "-"
    t = v.get("time_all")
    out = (f"{t:.2f} s" if t is not None else
           f"incomplete ({f(v.get('time_last'), '.1f')} s)") + \
        f", {v.get('completed', 0):.0f} of {n}"
    runs, ok = v.get("runs", 1), v.get("all_completed_runs", 1)
    if ok < runs:
        out += (f" ({ok} of {runs} runs complete; worst {v.get('completed_min', '?')} of "
                f"{n})")
    return out


def storm_section(rec: dict[str, Any], targets: list[list[str]]) -> list[str]:
    s = rec["results"]["summary"]
    st = s.get("storm", {})
    g, x = st.get("grtmp", {}), st.get("nginx-rtmp", {})
    ns = sorted(set(g) | set(x), key=int)
    a = rec["args"]
    lines = ["## Connection storm", "",
             f"Workload: {rec.get('workload', '?')}; N clients `connect()` at once, each "
             "done when the `_result` of its `connect` arrives; timeout "
             f"{a.get('timeout')} s. {cmd(rec)}. Medians over the rounds; time percentiles "
             "over the clients that completed; \"load-generator CPU\" is the load process's own "
             "CPU during the storm (when it nears the storm's duration, the client side limits "
             "the figure). The listen backlog is the accept-queue limit of the server's socket "
             "(`ss -ltn`); listen overflows and SYN retransmits are the kernel's counters over "
             "the storm (a full accept queue drops the SYN, the client retries after 1, 3, "
             "7... s).", ""]
    rows = []
    for n in ns:
        ga, xa = g.get(n, {}), x.get(n, {})
        tr = ratio(ga.get("time_all"), xa.get("time_all"))
        cr = ratio(ga.get("server_cpu_per_1000"), xa.get("server_cpu_per_1000"))

        rows.append([n, _done(ga, n), _done(xa, n), f(tr, ".1f"),
                     f(ga.get("server_cpu_per_1000")), f(xa.get("server_cpu_per_1000")),
                     f(cr, ".1f"), f"{ga.get('listen_backlog', '-')} / "
                                   f"{xa.get('listen_backlog', '-')}",
                     f"{f(ga.get('listen_overflows'), '.0f')} / "
                     f"{f(xa.get('listen_overflows'), '.0f')}",
                     f"{f(ga.get('loadgen_cpu'), '.2f')} / {f(xa.get('loadgen_cpu'), '.2f')}"])
        all_g = bool(ga) and ga.get("all_completed_runs", 0) == ga.get("runs")
        if n == "5000" or n == ns[-1]:
            ok = None if tr is None else (all_g and tr <= 2.0)
            targets.append([f"{n} clients connecting at once", "all complete, <= 2x "
                            "nginx-rtmp's time", f"{f(tr, '.1f')}x"
                            + ("" if all_g else ", not all complete"), verdict(ok)])
    if ns:
        crs = [ratio(g.get(n, {}).get("server_cpu_per_1000"),
                     x.get(n, {}).get("server_cpu_per_1000")) for n in ns]
        crs = [c for c in crs if c is not None]
        if crs:
            worst = max(crs)
            targets.append(["server CPU per 1,000 connects", "<= 3x nginx-rtmp",
                            f"{worst:.1f}x (worst N)", verdict(worst <= 3.0)])
    big = ns[-1] if ns else None
    gb = g.get(big, {}) if big else {}
    reading = []
    if gb and (gb.get("listen_overflows") or 0) > 0:
        reading = [f"At {big} clients grtmp's accept queue (backlog {gb.get('listen_backlog')}"
                   f", against nginx-rtmp's {x.get(big, {}).get('listen_backlog', '?')}) "
                   f"overflowed {gb['listen_overflows']:.0f} times and clients retransmitted "
                   f"{gb.get('syn_retrans') or 0:.0f} SYNs (medians): the dropped SYNs wait "
                   "for TCP's 1, 3, 7, 15... s back-off, which is what sets the storm's "
                   "duration (the grtmp server used "
                   f"{f((gb.get('server_cpu_per_1000') or 0) * int(big) / 1000, '.1f')} CPU s "
                   f"in {f(gb.get('time_all') or gb.get('time_last'), '.1f')} s).", ""]
    lines += reading
    lines += table(["clients", "grtmp: all done", "nginx-rtmp: all done", "time ratio",
                    "grtmp CPU s / 1000", "nginx CPU s / 1000", "CPU ratio",
                    "listen backlog g / n", "listen overflows g / n",
                    "load-generator CPU s g / n"], rows)
    idle = s.get("idle", {})
    if idle:
        lines += ["", "### Idle connections", "",
                  "Clients connect (handshake + `connect`, at most "
                  f"{a.get('idle_inflight')} at a time) and stay idle; server RSS after all "
                  "are in minus before, per connection.", ""]
        rows = []
        for name in ("grtmp", "nginx-rtmp"):
            v = idle.get(name)
            if not v:
                continue
            per = v.get("bytes_per_conn")
            rows.append([name, f"{v['completed']} of {v['clients']}",
                         str(v.get("still_connected")),
                         f(v["rss_before"] / 1e6, ".1f"), f(v["rss_after"] / 1e6, ".1f"),
                         f(per / 1024 if per else None, ".1f")])
        lines += table(["server", "connected", "still connected after 2 s", "RSS before MB",
                        "RSS after MB", "KiB per connection"], rows)
        gi = idle.get("grtmp")
        if gi and gi.get("bytes_per_conn"):
            kib = gi["bytes_per_conn"] / 1024
            full = gi["completed"] >= 10000 and gi["still_connected"] >= 10000
            targets.append([f"{gi['clients']} idle connections", "10,000 held, <= 30 KiB each",
                            f"{gi['completed']} held, {kib:.1f} KiB",
                            verdict(full and kib <= 30)])
    lines += ["", machine_line(rec), "",
              "![connect time against clients](plots/connect_time.png)", ""]
    return lines


def storm_simple_section(rec: dict[str, Any]) -> list[str]:
    """The storm again with a C1 without digest: not a target, the other common client."""
    st = rec["results"]["summary"].get("storm", {})
    g, x = st.get("grtmp", {}), st.get("nginx-rtmp", {})
    ns = sorted(set(g) | set(x), key=int)
    lines = ["### The same storm with a simple handshake", "",
             "C1 without a digest (zero version field): the server skips the HMAC-SHA256 "
             "work of a digest handshake. Not a target, but the issue's nginx-rtmp figure "
             "(0.04 s per 1,000 connects) is closer to this than to the digest storm above, "
             f"so the issue's harness probably sent this. {cmd(rec)}.", ""]
    rows = []
    for n in ns:
        ga, xa = g.get(n, {}), x.get(n, {})
        rows.append([n, _done(ga, n), _done(xa, n),
                     f(ratio(ga.get("time_all"), xa.get("time_all")), ".1f"),
                     f(ga.get("server_cpu_per_1000")), f(xa.get("server_cpu_per_1000")),
                     f(ratio(ga.get("server_cpu_per_1000"), xa.get("server_cpu_per_1000")),
                       ".1f")])
    lines += table(["clients", "grtmp: all done", "nginx-rtmp: all done", "time ratio",
                    "grtmp CPU s / 1000", "nginx CPU s / 1000", "CPU ratio"], rows)
    lines += ["", machine_line(rec), ""]
    return lines


def _nagle_note(summary: dict[str, Any]) -> str:
    """A remark when nginx-rtmp's worst frames sit at the 40 ms delayed-ACK timer."""
    maxes = [v.get("max_ms") for v in summary.get("nginx-rtmp", {}).values()]
    near = [m for m in maxes if m is not None and 40.0 <= m <= 50.0]
    if maxes and len(near) * 2 >= len(maxes):
        return ("; its worst frames, at " + ", ".join(f"{m:.0f}" for m in near) + " ms, sit "
                "just above the 40 ms delayed-ACK timer, the signature of Nagle waiting for "
                "an ACK")
    return ""


def latency_section(rec: dict[str, Any], targets: list[list[str]]) -> list[str]:
    s = rec["results"]["summary"]
    a = rec["args"]
    ns = sorted({n for per in s.values() for n in per}, key=int)
    lines = ["## Per-frame added delay", "",
             f"Workload: {rec.get('workload', '?')}; {a.get('seconds')} s measured after "
             f"{a.get('warmup')} s. {cmd(rec)}. Delay of each (player, frame) "
             "from the publisher's send to the kernel's receive time on the player's socket "
             "(`SO_TIMESTAMPNS`); the last columns use the time the players' loop read it "
             "(adds the load generator's own loop over N sockets). Medians over the rounds.",
             ""]
    rows = []
    for n in ns:
        for name in ("grtmp", "nginx-rtmp"):
            v = s.get(name, {}).get(n)
            if not v:
                continue
            rows.append([n, name, f(v["p50_ms"], ".2f"), f(v["p95_ms"], ".2f"),
                         f(v["p99_ms"], ".2f"), f(v.get("max_ms"), ".1f"),
                         ", ".join(f(x, ".1f") for x in v.get("p99_ms_all", [])),
                         f(v.get("user_p50_ms"), ".2f"), f(v.get("user_p99_ms"), ".2f"),
                         str(v.get("frames_missed_total", "-")),
                         _pct(v.get("background_share"))])
        gv = s.get("grtmp", {}).get(n)
        if gv:
            targets.append([f"p99 added delay, {n} players", "<= 2 ms",
                            f"{gv['p99_ms']:.2f} ms (nginx-rtmp "
                            f"{f(s.get('nginx-rtmp', {}).get(n, {}).get('p99_ms'), '.2f')})",
                            verdict(gv["p99_ms"] <= 2.0)])
    lines += table(["players", "server", "p50 ms", "p95 ms", "p99 ms", "max ms",
                    "p99 per round", "read p50 ms", "read p99 ms", "frames missed",
                    "other CPU"], rows)
    lines += ["", "\"Other CPU\" is what the rest of the machine used meanwhile (median, % of one "
              "core). The tails follow it: with the machine saturated by other jobs a whole "
              "frame is late for every player at once (a server or publisher waiting for a "
              "core), for nginx-rtmp as for grtmp; `--dump` keeps the raw samples to look at. "
              "Between the servers: grtmp sets `TCP_NODELAY` on its sockets, nginx-rtmp 1.2.2 "
              "does not (no `setsockopt` under `strace`), so nginx-rtmp's small writes can wait "
              "for an ACK (Nagle)" + _nagle_note(s) + ".", "", machine_line(rec), "",
              "![latency CDF](plots/latency_cdf.png)", ""]
    return lines


def capacity_section(rec: dict[str, Any], targets: list[list[str]]) -> list[str]:
    s = rec["results"]["summary"]
    a = rec["args"]
    lines = ["## Capacity: players per core", "",
             f"Workload: {rec.get('workload', '?')}. {cmd(rec)}. The line through "
             "the measured (players, CPU share) points gives the players one core carries.", ""]
    rows = []
    for name in ("grtmp", "nginx-rtmp"):
        v = s.get(name)
        if not v:
            continue
        pts = ", ".join(f"{p['players']}: {100 * p['cpu_share']:.1f} %"
                        + ("" if p["valid"] else " (left out)") for p in v["points"])
        rows.append([name, f(v.get("players_per_core"), ".0f"), pts])
    lines += table(["server", f"players per core at {a.get('bitrate'):.0f} kbit/s",
                    "server CPU share at N players"], rows)
    g, x = s.get("grtmp", {}), s.get("nginx-rtmp", {})
    r = ratio(g.get("players_per_core"), x.get("players_per_core"))
    if r is not None:
        targets.append(["players per core at 600 kbit/s", ">= 0.8x nginx-rtmp", f"{r:.2f}x",
                        verdict(r >= 0.8)])
    lines += ["", "The figure extrapolates past the largest N measured: the load generator "
              "(one Python process) and the server share 2 cores here.", "",
              machine_line(rec), "", "![capacity](plots/capacity.png)", ""]
    return lines


def workers_section(rec: dict[str, Any] | None, targets: list[list[str]]) -> list[str]:
    lines = ["## Multi-worker", ""]
    if rec is None:
        lines += ["Not measured: `grtmp-server` has no `--workers` option yet. Once it has, "
                  "`python bench/fanout.py --workers 1,2 --players 200 --publisher pyav "
                  "--rounds 3` (an unpaced push, so the server is the limit) prints the "
                  "throughput ratio and whether the load generator was the bottleneck "
                  "(its processes' CPU and the machine's idle time over the window).", ""]
        targets.append(["fan-out throughput, 2 workers", ">= 1.7x one worker", "not measured",
                        "-"])
        return lines
    s = rec["results"]["summary"]
    cores = rec.get("machine", {}).get("cores", "?")
    one = s.get("grtmp --workers 1", {})
    rows = []
    for key, per in s.items():
        for n, v in per.items():
            r = ratio(v.get("mb_per_s"), one.get(n, {}).get("mb_per_s"))
            rows.append([key, n, f(v.get("mb_per_s"), ".0f"), f(r, ".2f"),
                         _pct(v.get("players_cpu_share")), _pct(v.get("publisher_cpu_share")),
                         f"{f(v.get('machine_busy_share'), '.2f')} of {cores}",
                         "yes" if v.get("loadgen_bottleneck") else "no"])
            if key == "grtmp --workers 2":
                targets.append([f"throughput, 2 workers, {n} players", ">= 1.7x one worker",
                                f(r, ".2f") + "x", verdict(None if r is None else r >= 1.7)])
    lines += table(["server", "players", "MB/s", "vs 1 worker", "players' process CPU",
                    "publisher CPU", "machine busy, cores", "load generator bottleneck"],
                   rows)
    lines += ["", f"Workload: {rec.get('workload', '?')}. The load generator counts as the "
              "bottleneck when its players' or publisher's process used more than 90 % of a "
              "core, or the machine had no idle CPU left (above 95 % of all cores), over the "
              "window. One unpaced publisher feeds one worker, which fans out to its share of "
              "the players plus one internal pull to each other worker that has players; so "
              "the stream's pace is set by one publisher connection and the players' single "
              "load process, and on two shared cores a second worker mostly splits the same "
              "work (see the server CPU per GB) rather than adding throughput.", "",
              machine_line(rec), ""]
    return lines


HEADER = """\
# grtmp benchmarks

_This file is written by `python bench/report.py` from the JSON records in `bench/results/`;
edit `bench/report.py`, not this file._

The benchmark suite of the performance issue: every figure measured for grtmp and for
nginx-rtmp side by side in one run, on the same workload, by the same clients. One runner per
figure, each with `--compare-nginx` and `--json FILE`:

| runner | measures |
|---|---|
| `bench/fanout.py` | server CPU seconds per GB delivered to 10/50/200 players; peak RSS |
| `bench/connect_storm.py` | N clients connecting at once (handshake + `connect`); CPU per \
1,000 connects; idle connection memory |
| `bench/latency.py` | per-frame added delay, p50/p95/p99, at 50 and 200 players |
| `bench/capacity.py` | players per core at 600 kbit/s |
| `bench/report.py` | this README and the plots in `bench/plots/` |
| `bench/run_all.py` | all of the above (`--quick`: a smoke run, to `bench/results-quick/`) |

```sh
pip install -e '.[bench]'                 # matplotlib, for the plots
apt-get install -y nginx libnginx-mod-rtmp  # nginx-rtmp for the comparison (Debian)
python bench/run_all.py                   # about 10-15 minutes on 2 cores
```

Without nginx-rtmp the runners say so and measure grtmp alone. The servers run in their own
processes (grtmp: `python -m grtmp.cli.server`; `--grtmp-cmd` runs another build; nginx:
`daemon off`, `master_process off`, one worker, `chunk_size 4096` like grtmp,
`worker_connections` and `worker_rlimit_nofile` from the open-files limit). Server CPU is the
scheduler's run time of the server's threads (`/proc/PID/task/*/schedstat`; utime/stime tick
at 10 ms, too coarse for nginx's small figures), memory `VmRSS`/`VmHWM`. The load generators
are raw-socket RTMP clients in one `selectors` loop per process (`bench/_rtmp.py`; only
`grtmp.amf0` is borrowed from grtmp), so both servers see exactly the same bytes.

**Noise.** These figures come from a 2-core virtual machine that other jobs may share; each
run prints and records the CPU the rest of the machine used ("other CPU"). Ratios from one run
(servers alternating, same clients) are more telling than absolute figures. The server, its
load generators and the publisher share the same two cores, so figures that need a free core
(the multi-worker one above all) are bounded by the machine, not only by the server.
"""


def write_readme(recs: dict[str, dict[str, Any]], path: str, plots_ok: bool,
                 plots_rel: str) -> None:
    targets: list[list[str]] = []
    body: list[str] = []
    if "fanout" in recs:
        body += fanout_section(recs["fanout"], targets)
    if "connect_storm" in recs:
        body += storm_section(recs["connect_storm"], targets)
    if "connect_storm_simple" in recs:
        body += storm_simple_section(recs["connect_storm_simple"])
    if "latency" in recs:
        body += latency_section(recs["latency"], targets)
    if "capacity" in recs:
        body += capacity_section(recs["capacity"], targets)
    body += workers_section(recs.get("fanout_workers"), targets)
    text = [HEADER, "## Targets", ""]
    text += table(["figure", "target", "grtmp measured", "verdict"], targets)
    text += [""]
    if not plots_ok:
        text += ["_Plots not drawn: matplotlib is not installed (`pip install -e "
                 "'.[bench]'`)._", ""]
    text += body
    out = "\n".join(text).rstrip() + "\n"
    if plots_rel != "plots":
        out = out.replace("](plots/", f"]({plots_rel}/")
    with open(path, "w") as fh:
        fh.write(out)


# -- plots ---------------------------------------------------------------------------------------
_COLORS = {"grtmp": "tab:blue", "nginx-rtmp": "tab:orange"}


def draw_plots(recs: dict[str, dict[str, Any]], outdir: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FormatStrFormatter
    except ImportError:
        return False
    plain = FormatStrFormatter("%g")
    os.makedirs(outdir, exist_ok=True)
    if "fanout" in recs:
        rec = recs["fanout"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, per in rec["results"]["summary"].items():
            ns = sorted(per, key=int)
            color = _COLORS.get(name)
            ax.plot([int(n) for n in ns], [per[n]["cpu_per_gb"] for n in ns], "o-",
                    label=f"{name} (median)", color=color)
            xs = [int(n) for n in ns for _ in per[n]["cpu_per_gb_all"]]
            ys = [v for n in ns for v in per[n]["cpu_per_gb_all"]]
            ax.scatter(xs, ys, s=12, alpha=0.4, color=color)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.set_xticks(sorted({int(n) for per in rec["results"]["summary"].values()
                              for n in per}))
        ax.set_xlabel("players")
        ax.set_ylabel("server CPU seconds per GB delivered")
        ax.set_ylim(bottom=0)
        ax.set_title("Fan-out CPU per GB (lower is better)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.text(0.01, 0.01, _stamp(rec), fontsize=6, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(outdir, "fanout_cpu_per_gb.png"), dpi=110)
        plt.close(fig)
    if "connect_storm" in recs:
        rec = recs["connect_storm"]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.6, 4.2))
        for name, per in rec["results"]["summary"]["storm"].items():
            ns = sorted(per, key=int)
            color = _COLORS.get(name)
            xs = [int(n) for n in ns]
            ys = [per[n]["time_all"] if per[n]["time_all"] is not None
                  else per[n]["time_last"] for n in ns]
            ax1.plot(xs, ys, "o-", label=name, color=color)
            for xv, n in zip(xs, ns, strict=True):
                if per[n]["time_all"] is None:
                    ax1.annotate(f"{per[n]['completed']:.0f} done", (xv, per[n]["time_last"]),
                                 fontsize=7, color=color)
            ax2.plot(xs, [per[n]["server_cpu_per_1000"] for n in ns], "o-", label=name,
                     color=color)
        ax1.set_xlabel("clients connecting at once")
        ax1.set_ylabel("seconds until all have their connect _result")
        ax1.set_yscale("log")
        ax1.yaxis.set_major_formatter(plain)
        ax1.set_title("Connection storm")
        ax2.set_xlabel("clients connecting at once")
        ax2.set_ylabel("server CPU seconds per 1,000 connects")
        ax2.set_ylim(bottom=0)
        ax2.set_title("CPU per 1,000 connects")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.text(0.01, 0.01, _stamp(rec), fontsize=6, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(outdir, "connect_time.png"), dpi=110)
        plt.close(fig)
    if "latency" in recs:
        rec = recs["latency"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        styles = ["-", "--", ":", "-."]
        ns = sorted({n for per in rec["results"]["summary"].values() for n in per}, key=int)
        for name, per in rec["results"]["summary"].items():
            for i, n in enumerate(ns):
                if n not in per:
                    continue
                cdf = per[n]["cdf_ms"]
                qs = sorted(cdf, key=float)
                ax.plot([cdf[q] for q in qs], [float(q) / 100 for q in qs],
                        styles[i % len(styles)], color=_COLORS.get(name),
                        label=f"{name}, {n} players")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.set_xlabel("added delay per frame, ms (publisher send to player socket)")
        ax.set_ylabel("fraction of frames")
        ax.axvline(2.0, color="grey", lw=0.8, ls=":")
        ax.set_title("Per-frame added delay, CDF")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.text(0.01, 0.01, _stamp(rec), fontsize=6, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(outdir, "latency_cdf.png"), dpi=110)
        plt.close(fig)
    if "capacity" in recs:
        rec = recs["capacity"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, v in rec["results"]["summary"].items():
            color = _COLORS.get(name)
            pts = v["points"]
            ax.scatter([p["players"] for p in pts], [100 * (p["cpu_share"] or 0) for p in pts],
                       color=color, label=f"{name}: {f(v.get('players_per_core'), '.0f')} "
                                          "players per core")
            if v.get("fit_a") is not None:
                xmax = max(p["players"] for p in pts)
                ax.plot([0, xmax], [100 * v["fit_a"], 100 * (v["fit_a"] + v["fit_b"] * xmax)],
                        color=color, lw=0.8)
        ax.set_xlabel("players")
        ax.set_ylabel("server CPU, % of one core")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_title(f"Capacity at {rec['args'].get('bitrate'):.0f} kbit/s")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.text(0.01, 0.01, _stamp(rec), fontsize=6, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(outdir, "capacity.png"), dpi=110)
        plt.close(fig)
    return True


def _stamp(rec: dict[str, Any]) -> str:
    m = rec.get("machine", {})
    return (f"{rec.get('date', '?')}, {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
            f"grtmp {m.get('grtmp', '?')}, nginx {m.get('nginx', '?')}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=os.path.join(_HERE, "results"),
                   help="directory with the runners' JSON (default bench/results)")
    p.add_argument("--readme", default=os.path.join(_HERE, "README.md"))
    p.add_argument("--plots", default=os.path.join(_HERE, "plots"))
    args = p.parse_args(argv)
    recs = load(args.results)
    if not recs:
        print(f"report: no JSON records in {args.results}", file=sys.stderr)
        return 1
    plots_ok = draw_plots(recs, args.plots)
    rel = os.path.relpath(args.plots, os.path.dirname(os.path.abspath(args.readme)))
    write_readme(recs, args.readme, plots_ok, rel)
    print(f"report: wrote {args.readme}" + (f" and plots in {args.plots}" if plots_ok else
                                            " (no plots: matplotlib missing)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
