"""HTTP-FLV and WebSocket-FLV viewers: one :class:`~grtmp.net.outbox.Outbox` each, as RTMP.

``GET /{app}/{name}.flv`` answers a chunked FLV body; the same path with ``Upgrade:
websocket`` answers 101 and sends the FLV bytes as binary WebSocket messages (framing and the
client's frames by wsproto). Either way the viewer is a player like an RTMP one: the
``on_play``/``on_play_done`` hooks (params from the query string), access rules and the
per-stream player cap (:func:`grtmp.web.client.open_play`); then an ``Outbox`` with its
:class:`~grtmp.live.PlayerPolicy` (a full queue drops video to the next keyframe, a viewer
``max_lag_seconds`` behind is disconnected) so a slow client never slows the publisher or
anyone else. The body starts with the FLV header, then the catch-up (onMetaData, sequence
headers, the GOP) and live tags; it ends when the publisher leaves (FLV, unlike RTMP, has no
in-band "unpublished" message, and a body that stalls looks like a broken network; nginx-http-flv
ends it too).

Three ways to reach the client, best first:

* **direct** (grtmp's own :class:`grtmp.web.server.WebHandler`, which puts the socket and the
  handler in the environ): the server sends the response head, then the outbox writes each
  packet's cached bytes (HTTP chunk or WebSocket frame) straight onto the socket with the same
  non-blocking send as RTMP players (:class:`~grtmp.net.outbox.Wire`); the request greenlet
  only reads the socket to see the client go (and, for WebSocket, to answer pings and close);
* **WebSocket elsewhere** (plain ``gevent.pywsgi``, gunicorn's gevent worker): the WSGI
  ``write`` callable sends the 101 head, then the socket the server exposes (``gunicorn.socket``
  or the raw input stream's socket) carries the frames;
* **iterator** (any WSGI server, e.g. Flask under gunicorn): the response body is an iterator
  fed by the outbox through a small bounded channel, so the server's own write speed is the
  back-pressure and the same drop/lag policy applies.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from gevent.queue import Empty, Full, Queue
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Message, Ping
from wsproto.utilities import generate_accept_token

from grtmp.live.player import PlayerPolicy
from grtmp.logs import peer_text
from grtmp.net.outbox import Outbox, Wire
from grtmp.web import flv
from grtmp.web.client import HTTPError, WebClient, open_play, query_params

if TYPE_CHECKING:
    from grtmp.web.app import WebApp

__all__ = ["serve_flv", "is_websocket", "websocket_accept"]

log = logging.getLogger("grtmp.web")

#: Bytes an HTTP-FLV client may send after its request (it should send none) before we drop it.
MAX_HTTP_GARBAGE = 64 * 1024
#: Data messages a WS-FLV client may send (it should send none) before we close it (1008).
MAX_WS_MESSAGES = 64
#: Encoded packets the iterator channel holds between the outbox and the server.
CHANNEL_SIZE = 8
_READ = 65536
_END = object()


def is_websocket(environ: dict[str, Any]) -> bool:
    """Whether the request asks for a WebSocket (RFC 6455 4.1: ``Upgrade: websocket``)."""
    return "websocket" in str(environ.get("HTTP_UPGRADE", "")).lower()


def websocket_accept(environ: dict[str, Any]) -> str:
    """``Sec-WebSocket-Accept`` for a valid opening handshake (RFC 6455 4.2.1), else
    :class:`HTTPError` (400; 426 with the version we speak for another version)."""
    if "upgrade" not in str(environ.get("HTTP_CONNECTION", "")).lower():
        raise HTTPError(400, "WebSocket request without Connection: Upgrade")
    if str(environ.get("HTTP_SEC_WEBSOCKET_VERSION", "")).strip() != "13":
        raise HTTPError(426, "WebSocket version 13 only", [("Sec-WebSocket-Version", "13")])
    key = str(environ.get("HTTP_SEC_WEBSOCKET_KEY", "")).strip()
    try:
        ok = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise HTTPError(400, "bad Sec-WebSocket-Key")
    return generate_accept_token(key.encode()).decode()


class _Channel:
    """A socket-like sink the WSGI body iterator drains (for servers that give no socket).

    ``sendall`` blocks while the channel is full, so the outbox's writer greenlet waits for
    the server exactly as it would wait for a socket; its queue then fills and the policy
    drops and lags as for any slow player.
    """

    def __init__(self, size: int = CHANNEL_SIZE):
        self.queue: Queue = Queue(maxsize=size)
        self.closed = False

    def sendall(self, data: Any) -> None:
        if self.closed:
            raise BrokenPipeError("viewer gone")
        self.queue.put(bytes(data))
        if self.closed:
            raise BrokenPipeError("viewer gone")

    def end(self) -> None:
        """End the body after what is queued (the publisher left)."""
        if not self.closed:
            self.queue.put(_END)

    def shutdown(self, how: int) -> None:
        self.close()

    def close(self) -> None:
        """Stop now, from any greenlet: the iterator ends, a blocked writer fails."""
        if self.closed:
            return
        self.closed = True
        while True:
            try:
                self.queue.put_nowait(_END)
                return
            except Full:
                try:
                    self.queue.get_nowait()
                except Empty:
                    pass


class _Body:
    """The WSGI response body of an iterator-mode viewer."""

    def __init__(self, channel: _Channel, cleanup: Callable[[], None]):
        self.channel = channel
        self.cleanup = cleanup

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        item = self.channel.queue.get()
        if item is _END:
            raise StopIteration
        return item

    def close(self) -> None:
        self.channel.close()
        self.cleanup()


class _WriteSocket:
    """The WSGI ``write`` callable as the socket a :class:`Wire` writes to; ``shutdown`` acts
    on the server's socket when we know it."""

    def __init__(self, write: Callable[[bytes], Any], sock: Any):
        self.write = write
        self.sock = sock

    def sendall(self, data: Any) -> None:
        self.write(bytes(data))

    def shutdown(self, how: int) -> None:
        if self.sock is not None:
            self.sock.shutdown(how)


