"""Clients for the web tests, on gevent sockets (the servers run in the same process):
a tiny HTTP/1.1 client (plain and chunked bodies), a WebSocket client on wsproto, an LL-HLS
follower using blocking playlist reload, and a paced RTMP publisher of FLV messages."""

from __future__ import annotations

import base64
import os
import re
import time
from dataclasses import dataclass, field

import gevent
import gevent.socket
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
)
from wsproto.utilities import LocalProtocolError

from grtmp.net.client import Client


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    sock: object = None
    rest: bytes = b""


def _read_head(sock, timeout: float) -> tuple[int, dict[str, str], bytes]:
    data = b""
    with gevent.Timeout(timeout):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before the response head: {data!r}")
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def request(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
            timeout: float = 10.0, body_limit: int | None = None,
            keep_open: bool = False) -> Response:
    """One request on a new connection; the body read to its end (Content-Length, chunked
    or close), or to ``body_limit`` bytes; ``keep_open`` returns after the head."""
    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
    hdrs = {"Host": f"127.0.0.1:{port}", "User-Agent": "grtmp-tests", **(headers or {})}
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    sock.sendall(req.encode("latin-1") + b"\r\n")
    status, rh, rest = _read_head(sock, timeout)
    resp = Response(status, rh, sock=sock, rest=rest)
    if keep_open:
        return resp
    try:
        resp.body = read_body(resp, timeout=timeout, limit=body_limit,
                              head=method == "HEAD")
    finally:
        sock.close()
    return resp


def read_body(resp: Response, *, timeout: float, limit: int | None = None,
              head: bool = False) -> bytes:
    sock, buf = resp.sock, resp.rest
    out = bytearray()
    if head or resp.status in (101, 204, 304):
        return b""
    with gevent.Timeout(timeout):
        if resp.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                while b"\r\n" not in buf:
                    more = sock.recv(65536)
                    if not more:
                        return bytes(out)
                    buf += more
                line, _, buf = buf.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    more = sock.recv(65536)
                    if not more:
                        out += buf[:size]
                        return bytes(out)
                    buf += more
                if size == 0:
                    return bytes(out)
                out += buf[:size]
                buf = buf[size + 2:]
                if limit is not None and len(out) >= limit:
                    return bytes(out)
        length = resp.headers.get("content-length")
        out += buf
        while length is None or len(out) < int(length):
            if limit is not None and len(out) >= limit:
                break
            more = sock.recv(65536)
            if not more:
                break
            out += more
    return bytes(out)


class WSClient:
    """A WebSocket client (wsproto) reading binary messages."""

    def __init__(self, port: int, path: str, timeout: float = 10.0):
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=path)))
        self.accepted: bool | None = None
        self.status: int | None = None
        self.closed: CloseConnection | None = None
        self.messages: list[bytes] = []
        self._partial = bytearray()
        with gevent.Timeout(timeout):
            while self.accepted is None:
                self._pump()

    def _pump(self) -> bool:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, RejectConnection):
                self.accepted = False
                self.status = event.status_code
            elif isinstance(event, BytesMessage):
                self._partial += event.data
                if event.message_finished:
                    self.messages.append(bytes(self._partial))
                    self._partial = bytearray()
            elif isinstance(event, CloseConnection):
                self.closed = event
                try:
                    self.sock.sendall(self.ws.send(event.response()))
                except (OSError, LocalProtocolError):  # already closed (EOF)
                    pass
                return False
        if not data:
            if self.accepted is None:
                self.accepted = False
            return False
        return True

    def read_until(self, *, count: int | None = None, timeout: float = 20.0) -> list[bytes]:
        """Messages until ``count`` of them, or the server closes."""
        with gevent.Timeout(timeout):
            while (count is None or len(self.messages) < count) and self._pump():
                pass
        return self.messages

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    s = gevent.socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def publish(url: str, messages: list[tuple[int, int, bytes]], *, realtime: bool = True,
            speed: float = 1.0, metadata: dict | None = None,
            arrivals: list[float] | None = None, keep_open: bool = False) -> Client | None:
    """Publish FLV messages to ``url`` with grtmp's client, paced by their timestamps
    (``arrivals`` gets the wall-clock time each was sent). ``keep_open``: return the client
    still publishing (silent) instead of closing it; the caller closes it."""
    client = Client(url, socket_module=gevent.socket)
    client.connect()
    client.publish()
    if metadata:
        client.send_metadata(metadata)
    start = time.monotonic()
    first = messages[0][1] if messages else 0
    try:
        for type_id, ts, payload in messages:
            if realtime:
                delay = (ts - first) / 1000 / speed - (time.monotonic() - start)
                if delay > 0:
                    gevent.sleep(delay)
            client.send_media(type_id, ts, payload)
            if arrivals is not None:
                arrivals.append(time.time())
    except BaseException:
        client.close()
        raise
    if keep_open:
        return client
    client.close()
    return None


_PART = re.compile(r'#EXT-X-PART:.*?URI="([^"]+)"')
_MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


@dataclass
class LLHLSFollower:
    """Follow a live LL-HLS playlist as hls.js does: blocking reloads for the next part,
    download each part once. ``parts`` are (uri, bytes, wall time listed)."""

    port: int
    path: str  # /app/name/index.m3u8
    parts: list[tuple[str, bytes, float]] = field(default_factory=list)
    inits: dict[str, bytes] = field(default_factory=dict)
    playlists: int = 0
    statuses: list[int] = field(default_factory=list)
    ended: bool = False

    def base(self) -> str:
        return self.path.rsplit("/", 1)[0] + "/"

    def run(self, until_parts: int, timeout: float = 60.0, done=None) -> None:
        """Follow until ``until_parts`` parts, the timeout, or ``done()`` is true and a reload
        brings nothing new."""
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        query = ""
        while len(self.parts) < until_parts and time.monotonic() < deadline:
            count = len(self.parts)
            finished = done is not None and done()
            r = request(self.port, self.path + query, timeout=20)
            self.playlists += 1
            self.statuses.append(r.status)
            if r.status != 200:
                if finished:
                    return
                gevent.sleep(0.2)
                continue
            text = r.body.decode()
            now = time.time()
            for uri in _MAP.findall(text):
                if uri not in self.inits:
                    self.inits[uri] = request(self.port, self.base() + uri).body
            for uri in _PART.findall(text):
                if uri not in seen:
                    seen.add(uri)
                    body = request(self.port, self.base() + uri).body
                    self.parts.append((uri, body, now))
            if "#EXT-X-ENDLIST" in text:
                self.ended = True
                return
            if finished and len(self.parts) == count:
                return
            msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
            segments = len(re.findall(r"^#EXTINF", text, re.M))
            open_parts = 0
            for line in reversed(text.splitlines()):
                if line.startswith("#EXTINF"):
                    break
                if line.startswith("#EXT-X-PART:"):
                    open_parts += 1
            query = f"?_HLS_msn={msn + segments}&_HLS_part={open_parts}"


def random_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()
