"""Capacity: players per CPU core at 600 kbit/s, grtmp vs nginx-rtmp measured the same way.

Run: ``python bench/capacity.py [--players 100,200,400] [--bitrate 600] [--compare-nginx]
[--rounds 1] [--json out.json]``.

One publisher sends the synthetic H.264 + AAC stream of ``bench/_media.py`` at ``--bitrate``
kbit/s (video + audio), paced in real time; N raw-socket players (the fan-out harness of
``bench/fanout.py``: one ``selectors`` process, Acknowledgements every window) play it. At
each N the server's CPU share (CPU seconds / wall seconds over ``--seconds`` after
``--warmup``, from ``/proc``) is measured; a least-squares line ``share = a + b * N`` through
the points gives the players one core would carry, ``(1 - a) / b`` (``a`` is the publisher's
share, ``b`` a player's). Each point is checked: every player plays, none is disconnected and
the players receive what was published (``recv/exp`` about 1.00; a server that cannot keep up
drops frames and shows less), else the point is flagged and left out of the fit.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _harness as h  # noqa: E402
import fanout  # noqa: E402
from fanout import int_list  # noqa: E402


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares ``(a, b)`` of ``y = a + b x``; None with fewer than 2 distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    b = sxy / sxx
    return my - b * mx, b


def good(r: fanout.Result) -> tuple[bool, str]:
    """Whether a point is valid: all players played, none dropped, nothing lost."""
    why = []
    if r.failed:
        why.append(f"{r.failed} players failed")
    if r.closed:
        why.append(f"{r.closed} players disconnected")
    if not r.delivered_ratio >= 0.97:
        why.append(f"players received {r.delivered_ratio:.3f} of what was published")
    if r.publisher_late > 0.5:
        why.append(f"publisher {r.publisher_late:.1f} s late")
    return not why, "; ".join(why)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int_list, default=[100, 200, 400],
                   help="player counts to measure (default 100,200,400)")
    p.add_argument("--bitrate", type=float, default=600.0,
                   help="stream bit rate in kbit/s, video + audio (default 600)")
    p.add_argument("--audio-kbps", type=float, default=64.0,
                   help="of which audio, kbit/s (default 64)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=10.0, help="measured window (default 10)")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--max-inflight", type=int, default=50,
                   help="players connecting at the same time (default 50)")
    h.add_common_args(p)
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.bitrate <= args.audio_kbps:
        print("capacity: --seconds, --rounds must be positive; --bitrate above --audio-kbps",
              file=sys.stderr)
        return 2
    h.raise_nofile()
    targets = h.targets_from_args(args, "capacity")
    if not targets:
        return 1
    # the fan-out harness, paced synthetic publisher, selector players
    fargs = argparse.Namespace(bitrate=args.bitrate, fps=args.fps, speed=1.0,
                               seconds=args.seconds, warmup=args.warmup,
                               publisher="synthetic", player_impl="selector",
                               max_inflight=args.max_inflight, flv=None, flv_seconds=0,
                               audio_kbps=args.audio_kbps)
    print(f"capacity: synthetic H.264+AAC {args.bitrate:.0f} kbit/s paced, players "
          f"{args.players}, {args.seconds:g} s after {args.warmup:g} s, {os.cpu_count()} CPUs")
    fargs.players = args.players
    fanout.print_header(fargs)
    results: list[fanout.Result] = []
    try:
        with h.sigterm_as_interrupt():
            for rnd in range(args.rounds):
                for n in args.players:
                    order = targets if rnd % 2 == 0 else targets[::-1]
                    for name, start in order:
                        r = fanout.run_once(name, start, fargs, n, rnd=rnd)
                        results.append(r)
                        fanout.print_row(r)
                        ok, why = good(r)
                        if not ok:
                            print(f"{'':<11} ! left out of the fit: {why}")
                        sys.stdout.flush()
    except KeyboardInterrupt:
        print("\ncapacity: interrupted; processes stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = {}
    by_server: dict[str, list[fanout.Result]] = collections.defaultdict(list)
    for r in results:
        by_server[r.name].append(r)
    print()
    for name, rs in by_server.items():
        pts = [(float(r.players), r.cpu / r.sampled) for r in rs if good(r)[0] and r.sampled]
        line = fit(pts)
        per_core = (1.0 - line[0]) / line[1] if line and line[1] > 0 else None
        summary[name] = {
            "points": [{"players": r.players, "cpu_share": r.cpu / r.sampled if r.sampled
                        else None, "valid": good(r)[0], "why": good(r)[1],
                        "delivered_ratio": r.delivered_ratio, "round": r.round,
                        "players_cpu_share": r.players_cpu / r.sampled if r.sampled else None}
                       for r in rs],
            "fit_a": line[0] if line else None, "fit_b": line[1] if line else None,
            "players_per_core": per_core,
            "players_per_core_at_max": max((n / s for n, s in pts if s > 0), default=None),
        }
        if per_core is not None:
            assert line is not None
            print(f"{name:<11} players per core at {args.bitrate:.0f} kbit/s: {per_core:.0f} "
                  f"(share = {line[0]:.4f} + {line[1] * 1000:.3f}e-3 x players)")
        else:
            print(f"{name:<11} players per core: not enough valid points")
    g, x = summary.get("grtmp", {}), summary.get("nginx-rtmp", {})
    if g.get("players_per_core") and x.get("players_per_core"):
        print(f"ratio grtmp/nginx-rtmp players per core: "
              f"{g['players_per_core'] / x['players_per_core']:.2f} [target >= 0.8]")
    if args.json:
        h.write_json(args.json, "capacity", args,
                     {"runs": [r.record() for r in results], "summary": summary},
                     workload=f"synthetic H.264+AAC {args.bitrate:.0f} kbit/s paced, selector "
                              "players; players per core from a least-squares line of CPU "
                              "share against players")
        print(f"capacity: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
