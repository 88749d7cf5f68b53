"""A blocking RTMP client on :class:`~grtmp.protocol.client.ClientSession`: connect, publish or
play, send and read messages.

Straight-line code over a socket, like the server's connections. It uses the standard
``socket`` module by default (cooperative under ``gevent.monkey.patch_all()``); pass
``socket_module=gevent.socket`` inside an unpatched gevent program. ``rtmps://`` URLs use TLS
(``ssl_context``, default: a verifying client context). Used by the tests, the benchmarks,
``grtmp-inspect rtmp://...`` and the relays.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from grtmp.errors import CommandError, ProtocolError, RTMPError
from grtmp.protocol.client import ClientSession
from grtmp.protocol.events import (
    CallResult,
    ConnectResult,
    Event,
    StatusReceived,
    StreamCreated,
)
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.handshake import client_handshake
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO, Message

__all__ = ["Client", "parse_url"]


def parse_url(url: str) -> tuple[str, int, str, str]:
    """``rtmp[s]://host[:port]/app[/inst]/name`` -> (host, port, app, stream name)."""
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
                 socket_module: ModuleType = socket, ssl_context: Any = None,
                 read_timeout: float | None = None, fair: bool = False):
        self.url = url
        #: Read through :func:`grtmp.net.fairio.fair_reader` (gevent only): a relay inside a
        #: server takes turns with the other greenlets however fast its upstream sends.
        self.fair = fair
        self.host, self.port, self.app, self.name = parse_url(url)
        self.secure = url.startswith("rtmps:")
        #: Seconds allowed for connecting (TCP, TLS, handshake, connect, createStream...).
        self.timeout = timeout
        #: Seconds a read may wait once connected (None: as long as it takes; a live stream
        #: may be silent while its publisher is away).
        self.read_timeout = read_timeout
        self._socket = socket_module
        if self.secure and ssl_context is None:
            from grtmp.net.tls import client_context

            ssl_context = client_context()
        self._ssl_context = ssl_context
        scheme = "rtmps" if self.secure else "rtmp"
        self.session = ClientSession(self.app, f"{scheme}://{self.host}:{self.port}/{self.app}",
                                     chunk_size=chunk_size)
        self.sock: Any = None
        self._rfile: Any = None
        self.reader: ChunkReader | None = None
        self.stream_id = 0
        self.statuses: list[dict[str, Any]] = []
        #: Messages read while waiting for something else (media before Play.Start...).
        self.pending: deque[Message] = deque()
        self.connect_result: Any = None
        self._chunk_size = chunk_size
        self._connect_extra: dict[str, Any] = {}
        #: What :meth:`reconnect` does again after connecting: ("publish"|"play", name).
        self._role: tuple[str, str] | None = None

    @property
    def out_chunk_size(self) -> int:
        """The chunk size this client writes with (announced after ``connect``)."""
        return self.session.writer.chunk_size

    # -- plumbing -------------------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self) -> tuple[Message, list[Event]]:
        assert self.reader is not None
        msg = self.reader.read_message()
        events = self.session.receive(msg, self.reader.bytes_read)
        self._flush()
        for event in events:
            if isinstance(event, StatusReceived):
                self.statuses.append(dict(event.info))
        return msg, events

    def _wait(self, want: type, tid: float | None = None) -> Any:
        """Read until an event of type ``want`` (with transaction ``tid``); error statuses
        raise :class:`CommandError`."""
        while True:
            msg, events = self._read()
            found = None
            for event in events:
                if isinstance(event, StatusReceived) and event.level == "error" \
                        and want is StatusReceived:
                    raise CommandError(event.description, event.code)
                if isinstance(event, want) and (tid is None or
                                                getattr(event, "transaction_id", tid) == tid):
                    found = event
            if found is not None:
                return found
            if msg.type_id in (AUDIO, VIDEO, DATA_AMF0):
                self.pending.append(msg)

    def _wait_status(self, *codes: str) -> dict[str, Any]:
        while True:
            event = self._wait(StatusReceived)
            if event.code in codes:
                return dict(event.info)

    # -- API ------------------------------------------------------------------------------------
    def connect(self, *, enhanced: bool = False, **extra: Any) -> Any:
        """Open the TCP (or TLS) connection, handshake and send ``connect``; returns its
        ``_result`` values (properties, info); :class:`CommandError` when refused.

        ``enhanced`` declares Enhanced RTMP v2 support (every FourCC grtmp knows, capsEx
        Reconnect, Multitrack and ModEx), so a server sends those codecs and every track;
        ``extra`` adds or overrides fields of the command object.
        """
        if enhanced:
            from grtmp.protocol.server import SUPPORTED_FOURCCS

            extra = {"fourCcList": list(SUPPORTED_FOURCCS),
                     "capsEx": float(0x01 | 0x02 | 0x04), **extra}
        self._connect_extra = dict(extra)
        self.sock = self._socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self._ssl_context is not None:
            self.sock = self._ssl_context.wrap_socket(self.sock, server_hostname=self.host)
        if self.fair:
            from grtmp.net.fairio import fair_reader

            rfile = self._rfile = fair_reader(self.sock)
        else:
            rfile = self._rfile = self.sock.makefile("rb")
        client_handshake(rfile, self.sock.sendall)
        self.reader = ChunkReader(rfile)
        self.session.connect(**extra)
        self._flush()
        result: ConnectResult = self._wait(ConnectResult)
        if not result.ok:
            raise CommandError(f"connect refused: {dict(result.info)}",
                               "NetConnection.Connect.Rejected")
        self.connect_result = [result.properties, dict(result.info)]
        return self.connect_result

    def _connected(self) -> None:
        """Connected and the stream set up: from now on reads wait ``read_timeout``."""
        if self.sock is not None:
            self.sock.settimeout(self.read_timeout)

    def create_stream(self) -> int:
        tid = self.session.create_stream()
        self._flush()
        while True:
            event = self._wait((StreamCreated, CallResult), tid)  # type: ignore[arg-type]
            if isinstance(event, StreamCreated):
                self.stream_id = event.stream_id
                return self.stream_id
            raise ProtocolError(f"createStream failed: {event.values}")

    def publish(self, name: str | None = None, kind: str = "live") -> dict[str, Any]:
        """Publish ``name`` (default: the URL's); raises CommandError on an error status."""
        name = name if name is not None else self.name
        self._role = ("publish", name)
        self.session.announce(name)
        self.create_stream()
        self.session.publish(self.stream_id, name, kind)
        self._flush()
        status = self._wait_status("NetStream.Publish.Start")
        self._connected()
        return status

    def play(self, name: str | None = None, start: float = -2.0) -> dict[str, Any]:
        """Play ``name`` (default: the URL's); returns the Play.Start status."""
        name = name if name is not None else self.name
        self._role = ("play", name)
        self.create_stream()
        self.session.play(self.stream_id, name, start)
        self._flush()
        status = self._wait_status("NetStream.Play.Start")
        self._connected()
        return status

    def call(self, name: str, *args: Any, stream_id: int | None = None) -> float:
        """Send any command (no reply awaited); returns its transaction id."""
        tid = self.session.call(name, *args,
                                stream_id=self.stream_id if stream_id is None else stream_id)
        self._flush()
        return tid

    def send_media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        self.session.send_media(self.stream_id, type_id, timestamp, payload)
        self._flush()

    def send_metadata(self, metadata: dict[str, Any]) -> None:
        self.session.send_metadata(self.stream_id, metadata)
        self._flush()

    def send_message(self, msg: Message, csid: int) -> None:
        """Send any message (chunked on chunk stream ``csid``)."""
        self.session.send_message(msg, csid)
        self._flush()

    def read_message(self) -> Message:
        """The next message from the server (pings are answered on the way)."""
        if self.pending:
            return self.pending.popleft()
        return self._read()[0]

    def media(self) -> Iterator[Message]:
        """Iterate audio, video and data messages until the connection ends."""
        while True:
            msg = self.read_message()
            if msg.type_id in (AUDIO, VIDEO, DATA_AMF0):
                yield msg

    def reconnect(self, *, deadline: float | None = 30.0, base: float = 0.2,
                  cap: float = 5.0) -> None:
        """Connect again, with exponential backoff (and jitter) between attempts, then
        publish or play again what this client published or played.

        Gives up with the last error after ``deadline`` seconds (None: never). Media sent
        while disconnected is the caller's to drop or keep.
        """
        import time

        from grtmp.cluster.policy import Backoff

        backoff = Backoff(base, cap)
        end = None if deadline is None else time.monotonic() + deadline
        role = self._role
        while True:
            self.close()
            self.session = ClientSession(self.app, self.session.tc_url,
                                         chunk_size=self._chunk_size)
            self.pending.clear()
            self.statuses = []
            try:
                self.connect(**self._connect_extra)
                if role is not None:
                    (self.publish if role[0] == "publish" else self.play)(role[1])
                return
            except (OSError, RTMPError):
                delay = backoff.next()
                if end is not None and time.monotonic() + delay > end:
                    raise
                self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        if self._socket.__name__.startswith("gevent"):
            import gevent

            gevent.sleep(seconds)
        else:
            import time

            time.sleep(seconds)  # cooperative when the process is monkey-patched

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
