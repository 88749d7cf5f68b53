"""Scale-out with real processes: three grtmp-server nodes and a redis-server, and one
grtmp-server with --workers 2."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import gevent
import gevent.socket
import gevent.subprocess
import pytest

from grtmp import Client
from grtmp.cluster.redisdir import RedisDirectory
from grtmp.errors import RTMPError
from grtmp.wire.message import VIDEO
from tests.helpers import AVC_HEADER, ROOT, SECRET, free_port, wait_until

FPS = 50


def frame(n: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")


def number(payload: bytes) -> int | None:
    if len(payload) == 14 and payload[:2] == b"\x17\x01":
        return int.from_bytes(payload[10:14], "big")
    return None


class Node:
    """``grtmp-server`` in its own process, its log lines collected."""

    def __init__(self, *args: str, port: int | None = None, ready: int = 1):
        self.port = port or free_port()
        self.http_port = free_port()
        self.proc = gevent.subprocess.Popen(
            [sys.executable, "-m", "grtmp.cli.server", "--host", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(self.http_port), *args],
            stderr=gevent.subprocess.PIPE, text=True, cwd=str(ROOT),
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.lines: list[str] = []
        self._pump = gevent.spawn(self._read)
        assert wait_until(lambda: self.count(rf"listening on 127\.0\.0\.1:{self.port}\b")
                          >= ready or self.proc.poll() is not None, timeout=30), self.text
        assert self.proc.poll() is None, self.text

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except gevent.subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._pump.join(timeout=5)


class FlvPlayer:
    """An HTTP-FLV viewer (HTTP/1.0, so the body is the raw FLV stream), from a greenlet."""

    def __init__(self, port: int, path: str):
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.got: list[int] = []
        self.status = 0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                buf += self.sock.recv(65536)
            head, _, buf = buf.partition(b"\r\n\r\n")
            self.status = int(head.split()[1])
            pos = 13  # FLV header and PreviousTagSize0
            self.sock.settimeout(None)
            while True:
                while len(buf) >= pos + 11:
                    size = int.from_bytes(buf[pos + 1:pos + 4], "big")
                    if len(buf) < pos + 11 + size + 4:
                        break
                    if buf[pos] == 9:
                        n = number(buf[pos + 11:pos + 11 + size])
                        if n is not None:
                            self.got.append(n)
                    pos += 11 + size + 4
                data = self.sock.recv(65536)
                if not data:
                    return
                buf += data
        except OSError:
            pass

    def close(self) -> None:
        self._greenlet.kill()
        self.sock.close()


class Publisher:
    def __init__(self, url: str):
        self.client = Client(url, socket_module=gevent.socket, timeout=10)
        self.client.connect()
        self.client.publish()
        self.started = time.monotonic()
        self.client.send_media(VIDEO, 0, AVC_HEADER)
        self.sent = 0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            while True:
                self.client.send_media(VIDEO, self.sent * 1000 // FPS, frame(self.sent))
                self.sent += 1
                gevent.sleep(1 / FPS)
        except (OSError, RTMPError):
            pass

    def close(self) -> None:
        self._greenlet.kill()
        self.client.close()


class Player:
    def __init__(self, url: str):
        self.client = Client(url, socket_module=gevent.socket, timeout=10)
        self.client.connect()
        self.client.play()
        self.got: list[tuple[int, float]] = []
        self.ended = False
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            for msg in self.client.media():
                n = number(bytes(msg.payload)) if msg.type_id == VIDEO else None
                if n is not None:
                    self.got.append((n, time.monotonic()))
        except (OSError, RTMPError):
            pass
        self.ended = True

    @property
    def numbers(self) -> list[int]:
        return [n for n, _ in self.got]

    def codes(self) -> list[str]:
        return [s.get("code") for s in self.client.statuses]

    def close(self) -> None:
        self._greenlet.kill()
        self.client.close()


def contiguous(numbers: list[int]) -> bool:
    return bool(numbers) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


@pytest.fixture
def closing():
    things: list = []
    yield things.append
    for thing in reversed(things):
        try:
            thing.close() if hasattr(thing, "close") else thing.stop()
        except Exception:  # noqa: BLE001 - best-effort teardown
            pass


def test_three_nodes_and_redis(redis_server, closing):
    """Publish to A, play on C; one upstream from C to A for 50 players; SIGKILL A: the entry
    expires and C's players are told; the publisher reconnects to B: C's players resume
    without reconnecting, frame for frame."""
    secret = SECRET.decode()
    nodes = {}
    for name in "ABC":
        port = free_port()
        nodes[name] = Node("--cluster", redis_server.url, "--cluster-secret", secret,
                           "--cluster-advertise", f"rtmp://127.0.0.1:{port}", port=port)
        closing(nodes[name])
    a, b, c = nodes["A"], nodes["B"], nodes["C"]
    pub = Publisher(f"rtmp://127.0.0.1:{a.port}/live/cam")
    closing(pub)
    first = Player(f"rtmp://127.0.0.1:{c.port}/live/cam")
    closing(first)
    assert wait_until(lambda: first.got, timeout=10)
    assert first.got[0][1] - pub.started < 1.0, "C played later than 1 s after Publish.Start"
    players = [first] + [Player(f"rtmp://127.0.0.1:{c.port}/live/cam") for _ in range(49)]
    for p in players[1:]:
        closing(p)
    assert wait_until(lambda: all(len(p.got) >= 10 for p in players), timeout=20)
    assert all(contiguous(p.numbers) for p in players)
    # An HTTP-FLV viewer on C too, on the same single upstream connection.
    flv = FlvPlayer(c.http_port, "/live/cam.flv")
    closing(flv)
    assert wait_until(lambda: len(flv.got) >= 10, timeout=10)
    assert flv.status == 200 and contiguous(flv.got)
    # Exactly one upstream connection from C to A, whatever the number of players on C.
    assert a.count(r"play 'cam'") == 1, a.text
    # SIGKILL A: C's players are told, and the directory forgets A within its TTL.
    a.proc.send_signal(signal.SIGKILL)
    pub.close()
    assert wait_until(lambda: all("NetStream.Play.UnpublishNotify" in p.codes()
                                  for p in players), timeout=10)
    directory = RedisDirectory(redis_server.url, SECRET, "test-observer")
    closing(directory)
    killed = time.monotonic()
    assert wait_until(lambda: directory.lookup("live", "cam") is None, timeout=12)
    assert time.monotonic() - killed <= 11.0
    # The publisher comes back on B: C's players resume within 2 s, without reconnecting.
    counts = [len(p.got) for p in players]
    pub2 = Publisher(f"rtmp://127.0.0.1:{b.port}/live/cam")
    closing(pub2)
    assert wait_until(lambda: all(len(p.got) > n for p, n in zip(players, counts)),
                      timeout=5), c.text[-2000:]
    resumed = max(p.got[n][1] for p, n in zip(players, counts))
    assert resumed - pub2.started < 2.0, "C's players resumed later than 2 s"
    assert wait_until(lambda: all(len(p.got) >= n + 20 for p, n in zip(players, counts)),
                      timeout=10)
    for p, n in zip(players, counts):
        after = p.numbers[n:]
        assert not p.ended and contiguous(after)
        assert after[-1] >= pub2.sent - 2 * FPS  # B's frames, up to the live edge
    assert b.count(r"play 'cam'") == 1, b.text


def test_redis_down_local_streams_keep_working_remote_plays_not_found(redis_server, closing):
    secret = SECRET.decode()
    a = Node("--cluster", redis_server.url, "--cluster-secret", secret, "--no-wait")
    closing(a)
    pub = Publisher(f"rtmp://127.0.0.1:{a.port}/live/local")
    closing(pub)
    redis_server.kill()
    local = Player(f"rtmp://127.0.0.1:{a.port}/live/local")
    closing(local)
    assert wait_until(lambda: len(local.got) >= 10, timeout=10)
    start = time.monotonic()
    with pytest.raises(RTMPError) as exc:
        Player(f"rtmp://127.0.0.1:{a.port}/live/elsewhere")
    assert "StreamNotFound" in str(exc.value.code if hasattr(exc.value, "code") else exc.value)
    assert time.monotonic() - start < 2.0


def test_workers_share_the_port_and_a_dead_worker_comes_back(closing):
    port = free_port()
    node = Node("--workers", "2", port=port, ready=2)
    closing(node)
    pub = Publisher(f"rtmp://127.0.0.1:{port}/live/cam")
    closing(pub)
    players = [Player(f"rtmp://127.0.0.1:{port}/live/cam") for _ in range(12)]
    for p in players:
        closing(p)
    assert wait_until(lambda: all(len(p.got) >= 20 for p in players), timeout=20), node.text
    assert all(contiguous(p.numbers) for p in players)
    # Some players landed on the other worker, which pulled the stream once from the first.
    owner = re.search(r"worker-(\d) grtmp\.session: \[[^]]*\] publish 'cam'", node.text)
    assert owner, node.text
    other = 1 - int(owner.group(1))
    assert node.count(rf"worker-{other} grtmp\.relay: pulling live/cam") == 1, node.text
    # Kill the other worker: the owner keeps its stream; the supervisor restarts the other.
    pids = dict(re.findall(r"worker (\d) started \(pid (\d+)\)", node.text))
    os.kill(int(pids[str(other)]), signal.SIGKILL)
    assert wait_until(lambda: node.count(rf"worker {other} \(pid \d+\) exited") == 1, timeout=10)
    assert wait_until(lambda: node.count(rf"worker {other} started") == 2, timeout=10)
    assert wait_until(lambda: node.count(rf"listening on 127\.0\.0\.1:{port}\b") >= 3,
                      timeout=20)
    survivors = [p for p in players if not p.ended]
    counts = [len(p.got) for p in survivors]
    assert survivors
    assert wait_until(lambda: all(len(p.got) >= n + 10 for p, n in zip(survivors, counts)),
                      timeout=10)
    late = [Player(f"rtmp://127.0.0.1:{port}/live/cam") for _ in range(6)]
    for p in late:
        closing(p)
    assert wait_until(lambda: all(len(p.got) >= 10 for p in late), timeout=20), node.text


def test_workers_players_waiting_before_the_publish_all_get_it(closing):
    """Players that arrive before the publisher wait on whichever worker took them; the one
    without the publish pulls it from the other as soon as it is published."""
    port = free_port()
    node = Node("--workers", "2", port=port, ready=2)
    closing(node)
    players = [Player(f"rtmp://127.0.0.1:{port}/live/early") for _ in range(12)]
    for p in players:
        closing(p)
    assert wait_until(lambda: node.count(r"play 'early'") >= 12, timeout=20), node.text
    pub = Publisher(f"rtmp://127.0.0.1:{port}/live/early")
    closing(pub)
    assert wait_until(lambda: all(len(p.got) >= 20 for p in players), timeout=20), node.text
    assert all(contiguous(p.numbers) for p in players)
    owner = re.search(r"worker-(\d) grtmp\.session: \[[^]]*\] publish 'early'", node.text)
    assert owner, node.text
    other = 1 - int(owner.group(1))
    if node.count(rf"worker-{other} grtmp\.session: \[[^]]*\] play 'early'"):
        assert node.count(rf"worker-{other} grtmp\.relay: pulling live/early") == 1, node.text
    # The first frames reached every player soon after the publish (one look-up period).
    firsts = [p.got[0][1] - pub.started for p in players]
    assert max(firsts) < 3.0, firsts
