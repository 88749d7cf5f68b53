"""Run every benchmark against grtmp and nginx-rtmp, then write bench/README.md and the plots.

Run: ``python bench/run_all.py [--quick] [--only fanout,latency] [--grtmp-cmd CMD]``.

Each runner runs in its own process with ``--compare-nginx --json RESULTS/NAME.json``, one
after the other (never two at once: they would measure each other), then ``bench/report.py``
turns the JSON into the README. The full run (the issue's sizes, medians of 3 where it is
affordable) takes about 10-15 minutes on 2 cores and writes ``bench/results/`` and
``bench/README.md``; ``--quick`` (a few minutes, smaller sizes, one round) writes
``bench/results-quick/`` with its own README there, so the committed figures stay.

The fan-out publisher follows the issue's harness: the ``ffmpeg`` CLI pushing a 30 s 720p
8 Mbit/s H.264 + AAC FLV with ``-c copy`` and no ``-re`` when the CLI is installed, else the
same push through PyAV (libavformat), else the synthetic paced publisher. The multi-worker
figure runs only once ``grtmp-server`` has ``--workers``.

Ctrl-C (or SIGTERM) reaches the runner, which stops its servers and clients; this script waits
for it to finish that before exiting.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _HERE)

import _harness as h  # noqa: E402


def _publisher() -> str:
    import _publishers
    if _publishers.ffmpeg_cli():
        return "ffmpeg"
    try:
        import av  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        return "synthetic"
    return "pyav"


def plan(quick: bool, publisher: str) -> list[tuple[str, list[str]]]:
    """``(name, arguments)`` of every runner, full or quick sizes; the name is the JSON file's
    and, up to a ``_`` suffix, the runner's."""
    if quick:
        fan = ["--players", "10,50", "--rounds", "1", "--publisher", publisher,
               "--flv-seconds", "10", "--seconds", "5"]
        return [
            ("fanout", fan),
            ("connect_storm", ["--clients", "500,1000", "--idle", "1000", "--rounds", "1",
                               "--timeout", "30"]),
            ("connect_storm_simple", ["--clients", "1000", "--idle", "0", "--rounds", "1",
                                      "--timeout", "30", "--simple-handshake"]),
            ("latency", ["--players", "20,50", "--seconds", "5", "--warmup", "2"]),
            ("capacity", ["--players", "50,150", "--seconds", "5", "--warmup", "2"]),
        ]
    fan = ["--players", "10,50,200", "--rounds", "3", "--publisher", publisher,
           "--flv-seconds", "30", "--flv-bitrate", "8000", "--seconds", "15"]
    return [
        ("fanout", fan),
        ("connect_storm", ["--clients", "1000,2000,5000", "--idle", "10000", "--rounds", "3",
                           "--timeout", "60"]),
        # the same storm with a C1 without digest (cheaper for nginx-rtmp: the harness)
        ("connect_storm_simple", ["--clients", "1000,5000", "--idle", "0", "--rounds", "1",
                                  "--timeout", "60", "--simple-handshake"]),
        ("latency", ["--players", "50,200", "--seconds", "10", "--warmup", "3",
                     "--rounds", "3"]),
        ("capacity", ["--players", "100,300,600", "--seconds", "10", "--warmup", "3"]),
    ]


def run(cmd: list[str]) -> int:
    """Run a runner and wait for it, also through Ctrl-C (it cleans up; we wait for that)."""
    print("$ " + " ".join(cmd[1:]), flush=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(cmd, cwd=_ROOT, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _wait_after_interrupt(proc)  # the runner got the same Ctrl-C from the terminal
        raise


def _wait_after_interrupt(proc: subprocess.Popen) -> None:
    """Let the runner stop its servers; SIGTERM it if the Ctrl-C did not reach it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the runner turns it into its clean-up
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one round")
    p.add_argument("--only", default="", help="comma-separated runners to run (default all)")
    p.add_argument("--results", help="JSON directory (default bench/results, or "
                                     "bench/results-quick with --quick)")
    p.add_argument("--grtmp-cmd", default=h.GRTMP_CMD,
                   help="command that runs the grtmp server under test ({python}, {port})")
    p.add_argument("--no-report", action="store_true", help="do not run report.py")
    args = p.parse_args(argv)
    results = args.results or os.path.join(_HERE, "results-quick" if args.quick else "results")
    os.makedirs(results, exist_ok=True)
    if h.find_nginx_rtmp() is None:
        print(f"run_all: {h.NGINX_MISSING}; the figures will be grtmp's only",
              file=sys.stderr)
    publisher = _publisher()
    steps = plan(args.quick, publisher)
    only = {s for s in args.only.split(",") if s}
    if only - {name for name, _ in steps} - {"fanout_workers"}:
        print(f"run_all: unknown runner in --only: {sorted(only)}", file=sys.stderr)
        return 2

    def wanted(name: str) -> bool:
        return not only or name in only

    def term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, term)
    t0 = time.monotonic()
    failed: list[str] = []
    try:
        for name, extra in steps:
            if not wanted(name):
                continue
            out = os.path.join(results, f"{name}.json")
            script = "connect_storm" if name.startswith("connect_storm") else name
            rc = run([sys.executable, os.path.join(_HERE, f"{script}.py"), *extra,
                      "--compare-nginx", "--grtmp-cmd", args.grtmp_cmd, "--json", out])
            if rc != 0:
                failed.append(f"{name} (exit {rc})")
        if wanted("fanout_workers"):
            out = os.path.join(results, "fanout_workers.json")
            if h.grtmp_supports("--workers", args.grtmp_cmd):
                extra = ["--speed", "20"] if publisher == "synthetic" else []
                rc = run([sys.executable, os.path.join(_HERE, "fanout.py"), "--workers", "1,2",
                          "--players", "200" if not args.quick else "50",
                          "--publisher", publisher,
                          *extra, "--rounds", "1" if args.quick else "3",
                          "--grtmp-cmd", args.grtmp_cmd, "--json", out])
                if rc != 0:
                    failed.append(f"fanout --workers (exit {rc})")
            else:
                print("run_all: grtmp-server has no --workers yet; multi-worker figure skipped")
                if os.path.exists(out):
                    os.remove(out)  # a stale record would be reported as current
    except KeyboardInterrupt:
        print("\nrun_all: interrupted", file=sys.stderr)
        return 130
    print(f"run_all: runners took {(time.monotonic() - t0) / 60:.1f} min")
    if not args.no_report:
        readme = os.path.join(_HERE, "README.md") if not args.quick else \
            os.path.join(results, "README.md")
        plots = os.path.join(_HERE, "plots") if not args.quick else \
            os.path.join(results, "plots")
        rc = run([sys.executable, os.path.join(_HERE, "report.py"), "--results", results,
                  "--readme", readme, "--plots", plots])
        if rc != 0:
            failed.append("report")
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
