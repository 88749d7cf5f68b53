"""Fan-out benchmark: server CPU seconds per GB delivered to N players, grtmp vs nginx-rtmp.

Run: ``python bench/fanout.py [--players 10,50,200] [--seconds 20] [--bitrate 4000]
[--compare-nginx] [--rounds 3] [--json out.json]``.

One publisher sends a live stream to a server running in its own process; N players, all in
one other process, do the RTMP handshake, connect, createStream and play, then only read and
count bytes (sending an Acknowledgement every window, as FFmpeg/librtmp do). The server's CPU
time (utime + stime of ``/proc/PID/stat``, summed over its worker processes) and memory
(``VmRSS``; ``VmHWM``, the kernel's peak, is the "peak RSS") and the bytes the players received
give CPU seconds per GB delivered, MB/s, and per-player minimum/maximum.

Publishers (``--publisher``):

- ``synthetic`` (default without the ``ffmpeg`` CLI): H.264 + AAC tag headers with random
  frame bodies, ~30 fps video + 43 AAC messages/s, paced in real time times ``--speed``,
  measured over ``--seconds`` after ``--warmup``;
- ``ffmpeg`` (default when the CLI is installed): the issue's harness, ``ffmpeg -i FILE -c copy
  -f flv URL`` without ``-re``: a ``--flv-seconds`` 720p ``--flv-bitrate`` kbit/s H.264 + AAC
  FLV (encoded once with PyAV and cached) pushed as fast as the server takes it; the window is
  the whole push;
- ``pyav``: the same push through PyAV's libavformat (FFmpeg's RTMP client, ``-c copy``
  semantics, unpaced) for machines without the CLI.

Players (``--player-impl``): ``selector`` (default) is the raw-socket client of
``bench/_rtmp.py``, all players in one ``selectors`` loop; ``gevent`` is
:class:`grtmp.Client` in greenlets (the implementation of earlier versions).

``--compare-nginx`` runs the same workload against nginx with the RTMP module (Debian:
``apt-get install -y nginx libnginx-mod-rtmp``), one process, ``chunk_size 4096`` like grtmp,
in the same run, and prints the ratio grtmp / nginx of CPU seconds per GB. ``--rounds``
repeats every (players, server) pair, alternating the servers' order, since a 2-core machine
is noisy; medians are printed and written with ``--json``.

``--workers 1,2`` runs grtmp with ``--workers N`` (once ``grtmp-server`` has it) and prints the
throughput ratio; use an unpaced publisher (``--publisher pyav``/``ffmpeg`` or a high
``--speed``) so the server is the limit. Whether the load generator was the bottleneck is
judged from its own CPU (players' and publisher's process each below 90 % of a core) and the
machine's idle time over the window; both are printed and written.

``--profile FILE`` samples the grtmp server with py-spy (``pip install py-spy``) during an
extra run, writes collapsed stacks to FILE and prints the functions with the most samples. The
profiler slows the server, so that row's CPU figure is marked and should not be compared.

``--grtmp-cmd`` runs another grtmp build or a patched server through the same harness (the
command gets ``{python}`` and ``{port}``), to put a number on a hot-path change before making it.

Nothing here is a test; it prints figures. Every process it starts is stopped at the end, also
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import multiprocessing as mp
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _harness as h  # noqa: E402
from _harness import ServerProc, StartFn  # noqa: E402
from _media import StreamShape, messages, metadata  # noqa: E402

# Player states in the shared status array.
_CONNECTING, _PLAYING, _FAILED, _CLOSED = 0, 1, 2, 3
# Publisher states.
_PUB_STARTING, _PUB_RUNNING, _PUB_FAILED, _PUB_DONE = 0, 1, 2, 3


# -- the clients (each in its own process, started with multiprocessing "spawn") -------------
def selector_players_main(host: str, port: int, n: int, counts: Any, status: Any, stop: Any,
                          max_inflight: int) -> None:
    """N raw-socket players in one selector loop: play, then read and count as fast as possible.

    At most ``max_inflight`` players are connecting at a time (a fan-out test, not a
    connection storm); a player not playing after 30 s counts as failed.
    """
    h.quiet_child()
    h.raise_nofile()
    import _rtmp

    eng = _rtmp.Engine((host, port))
    errors: list[str] = []
    inflight: dict[int, _rtmp.Conn] = {}

    def finished(c: _rtmp.Conn, ok: bool) -> None:
        inflight.pop(c.index, None)
        status[c.index] = _PLAYING if ok else _FAILED
        if not ok:
            errors.append(f"player {c.index}: {c.error}")

    def count(c: _rtmp.Conn, k: int) -> None:
        counts[c.index] += k

    def closed(c: _rtmp.Conn) -> None:
        if not stop.is_set():
            status[c.index] = _CLOSED

    eng.on_finished, eng.on_count, eng.on_closed = finished, count, closed
    nxt = 0
    try:
        while not stop.is_set():
            now = time.monotonic()
            while nxt < n and len(inflight) < max_inflight:
                c = eng.new(nxt, "play")
                inflight[nxt] = c
                nxt += 1
                c.start(eng.addr, now)
            for c in [c for c in inflight.values() if now - c.t_start > 30.0]:
                c.fail("no Play.Start after 30 s")
            eng.poll(0.1)
    finally:
        eng.close_all()
    for line in errors[:5]:
        print(f"fanout players: {line}", file=sys.stderr)


def players_main(url: str, n: int, counts: Any, status: Any, stop: Any, ack: bool) -> None:
    """N players in one gevent process: play, then read and discard as fast as possible."""
    h.quiet_child()
    h.raise_nofile()
    import gevent
    import gevent.socket

    from grtmp.net.client import Client
    from grtmp.wire import control
    from grtmp.wire.message import CSID_CONTROL

    buf = memoryview(bytearray(1 << 20))
    clients: list[Client] = []
    errors: list[str] = []

    def one(i: int) -> None:
        client = Client(url, socket_module=gevent.socket, timeout=30.0)
        clients.append(client)
        try:
            client.connect()
            client.play()
        except Exception as exc:  # noqa: BLE001 - report any failure of a player, go on
            status[i] = _FAILED
            errors.append(f"player {i}: {type(exc).__name__}: {exc}")
            return
        status[i] = _PLAYING
        sock = client.sock
        sock.settimeout(None)
        recv_into = sock.recv_into
        assert client.reader is not None
        total = acked = client.reader.bytes_read
        window = client.window if ack else 0
        try:
            while True:
                k = recv_into(buf)
                if not k:
                    break
                counts[i] += k
                total += k
                if window and total - acked >= window:
                    acked = total
                    sock.sendall(client.writer.write(
                        control.Acknowledgement(total & 0xFFFFFFFF).message(), CSID_CONTROL))
        except OSError:
            pass
        if status[i] == _PLAYING and not stop.is_set():
            status[i] = _CLOSED

    greenlets = []
    for i in range(n):
        greenlets.append(gevent.spawn(one, i))
        gevent.sleep(0.002)  # a little spread, like real players
    while not stop.is_set():
        gevent.sleep(0.1)
    for client in clients:
        client.close()
    gevent.joinall(greenlets, timeout=5)
    for line in errors[:5]:
        print(f"fanout players: {line}", file=sys.stderr)


def publisher_main(url: str, shape: StreamShape, speed: float, sent: Any, state: Any,
                   late: Any, stop: Any) -> None:
    """Publish the synthetic stream in real time times ``speed`` until told to stop."""
    h.quiet_child()
    import gevent
    import gevent.socket

    from grtmp.net.client import Client

    client = Client(url, socket_module=gevent.socket, timeout=30.0)
    try:
        client.connect()
        client.publish()
    except Exception as exc:  # noqa: BLE001 - report, the parent sees the state
        print(f"fanout publisher: {type(exc).__name__}: {exc}", file=sys.stderr)
        state.value = _PUB_FAILED
        return
    sock = client.sock
    sock.settimeout(None)

    def drain() -> None:
        # acknowledgements and pings from the server: read and drop, never let them pile up
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    gevent.spawn(drain)
    client.send_metadata(metadata(shape))
    state.value = _PUB_RUNNING
    t0 = time.monotonic()
    worst = 0.0
    try:
        for type_id, ts, payload in messages(shape):
            if stop.is_set():
                break
            due = t0 + ts / 1000.0 / speed
            delay = due - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            elif -delay > worst:
                worst = -delay
                late.value = worst
            client.send_media(type_id, ts, payload)
            sent.value += len(payload)
    except OSError as exc:
        if not stop.is_set():
            print(f"fanout publisher: {exc}", file=sys.stderr)
            state.value = _PUB_FAILED
            return
    state.value = _PUB_DONE
    client.close()


def pyav_publisher_main(flv: str, url: str, sent: Any, state: Any, stop: Any) -> None:
    """Push ``flv`` with PyAV (libavformat's RTMP client), ``-c copy``, not paced."""
    h.quiet_child()
    import _publishers

    def on_packet(k: int) -> None:
        if state.value == _PUB_STARTING:
            state.value = _PUB_RUNNING
        sent.value += k

    try:
        _publishers.pyav_push(flv, url, on_packet, stop.is_set)
    except Exception as exc:  # noqa: BLE001 - report, the parent sees the state
        print(f"fanout publisher (PyAV): {type(exc).__name__}: {exc}", file=sys.stderr)
        state.value = _PUB_FAILED
        return
    state.value = _PUB_DONE


def flv_payload_bytes(path: str) -> int:
    """Sum of the tag payload sizes of an FLV file (what a publisher sends as message bodies)."""
    total = 0
    with open(path, "rb") as f:
        head = f.read(9)
        if head[:3] != b"FLV":
            raise ValueError(f"{path}: not an FLV file")
        f.seek(struct.unpack(">I", head[5:9])[0] + 4)
        while True:
            tag = f.read(11)
            if len(tag) < 11:
                break
            size = int.from_bytes(tag[1:4], "big")
            total += size
            f.seek(size + 4, os.SEEK_CUR)
    return total


# -- one measured run ------------------------------------------------------------------------
@dataclass
class Result:
    """What one run measured over its window."""

    name: str
    players: int
    publisher: str = "synthetic"
    player_impl: str = "selector"
    workers: int = 0
    round: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    user: float = 0.0
    system: float = 0.0
    delivered: int = 0
    published: int = 0
    per_player: list[int] = field(default_factory=list)
    rss: int = 0
    hwm: int = 0
    client_cpu: float = 0.0
    players_cpu: float = 0.0
    publisher_cpu: float = 0.0
    machine_busy: float = 0.0
    #: wall seconds between the CPU samples (>= seconds: an unpaced run's window ends at the
    #: last byte, the samples after the players fell quiet)
    sampled: float = 0.0
    publisher_late: float = 0.0
    failed: int = 0
    closed: int = 0
    profiled: bool = False
    log_lines: list[str] = field(default_factory=list)

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.delivered / 1e9) if self.delivered else float("nan")

    @property
    def mb_per_s(self) -> float:
        return self.delivered / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def delivered_ratio(self) -> float:
        """Bytes received / (payload bytes published x players playing): ~1.00 means nothing
        dropped (slightly above, for chunk headers)."""
        expected = self.published * (self.players - self.failed)
        return self.delivered / expected if expected else float("nan")

    @property
    def background_cpu(self) -> float:
        """CPU seconds the machine spent on other processes between the samples."""
        return max(0.0, self.machine_busy - self.cpu - self.client_cpu)

    @property
    def loadgen_bottleneck(self) -> bool:
        """A load process above 90 % of a core, or the machine without idle time."""
        if not self.seconds or not self.sampled:
            return False
        cores = os.cpu_count() or 1
        return (self.players_cpu / self.sampled > 0.9 or self.publisher_cpu / self.seconds > 0.9
                or self.machine_busy / self.sampled > 0.95 * cores)

    def record(self) -> dict[str, Any]:
        mb = sorted(self.per_player) or [0]
        return {
            "server": self.name, "players": self.players, "publisher": self.publisher,
            "player_impl": self.player_impl, "workers": self.workers, "round": self.round,
            "seconds": self.seconds, "cpu": self.cpu, "user": self.user, "system": self.system,
            "cpu_per_gb": self.cpu_per_gb, "cpu_share": self.cpu / self.sampled
            if self.sampled else None, "sampled": self.sampled,
            "delivered": self.delivered, "published": self.published,
            "delivered_ratio": self.delivered_ratio, "mb_per_s": self.mb_per_s,
            "player_bytes_min": mb[0], "player_bytes_median": mb[len(mb) // 2],
            "player_bytes_max": mb[-1], "rss": self.rss, "peak_rss": self.hwm,
            "players_cpu": self.players_cpu, "publisher_cpu": self.publisher_cpu,
            "background_cpu": self.background_cpu, "machine_busy": self.machine_busy,
            "loadgen_bottleneck": self.loadgen_bottleneck,
            "publisher_late": self.publisher_late, "failed": self.failed,
            "closed": self.closed, "profiled": self.profiled,
            "log_tail": self.log_lines[-3:],
        }


def _wait_for(pred: Callable[[], bool], timeout: float, what: str,
              alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if not alive():
            raise RuntimeError(f"a process died while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def run_once(name: str, start: StartFn, args: argparse.Namespace, n: int,
             profile: str | None = None, rnd: int = 0, workers: int = 0) -> Result:
    """Start a server, players and a publisher; measure over the window; stop everything."""
    ctx = mp.get_context("spawn")
    shape = StreamShape(bitrate_kbps=args.bitrate, fps=args.fps,
                        audio_kbps=getattr(args, "audio_kbps", 128.0))
    workdir = tempfile.mkdtemp(prefix=f"fanout-{name}-")
    port = h.free_port()
    server: ServerProc | None = None
    players = publisher = spy = None
    ff: subprocess.Popen | None = None
    stop = ctx.Event()
    result = Result(name, n, publisher=args.publisher, player_impl=args.player_impl,
                    workers=workers, round=rnd, profiled=profile is not None)
    try:
        server = start(port, workdir)
        h.wait_listening(port, server.proc, 15.0)
        url = f"rtmp://127.0.0.1:{port}/live/bench"
        counts = ctx.Array("Q", n, lock=False)
        status = ctx.Array("b", n, lock=False)
        sent = ctx.Value("Q", 0, lock=False)
        pub_state = ctx.Value("b", _PUB_STARTING, lock=False)
        late = ctx.Value("d", 0.0, lock=False)
        if args.player_impl == "selector":
            players = ctx.Process(target=selector_players_main,
                                  args=("127.0.0.1", port, n, counts, status, stop,
                                        args.max_inflight),
                                  name="fanout-players", daemon=True)
        else:
            players = ctx.Process(target=players_main, args=(url, n, counts, status, stop, True),
                                  name="fanout-players", daemon=True)
        players.start()

        def alive() -> bool:
            return server.proc.poll() is None and players.is_alive()

        _wait_for(lambda: all(s != _CONNECTING for s in status), 60.0, "players to start",
                  alive)
        result.failed = sum(1 for s in status if s == _FAILED)
        if result.failed == n:
            raise RuntimeError("no player could play")
        paced = args.publisher == "synthetic"
        if paced:
            publisher = ctx.Process(target=publisher_main,
                                    args=(url, shape, args.speed, sent, pub_state, late, stop),
                                    name="fanout-publisher", daemon=True)
            publisher.start()
            _wait_for(lambda: pub_state.value != _PUB_STARTING, 30.0, "the publisher", alive)
            if pub_state.value != _PUB_RUNNING:
                raise RuntimeError("the publisher could not publish")
            time.sleep(args.warmup)
        pub_pid = 0
        busy0 = h.system_busy()
        s0, b0, p0 = server.sample(), list(counts), sent.value
        c0 = h.proc_sample(players.pid).cpu
        t0 = time.monotonic()
        if args.publisher == "pyav":
            publisher = ctx.Process(target=pyav_publisher_main,
                                    args=(args.flv, url, sent, pub_state, stop),
                                    name="fanout-publisher", daemon=True)
            publisher.start()
        elif args.publisher == "ffmpeg":
            import _publishers
            ff = subprocess.Popen(_publishers.push_command(args.flv, url),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True)
        pub_pid = ff.pid if ff is not None else publisher.pid if publisher else 0
        q0 = 0.0 if not paced else h.proc_sample(pub_pid).cpu
        if profile is not None:
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(server.proc.pid), "-d", str(int(args.seconds)),
                 "-r", "200", "-f", "raw", "-o", profile,
                 *os.environ.get("FANOUT_PYSPY", "").split()],  # e.g. "--native"
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)
        pub_cpu = 0.0
        t_end = 0.0
        if paced:
            end = t0 + args.seconds
            while True:
                now = time.monotonic()
                if now >= end:
                    break
                time.sleep(min(0.5, end - now))
                if not server.alive():
                    raise RuntimeError(f"{name} exited with code {server.proc.returncode}")
            pub_cpu = h.proc_sample(pub_pid).cpu - q0
        else:
            pub_cpu, t_end = _wait_push(ff, publisher, pub_state, server, name, counts, args)
            if ff is not None:
                result.published = flv_payload_bytes(args.flv)
        s1, b1, p1 = server.sample(), list(counts), sent.value
        c1 = h.proc_sample(players.pid).cpu
        busy1 = h.system_busy()
        result.sampled = time.monotonic() - t0
        # unpaced: up to the last byte a player received (not the quiet second after it)
        result.seconds = (t_end or time.monotonic()) - t0
        result.user, result.system = s1.user - s0.user, s1.system - s0.system
        result.cpu = s1.cpu - s0.cpu  # schedstat: exact; user/system: 10 ms ticks
        result.per_player = [b - a for a, b in zip(b0, b1, strict=True)]
        result.delivered = sum(result.per_player)
        if not result.published:
            result.published = p1 - p0
        result.rss, result.hwm = s1.rss, s1.hwm
        result.players_cpu = c1 - c0
        result.publisher_cpu = pub_cpu
        result.client_cpu = result.players_cpu + pub_cpu
        result.machine_busy = busy1 - busy0
        result.publisher_late = late.value
        result.closed = sum(1 for s in status if s == _CLOSED)
        if spy is not None:
            try:
                spy.wait(args.seconds + 30)
            except subprocess.TimeoutExpired:
                print("fanout: py-spy did not finish", file=sys.stderr)
    finally:
        # a second Ctrl-C must not cut the clean-up short and leave a server running
        with h.no_interrupts():
            stop.set()
            h.stop_process(ff)
            for child in (publisher, players):
                if child is not None:
                    child.join(5.0)
                    if child.is_alive():
                        child.terminate()
                        child.join(2.0)
            if spy is not None:
                h.stop_process(spy)
            if server is not None:
                result.log_lines = server.log_lines()
                server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _wait_push(ff: subprocess.Popen | None, publisher: Any, state: Any, server: ServerProc,
               name: str, counts: Any, args: argparse.Namespace) -> tuple[float, float]:
    """Wait for an unpaced push to end, then for the players to stop receiving (1 s without
    a byte, at most 30 s). Returns the publisher's CPU seconds (sampled while it runs) and
    when the players last received a byte."""
    pid = ff.pid if ff is not None else publisher.pid
    deadline = time.monotonic() + max(120.0, 10 * args.flv_seconds)
    cpu = 0.0
    while True:
        done = ff.poll() is not None if ff is not None else not publisher.is_alive()
        if done:
            break
        cpu = max(cpu, h.proc_sample(pid).cpu)
        if not server.alive():
            raise RuntimeError(f"{name} exited with code {server.proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the publisher did not finish its push in time")
        time.sleep(0.1)
    if ff is not None and ff.returncode != 0:
        err = ff.stderr.read().decode(errors="replace") if ff.stderr else ""
        raise RuntimeError(f"ffmpeg exited with code {ff.returncode}: {err.strip()[-300:]}")
    if ff is None and state.value != _PUB_DONE:
        raise RuntimeError("the PyAV publisher failed")
    last, quiet_since = sum(counts), time.monotonic()
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        time.sleep(0.2)
        now_total = sum(counts)
        if now_total != last:
            last, quiet_since = now_total, time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            break
    return cpu, quiet_since


