"""A small blocking RTMP client: connect, publish or play, send and read messages.

Straight-line code over a socket, like the server's sessions. It uses the standard ``socket``
module by default (cooperative under ``gevent.monkey.patch_all()``); pass
``socket_module=gevent.socket`` to use it inside an unpatched gevent program.
Used by the tests, the fan-out benchmark and ``grtmp-inspect rtmp://...``.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from grtmp.amf.command import decode_command, encode_command, encode_data
from grtmp.errors import CommandError, ProtocolError
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
    DATA_AMF0,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
    UserControlEvent,
)

__all__ = ["Client", "parse_url"]


def parse_url(url: str) -> tuple[str, int, str, str]:
    """``rtmp://host[:port]/app[/inst]/name`` -> (host, port, app, stream name)."""
    parts = urlsplit(url)
    if parts.scheme not in ("rtmp", "rtmps"):
        raise ValueError(f"not an rtmp:// URL: {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "rtmps" else 1935)
    path = parts.path.lstrip("/")
    app, _, name = path.partition("/")
    if parts.query:
        name = f"{name}?{parts.query}"
    return host, port, app, name


class Client:
    """An RTMP client connection (one per instance)."""

    def __init__(self, url: str, *, timeout: float = 10.0, chunk_size: int = 4096,
                 socket_module: ModuleType = socket, ssl_context: Any = None):
        self.url = url
        self.host, self.port, self.app, self.name = parse_url(url)
        self.timeout = timeout
        self.out_chunk_size = chunk_size
        self._socket = socket_module
        self._ssl_context = ssl_context
        self.sock: Any = None
        self._rfile: Any = None
        self.reader: ChunkReader | None = None
        self.writer = ChunkWriter(128)
        self._tid = 1
        self.stream_id = 0
        self.statuses: list[dict[str, Any]] = []
        self.pending: deque[Message] = deque()
        self.connect_result: Any = None
        self.window = 0
        self._acked = 0

    # -- plumbing ------------------------------------------------------------------
    def _send(self, *items: tuple[Message, int]) -> None:
        self.sock.sendall(b"".join(self.writer.write(m, c) for m, c in items))

    def _call(self, name: str, obj: Any, *args: Any, stream_id: int = 0) -> float:
        tid = float(self._tid)
        self._tid += 1
        payload = encode_command(name, tid, obj, *args)
        self._send((Message(COMMAND_AMF0, 0, stream_id, payload), CSID_COMMAND))
        return tid

    def _read(self) -> Message:
        assert self.reader is not None
        msg = self.reader.read_message()
        t = msg.type_id
        if t == USER_CONTROL:
            ctl = control.parse_control(msg)
            if ctl.event == UserControlEvent.PING_REQUEST:
                self._send((control.ping_response(ctl.values[0]), CSID_CONTROL))
        elif t == WINDOW_ACK_SIZE:
            self.window = control.parse_control(msg).value or 0
        if self.window and self.reader.bytes_read - self._acked >= self.window:
            self._acked = self.reader.bytes_read
            self._send((control.acknowledgement(self._acked & 0xFFFFFFFF), CSID_CONTROL))
        return msg

    def _wait_result(self, tid: float) -> tuple[str, list[Any]]:
        while True:
            msg = self._read()
            if msg.type_id in (COMMAND_AMF0, COMMAND_AMF3):
                cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
                if cmd.name in ("_result", "_error") and cmd.transaction_id == tid:
                    return cmd.name, [cmd.command_object, *cmd.args]
                if cmd.name == "onStatus" and cmd.args:
                    self.statuses.append(cmd.args[0])
                continue
            self.pending.append(msg)

    def _wait_status(self, *codes: str) -> dict[str, Any]:
        while True:
            msg = self._read()
            if msg.type_id in (COMMAND_AMF0, COMMAND_AMF3):
                cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
                if cmd.name == "onStatus" and cmd.args and isinstance(cmd.args[0], dict):
                    info = cmd.args[0]
                    self.statuses.append(info)
                    if info.get("level") == "error":
                        raise CommandError(str(info.get("description")),
                                           str(info.get("code")))
                    if info.get("code") in codes:
                        return info
                continue
            self.pending.append(msg)

    # -- API -----------------------------------------------------------------------
    def connect(self, **extra: Any) -> Any:
        """Open the TCP connection, handshake and send ``connect``; returns its _result."""
        self.sock = self._socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self._ssl_context is not None:
            self.sock = self._ssl_context.wrap_socket(self.sock, server_hostname=self.host)
        rfile = self._rfile = self.sock.makefile("rb")
        client_handshake(rfile, self.sock.sendall)
        self.reader = ChunkReader(rfile)
        params = {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0 (grtmp)",
                  "tcUrl": f"rtmp://{self.host}:{self.port}/{self.app}",
                  "fpad": False, "capabilities": 15.0, "audioCodecs": 4071.0,
                  "videoCodecs": 252.0, "videoFunction": 1.0, "objectEncoding": 0.0}
        params.update(extra)
        tid = self._call("connect", params)
        self._send((control.set_chunk_size(self.out_chunk_size), CSID_CONTROL))
        self.writer.chunk_size = self.out_chunk_size
        kind, values = self._wait_result(tid)
        if kind != "_result":
            raise CommandError(f"connect refused: {values}", "NetConnection.Connect.Rejected")
        self.connect_result = values
        return values

    def create_stream(self) -> int:
        kind, values = self._wait_result(self._call("createStream", None))
        if kind != "_result" or len(values) < 2:
            raise ProtocolError(f"createStream failed: {values}")
        self.stream_id = int(values[1])
        return self.stream_id

    def publish(self, name: str | None = None, kind: str = "live") -> dict[str, Any]:
        """Publish ``name`` (default: the URL's); raises CommandError on an error status."""
        name = name if name is not None else self.name
        self._call("releaseStream", None, name)
        self._call("FCPublish", None, name)
        self.create_stream()
        self._call("publish", None, name, kind, stream_id=self.stream_id)
        return self._wait_status("NetStream.Publish.Start")

    def play(self, name: str | None = None, start: float = -2.0) -> dict[str, Any]:
        """Play ``name`` (default: the URL's); returns the Play.Start status."""
        name = name if name is not None else self.name
        self.create_stream()
        self._call("play", None, name, start, stream_id=self.stream_id)
        self._send((control.set_buffer_length(self.stream_id, 3000), CSID_CONTROL))
        return self._wait_status("NetStream.Play.Start")

    def call(self, name: str, *args: Any, stream_id: int | None = None) -> float:
        """Send any command (no reply awaited); returns its transaction id."""
        return self._call(name, None, *args,
                          stream_id=self.stream_id if stream_id is None else stream_id)

    def send_media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        csid = CSID_VIDEO if type_id == VIDEO else CSID_AUDIO if type_id == AUDIO else CSID_DATA
        self._send((Message(type_id, timestamp & 0xFFFFFFFF, self.stream_id, payload), csid))

    def send_metadata(self, metadata: dict[str, Any]) -> None:
        payload = encode_data("@setDataFrame", "onMetaData", metadata)
        self._send((Message(DATA_AMF0, 0, self.stream_id, payload), CSID_DATA))

    def read_message(self) -> Message:
        """The next message from the server (pings are answered on the way)."""
        if self.pending:
            return self.pending.popleft()
        msg = self._read()
        if msg.type_id in (COMMAND_AMF0, COMMAND_AMF3):
            cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
            if cmd.name == "onStatus" and cmd.args and isinstance(cmd.args[0], dict):
                self.statuses.append(cmd.args[0])
        return msg

    def media(self) -> Iterator[Message]:
        """Iterate audio, video and data messages until the connection ends."""
        while True:
            msg = self.read_message()
            if msg.type_id in (AUDIO, VIDEO, DATA_AMF0):
                yield msg

    def close(self) -> None:
        """Close the connection (the peer sees EOF at once)."""
        if self.sock is not None:
            sock, self.sock = self.sock, None
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if self._rfile is not None:
                try:
                    self._rfile.close()
                except RuntimeError:
                    pass  # another greenlet is blocked reading it; shutdown wakes it with EOF
            sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
