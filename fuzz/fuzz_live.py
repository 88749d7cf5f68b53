"""Fuzz a running ``grtmp-server`` over TCP while a healthy publisher -> player pair streams.

The server runs as a subprocess (``python -m grtmp.cli.server`` on 127.0.0.1, small limits,
debug logging to a file). A child process runs the healthy pair on ``live/healthy``: a
:class:`grtmp.Client` publisher sends a numbered keyframe every 20 ms and a player reads them;
it records the longest gap between frames received and any frame missing or out of order.

Each input is one connection: a real handshake
(:func:`grtmp.wire.handshake.client_handshake`), then the input's bytes (the same format as
``fuzz_session``: an options byte, then what a client sends after the handshake), while the
replies are read and discarded; then the socket is half-closed (or, with options bit 1, just
closed after a short read) and the server must close its side within :data:`CLOSE_BOUND`.
Options bit 0 sends the bytes in small pieces. After every input these are failures:

* the server process died, or did not close the connection after our EOF in time;
* the healthy player received nothing for more than :data:`STALL` seconds, or lost or
  reordered a frame;
* the server logged a traceback, an ERROR line, a logging error (a record that did not
  format), or a line longer than :data:`MAX_LINE` characters.

Two ways to run it (from the repository root, with ``PYTHONPATH`` set to it)::

    python -m fuzz.fuzz_live --seconds 300          # plain mutation loop over the seeds
    python -m fuzz.fuzz_live /tmp/work-live fuzz/corpus/session -max_total_time=300  # atheris

The server and the healthy child die with this process (``PR_SET_PDEATHSIG``), also when
libFuzzer exits without running Python's ``atexit`` handlers.
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grtmp.errors import RTMPError
from grtmp.wire.handshake import client_handshake

from ._harness import main as atheris_main
from .mutate import mutate

#: Longest time the healthy player may go without a frame.
STALL = 1.0
#: Seconds the server has to close a connection after our EOF.
CLOSE_BOUND = 3.0
#: Longest server log line accepted (without its timestamp prefix), in characters.
MAX_LINE = 8192
CORPUS = Path(__file__).parent / "corpus" / "session"
#: Small limits, so the limit paths are reachable from one connection: the server-wide
#: budget of partly received bytes is below what one connection may hold. A second publisher
#: of a live name is refused, so no input can take the healthy pair's stream over.
SERVER_FLAGS = ("--max-message-size", "65536", "--max-buffered-total", "100000",
                "--max-chunk-streams", "16", "--max-players-per-stream", "3",
                "--no-wait", "vod", "--handshake-timeout", "3", "--idle-timeout", "5",
                "--ping-interval", "1", "--queue-size", "256", "--log-level", "debug",
                "--publisher-takeover", "never")
#: Server log lines that are findings.
BAD_LINE = re.compile(r"Traceback|--- Logging error ---| ERROR |internal error|Unhandled")

# Shared counters of the healthy child (indexes into a multiprocessing Array of doubles).
SENT, RECEIVED, LAST_RX, MAX_GAP, MISSING, DISORDER, PUB_GAP, READY, FAILED = range(9)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent goes (libFuzzer may exit abruptly)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame(n: int) -> bytes:
    """An AVC keyframe whose NAL body carries the sequence number."""
    return b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")


AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f" \
             b"\x01\x00\x02\x68\xeb"


def healthy_pair(port: int, shared: Any) -> None:
    """The child process: publish ``live/healthy`` and play it, recording the gaps."""
    _die_with_parent()
    from grtmp.net.client import Client
    from grtmp.wire.message import VIDEO

    url = f"rtmp://127.0.0.1:{port}/live/healthy"
    try:
        pub = Client(url, timeout=10)
        pub.connect()
        pub.publish()
        pub.send_media(VIDEO, 0, AVC_HEADER)
        player = Client(url, timeout=30)
        player.connect()
        player.play()
    except Exception:  # noqa: BLE001 - reported through the shared state
        shared[FAILED] = 1
        raise

    def write() -> None:
        n = 0
        last = time.monotonic()
        try:
            while True:
                pub.send_media(VIDEO, 20 * n, frame(n))
                n += 1
                shared[SENT] = n
                time.sleep(0.02)
                now = time.monotonic()
                shared[PUB_GAP] = max(shared[PUB_GAP], now - last)
                last = now
        except Exception:  # noqa: BLE001
            shared[FAILED] = 2
            raise

    threading.Thread(target=write, daemon=True).start()
    prev = None
    last = None
    try:
        for msg in player.media():
            p = msg.payload
            if msg.type_id != VIDEO or len(p) != 14 or p[:2] != b"\x17\x01":
                continue
            n = int.from_bytes(p[10:14], "big")
            now = time.monotonic()
            if prev is not None:
                if n != prev + 1:
                    if n > prev + 1:
                        shared[MISSING] += n - prev - 1
                    else:
                        shared[DISORDER] += 1
                shared[MAX_GAP] = max(shared[MAX_GAP], now - last)
            prev, last = n, now
            shared[LAST_RX] = now
            shared[RECEIVED] += 1
            if shared[RECEIVED] >= 5:
                shared[READY] = 1
    except Exception:  # noqa: BLE001
        shared[FAILED] = 3
        raise


class LiveWorld:
    """The server subprocess, the healthy child and the checks between inputs."""

    def __init__(self, extra_flags: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.logdir = tempfile.mkdtemp(prefix="grtmp-live-")
        self.log_path = Path(self.logdir) / "server.log"
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives with the world
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "grtmp.cli.server", "--host", "127.0.0.1", "--port",
             str(self.port), *SERVER_FLAGS, *extra_flags],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_die_with_parent)  # noqa: PLW1509 - Linux only, no threads yet
        self._log_reader = open(self.log_path, "rb")  # noqa: SIM115
        self._partial = b""
        self.log_lines = 0
        self.closing_lines = 0
        #: Keep the server log (and its directory) after :meth:`close`: set on a finding.
        self.keep_log = False
        self.inputs = 0
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    self.close()
                    log = self.log_path.read_text()
                    raise RuntimeError(f"server did not start: {log}") from None
                time.sleep(0.05)
        ctx = multiprocessing.get_context("spawn")
        self.shared = ctx.Array("d", 9, lock=False)
        self.healthy = ctx.Process(target=healthy_pair, args=(self.port, self.shared),
                                   daemon=True)
        self.healthy.start()
        deadline = time.monotonic() + 20
        while not self.shared[READY]:
            if time.monotonic() > deadline or self.shared[FAILED] or not self.healthy.is_alive():
                self.close()
                raise RuntimeError("the healthy pair did not start streaming")
            time.sleep(0.05)

    # -- one input -----------------------------------------------------------------------------
    def send(self, data: bytes) -> int:
        """One connection with ``data`` (options byte + bytes); returns reply bytes read."""
        opts = data[0] if data else 0
        body = data[1:]
        self.inputs += 1
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=CLOSE_BOUND)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rfile = sock.makefile("rb")
            try:
                client_handshake(rfile, sock.sendall)
            except (OSError, RTMPError) as exc:  # the server must complete a handshake
                raise AssertionError(f"handshake with the server failed: {exc!r}") from None
            finally:
                rfile.close()
            return self._exchange(sock, body, piece=7 if opts & 1 else 1 << 16,
                                  half_close=not opts & 2)
        finally:
            sock.close()

    def _exchange(self, sock: socket.socket, body: bytes, piece: int, half_close: bool) -> int:
        """Send ``body`` while reading; then wait for the server's EOF (bounded)."""
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        view = memoryview(body)
        sent = 0
        got = 0
        eof_sent = False
        deadline = time.monotonic() + CLOSE_BOUND
        quiet_until = None
        try:
            while True:
                if sent >= len(view) and not eof_sent:
                    if half_close:
                        try:
                            sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            return got
                        deadline = time.monotonic() + CLOSE_BOUND
                        sel.modify(sock, selectors.EVENT_READ)
                    else:
                        quiet_until = time.monotonic() + 0.02
                        sel.modify(sock, selectors.EVENT_READ)
                    eof_sent = True
                now = time.monotonic()
                if quiet_until is not None and now >= quiet_until:
                    return got
                if now >= deadline:
                    if eof_sent:
                        raise AssertionError(
                            f"the server kept the connection {CLOSE_BOUND}s after our EOF")
                    return got  # the server stopped reading us (it may): give up sending
                timeout = min(deadline, quiet_until or deadline) - now
                for _key, events in sel.select(timeout):
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = sock.recv(65536)
                        except BlockingIOError:
                            chunk = None
                        except OSError:
                            return got
                        if chunk == b"":
                            return got
                        if chunk:
                            got += len(chunk)
                    if events & selectors.EVENT_WRITE and sent < len(view):
                        try:
                            sent += sock.send(view[sent:sent + piece])
                        except BlockingIOError:
                            pass
                        except OSError:
                            return got  # the server closed first: it refused the stream
        finally:
            sel.close()

    # -- checks --------------------------------------------------------------------------------
    def check(self) -> None:
        """AssertionError if the server died, the healthy pair stalled, or the log is bad."""
        if self.server.poll() is not None:
            raise AssertionError(f"the server exited ({self.server.returncode}); log: "
                                 f"{self.log_path}")
        sh = self.shared
        now = time.monotonic()
        if sh[FAILED] or not self.healthy.is_alive():
            raise AssertionError(f"the healthy pair failed ({sh[FAILED]:.0f}): {self.status()}")
        if now - sh[LAST_RX] > STALL or sh[MAX_GAP] > STALL:
            raise AssertionError(f"the healthy pair stalled: {self.status()}")
        if sh[MISSING] or sh[DISORDER]:
            raise AssertionError(f"the healthy player lost frames: {self.status()}")
        self.check_log()

    def check_log(self) -> None:
        data = self._partial + self._log_reader.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            self.log_lines += 1
            if " closing: " in line:
                self.closing_lines += 1
            if BAD_LINE.search(line):
                rest = self._log_reader.read(20000).decode("utf-8", "replace")
                raise AssertionError(f"server log: {line}\n{rest}")
            if len(line) > MAX_LINE + 64:
                raise AssertionError(f"server log line of {len(line)} characters: "
                                     f"{line[:300]}...")

    def status(self) -> str:
        sh = self.shared
        return (f"sent {sh[SENT]:.0f} received {sh[RECEIVED]:.0f} max gap "
                f"{sh[MAX_GAP]:.3f}s (publisher's own longest pause {sh[PUB_GAP]:.3f}s), "
                f"last frame {time.monotonic() - sh[LAST_RX]:.3f}s ago, missing "
                f"{sh[MISSING]:.0f}, out of order {sh[DISORDER]:.0f}")

    def close(self) -> None:
        healthy = getattr(self, "healthy", None)
        if healthy is not None and healthy.is_alive():
            healthy.terminate()
            healthy.join(5)
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)
        self.log_file.close()
        self._log_reader.close()
        if not self.keep_log:
            shutil.rmtree(self.logdir, ignore_errors=True)