def _server_socket(environ: dict[str, Any]) -> Any:
    """The client's socket if the server exposes it (grtmp's handler, gunicorn, pywsgi)."""
    sock = environ.get("grtmp.socket") or environ.get("gunicorn.socket")
    if sock is None:
        raw = getattr(environ.get("wsgi.input"), "raw", None)
        sock = getattr(raw, "_sock", None)
    return sock


def _reader(environ: dict[str, Any], sock: Any) -> Callable[[int], bytes] | None:
    """A blocking ``read(n)`` of what the client sends next (b"" when it has gone)."""
    handler = environ.get("grtmp.handler")
    if handler is not None:
        return handler.rfile.read1
    inp = environ.get("wsgi.input")
    if getattr(inp, "raw", None) is not None and hasattr(inp, "read1"):
        return inp.read1  # pywsgi hands the raw stream over on an upgrade request
    if sock is not None:
        return sock.recv
    return None


def _headers(web: WebApp, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*extra, *web.cors_headers()]


def serve_flv(web: WebApp, environ: dict[str, Any], start_response: Callable[..., Any],
              app: str, name: str) -> Any:
    """Answer ``GET /{app}/{name}.flv`` (HTTP-FLV, or WS-FLV on an upgrade request)."""
    websocket = is_websocket(environ)
    accept = websocket_accept(environ) if websocket else ""
    params = query_params(environ)
    client = WebClient(environ, app, "ws-flv" if websocket else "http-flv", web.hub)
    try:
        stream = open_play(web.hub, web.hooks, client, name, params)
    except BaseException:
        client.done()
        raise
    handler = environ.get("grtmp.handler")
    sock = _server_socket(environ)
    if websocket:
        status = "101 Switching Protocols"
        head = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept)]
    else:
        status = "200 OK"
        head = _headers(web, [("Content-Type", "video/x-flv"), ("Cache-Control", "no-cache"),
                              ("X-Content-Type-Options", "nosniff")])
    read = _reader(environ, sock) if (websocket or handler is not None) else None
    if websocket and read is None:
        _end_play(web, client, None, None)
        raise HTTPError(501, "this WSGI server gives no access to the connection")
    write = start_response(status, head)
    if read is None:  # iterator mode
        return _iterator_play(web, client, stream)
    write(b"")  # the response head goes out now, before any media
    if handler is not None:
        handler.close_connection = True
        wire = Wire(sock)
        if websocket:
            framing = flv.FLV_WS
        else:
            framing = flv.FLV_CHUNKED if handler.response_use_chunked else flv.FLV
            handler.response_use_chunked = False  # we frame, and end, the body ourselves
    else:
        wire = Wire(_WriteSocket(write, sock) if sock is None else sock)
        framing = flv.FLV_WS
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
    _direct_play(web, client, stream, wire, framing, read)
    return []


def _outbox(web: WebApp, client: WebClient, stream: Any, wire: Wire,
            encode: Callable[[Any], bytes], on_end: Callable[[], None]) -> Outbox:
    def on_notify(published: bool) -> None:
        if not published:
            on_end()

    def on_lag() -> None:
        log.warning("%s %s viewer too far behind on %r (%d messages dropped); disconnecting",
                    client.peer, client.protocol, peer_text(stream.name), outbox.policy.dropped)
        web.hub.stats.lagged_out(client.protocol)
        wire.close()

    requested = time.monotonic()

    def encode_first(packet: Any) -> bytes:
        # Time to first frame: until the first audio/video frame goes to the socket.
        if outbox.encode is encode_first and packet.type_id in (8, 9):
            outbox.encode = encode
            web.hub.stats.first_frame_sent(client.protocol, time.monotonic() - requested)
        return encode(packet)

    outbox = Outbox(wire, PlayerPolicy(stream), queue_size=stream.config.queue_size,
                    encode=encode_first, on_notify=on_notify, on_lag=on_lag, name=client.peer)
    client.player = outbox
    client.closer = wire.close
    return outbox