# -- output ----------------------------------------------------------------------------------
def print_header(args: argparse.Namespace) -> None:
    if args.publisher == "synthetic":
        what = (f"synthetic {args.bitrate:.0f} kbit/s ({args.fps:g} fps video + AAC), "
                f"speed x{args.speed:g}, {args.seconds:g} s after {args.warmup:g} s warm-up")
    else:
        what = (f"{args.publisher} push of a {args.flv_seconds} s 720p {args.flv_bitrate} "
                "kbit/s H.264+AAC FLV, -c copy, not paced")
    print(f"fan-out: 1 publisher -> {args.players} players ({args.player_impl}), {what}, "
          f"loopback, {os.cpu_count()} CPUs")
    print(f"{'server':<11} {'players':>7} {'CPU s/GB':>9} {'CPU s':>7} {'usr/sys':>11} "
          f"{'CPU %':>6} {'MB/s out':>9} {'recv/exp':>8} {'player MB min/max':>18} "
          f"{'RSS MB':>7} {'peak':>6} {'clients CPU%':>12} {'other%':>6}")


def print_row(r: Result) -> None:
    mb = [b / 1e6 for b in r.per_player] or [0.0]
    mark = " (profiled: CPU not comparable)" if r.profiled else ""
    label = r.name if not r.workers else f"{r.name} w{r.workers}"
    secs = r.sampled or r.seconds or 1.0
    print(f"{label:<11} {r.players:7d} {r.cpu_per_gb:9.3f} {r.cpu:7.2f} "
          f"{r.user:5.2f}/{r.system:<5.2f} {100 * r.cpu / secs:6.1f} {r.mb_per_s:9.2f} "
          f"{r.delivered_ratio:8.3f} {min(mb):8.1f}/{max(mb):<9.1f} {r.rss / 1e6:7.1f} "
          f"{r.hwm / 1e6:6.1f} {100 * r.client_cpu / secs:12.1f} "
          f"{100 * r.background_cpu / secs:6.1f}{mark}")
    notes = []
    if r.failed:
        notes.append(f"{r.failed} players could not play")
    if r.closed:
        notes.append(f"{r.closed} players were disconnected by the server")
    if r.publisher_late > 0.5:
        notes.append(f"publisher fell {r.publisher_late:.1f} s behind its schedule "
                     "(server or machine saturated)")
    if r.loadgen_bottleneck:
        notes.append("load generator may be the bottleneck (players "
                     f"{100 * r.players_cpu / secs:.0f}% of a core, publisher "
                     f"{100 * r.publisher_cpu / (r.seconds or 1.0):.0f}%, machine "
                     f"busy {100 * r.machine_busy / secs:.0f}%)")
    if r.log_lines:
        notes.append(f"{len(r.log_lines)} server log lines, last: {r.log_lines[-1][:160]}")
    for note in notes:
        print(f"{'':<11} ! {note}")