_WORLD: LiveWorld | None = None


def world() -> LiveWorld:
    """The world of the atheris runs, started at the first input. libFuzzer exits without
    Python's ``atexit``: the server log then stays (its path is printed) for a finding."""
    global _WORLD
    if _WORLD is None:
        _WORLD = LiveWorld()
        _WORLD.keep_log = True
        print(f"fuzz_live: grtmp-server on port {_WORLD.port}, log {_WORLD.log_path}",
              file=sys.stderr, flush=True)
    return _WORLD


def test_one_input(data: bytes) -> None:
    """atheris entry point: one connection with ``data``; a broken invariant raises."""
    w = world()
    w.send(data)
    w.check()
    if w.inputs % 10000 == 0:
        print(f"fuzz_live: {w.inputs} connections; healthy pair: {w.status()}",
              file=sys.stderr, flush=True)


# -- the plain loop ------------------------------------------------------------------------------


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.iterdir())] or [b"\x00"]


def loop(seconds: float, seed: int, out: Path) -> int:
    """Mutate the seeds for ``seconds``; returns 0, or 1 with the failing inputs saved."""
    rng = random.Random(seed)
    corpus = seeds()
    w = LiveWorld()
    recent: list[bytes] = []
    start = time.monotonic()
    n = 0
    reply_bytes = 0
    try:
        # The seeds themselves first, then mutations.
        inputs = iter(corpus)
        while time.monotonic() - start < seconds:
            data = next(inputs, None)
            if data is None:
                data = mutate(rng, corpus)
            recent = (recent + [data])[-20:]
            try:
                reply_bytes += w.send(data)
                w.check()
            except AssertionError as exc:
                w.keep_log = True
                out.mkdir(parents=True, exist_ok=True)
                for i, d in enumerate(recent):
                    (out / f"live-recent-{i:02d}").write_bytes(d)
                print(f"FINDING after {n} inputs: {exc}\nthe last {len(recent)} inputs are in "
                      f"{out}/live-recent-*; server log {w.log_path}", file=sys.stderr)
                return 1
            n += 1
            if n % 1000 == 0:
                el = time.monotonic() - start
                print(f"#{n} {el:.0f}s {n / el:.0f}/s; {w.status()}", flush=True)
        el = time.monotonic() - start
        print(f"done: {n} inputs in {el:.1f}s ({n / el:.0f}/s), {reply_bytes} reply bytes, "
              f"{w.closing_lines} connections refused with a typed error, {w.log_lines} "
              f"server log lines; healthy pair: {w.status()}")
        return 0
    finally:
        w.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("--"):
        atheris_main(test_one_input, [sys.argv[0], *argv])  # libFuzzer flags and corpus dirs
        return 0
    ap = argparse.ArgumentParser(description="Mutated connections against grtmp-server "
                                             "while a healthy pair streams (no atheris).")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/grtmp-fuzz-live"))
    args = ap.parse_args(argv)
    return loop(args.seconds, args.seed, args.out)


if __name__ == "__main__":
    sys.exit(main())
