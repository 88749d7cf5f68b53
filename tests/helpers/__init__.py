"""Shared test helpers: a hand-driven RTMP peer, message predicates, bounded waits.

Imported by test modules; test modules never import each other.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.socket

from grtmp.amf.command import decode_command, encode_command
from grtmp.errors import RTMPError
from grtmp.wire import control
from grtmp.wire.chunk import ChunkReader, ChunkWriter
from grtmp.wire.handshake import client_handshake
from grtmp.wire.message import (
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_DATA,
    CSID_VIDEO,
    USER_CONTROL,
    VIDEO,
    Message,
)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Cooperatively poll ``predicate`` until true or ``timeout``; returns the last value."""
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(interval)
    return bool(predicate())


AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f" \
             b"\x01\x00\x02\x68\xeb"
AAC_HEADER = b"\xaf\x00\x12\x10"


def key(n: int = 0) -> bytes:
    return b"\x17\x01\x00\x00\x00" + bytes([n]) * 16


def inter(n: int = 0) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([n]) * 8


def aac(n: int = 0) -> bytes:
    return b"\xaf\x01" + bytes([n]) * 6


# -- a raw peer: every message the server sends, nothing answered for us ------------------------


class Peer:
    """A hand-driven RTMP client: handshake, then send and read messages one by one."""

    def __init__(self, port: int, *, handshake: bool = True, timeout: float = 5.0,
                 rcvbuf: int = 0):
        self.sock = gevent.socket.socket()
        if rcvbuf:  # before connect, so the TCP window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.rfile = self.sock.makefile("rb")
        self.writer = ChunkWriter(128)
        self.sent = 0  # bytes sent after the handshake (what the server's reader counts)
        self.tid = 1
        if handshake:
            client_handshake(self.rfile, self.sock.sendall)
        self.reader = ChunkReader(self.rfile)

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)

    def send(self, msg: Message, csid: int) -> None:
        self.send_raw(self.writer.write(msg, csid))

    def command(self, name: str, obj: Any = None, *args: Any, stream_id: int = 0,
                tid: float | None = None) -> float:
        if tid is None:
            self.tid += 1
            tid = float(self.tid)
        self.send(Message(COMMAND_AMF0, 0, stream_id, encode_command(name, tid, obj, *args)),
                  CSID_COMMAND)
        return tid

    def set_chunk_size(self, size: int) -> None:
        self.send(control.SetChunkSize(size).message(), CSID_CONTROL)
        self.writer.chunk_size = size

    def media(self, type_id: int, ts: int, payload: bytes, stream_id: int = 1) -> None:
        csid = CSID_VIDEO if type_id == VIDEO else CSID_AUDIO if type_id == AUDIO else CSID_DATA
        self.send(Message(type_id, ts, stream_id, payload), csid)

    def read(self, timeout: float = 5.0) -> Message:
        with gevent.Timeout(timeout, AssertionError("no message from the server in time")):
            return self.reader.read_message()

    def read_until(self, pred, timeout: float = 5.0) -> list[Message]:
        """Messages up to and including the first one for which ``pred`` holds."""
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read(max(0.01, deadline - time.monotonic()))
            out.append(msg)
            if pred(msg):
                return out

    def read_for(self, seconds: float) -> list[Message]:
        """Everything that arrives within ``seconds`` (the connection stays open)."""
        out: list[Message] = []
        with gevent.Timeout(seconds, False):
            while True:
                out.append(self.reader.read_message())
        return out

    def connect(self, app: str = "live", **extra: Any) -> list[Message]:
        obj = {"app": app, "tcUrl": f"rtmp://127.0.0.1/{app}", "flashVer": "FMLE/3.0",
               "objectEncoding": 0.0}
        obj.update(extra)
        tid = self.command("connect", obj)
        return self.read_until(lambda m: is_cmd(m, "_result", tid))

    def create_stream(self) -> int:
        tid = self.command("createStream", None)
        msgs = self.read_until(lambda m: is_cmd(m, "_result", tid))
        return int(cmd_of(msgs[-1]).args[0])

    def publish(self, name: str, stream_id: int) -> list[Message]:
        self.command("publish", None, name, "live", stream_id=stream_id, tid=0.0)
        return self.read_until(lambda m: status_of(m) == "NetStream.Publish.Start")

    def play(self, name: str, stream_id: int) -> list[Message]:
        self.command("play", None, name, -2.0, stream_id=stream_id, tid=0.0)
        return self.read_until(lambda m: status_of(m) == "NetStream.Play.Start")

    def eof(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection within ``timeout``."""
        try:
            with gevent.Timeout(timeout, False):
                while True:
                    self.reader.read_message()
        except (RTMPError, OSError):
            return True
        return False

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.rfile.close()
            self.sock.close()
        except (OSError, RuntimeError):
            pass


def cmd_of(msg: Message):
    if msg.type_id not in (COMMAND_AMF0, COMMAND_AMF3):
        return None
    return decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)


def is_cmd(msg: Message, name: str, tid: float | None = None) -> bool:
    cmd = cmd_of(msg)
    return cmd is not None and cmd.name == name and (tid is None or cmd.transaction_id == tid)


def status_of(msg: Message) -> str | None:
    cmd = cmd_of(msg)
    if cmd is None or cmd.name != "onStatus" or not cmd.args:
        return None
    info = cmd.args[0]
    return info.get("code") if isinstance(info, dict) else None


def uc(msg: Message) -> tuple[int, tuple[int, ...]] | None:
    if msg.type_id != USER_CONTROL:
        return None
    ctl = control.parse_control(msg)
    values = tuple(getattr(ctl, f.name) for f in dataclasses.fields(ctl) if f.name != "data")
    return int(ctl.event), values


def media_of(msgs: list[Message]) -> list[tuple[int, bytes]]:
    return [(m.type_id, bytes(m.payload)) for m in msgs if m.type_id in (AUDIO, VIDEO)]


# -- sessions wired in memory (h11's ConnectionPair idea): no sockets, no sleeps ----------------


class _Pipe:
    """Bytes one session wrote, for the other side's chunk reader (whole messages only)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def read(self, n: int) -> bytes:
        if len(self.buf) < n:
            raise AssertionError("a session read past what the other side sent")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class SessionPair:
    """A :class:`ClientSession` and a :class:`ServerSession` wired to each other in memory.

    :meth:`to_server` moves what the client queued into the server and returns the server's
    events (and the messages it read); :meth:`to_client` does the reverse.
    """

    def __init__(self, config=None, *, app: str = "live") -> None:
        from grtmp.protocol.client import ClientSession
        from grtmp.protocol.server import ServerSession
        from grtmp.wire.chunk import ChunkReader

        self.client = ClientSession(app, f"rtmp://127.0.0.1/{app}")
        self.server = ServerSession(config, peer="memory")
        self._to_server = _Pipe()
        self._to_client = _Pipe()
        self.server_reader = ChunkReader(self._to_server)
        self.client_reader = ChunkReader(self._to_client)
        self.server_messages: list[Message] = []
        self.client_messages: list[Message] = []

    def _move(self, data: bytes, pipe: _Pipe, reader, session, log: list) -> list:
        """Deliver messages until none is left, or until one asks for a decision (as the
        shell does: nothing more is read until the decision is made)."""
        from grtmp.protocol.events import ConnectRequested, PlayRequested, PublishRequested

        pipe.buf += data
        events: list = []
        while pipe.buf:
            msg = reader.read_message()
            log.append(msg)
            new = session.receive(msg, reader.bytes_read)
            events.extend(new)
            if any(isinstance(e, ConnectRequested | PublishRequested | PlayRequested)
                   for e in new):
                break
        return events

    def to_server(self) -> list:
        return self._move(self.client.data_to_send(), self._to_server, self.server_reader,
                          self.server, self.server_messages)

    def to_client(self) -> list:
        return self._move(self.server.data_to_send(), self._to_client, self.client_reader,
                          self.client, self.client_messages)

    def connected(self, **extra: Any) -> SessionPair:
        """Run connect through to the client's ConnectResult; returns self."""
        self.client.connect(**extra)
        (req,) = self.to_server()
        self.server.accept_connect()
        self.to_client()
        return self

    def stream(self) -> int:
        """createStream through both sides; the new message stream id."""
        from grtmp.protocol.events import StreamCreated

        self.client.create_stream()
        assert self.to_server() == []
        (created,) = [e for e in self.to_client() if isinstance(e, StreamCreated)]
        return created.stream_id


def self_signed_cert(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (PEM files in ``tmp_path``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


# -- redis-server for the cluster tests -------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"0123456789abcdef-cluster-secret"

REDIS_SERVER = shutil.which("redis-server")
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Debian's redis-server on 127.0.0.1:<free port>, no persistence, DEBUG enabled."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        self.log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir),
             "--enable-debug-command", "yes"],
            stdout=self.log, stderr=subprocess.STDOUT)
        with gevent.Timeout(timeout, AssertionError("redis-server did not start")):
            while True:
                assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return
                except OSError:
                    pass
                gevent.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def client(self):
        """A plain redis-py client (blocking sockets: quick test-side reads and raw writes)."""
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