def summarize_profile(path: str, top: int = 25) -> None:
    """Print the functions with most samples (self and inclusive) from py-spy collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError as exc:
        print(f"profile: cannot read {path}: {exc}")
        return
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = [_frame_name(fr) for fr in stack.split(";")]
        own[frames[-1]] += k
        for fr in set(frames):
            incl[fr] += k
    if not total:
        print("profile: no samples")
        return
    print(f"\nprofile of the grtmp server ({total} samples; % of samples, idle included):")
    print("  self:")
    for name, k in own.most_common(top):
        print(f"    {100 * k / total:5.1f}%  {name}")
    print("  inclusive (grtmp and gevent functions):")
    shown = 0
    for name, k in incl.most_common():
        if "grtmp/" in name or "gevent/" in name:
            print(f"    {100 * k / total:5.1f}%  {name}")
            shown += 1
            if shown >= top:
                break


def _frame_name(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (to/file.py)"
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    parts = where.split("/")
    return f"{func} ({'/'.join(parts[-2:])})"


# -- main ------------------------------------------------------------------------------------
def int_list(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("give positive integers, e.g. 10,50,200")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int_list, default=[50],
                   help="players, or a list like 10,50,200 (default 50)")
    p.add_argument("--seconds", type=float, default=20.0,
                   help="measured window with the synthetic publisher (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    p.add_argument("--bitrate", type=float, default=4000.0,
                   help="synthetic stream bit rate in kbit/s, video + audio (default 4000)")
    p.add_argument("--fps", type=float, default=30.0, help="video frames per second")
    p.add_argument("--speed", type=float, default=1.0,
                   help="publish at this multiple of real time (default 1)")
    p.add_argument("--publisher", choices=("auto", "synthetic", "ffmpeg", "pyav"),
                   default="auto",
                   help="auto: the ffmpeg CLI push when installed, else the synthetic paced "
                        "publisher")
    p.add_argument("--flv-seconds", type=int, default=30, help="length of the pushed FLV")
    p.add_argument("--flv-bitrate", type=int, default=8000,
                   help="video bit rate of the pushed FLV, kbit/s (default 8000)")
    p.add_argument("--player-impl", choices=("selector", "gevent"), default="selector")
    p.add_argument("--max-inflight", type=int, default=50,
                   help="players connecting at the same time (default 50)")
    p.add_argument("--workers", type=int_list, default=None,
                   help="run grtmp with --workers N for each N (once grtmp-server has it)")
    p.add_argument("--profile", metavar="FILE",
                   help="py-spy the grtmp server during an extra run; collapsed stacks to FILE")
    h.add_common_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seconds <= 0 or args.bitrate <= 0 or args.speed <= 0 or args.rounds < 1:
        print("fanout: --seconds, --bitrate, --speed, --rounds must be positive",
              file=sys.stderr)
        return 2
    h.raise_nofile()
    if args.publisher == "auto":
        import _publishers
        args.publisher = "ffmpeg" if _publishers.ffmpeg_cli() else "synthetic"
    args.flv = None
    if args.publisher in ("ffmpeg", "pyav"):
        import _publishers
        if args.publisher == "ffmpeg" and not _publishers.ffmpeg_cli():
            print("fanout: --publisher ffmpeg needs the ffmpeg CLI (apt-get install -y "
                  "ffmpeg); --publisher pyav does the same push through PyAV",
                  file=sys.stderr)
            return 1
        try:
            args.flv = _publishers.ensure_flv(args.flv_seconds, args.flv_bitrate)
        except ImportError as exc:
            print(f"fanout: making the FLV needs PyAV and numpy: {exc}", file=sys.stderr)
            return 1
    targets = h.targets_from_args(args, "fanout")
    if not targets:
        return 1
    worker_counts = [0]
    if args.workers:
        if not h.grtmp_supports("--workers", args.grtmp_cmd):
            print("fanout: grtmp-server has no --workers option yet; nothing to measure",
                  file=sys.stderr)
            return 2
        worker_counts = args.workers
    if args.profile and shutil.which("py-spy") is None:
        print("fanout: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return 1

    def grtmp_with(w: int) -> StartFn:
        return lambda port, wd: h.start_grtmp(port, wd, args.grtmp_cmd,
                                              ["--workers", str(w)] if w else None)

    runs: list[tuple[str, StartFn, int]] = []
    for name, start in targets:
        if name == "grtmp":
            runs.extend(("grtmp", grtmp_with(w), w) for w in worker_counts)
        else:
            runs.append((name, start, 0))
    results: list[Result] = []
    print_header(args)
    try:
        with h.sigterm_as_interrupt():
            for rnd in range(args.rounds):
                for n in args.players:
                    order = runs if rnd % 2 == 0 else runs[::-1]
                    for name, start, w in order:
                        r = run_once(name, start, args, n, rnd=rnd, workers=w)
                        results.append(r)
                        print_row(r)
                        sys.stdout.flush()
            if args.profile:
                r = run_once("grtmp", grtmp_with(worker_counts[0]), args, args.players[0],
                             profile=args.profile)
                print_row(r)
                summarize_profile(args.profile)
    except KeyboardInterrupt:
        print("\nfanout: interrupted; processes stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 1
    summary = summarize(results)
    print_summary(summary)
    if args.json:
        h.write_json(args.json, "fanout", args, {
            "runs": [r.record() for r in results], "summary": summary},
            workload=_workload(args))
        print(f"fanout: wrote {args.json}")
    return 0


def _workload(args: argparse.Namespace) -> str:
    if args.publisher == "synthetic":
        return (f"synthetic H.264+AAC {args.bitrate:.0f} kbit/s paced x{args.speed:g}; "
                f"{args.seconds:g} s window after {args.warmup:g} s; "
                f"{args.player_impl} players")
    return (f"{args.publisher} push (-c copy, not paced) of a {args.flv_seconds} s 720p "
            f"{args.flv_bitrate} kbit/s H.264+AAC FLV; {args.player_impl} players")


def summarize(results: list[Result]) -> dict[str, Any]:
    """Medians per server (and worker count) and player count."""
    groups: dict[tuple[str, int, int], list[Result]] = collections.defaultdict(list)
    for r in results:
        if not r.profiled:
            groups[(r.name, r.workers, r.players)].append(r)
    out: dict[str, Any] = {}
    for (name, w, n), rs in groups.items():
        key = name if not w else f"{name} --workers {w}"
        out.setdefault(key, {})[str(n)] = {
            "runs": len(rs),
            "cpu_per_gb": h.median([r.cpu_per_gb for r in rs]),
            "cpu_per_gb_all": [r.cpu_per_gb for r in rs],
            "peak_rss": h.median([float(r.hwm) for r in rs]),
            "mb_per_s": h.median([r.mb_per_s for r in rs]),
            "delivered_ratio": h.median([r.delivered_ratio for r in rs]),
            "cpu_share": h.median([r.cpu / r.sampled for r in rs if r.sampled]),
            "failed": max(r.failed for r in rs), "closed": max(r.closed for r in rs),
            "loadgen_bottleneck": any(r.loadgen_bottleneck for r in rs),
            "players_cpu_share": h.median([r.players_cpu / r.sampled for r in rs
                                           if r.sampled]),
            "publisher_cpu_share": h.median([r.publisher_cpu / r.seconds for r in rs
                                             if r.seconds]),
            "machine_busy_share": h.median([r.machine_busy / r.sampled for r in rs
                                            if r.sampled]),
            "background_share": h.median([r.background_cpu / r.sampled for r in rs
                                          if r.sampled]),
        }
    return out


def print_summary(summary: dict[str, Any]) -> None:
    if not summary:
        return
    print("\nmedians:")
    print(f"{'server':<22} {'players':>7} {'runs':>4} {'CPU s/GB':>9} {'peak RSS MB':>11} "
          f"{'MB/s':>8} {'recv/exp':>8}")
    for key, per_n in summary.items():
        for n, s in sorted(per_n.items(), key=lambda kv: int(kv[0])):
            print(f"{key:<22} {n:>7} {s['runs']:4d} {s['cpu_per_gb']:9.3f} "
                  f"{s['peak_rss'] / 1e6:11.1f} {s['mb_per_s']:8.1f} "
                  f"{s['delivered_ratio']:8.3f}")
    g, x = summary.get("grtmp"), summary.get("nginx-rtmp")
    if g and x:
        for n in sorted(set(g) & set(x), key=int):
            cpu = g[n]["cpu_per_gb"] / x[n]["cpu_per_gb"]
            rss = g[n]["peak_rss"] / x[n]["peak_rss"] if x[n]["peak_rss"] else float("nan")
            print(f"ratio grtmp/nginx-rtmp at {n} players: CPU s/GB {cpu:.2f} [target <= 1.0], "
                  f"peak RSS {rss:.2f}" + (" [target <= 1.5]" if n == "50" else ""))
    multi = {k: v for k, v in summary.items() if k.startswith("grtmp --workers")}
    one = multi.get("grtmp --workers 1")
    for key, per_n in multi.items():
        if one is None or key == "grtmp --workers 1":
            continue
        for n, s in per_n.items():
            if n in one and one[n]["mb_per_s"]:
                print(f"throughput {key} / --workers 1 at {n} players: "
                      f"{s['mb_per_s'] / one[n]['mb_per_s']:.2f} [target >= 1.7]"
                      + ("  (load generator may be the bottleneck)"
                         if s["loadgen_bottleneck"] or one[n]["loadgen_bottleneck"] else ""))


if __name__ == "__main__":
    sys.exit(main())
