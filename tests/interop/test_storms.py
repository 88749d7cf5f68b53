"""Fault storms on loopback while FFmpeg relays a stream through the server (issue #5).

While an FFmpeg publisher streams in real time to an FFmpeg player, cooperative gevent clients
in the same process hit the server with garbage handshakes, slowloris connections, claims of
huge messages on many chunk streams and hundreds of abrupt disconnects in the middle of a
message. The relayed stream must stay frame-for-frame identical, the server's memory must stay
bounded, every storm connection must be closed by the server (or be gone) at the end, and every
refusal must be one typed log line naming the peer, with no traceback anywhere.
"""

from __future__ import annotations

import gc
import logging
import random
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import gevent.pool
import gevent.socket
import gevent.subprocess

from grtmp.net.client import Client
from grtmp.wire.chunk import chunk_message, encode_chunk_header
from grtmp.wire.handshake import HANDSHAKE_SIZE
from grtmp.wire.message import VIDEO, Message
from tests.helpers import wait_until

#: Small but realistic limits; max_message_size is nginx-rtmp's default ``max_message 1M``.
STORM_LIMITS = {
    "handshake_timeout": 2.0,
    "idle_timeout": 3.0,
    "ping_interval": 1.0,
    "max_message_size": 1 << 20,
    "max_chunk_streams": 64,
}
#: Largest RSS growth of the test process (server + storm clients) we accept, in kB.
MAX_RSS_GROWTH_KB = 100 * 1024

GARBAGE = 200
SLOWLORIS = 30
SLOW_AFTER_HANDSHAKE = 5
CLAIMS = 20
ABRUPT = 300


def _rss_kb() -> int:
    """Resident set size of this process (server and storm clients), from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass
class StormLog:
    """What the storm clients saw: how each ended, how long it lived, what went wrong."""

    outcomes: Counter = field(default_factory=Counter)
    lifetimes: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def lived(self, kind: str, seconds: float) -> None:
        self.lifetimes.setdefault(kind, []).append(seconds)

    def guard(self, kind: str, fn: Callable[[], str]) -> None:
        """Run one storm client; record its outcome, or the unexpected error it hit."""
        try:
            self.outcomes[f"{kind}:{fn()}"] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test, with its kind
            self.failures.append(f"{kind}: {type(exc).__name__}: {exc}")


def _connect(port: int) -> gevent.socket.socket:
    return gevent.socket.create_connection(("127.0.0.1", port), timeout=10)


def _rst_close(sock: gevent.socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _wait_closed(sock: gevent.socket.socket, timeout: float) -> bool:
    """Read (and discard) until the server closes; False if it is still open after timeout."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:  # reset by the server
            return True


def _client_rst(client: Client) -> None:
    """Abort a grtmp Client's connection with a RST."""
    sock = client.sock
    client.sock = None
    if client._rfile is not None:
        client._rfile.close()
    _rst_close(sock)


# -- the storms -------------------------------------------------------------------------------


def _garbage_handshake(port: int, rng: random.Random) -> str:
    """One connection that breaks the handshake in one of several ways."""
    kind = rng.choice(["version", "http", "tls", "truncated-fin", "truncated-rst", "empty",
                       "noise-after"])
    sock = _connect(port)
    try:
        if kind == "version":
            c0 = rng.choice([0, 6, 8, 0xFF])  # RTMPE is 6 and 8
            sock.sendall(bytes((c0,)) + rng.randbytes(HANDSHAKE_SIZE))
        elif kind == "http":
            sock.sendall(b"GET /live/relay HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        elif kind == "tls":
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(500))
        elif kind.startswith("truncated"):
            sock.sendall(b"\x03" + rng.randbytes(rng.randrange(0, HANDSHAKE_SIZE)))
            if kind.endswith("rst"):
                _rst_close(sock)
                return kind
            sock.shutdown(socket.SHUT_WR)
        elif kind == "empty":
            sock.shutdown(socket.SHUT_WR)
        else:
            # A valid simple handshake, then random bytes as the chunk stream.
            sock.sendall(b"\x03" + bytes(8) + rng.randbytes(HANDSHAKE_SIZE - 8))
            got = b""
            while len(got) < 1 + 2 * HANDSHAKE_SIZE:
                data = sock.recv(65536)
                if not data:
                    return kind + ":closed-early"
                got += data
            sock.sendall(got[1:1 + HANDSHAKE_SIZE])  # C2 echoes S1
            sock.sendall(rng.randbytes(rng.randrange(1, 3000)))
            if not _wait_closed(sock, 0.5):
                sock.shutdown(socket.SHUT_WR)  # parsed as a partial message: end it
        if not _wait_closed(sock, 10):
            raise AssertionError(f"{kind}: server kept a broken handshake open")
        return kind
    finally:
        sock.close()