def _direct_play(web: WebApp, client: WebClient, stream: Any, wire: Wire, framing: str,
                 read: Callable[[int], bytes]) -> None:
    encode, frame = flv.encoder(framing)
    ws = Connection(ConnectionType.SERVER) if framing == flv.FLV_WS else None

    def on_end() -> None:  # in the writer greenlet, under the wire's lock, after the media
        try:
            if ws is not None:
                wire.sock.sendall(ws.send(CloseConnection(code=1000, reason="stream ended")))
            elif framing == flv.FLV_CHUNKED:
                wire.sock.sendall(b"0\r\n\r\n")
        finally:
            wire.close()

    outbox = _outbox(web, client, stream, wire, encode, on_end)
    try:
        wire.send(frame(flv.file_header(*flv.stream_flags(stream))))
        stream.subscribe(outbox)
        outbox.start()
        log.info("%s play %r/%r (%s)%s", client.peer, peer_text(client.app),
                 peer_text(client.name), client.protocol,
                 "" if stream.is_live else " (waiting for publisher)")
        if ws is None:
            _drain_http(read, wire)
        else:
            _serve_ws(read, wire, ws, client)
    except OSError as exc:
        log.debug("%s %s viewer gone: %s", client.peer, client.protocol, exc)
    finally:
        _end_play(web, client, stream, outbox)


def _drain_http(read: Callable[[int], bytes], wire: Wire) -> None:
    """Wait for the client to go (EOF), discarding the little it may send."""
    extra = 0
    while not wire.closed:
        data = read(_READ)
        if not data:
            return
        extra += len(data)
        if extra > MAX_HTTP_GARBAGE:
            raise OSError("HTTP-FLV client keeps sending data")


def _serve_ws(read: Callable[[int], bytes], wire: Wire, ws: Connection,
              client: WebClient) -> None:
    """Answer the client's pings and close; a client that breaks the protocol (or keeps
    sending data messages) gets a close frame with the reason, and goes."""
    messages = 0
    while not wire.closed:
        data = read(_READ)
        if not data:
            return
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Ping):
                wire.send(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if event.code != 1000 and event.code != 1001:
                    log.info("%s ws-flv closed: %s %s", client.peer, event.code,
                             peer_text(event.reason))
                if ws.state is ConnectionState.REMOTE_CLOSING:  # the client closes
                    wire.send(ws.send(event.response()))
                elif ws.state is ConnectionState.OPEN:  # wsproto found a protocol error
                    wire.send(ws.send(CloseConnection(code=event.code, reason=event.reason)))
                return
            elif isinstance(event, Message):
                messages += 1
                if messages > MAX_WS_MESSAGES:
                    log.info("%s ws-flv client keeps sending messages; closing", client.peer)
                    wire.send(ws.send(CloseConnection(code=1008, reason="send nothing")))
                    return


def _iterator_play(web: WebApp, client: WebClient, stream: Any) -> _Body:
    channel = _Channel()
    wire = Wire(channel)
    encode, _ = flv.encoder(flv.FLV)
    outbox = _outbox(web, client, stream, wire, encode, channel.end)
    ended: list[bool] = []

    def cleanup() -> None:
        if not ended:
            ended.append(True)
            _end_play(web, client, stream, outbox)

    channel.queue.put_nowait(flv.file_header(*flv.stream_flags(stream)))
    stream.subscribe(outbox)
    outbox.start()
    log.info("%s play %r/%r (%s, via the WSGI body)", client.peer, peer_text(client.app),
             peer_text(client.name), client.protocol)
    return _Body(channel, cleanup)


def _end_play(web: WebApp, client: WebClient, stream: Any, outbox: Outbox | None) -> None:
    """Detach the viewer and tell the ``on_play_done`` hook (once)."""
    try:
        if stream is not None and outbox is not None:
            web.hub.stop_playing(stream, outbox)
            outbox.stop(flush=False, timeout=1.0)
            outbox.wire.close()
            stream.bytes_out += outbox.wire.bytes_out
        if stream is not None:
            try:
                web.hooks.on_play_done(client, client.name, client.params)
            except Exception:  # a notification never breaks the server
                log.exception("on_play_done hook failed")
            log.info("%s stop playing %r (%s, %d bytes)", client.peer, peer_text(client.name),
                     client.protocol, outbox.wire.bytes_out if outbox is not None else 0)
    finally:
        client.done()

