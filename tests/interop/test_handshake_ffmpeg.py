"""Handshake against a real client: FFmpeg (through PyAV) playing rtmp://.

FFmpeg as a *player* uses the complex handshake and, when S1's first version byte is >= 3,
validates S1's digest and S2's signature; it only sends its ``connect`` command (chunk stream
3, first byte 0x03) after that. So seeing the connect chunk proves our S1/S2 are right. A
control test shows FFmpeg really refuses a server whose S1 announces a version without a digest.
"""

from __future__ import annotations

import random
import socket
import threading

import pytest

av = pytest.importorskip("av")

from grtmp.wire.handshake import HandshakeInfo, client_handshake, server_handshake  # noqa: E402


class OneShotServer:
    """Accepts one connection on 127.0.0.1, runs ``handler(conn)`` in a thread, then closes."""

    def __init__(self, handler):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError as exc:
            self.result["error"] = exc
            return
        with conn:
            conn.settimeout(5)
            try:
                self.handler(conn, self.result)
            except Exception as exc:  # reported to the test thread
                self.result["error"] = exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join(10)
        self.sock.close()
        assert not self.thread.is_alive()


def recv_some(conn: socket.socket, n: int) -> bytes:
    """Read up to ``n`` bytes, stopping at EOF or timeout."""
    data = b""
    try:
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


def play(port: int) -> None:
    """Open the stream with FFmpeg; it must fail once our server closes the connection."""
    with pytest.raises((av.error.FFmpegError, OSError)):
        container = av.open(f"rtmp://127.0.0.1:{port}/live/test", "r", timeout=5)
        container.close()


def test_ffmpeg_player_passes_our_handshake():
    def handler(conn, result):
        result["info"] = server_handshake(conn.makefile("rb"), conn.sendall)
        result["next"] = recv_some(conn, 64)

    with OneShotServer(handler) as server:
        play(server.port)
    result = server.result
    assert "error" not in result, result.get("error")
    info: HandshakeInfo = result["info"]
    assert info.version == 3
    assert info.complex is True and info.scheme in (0, 1)
    assert info.peer_version[0] >= 3  # FFmpeg announces 9.0.124.2
    assert info.c2_ok is True  # FFmpeg signed C2 with our S1 digest: it validated S1
    nxt = result["next"]
    assert nxt[:1] == b"\x03"  # type-0 chunk header on chunk stream 3
    assert b"connect" in nxt


def test_ffmpeg_player_refuses_s1_without_digest():
    """Control: S1 with version >= 3 and no valid digest makes FFmpeg give up (the trap)."""

    def handler(conn, result):
        c0c1 = recv_some(conn, 1537)
        assert len(c0c1) == 1537 and c0c1[0] == 3
        rng = random.Random(1)
        s1 = bytes(4) + bytes((13, 14, 10, 13)) + rng.randbytes(1528)
        conn.sendall(b"\x03" + s1 + c0c1[1:])
        result["after"] = recv_some(conn, 1536 + 64)

    with OneShotServer(handler) as server:
        play(server.port)
    assert "error" not in server.result, server.result.get("error")
    assert b"connect" not in server.result["after"]
    assert len(server.result["after"]) < 1536  # no C2 either


def test_our_client_against_ffmpeg_listen_server():
    """Client side: FFmpeg as an RTMP server (``listen=1``) accepts our C2 without complaint."""
    import av.logging

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    result: dict = {}

    def listen():
        try:
            av.open(f"rtmp://127.0.0.1:{port}/live/test", "r",
                    options={"listen": "1"}, timeout=8)
        except (av.error.FFmpegError, OSError) as exc:
            result["error"] = exc

    old_level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture(local=False) as logs:
            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            conn = None
            for _ in range(100):  # FFmpeg starts listening a moment later
                try:
                    conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                    break
                except OSError:
                    threading.Event().wait(0.05)
            assert conn is not None, "FFmpeg did not listen"
            with conn:
                conn.settimeout(5)
                info = client_handshake(conn.makefile("rb"), conn.sendall)
                # FFmpeg now waits for our connect command: the connection stays open
                conn.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    conn.recv(1)
            thread.join(10)
            assert not thread.is_alive()
    finally:
        av.logging.set_level(old_level)
    assert "error" in result  # we closed before connect: FFmpeg gives up
    # FFmpeg's server answers simple (zero version), S2 echoes our C1
    assert info.version == 3 and info.complex is False and info.c2_ok is True
    # FFmpeg warns "Erroneous C2 Message ..." when C2 does not echo its S1
    assert not [line for line in logs if "C2" in line[2]], logs
