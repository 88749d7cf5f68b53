"""A minimal RTMP client for the load generators: raw sockets, one selector, no gevent.

The benchmarks' clients must cost little and behave the same against grtmp and nginx-rtmp, so
they are written here from the protocol (RTMP 1.0, Adobe 2012: 5.2 handshake, 5.3 chunking,
5.4 protocol control, 7.2 commands) with only :mod:`grtmp.amf.amf0` borrowed for AMF0 bodies:

- :func:`c0c1` builds C0+C1: simple (zero version) or, like FFmpeg and Flash, with a client
  digest (HMAC-SHA256, scheme 0); C2 echoes S1, which both servers accept (FFmpeg publishing
  does the same);
- :func:`chunk` cuts one message into chunks (type 0 header, type 3 continuations);
- :class:`ChunkParser` reads the server's chunk stream incrementally; it keeps whole payloads of
  command and control messages and only the first bytes of media messages (enough for the
  latency stamp), so a player costs little more than its ``recv``;
- :class:`Conn` is one non-blocking client (handshake, ``connect``, optionally
  ``createStream`` + ``play``) driven by :class:`Engine` (a ``selectors`` loop);
- :class:`Publisher` is a blocking publisher (handshake, connect, createStream, publish).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from grtmp.amf import amf0

# message types (RTMP 1.0 section 5.4 and 7.1)
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BW = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF0, COMMAND_AMF3, COMMAND_AMF0 = 8, 9, 18, 17, 20
_KEEP = frozenset({SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BW,
                   COMMAND_AMF0, COMMAND_AMF3, DATA_AMF0})
CSID_CONTROL, CSID_COMMAND, CSID_AUDIO, CSID_DATA, CSID_VIDEO, CSID_PLAY = 2, 3, 4, 5, 6, 8

HANDSHAKE_SIZE = 1536
_FP_KEY = b"Genuine Adobe Flash Player 001"
_U32 = struct.Struct(">I")
_LE32 = struct.Struct("<I")

#: The latency stamp in a video frame body: 8 magic bytes, then (big-endian u64) the frame's
#: sequence number, CLOCK_MONOTONIC and CLOCK_REALTIME in ns when the publisher sent it.
STAMP_MAGIC = b"\xa5GRTMPts"
STAMP = struct.Struct(">8sQQQ")
#: SO_TIMESTAMPNS (= SCM_TIMESTAMPNS) on Linux x86-64 and arm64: the kernel's receive time
#: (CLOCK_REALTIME) of the data each recvmsg returns. Python's socket module lacks the name.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("qq")
#: Offset of the stamp in a video tag body: 5-byte AVC tag header, 4-byte NAL length, NAL type.
STAMP_OFFSET = 10


# -- bytes out -------------------------------------------------------------------------------
def c0c1(digest: bool = True) -> bytes:
    """C0 (version 3) + C1: time, version, random; with ``digest`` a scheme-0 client digest."""
    head = (int(time.monotonic() * 1000) & 0xFFFFFFFF).to_bytes(4, "big")
    if not digest:
        return b"\x03" + head + bytes(4) + os.urandom(HANDSHAKE_SIZE - 8)
    c1 = bytearray(head + bytes((9, 0, 124, 2)) + os.urandom(HANDSHAKE_SIZE - 8))
    # scheme 0: the digest sits at 12 + (sum of bytes 8..11) % 728 and covers the rest
    off = 12 + sum(c1[8:12]) % 728
    msg = bytes(c1[:off]) + bytes(c1[off + 32:])
    c1[off:off + 32] = hmac.new(_FP_KEY, msg, hashlib.sha256).digest()
    return b"\x03" + bytes(c1)


def chunk(type_id: int, payload: bytes, csid: int, stream_id: int = 0, ts: int = 0,
          chunk_size: int = 128) -> bytes:
    """One message as chunks: a type 0 header, type 3 headers every ``chunk_size`` bytes."""
    assert 2 <= csid <= 63
    ext = ts >= 0xFFFFFF
    head = bytes((csid,)) + (0xFFFFFF if ext else ts).to_bytes(3, "big") + \
        len(payload).to_bytes(3, "big") + bytes((type_id,)) + _LE32.pack(stream_id)
    ext_b = _U32.pack(ts & 0xFFFFFFFF) if ext else b""
    if len(payload) <= chunk_size:
        return head + ext_b + payload
    parts = [head, ext_b, payload[:chunk_size]]
    cont = bytes((0xC0 | csid,)) + ext_b
    for i in range(chunk_size, len(payload), chunk_size):
        parts.append(cont)
        parts.append(payload[i:i + chunk_size])
    return b"".join(parts)


def command(name: str, tid: float, obj: Any, *args: Any, csid: int = CSID_COMMAND,
            stream_id: int = 0, chunk_size: int = 128) -> bytes:
    """An AMF0 command message, chunked."""
    return chunk(COMMAND_AMF0, amf0.encode(name, float(tid), obj, *args), csid, stream_id,
                 0, chunk_size)


def control(type_id: int, value: int) -> bytes:
    """A protocol control message with one 32-bit value (chunk size, ack, window)."""
    return chunk(type_id, _U32.pack(value & 0xFFFFFFFF), CSID_CONTROL)


def user_control(event: int, *values: int) -> bytes:
    return chunk(USER_CONTROL, struct.pack(">H", event) + b"".join(_U32.pack(v)
                                                                    for v in values),
                 CSID_CONTROL)


def connect_object(app: str, tc_url: str, player: bool) -> dict[str, Any]:
    """The ``connect`` command object FFmpeg sends (player or publisher flavour)."""
    obj: dict[str, Any] = {"app": app, "flashVer": "LNX 9,0,124,2" if player else
                           "FMLE/3.0 (compatible; Lavf)", "tcUrl": tc_url}
    if player:
        obj.update(fpad=False, capabilities=15.0, audioCodecs=4071.0, videoCodecs=252.0,
                   videoFunction=1.0)
    else:
        obj["type"] = "nonprivate"
    return obj


# -- bytes in --------------------------------------------------------------------------------
class _CS:
    """Per chunk stream state of the reader."""

    __slots__ = ("ts", "delta", "length", "type", "sid", "remaining", "ext", "parts", "head")

    def __init__(self) -> None:
        self.ts = self.delta = self.length = self.type = self.sid = self.remaining = 0
        self.ext = False
        self.parts: list[bytes] | None = None
        self.head = b""


class ChunkParser:
    """Incremental reader of the chunk stream a server sends (RTMP 1.0 section 5.3).

    :meth:`feed` returns the messages completed by the data: ``(type_id, stream_id,
    timestamp, length, data)`` where ``data`` is the whole payload for command, data and
    control messages and the first ``head`` bytes for audio/video. Set Chunk Size is applied as
    soon as it completes. A fmt 3 chunk of a stream whose last header had an extended
    timestamp carries the 4 extra bytes too (what FFmpeg, nginx-rtmp and grtmp do).
    """

    def __init__(self, head: int = 64) -> None:
        self.buf = bytearray()
        self.chunk_size = 128
        self.streams: dict[int, _CS] = {}
        self.head = head
        self._cur: _CS | None = None
        self._left = 0  # body bytes of the current chunk not yet read

    def feed(self, data: bytes | memoryview) -> list[tuple[int, int, int, int, bytes]]:
        buf = self.buf
        buf += data
        n = len(buf)
        pos = 0
        out: list[tuple[int, int, int, int, bytes]] = []
        streams = self.streams
        while pos < n:
            if self._left:
                st = self._cur
                assert st is not None
                take = min(self._left, n - pos)
                if st.parts is not None:
                    st.parts.append(bytes(buf[pos:pos + take]))
                elif len(st.head) < self.head:
                    st.head += bytes(buf[pos:pos + min(take, self.head - len(st.head))])
                pos += take
                self._left -= take
                st.remaining -= take
                if not st.remaining:
                    self._complete(st, out)
                continue
            b0 = buf[pos]
            fmt, csid = b0 >> 6, b0 & 0x3F
            p = pos + 1
            if csid < 2:
                need = 2 if csid == 0 else 3
                if n - pos < need:
                    break
                csid = 64 + buf[pos + 1] + (buf[pos + 2] * 256 if csid == 1 else 0)
                p = pos + need
            mh = (11, 7, 3, 0)[fmt]
            if n - p < mh:
                break
            st = streams.get(csid)
            if st is None:
                st = streams[csid] = _CS()
            if fmt < 3:
                tsf = int.from_bytes(buf[p:p + 3], "big")
                ext = tsf == 0xFFFFFF
            else:
                tsf, ext = 0, st.ext
            if ext and n - p < mh + 4:
                break
            if fmt < 3:
                if fmt < 2:
                    st.length = int.from_bytes(buf[p + 3:p + 6], "big")
                    st.type = buf[p + 6]
                if fmt == 0:
                    st.sid = _LE32.unpack_from(buf, p + 7)[0]
                if ext:
                    tsf = _U32.unpack_from(buf, p + mh)[0]
                st.ext = ext
                if fmt == 0:
                    st.ts, st.delta = tsf, 0
                else:
                    st.delta = tsf
            p += mh + (4 if ext else 0)
            pos = p
            if not st.remaining:  # a new message on this chunk stream
                if fmt != 0:
                    st.ts += st.delta
                st.remaining = st.length
                st.parts = [] if st.type in _KEEP else None
                st.head = b""
                if not st.length:
                    self._complete(st, out)
                    continue
            self._cur = st
            self._left = min(self.chunk_size, st.remaining)
        if pos:
            del buf[:pos]
        return out

    def _complete(self, st: _CS, out: list[tuple[int, int, int, int, bytes]]) -> None:
        data = b"".join(st.parts) if st.parts is not None else st.head
        st.parts = None
        if st.type == SET_CHUNK_SIZE and len(data) >= 4:
            self.chunk_size = max(1, _U32.unpack_from(data)[0] & 0x7FFFFFFF)
        out.append((st.type, st.sid, st.ts, st.length, data))


def decode_command(data: bytes) -> tuple[str, float, list[Any]]:
    """``(name, transaction id, [object, args...])`` of an AMF0 command payload."""
    values = amf0.Decoder(data).decode_all()
    name = values[0] if values and isinstance(values[0], str) else ""
    tid = values[1] if len(values) > 1 and isinstance(values[1], float) else 0.0
    return name, tid, values[2:]


def read_stamp(head: bytes) -> tuple[int, int, int] | None:
    """``(seq, monotonic ns, realtime ns)`` of a stamped video frame body, or None."""
    if len(head) >= STAMP_OFFSET + STAMP.size and \
            head[STAMP_OFFSET:STAMP_OFFSET + 8] == STAMP_MAGIC:
        _, seq, mono, real = STAMP.unpack_from(head, STAMP_OFFSET)
        return seq, mono, real
    return None


# -- one client ------------------------------------------------------------------------------
# states
CONNECTING, HANDSHAKE, CONNECT_WAIT, CREATE_WAIT, PLAY_WAIT, PLAYING, CONNECTED, FAILED, \
    CLOSED = range(9)
STATE_NAMES = ("connecting", "handshake", "connect", "createStream", "play", "playing",
               "connected", "failed", "closed")

_S012 = 1 + 2 * HANDSHAKE_SIZE


class Conn:
    """One non-blocking RTMP client: handshake and connect, then idle or createStream + play.

    ``mode``: ``"connect"`` stops in CONNECTED (the connect ``_result`` arrived; kept open and
    idle, answering pings); ``"play"`` goes on to PLAYING. ``parse`` (play mode) keeps reading
    the chunk stream after Play.Start (for latency stamps); without it a player only counts
    bytes. Every player sends an Acknowledgement each window (RTMP 1.0 section 5.4.3), and at
    least every ``ack_every`` seconds so that neither server takes it for a dead peer.
    """

    __slots__ = ("sock", "fd", "index", "state", "mode", "app", "name", "tc_url", "digest",
                 "parse", "out", "hs", "parser", "t_start", "t_done", "error", "received",
                 "acked", "window", "last_ack", "stream_id", "s1", "engine", "ktime")

    ack_every = 10.0

    def __init__(self, engine: Engine, index: int, mode: str, app: str, name: str,
                 tc_url: str, digest: bool, parse: bool) -> None:
        self.engine = engine
        self.index = index
        self.mode = mode
        self.app, self.name, self.tc_url = app, name, tc_url
        self.digest = digest
        self.parse = parse
        self.sock: socket.socket | None = None
        self.fd = -1
        self.state = CONNECTING
        self.out = bytearray()
        self.hs = bytearray()
        self.parser: ChunkParser | None = None
        self.t_start = self.t_done = 0.0
        self.error = ""
        self.received = self.acked = self.window = 0
        self.last_ack = 0.0
        self.stream_id = 0
        self.s1 = b""
        #: kernel receive time (CLOCK_REALTIME, s) of the last read, for parsing players
        self.ktime = 0.0

    # -- life cycle --------------------------------------------------------------------------
    def open(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if self.parse and self.engine.kernel_time:
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                self.engine.kernel_time = False
        self.sock, self.fd = s, s.fileno()
        self.out += c0c1(self.digest)  # made before the clock starts

    def start(self, addr: tuple[str, int], now: float) -> None:
        """Begin the TCP connect (non-blocking)."""
        assert self.sock is not None
        self.t_start = now
        err = self.sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.fail(f"connect: {errno.errorcode.get(err, err)}")
            return
        # registered only now: epoll reports an unconnected socket as hung up
        self.engine.register(self)

    def fail(self, why: str) -> None:
        if self.state in (FAILED, CLOSED):
            return
        was_done = self.state in (CONNECTED, PLAYING)
        self.error = f"{STATE_NAMES[self.state]}: {why}"
        self.state = FAILED
        if was_done:  # it reached its goal before: a disconnection, not a failed client
            self.engine.closed_by_server(self)
        else:
            self.engine.finished(self, ok=False)
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.engine.forget(self)
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.state not in (FAILED,):
            self.state = CLOSED

    # -- I/O -----------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.out:
            self.out += data
            return
        assert self.sock is not None
        try:
            k = self.sock.send(data)
        except BlockingIOError:
            k = 0
        except OSError as exc:
            self.fail(f"send: {exc.strerror or exc}")
            return
        if k < len(data):
            self.out += data[k:]
            self.engine.want_write(self, True)

    def on_write(self) -> None:
        assert self.sock is not None
        if self.state == CONNECTING:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail(f"connect: {errno.errorcode.get(err, err)}")
                return
            self.state = HANDSHAKE
        try:
            k = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(f"send: {exc.strerror or exc}")
            return
        del self.out[:k]
        if not self.out:
            self.engine.want_write(self, False)

    def on_read(self, buf: memoryview, now: float) -> None:
        assert self.sock is not None
        try:
            if self.parse and self.engine.kernel_time:
                k, anc, _flags, _addr = self.sock.recvmsg_into([buf], 64)
                for level, kind, cdata in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and \
                            len(cdata) >= _TIMESPEC.size:
                        sec, nsec = _TIMESPEC.unpack_from(cdata)
                        self.ktime = sec + nsec / 1e9
            else:
                k = self.sock.recv_into(buf)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(f"recv: {exc.strerror or exc}")
            return
        if not k:
            self.fail("closed by the server")
            return
        self.received += k
        if self.parse:
            now = time.monotonic()  # this read's own time, for the latency stamps
        elif self.state == PLAYING:
            self.engine.count(self, k)
            self._maybe_ack(now)
            return
        data = buf[:k]
        if self.state in (CONNECTING, HANDSHAKE):
            self.state = HANDSHAKE
            need = _S012 - len(self.hs)
            self.hs += data[:need]
            data = data[need:]
            if len(self.hs) < _S012:
                return
            if self.hs[0] != 3:
                self.fail(f"S0 version {self.hs[0]}")
                return
            s1 = bytes(self.hs[1:1 + HANDSHAKE_SIZE])
            self.hs = bytearray()
            self.parser = ChunkParser()
            self.state = CONNECT_WAIT
            obj = connect_object(self.app, self.tc_url, self.mode == "play")
            # C2 (echo of S1), then connect in 128-byte chunks, as FFmpeg sends them
            self.send(s1 + command("connect", 1, obj))
            if not len(data):
                return
        if self.state == PLAYING:
            self.engine.count(self, len(data))
        assert self.parser is not None
        for msg in self.parser.feed(data):
            self._message(msg, now)
            if self.sock is None:
                return
        self._maybe_ack(now)

    def _maybe_ack(self, now: float) -> None:
        if (self.window and self.received - self.acked >= self.window) or \
                (self.state == PLAYING and now - self.last_ack >= self.ack_every):
            self.acked = self.received
            self.last_ack = now
            self.send(control(ACK, self.received))

    def _message(self, msg: tuple[int, int, int, int, bytes], now: float) -> None:
        type_id, _sid, _ts, _length, data = msg
        if type_id in (AUDIO, VIDEO):
            if self.state == PLAYING:
                self.engine.media(self, type_id, data, now)
            return
        if type_id == WINDOW_ACK_SIZE and len(data) >= 4:
            self.window = _U32.unpack_from(data)[0]
            return
        if type_id == USER_CONTROL and len(data) >= 6 and data[1] == 6:  # PingRequest
            self.send(user_control(7, _U32.unpack_from(data, 2)[0]))
            return
        if type_id != COMMAND_AMF0:
            return
        try:
            name, tid, args = decode_command(data)
        except Exception as exc:  # noqa: BLE001 - a bad reply fails this client only
            self.fail(f"undecodable command: {exc}")
            return
        if name == "_error" or (name == "onStatus" and args[1:] and isinstance(args[1], dict)
                                and args[1].get("level") == "error"):
            info = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
            self.fail(f"{name} {info.get('code', '')}".strip())
            return
        if self.state == CONNECT_WAIT and name == "_result" and tid == 1.0:
            self.t_done = now
            if self.mode == "connect":
                self.state = CONNECTED
                self.engine.finished(self, ok=True)
                return
            self.state = CREATE_WAIT
            self.send(command("createStream", 2, None))
        elif self.state == CREATE_WAIT and name == "_result" and tid == 2.0:
            sid = args[1] if len(args) > 1 and isinstance(args[1], float) else 1.0
            self.stream_id = int(sid)
            self.state = PLAY_WAIT
            self.send(command("play", 0, None, self.name, -2.0, csid=CSID_PLAY,
                              stream_id=self.stream_id)
                      + user_control(3, self.stream_id, 3000))  # SetBufferLength 3 s
        elif self.state == PLAY_WAIT and name == "onStatus" and len(args) > 1 and \
                isinstance(args[1], dict) and args[1].get("code") == "NetStream.Play.Start":
            self.state = PLAYING
            self.last_ack = now
            self.engine.finished(self, ok=True)


class Engine:
    """A ``selectors`` loop over many :class:`Conn`.

    Hooks (all optional): ``on_finished(conn, ok)`` when a client reaches its goal (CONNECTED
    or PLAYING) or fails; ``on_count(conn, nbytes)`` for every byte received while playing;
    ``on_media(conn, type_id, head, now)`` for media messages (``parse`` players);
    ``on_closed(conn)`` when the server closes a playing client.
    """

    def __init__(self, addr: tuple[str, int], *, app: str = "live", name: str = "bench",
                 digest: bool = True, kernel_time: bool = False) -> None:
        self.addr = addr
        self.app, self.name = app, name
        self.tc_url = f"rtmp://{addr[0]}:{addr[1]}/{app}"
        self.digest = digest
        #: parsing players ask the kernel for receive times (SO_TIMESTAMPNS)
        self.kernel_time = kernel_time
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, Conn] = {}
        self.on_finished: Callable[[Conn, bool], None] | None = None
        self.on_count: Callable[[Conn, int], None] | None = None
        self.on_media: Callable[[Conn, int, bytes, float], None] | None = None
        self.on_closed: Callable[[Conn], None] | None = None
        self._buf = memoryview(bytearray(1 << 18))

    def new(self, index: int, mode: str, parse: bool = False) -> Conn:
        c = Conn(self, index, mode, self.app, self.name, self.tc_url, self.digest, parse)
        c.open()
        self.conns[c.fd] = c
        return c

    def register(self, c: Conn) -> None:
        self.sel.register(c.fd, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def want_write(self, c: Conn, on: bool) -> None:
        if c.sock is None:
            return
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self.sel.modify(c.fd, ev, c)
        except (KeyError, ValueError):
            pass

    def forget(self, c: Conn) -> None:
        try:
            self.sel.unregister(c.fd)
        except (KeyError, ValueError, OSError):
            pass
        self.conns.pop(c.fd, None)

    def finished(self, c: Conn, ok: bool) -> None:
        if self.on_finished is not None:
            self.on_finished(c, ok)

    def count(self, c: Conn, k: int) -> None:
        if self.on_count is not None:
            self.on_count(c, k)

    def media(self, c: Conn, type_id: int, head: bytes, now: float) -> None:
        if self.on_media is not None:
            self.on_media(c, type_id, head, now)

    def closed_by_server(self, c: Conn) -> None:
        if self.on_closed is not None:
            self.on_closed(c)

    def poll(self, timeout: float) -> int:
        """Run one round of the loop; returns the number of events handled."""
        events = self.sel.select(timeout)
        now = time.monotonic()
        buf = self._buf
        for key, mask in events:
            c: Conn = key.data
            if c.sock is None:
                continue
            if mask & selectors.EVENT_WRITE:
                c.on_write()
                if c.sock is None:
                    continue
            if mask & selectors.EVENT_READ:
                c.on_read(buf, now)
        return len(events)

    def close_all(self) -> None:
        for c in list(self.conns.values()):
            c.close()
        self.sel.close()


# -- a blocking publisher --------------------------------------------------------------------
class Publisher:
    """Handshake, connect, createStream, publish over a blocking socket; then send media.

    A background thread reads and drops what the server sends (acknowledgements, pings are
    answered) so the server never blocks on us. ``chunk_size`` is announced with Set Chunk
    Size before ``connect``, as FFmpeg does.
    """

    def __init__(self, host: str, port: int, app: str = "live", name: str = "bench", *,
                 chunk_size: int = 4096, timeout: float = 20.0, digest: bool = True) -> None:
        self.host, self.port, self.app, self.name = host, port, app, name
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.digest = digest
        self.sock: socket.socket | None = None
        self.stream_id = 1
        self._parser = ChunkParser()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def _recv_messages(self) -> list[tuple[int, int, int, int, bytes]]:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        return self._parser.feed(data)

    def _wait(self, pred: Callable[[str, float, list[Any]], bool]) -> list[Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for type_id, _sid, _ts, _n, data in self._recv_messages():
                if type_id != COMMAND_AMF0:
                    continue
                name, tid, args = decode_command(data)
                if name == "_error" or (name == "onStatus" and len(args) > 1 and
                                        isinstance(args[1], dict) and
                                        args[1].get("level") == "error"):
                    raise ConnectionError(f"server refused: {name} {args!r}")
                if pred(name, tid, args):
                    return args
        raise TimeoutError("no answer from the server")

    def connect(self) -> None:
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        s.sendall(c0c1(self.digest))
        hs = b""
        while len(hs) < _S012:
            got = s.recv(_S012 - len(hs))
            if not got:
                raise ConnectionError("server closed the connection during the handshake")
            hs += got
        tc_url = f"rtmp://{self.host}:{self.port}/{self.app}"
        cs = self.chunk_size
        s.sendall(hs[1:1 + HANDSHAKE_SIZE] + control(SET_CHUNK_SIZE, cs)
                  + command("connect", 1, connect_object(self.app, tc_url, False),
                            chunk_size=cs))
        self._wait(lambda n, t, a: n == "_result" and t == 1.0)
        s.sendall(command("releaseStream", 2, None, self.name, chunk_size=cs)
                  + command("FCPublish", 3, None, self.name, chunk_size=cs)
                  + command("createStream", 4, None, chunk_size=cs))
        args = self._wait(lambda n, t, a: n == "_result" and t == 4.0)
        if len(args) > 1 and isinstance(args[1], float):
            self.stream_id = int(args[1])
        s.sendall(command("publish", 5, None, self.name, "live", csid=CSID_DATA,
                          stream_id=self.stream_id, chunk_size=cs))
        self._wait(lambda n, t, a: n == "onStatus" and len(a) > 1 and isinstance(a[1], dict)
                   and a[1].get("code") == "NetStream.Publish.Start")
        s.settimeout(None)
        self._reader = threading.Thread(target=self._drain, name="publisher-drain",
                                        daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            while self.sock is not None:
                for type_id, _sid, _ts, _n, data in self._recv_messages():
                    if type_id == USER_CONTROL and len(data) >= 6 and data[1] == 6:
                        self.sendall(user_control(7, _U32.unpack_from(data, 2)[0]))
        except (OSError, ValueError, ConnectionError):
            pass

    def message(self, type_id: int, ts: int, payload: bytes) -> bytes:
        """The chunked bytes of one media or data message on this publisher's stream."""
        csid = CSID_VIDEO if type_id == VIDEO else CSID_AUDIO if type_id == AUDIO \
            else CSID_DATA
        return chunk(type_id, payload, csid, self.stream_id, ts, self.chunk_size)

    def sendall(self, data: bytes | bytearray) -> None:
        assert self.sock is not None
        with self._lock:
            self.sock.sendall(data)

    def send_metadata(self, meta: dict[str, Any]) -> None:
        body = amf0.encode("@setDataFrame", "onMetaData", amf0.ECMAArray(meta))
        self.sendall(self.message(DATA_AMF0, 0, body))

    def close(self) -> None:
        s, self.sock = self.sock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        if self._reader is not None:
            self._reader.join(2.0)