def _slowloris(port: int, log: StormLog, after_handshake: bool) -> str:
    """One byte per second, in the handshake or (after connect) inside a message body."""
    if after_handshake:
        client = Client(f"rtmp://127.0.0.1:{port}/live", socket_module=gevent.socket)
        client.connect()
        sock = client.sock
        head = encode_chunk_header(0, 6, 0, 100_000, VIDEO, 1)
        sock.sendall(head)
        kind = "slow-body"
    else:
        client = None
        sock = _connect(port)
        sock.sendall(b"\x03")
        kind = "slow-handshake"
    t0 = time.monotonic()
    try:
        for _ in range(15):
            if _wait_closed(sock, 1.0):
                log.lived(kind, time.monotonic() - t0)
                return "dropped"
            try:
                sock.sendall(b"\x00")
            except OSError:
                log.lived(kind, time.monotonic() - t0)
                return "dropped"
        raise AssertionError(f"{kind} connection still open after 15 s")
    finally:
        if client is not None:
            client.close()
        else:
            sock.close()


def _claims(port: int, variant: str, log: StormLog) -> str:
    """Connect, then start huge messages on many chunk streams and send only a little."""
    client = Client(f"rtmp://127.0.0.1:{port}/live", socket_module=gevent.socket)
    client.connect()  # our outbound chunk size is now 4096
    sock = client.sock
    limit = STORM_LIMITS["max_message_size"]
    chunk = b"\x17\x01" + bytes(4094)
    t0 = time.monotonic()
    try:
        if variant == "16MB":
            # 0xFFFFFF is the largest length the wire can claim.
            sock.sendall(b"".join(encode_chunk_header(0, csid, 0, 0xFFFFFF, VIDEO, 1) + chunk
                                  for csid in range(10, 60)))
        elif variant == "streams":
            sock.sendall(b"".join(encode_chunk_header(0, csid, 0, limit, VIDEO, 1) + chunk
                                  for csid in range(10, 200)))
        elif variant == "buffered":
            # 40 messages of 1 MiB each in parallel, 4 KiB at a time: past max_buffered.
            csids = range(10, 50)
            sock.sendall(b"".join(encode_chunk_header(0, c, 0, limit, VIDEO, 1) + chunk
                                  for c in csids))
            round_ = b"".join(encode_chunk_header(3, c) + chunk for c in csids)
            for _ in range(limit // len(chunk)):
                try:
                    sock.sendall(round_)
                except OSError:
                    break
        else:  # "stall": a little on many chunk streams, then silence
            sock.sendall(b"".join(encode_chunk_header(0, csid, 0, limit, VIDEO, 1) + chunk
                                  for csid in range(10, 60)))
        if not _wait_closed(sock, 10):
            raise AssertionError(f"claims/{variant}: connection still open")
        log.lived(f"claims-{variant}", time.monotonic() - t0)
        return variant
    finally:
        client.close()


def _abrupt(port: int, i: int, frame: bytes) -> str:
    """Connect, publish (or play) another name, send half a video message, then vanish."""
    kind = ("publish-rst", "publish-rst", "publish-rst", "publish-fin", "play-rst")[i % 5]
    client = Client(f"rtmp://127.0.0.1:{port}/live/storm{i}", socket_module=gevent.socket)
    try:
        client.connect()
        if kind == "play-rst":
            client.play()
        else:
            client.publish()
            msg = Message(VIDEO, 40 * i, client.stream_id, frame)
            data = chunk_message(msg, 6, client.out_chunk_size)
            client.sock.sendall(data[:len(data) // 2])
        if kind.endswith("rst"):
            _client_rst(client)
        return kind
    finally:
        client.close()


# -- the test ---------------------------------------------------------------------------------


def test_relay_survives_storms(make_server, av_peers, caplog, capfd):
    caplog.set_level(logging.INFO, logger="grtmp")
    srv = make_server(**STORM_LIMITS)
    port = srv.port
    url = f"rtmp://127.0.0.1:{port}/live/relay"
    frames, fps, gop = 250, 25, 25
    pub = av_peers("publish", url, "--frames", str(frames), "--fps", str(fps),
                   "--gop", str(gop), "--linger", "0.5")
    assert wait_until(lambda: (s := srv.hub.get("live", "relay")) is not None and s.is_live,
                      timeout=20)
    stream = srv.hub.get("live", "relay")
    player = av_peers("play", url, "--timeout", "40")
    assert wait_until(lambda: len(stream.players) == 1, timeout=20)
    good = {stream.publisher, next(c for c in srv.conns if c.playing)}

    gc.collect()
    rss_before = _rss_kb()
    peak = [rss_before]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_kb())
            gevent.sleep(0.05)

    sampler = gevent.spawn(sample)
    log = StormLog()
    rng = random.Random(5)
    frame = rng.randbytes(20_000)
    pool = gevent.pool.Pool(40)
    t_storm = time.monotonic()
    jobs = []
    for _ in range(SLOWLORIS):
        jobs.append(pool.spawn(log.guard, "slowloris",
                               lambda: _slowloris(port, log, after_handshake=False)))
    for _ in range(SLOW_AFTER_HANDSHAKE):
        jobs.append(pool.spawn(log.guard, "slowloris",
                               lambda: _slowloris(port, log, after_handshake=True)))
    for n in range(CLAIMS):
        variant = ("16MB", "streams", "buffered", "stall")[n % 4]
        jobs.append(pool.spawn(log.guard, "claims", lambda v=variant: _claims(port, v, log)))
    # Garbage and abrupt disconnects interleaved, each bounded by the pool.
    seeds = [rng.getrandbits(32) for _ in range(GARBAGE)]
    order = [("g", n) for n in range(GARBAGE)] + [("a", n) for n in range(ABRUPT)]
    rng.shuffle(order)
    for what, n in order:
        if what == "g":
            jobs.append(pool.spawn(log.guard, "garbage",
                                   lambda s=seeds[n]: _garbage_handshake(port, random.Random(s))))
        else:
            jobs.append(pool.spawn(log.guard, "abrupt", lambda k=n: _abrupt(port, k, frame)))
    gevent.joinall(jobs, timeout=30)
    storm_seconds = time.monotonic() - t_storm
    assert all(j.dead for j in jobs), "storm clients still running after 30 s"
    assert not log.failures, log.failures[:10]

    # Every storm connection is gone; only the two good peers (while the stream runs) remain.
    assert wait_until(lambda: set(srv.conns) <= good, timeout=5), \
        [c.peer for c in srv.conns if c not in good]
    still_live = stream.is_live
    if still_live:
        assert {s.name for s in srv.hub} == {"relay"}, [s.name for s in srv.hub]
    gc.collect()
    rss_after = _rss_kb()
    sampler.kill()

    sent = pub.result(60)
    got = player.result(60)
    assert "error" not in sent, sent
    assert "error" not in got, got
    assert sent["video_packets"] == frames
    # Frame for frame: a contiguous run of the publisher's frames, up to the last one.
    assert _is_contiguous_tail(got["hashes"], sent["hashes"])
    assert len(got["hashes"]) >= frames - 2 * gop
    assert got["first_decode_error"] is None
    assert got["dts"] == sorted(got["dts"])
    assert wait_until(lambda: not srv.conns and not len(srv.hub), timeout=10)

    # Memory: bounded while hundreds of connections came and went.
    growth_peak = peak[0] - rss_before
    growth_end = rss_after - rss_before
    summary = (f"storm {storm_seconds:.1f}s, stream still live after it: {still_live}; RSS before "
          f"{rss_before} kB, peak +{growth_peak} kB, after +{growth_end} kB; outcomes "
          f"{dict(sorted(log.outcomes.items()))}; lifetimes "
          f"{ {k: (round(min(v), 2), round(max(v), 2)) for k, v in log.lifetimes.items()} }")
    assert growth_peak < MAX_RSS_GROWTH_KB
    assert growth_end < MAX_RSS_GROWTH_KB

    # Slowloris: dropped by the handshake timeout (or the idle timeout once connected).
    hs = log.lifetimes["slow-handshake"]
    assert len(hs) == SLOWLORIS
    assert all(STORM_LIMITS["handshake_timeout"] - 0.3 <= t <=
               STORM_LIMITS["handshake_timeout"] + 1.5 for t in hs), hs
    body = log.lifetimes["slow-body"]
    assert len(body) == SLOW_AFTER_HANDSHAKE
    limit = STORM_LIMITS["idle_timeout"] + STORM_LIMITS["ping_interval"] + 1.5
    assert all(t <= limit for t in body), body

    # One typed warning per refused peer, naming it; no error records, no traceback.
    closing = [r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING and "closing:" in r.getMessage()]
    assert all(m.startswith("[127.0.0.1:") for m in closing), closing[:5]
    reasons = Counter(m.split("closing: ", 1)[1].split(":")[0] for m in closing)
    timed_out = sum("HandshakeError: handshake timed out" in m for m in closing)
    assert timed_out >= SLOWLORIS, reasons
    assert reasons["LimitExceeded"] >= 3 * CLAIMS // 4, reasons
    for why in ("message length 16777215 above", "more than 64 chunk streams",
                f"more than {2 * STORM_LIMITS['max_message_size']} bytes of partly received"):
        assert sum(why in m for m in closing) >= CLAIMS // 4, (why, reasons)
    assert reasons["no data for 3s"] + reasons["no data for 4s"] >= \
        SLOW_AFTER_HANDSHAKE + CLAIMS // 4, reasons
    assert reasons["HandshakeError"] >= SLOWLORIS + GARBAGE // 2, reasons
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad[:5]]
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    print(f"{summary}; closing reasons: {dict(reasons)}")


def _is_contiguous_tail(sub: list[str], full: list[str]) -> bool:
    """``sub`` is a contiguous run of ``full`` that ends with its last element."""
    if not sub or sub[-1] != full[-1]:
        return False
    return full[len(full) - len(sub):] == sub


TINY_ATTACKERS = 4


def _tiny_chunk_blob(chunk_size: int, fill: int) -> bytes:
    """After connect: Set Chunk Size, two max-size messages begun, ``fill`` bytes in tiny chunks."""
    limit = STORM_LIMITS["max_message_size"]
    parts = [encode_chunk_header(0, 2, 0, 4, 1, 0) + chunk_size.to_bytes(4, "big")]
    body = bytes((i % 255) + 1 for i in range(chunk_size))
    for csid in (10, 11):
        parts.append(encode_chunk_header(0, csid, 0, limit, VIDEO, 1) + body)
    fmt3 = [encode_chunk_header(3, csid) + body for csid in (10, 11)]
    parts.extend(fmt3 * ((fill - 2 * chunk_size) // (2 * chunk_size)))
    return b"".join(parts)


def test_tiny_chunks_do_not_multiply_buffered_memory(make_server, caplog):
    """Partly received messages cost about what max_buffered says, whatever the chunk size.

    Each attacker connects, sets a chunk size of 2 and fills two 1 MiB messages to just under
    ``max_buffered`` (2 MiB), then goes silent until the idle timeout drops it.
    """
    caplog.set_level(logging.INFO, logger="grtmp")
    srv = make_server(**STORM_LIMITS)
    max_buffered = 2 * STORM_LIMITS["max_message_size"]
    blob = _tiny_chunk_blob(2, max_buffered - 64 * 1024)
    gc.collect()
    rss_before = _rss_kb()
    peak = [rss_before]
    sent = []

    def attack() -> None:
        client = Client(f"rtmp://127.0.0.1:{srv.port}/live", socket_module=gevent.socket)
        client.connect()
        client.sock.sendall(blob)
        sent.append(time.monotonic())
        assert _wait_closed(client.sock, 10), "attacker not dropped"
        client.close()

    t0 = time.monotonic()
    attackers = [gevent.spawn(attack) for _ in range(TINY_ATTACKERS)]
    while not all(a.dead for a in attackers) and time.monotonic() - t0 < 20:
        peak[0] = max(peak[0], _rss_kb())
        gevent.sleep(0.05)
    gevent.joinall(attackers, raise_error=True, timeout=1)
    assert wait_until(lambda: not srv.conns, timeout=5)
    growth = peak[0] - rss_before
    print(f"{TINY_ATTACKERS} attackers, {len(blob)} bytes each in 2-byte chunks: peak RSS "
          f"+{growth} kB; sent in {max(sent) - t0:.1f}s")
    closing = [r.getMessage() for r in caplog.records if "closing: no data" in r.getMessage()]
    assert len(closing) == TINY_ATTACKERS
    # Generous: twice max_buffered per connection plus 16 MiB for everything else.
    assert growth < (TINY_ATTACKERS * 2 * max_buffered + 16 * 1024 * 1024) // 1024


#: A peer in its own process (a greenlet in ours could not out-send the server): after
#: connect, it floods complete 5-byte Acknowledgement messages (fmt 3 headers) as fast as
#: the socket takes them.
_FLOOD = r"""
import sys, time
from grtmp.wire.chunk import encode_chunk_header
from grtmp.net.client import Client
port, seconds = int(sys.argv[1]), float(sys.argv[2])
c = Client(f"rtmp://127.0.0.1:{port}/live", timeout=10)
c.connect()
c.sock.sendall(encode_chunk_header(0, 2, 0, 4, 3, 0) + bytes(4))
blob = b"".join(b"\xc2" + bytes(4) for _ in range(100_000))
end = time.monotonic() + seconds
sent = 0
try:
    while time.monotonic() < end:
        c.sock.sendall(blob)
        sent += len(blob)
except OSError:
    pass
print(sent)
"""
#: Longest time the server may keep every other connection waiting, in seconds.
MAX_HUB_STALL = 0.25


def test_flooding_peer_does_not_freeze_the_relay(make_server, av_peers):
    """One peer sending small messages faster than they are parsed must not starve the rest.

    gevent switches greenlets only when a socket would block; the relay (publisher reads,
    player writes, watchdogs, accept) shares one thread with the flooding connection.
    """
    srv = make_server(**STORM_LIMITS)
    url = f"rtmp://127.0.0.1:{srv.port}/live/flood"
    frames, fps, gop = 150, 25, 25
    pub = av_peers("publish", url, "--frames", str(frames), "--fps", str(fps),
                   "--gop", str(gop), "--linger", "0.5")
    assert wait_until(lambda: (s := srv.hub.get("live", "flood")) is not None and s.is_live,
                      timeout=20)
    player = av_peers("play", url, "--timeout", "30")
    assert wait_until(lambda: len(srv.hub.get("live", "flood").players) == 1, timeout=20)
    stalls: list[float] = []

    def tick() -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(0.01)
            now = time.monotonic()
            stalls.append(now - last - 0.01)
            last = now

    ticker = gevent.spawn(tick)
    flood = gevent.subprocess.Popen([sys.executable, "-c", _FLOOD, str(srv.port), "3"],
                                    stdout=gevent.subprocess.PIPE)
    try:
        out, _ = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
    sent = pub.result(60)
    got = player.result(60)
    ticker.kill()
    flooded = int(out.decode().split()[-1])
    print(f"flood: {flooded} bytes in 3 s; longest hub stall {max(stalls):.3f} s")
    assert "error" not in sent and "error" not in got, (sent, got)
    assert _is_contiguous_tail(got["hashes"], sent["hashes"])
    assert max(stalls) < MAX_HUB_STALL, f"server loop blocked for {max(stalls):.2f} s"
