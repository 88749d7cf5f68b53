"""RTMP chunk stream (RTMP 1.0 section 5.3): messages in, chunks out, and back.

Pure protocol code: :class:`ChunkReader` reads from any object with ``read(n)`` (a socket's
``makefile('rb')``, ``io.BytesIO``), :class:`ChunkWriter` and :func:`chunk_message` return bytes.

The byte layout is declared in :mod:`grtmp.formats.chunk` (construct, the documentation of
record). This module is the per-chunk hot path, so it parses and builds headers with
precomputed :class:`struct.Struct` objects; tests prove both agree on random headers.

Timestamps are 32-bit and wrap: ``Message.timestamp`` is the absolute timestamp modulo 2**32.
A fmt 0 header carries it; fmt 1 / 2 carry a delta added to the previous message's timestamp on
that chunk stream; a fmt 3 chunk that starts a new message repeats the previous delta (after a
fmt 0 header the "delta" is that header's timestamp, as the spec and FFmpeg / SRS read it).
"""

from __future__ import annotations

import struct
from typing import Any

from grtmp.errors import ChunkError, ConnectionClosed, LimitExceeded
from grtmp.formats.chunk import (
    EXTENDED_TIMESTAMP_MARKER,
    MAX_CSID,
    MAX_CSID_1BYTE,
    MAX_CSID_2BYTE,
    MESSAGE_HEADER_SIZES,
    MIN_CSID,
)
from grtmp.wire.message import Message

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "ChunkReader",
    "ChunkWriter",
    "chunk_message",
    "encode_basic_header",
    "encode_chunk_header",
    "parse_chunk_header",
]

#: Chunk size both directions start with (5.4.1).
DEFAULT_CHUNK_SIZE = 128
#: Largest chunk size a Set Chunk Size message can carry (31 bits; the top bit is reserved).
MAX_CHUNK_SIZE = 0x7FFFFFFF
#: Largest message length the 24-bit length field can carry.
MAX_MESSAGE_LENGTH = 0xFFFFFF

_MASK32 = 0xFFFFFFFF
_EXT = EXTENDED_TIMESTAMP_MARKER
_SET_CHUNK_SIZE = 1
_ABORT = 2

# Message header layouts (5.3.1.2). 24-bit fields are read as a 16-bit and an 8-bit part.
_H01 = struct.Struct(">HBHBB")  # timestamp(3) message length(3) type id(1)  (fmt 0 and 1)
_H2 = struct.Struct(">HB")  # timestamp delta(3)  (fmt 2)
_LE32 = struct.Struct("<I")  # message stream id (fmt 0), little endian
_BE32 = struct.Struct(">I")  # extended timestamp; Set Chunk Size / Abort payloads


def encode_basic_header(fmt: int, csid: int) -> bytes:
    """Basic header (5.3.1.1): 1 byte for csid 2..63, 2 bytes up to 319, 3 bytes up to 65599."""
    if csid <= MAX_CSID_1BYTE:
        if csid < MIN_CSID:
            raise ValueError(f"chunk stream id {csid} out of range 2..{MAX_CSID}")
        return bytes(((fmt << 6) | csid,))
    if csid <= MAX_CSID_2BYTE:
        return bytes((fmt << 6, csid - 64))
    if csid <= MAX_CSID:
        n = csid - 64
        return bytes(((fmt << 6) | 1, n & 0xFF, n >> 8))
    raise ValueError(f"chunk stream id {csid} out of range 2..{MAX_CSID}")


def encode_chunk_header(
    fmt: int,
    csid: int,
    timestamp: int = 0,
    length: int = 0,
    type_id: int = 0,
    stream_id: int = 0,
    fmt3_extended: bool = False,
) -> bytes:
    """Chunk header: basic header, message header for ``fmt``, extended timestamp if needed.

    ``timestamp`` is the absolute timestamp (fmt 0) or the delta (fmt 1/2); values of 0xFFFFFF
    and above go to the Extended Timestamp field. For fmt 3, ``timestamp`` is written as an
    extended timestamp only when ``fmt3_extended`` is true.
    """
    basic = encode_basic_header(fmt, csid)
    if fmt == 3:
        return basic + _BE32.pack(timestamp & _MASK32) if fmt3_extended else basic
    field = _EXT if timestamp >= _EXT else timestamp
    out = basic + _BE32.pack(field)[1:]
    if fmt <= 1:
        out += _BE32.pack(length)[1:] + bytes((type_id,))
        if fmt == 0:
            out += _LE32.pack(stream_id)
    if field == _EXT:
        out += _BE32.pack(timestamp & _MASK32)
    return out


def parse_chunk_header(data: bytes, fmt3_extended: bool = False) -> dict[str, Any]:
    """Parse one chunk header with the fast path; returns the fields and its ``size`` in bytes.

    Keys: ``fmt``, ``cs_id``, ``timestamp`` (fmt 0) or ``timestamp_delta`` (fmt 1/2),
    ``message_length``, ``message_type_id`` (fmt 0/1), ``message_stream_id`` (fmt 0),
    ``extended_timestamp`` (or None), ``size``. Raises :class:`ChunkError` on short data.
    Used by tools and by the tests that check it against :data:`formats.chunk.ChunkHeader`.
    """
    try:
        b0 = data[0]
        fmt = b0 >> 6
        csid = b0 & 0x3F
        pos = 1
        if csid == 0:
            csid = 64 + data[1]
            pos = 2
        elif csid == 1:
            csid = 64 + data[1] + (data[2] << 8)
            pos = 3
        out: dict[str, Any] = {"fmt": fmt, "cs_id": csid}
        field = None
        if fmt <= 1:
            t1, t2, l1, l2, tid = _H01.unpack_from(data, pos)
            field = (t1 << 8) | t2
            out["timestamp" if fmt == 0 else "timestamp_delta"] = field
            out["message_length"] = (l1 << 8) | l2
            out["message_type_id"] = tid
            if fmt == 0:
                out["message_stream_id"] = _LE32.unpack_from(data, pos + 7)[0]
        elif fmt == 2:
            t1, t2 = _H2.unpack_from(data, pos)
            field = (t1 << 8) | t2
            out["timestamp_delta"] = field
        pos += MESSAGE_HEADER_SIZES[fmt]
        ext = None
        if field == _EXT or (fmt == 3 and fmt3_extended):
            ext = _BE32.unpack_from(data, pos)[0]
            pos += 4
        out["extended_timestamp"] = ext
        out["size"] = pos
        return out
    except (IndexError, struct.error) as exc:
        raise ChunkError("truncated chunk header") from exc


# --------------------------------------------------------------------------------------------
# Reading


class _InStream:
    """Receive state of one chunk stream: the last header's fields and the message in progress."""

    __slots__ = (
        "timestamp", "delta", "length", "type_id", "stream_id",
        "ext", "ext_value", "remaining", "buf",
    )

    def __init__(self) -> None:
        self.timestamp = 0  # absolute timestamp of the current / last message
        self.delta = 0  # delta a fmt 3 new message adds (fmt 0: its timestamp, per spec)
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.ext = False  # the last fmt 0/1/2 header used an extended timestamp
        self.ext_value = 0  # ...and this was its value
        self.remaining = 0  # bytes still to receive of the message in progress (0: none)
        # One growing buffer, not a list of chunk pieces: a list of tiny pieces (chunk size 1)
        # costs ~27 bytes of memory per payload byte, which max_buffered would not see.
        self.buf = bytearray()


class BufferBudget:
    """Bytes of partly received messages that all connections together may hold.

    Shared by the :class:`ChunkReader` of every connection of a server; a reader that would go
    past ``limit`` raises :class:`LimitExceeded`. :meth:`ChunkReader.release` gives a closed
    connection's share back.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0


class ChunkReader:
    """Reassemble RTMP messages from a chunk stream read from ``stream``.

    ``stream.read(n)`` must return ``n`` bytes, or fewer only at EOF. If it has ``peek`` (an
    ``io.BufferedReader``), it is used to detect whether a fmt 3 chunk carries an extended
    timestamp; otherwise the reader reads ahead and keeps unused bytes itself.

    Set Chunk Size and Abort messages are applied here and also returned to the caller.
    ``bytes_read`` counts every byte of chunk stream consumed, for Acknowledgement (5.4.3).

    Limits: messages longer than ``max_message_size``, more than ``max_chunk_streams``
    distinct chunk stream ids, and more than ``max_buffered`` bytes of partly received messages
    across all chunk streams (default: twice ``max_message_size``) raise
    :class:`LimitExceeded`. Payloads are accumulated chunk by chunk (never preallocated from
    the claimed length) and joined once.

    Errors (:class:`ChunkError`): a fmt 1/2/3 chunk on a chunk stream with no prior header
    (except fmt 1 on csid 2, which librtmp sends for its first ping; stream id 0 is assumed);
    a fmt 0/1 header that changes the message length while a message is partly received on
    that csid (the same length is accepted and assembly continues, as FFmpeg does); Set Chunk
    Size of 0; Set Chunk Size or Abort payloads shorter than 4 bytes.
    """

    def __init__(
        self,
        stream: Any,
        *,
        max_message_size: int = 8 * 1024 * 1024,
        max_chunk_streams: int = 64,
        max_buffered: int | None = None,
        budget: BufferBudget | None = None,
    ) -> None:
        self._stream = stream
        self._read = stream.read
        self._peek = getattr(stream, "peek", None)
        self._pushback = b""
        self._streams: dict[int, _InStream] = {}
        self.max_message_size = max_message_size
        self.max_chunk_streams = max_chunk_streams
        self.max_buffered = 2 * max_message_size if max_buffered is None else max_buffered
        self._buffered = 0  # bytes held in partly received messages, all chunk streams
        #: Shared by all the readers of a server: bounds partly received bytes in total.
        self.budget = budget
        #: Inbound chunk size; starts at 128, changed by Set Chunk Size messages.
        self.chunk_size = DEFAULT_CHUNK_SIZE
        #: Total bytes consumed from ``stream`` since creation.
        self.bytes_read = 0

    # -- the hot path ------------------------------------------------------------------------

    def read_message(self) -> Message:
        """Read chunks until one message is complete and return it.

        Raises :class:`ConnectionClosed` at EOF, :class:`ChunkError` on a malformed chunk
        stream, :class:`LimitExceeded` when a limit is exceeded.
        """
        streams = self._streams
        while True:
            read = self._read
            b = read(1)
            if not b:
                raise self._eof(False)
            b0 = b[0]
            csid = b0 & 0x3F
            hlen = 1
            if csid < 2:
                if csid == 0:
                    x = read(1)
                    if len(x) != 1:
                        raise self._eof(True)
                    csid = 64 + x[0]
                    hlen = 2
                else:
                    x = read(2)
                    if len(x) != 2:
                        raise self._eof(True)
                    csid = 64 + x[0] + (x[1] << 8)
                    hlen = 3
            fmt = b0 >> 6
            st = streams.get(csid)

            if fmt == 3:
                if st is None:
                    raise ChunkError(f"fmt 3 chunk on chunk stream {csid} with no prior header")
                rem = st.remaining
                if not rem:
                    # New message with the previous header; the delta repeats (5.3.1.2.4).
                    st.timestamp = (st.timestamp + st.delta) & _MASK32
                    rem = st.length
                if st.ext:
                    hlen += self._fmt3_extended(st)
                    read = self._read
            else:
                if st is None:
                    # librtmp sends its first ping as fmt 1 on csid 2 (SRS issue 98): allow it,
                    # the protocol control stream always has message stream id 0.
                    if fmt != 0 and not (fmt == 1 and csid == 2):
                        raise ChunkError(
                            f"fmt {fmt} chunk on chunk stream {csid} with no prior header"
                        )
                    if len(streams) >= self.max_chunk_streams:
                        raise LimitExceeded(
                            f"more than {self.max_chunk_streams} chunk streams"
                        )
                    st = streams[csid] = _InStream()
                n = MESSAGE_HEADER_SIZES[fmt]
                h = read(n)
                if len(h) != n:
                    raise self._eof(True)
                hlen += n
                if fmt == 2:
                    t1, t2 = _H2.unpack(h)
                    length = st.length
                    type_id = st.type_id
                else:
                    t1, t2, l1, l2, type_id = _H01.unpack_from(h)
                    length = (l1 << 8) | l2
                    if length > self.max_message_size:
                        raise LimitExceeded(
                            f"message length {length} above {self.max_message_size}"
                        )
                field = (t1 << 8) | t2
                if field == _EXT:
                    x = read(4)
                    if len(x) != 4:
                        raise self._eof(True)
                    field = _BE32.unpack(x)[0]
                    hlen += 4
                    st.ext = True
                    st.ext_value = field
                else:
                    st.ext = False
                rem = st.remaining
                if rem:
                    # A new header while a message is partly received. Same length: keep
                    # assembling (FFmpeg does); anything else cannot be reassembled.
                    if length != st.length:
                        raise ChunkError(
                            f"message length changed from {st.length} to {length} in the "
                            f"middle of a message on chunk stream {csid}"
                        )
                else:
                    rem = length
                if fmt == 0:
                    st.timestamp = field
                    st.stream_id = _LE32.unpack_from(h, 7)[0]
                else:
                    st.timestamp = (st.timestamp + field) & _MASK32
                st.delta = field
                st.length = length
                st.type_id = type_id

            # Chunk data: at most chunk_size bytes of the message.
            cs = self.chunk_size
            n = rem if rem < cs else cs
            if n:
                piece = read(n)
                if len(piece) != n:
                    self.bytes_read += hlen + len(piece)
                    raise self._eof(True)
                rem -= n
            else:
                piece = b""
            self.bytes_read += hlen + n
            if rem:
                st.buf += piece
                st.remaining = rem
                self._buffered += n
                budget = self.budget
                if budget is not None:  # kept in step with _buffered (see release())
                    budget.used += n
                    if budget.used > budget.limit:
                        raise LimitExceeded(
                            f"server-wide limit of {budget.limit} bytes of partly received "
                            "messages reached")
                if self._buffered > self.max_buffered:
                    raise LimitExceeded(
                        f"more than {self.max_buffered} bytes of partly received messages"
                    )
                continue

            st.remaining = 0
            buf = st.buf
            if buf:
                buf += piece
                payload = bytes(buf)
                st.buf = bytearray()
                self._buffered -= len(payload) - n
                if self.budget is not None:
                    self.budget.used -= len(payload) - n
            else:
                payload = piece
            type_id = st.type_id
            if type_id <= _ABORT:
                self._control(type_id, payload)
            return Message(type_id, st.timestamp, st.stream_id, payload, csid)

    def release(self) -> None:
        """Drop every partly received message and give its bytes back to the budget."""
        if self.budget is not None:
            self.budget.used -= self._buffered
        self._buffered = 0
        for st in self._streams.values():
            st.buf = bytearray()
            st.remaining = 0

    # -- the rare cases ----------------------------------------------------------------------

    def _control(self, type_id: int, payload: bytes) -> None:
        """Apply Set Chunk Size (5.4.1) or Abort (5.4.2) to the reader itself."""
        if type_id not in (_SET_CHUNK_SIZE, _ABORT):
            return
        if len(payload) < 4:
            name = "Set Chunk Size" if type_id == _SET_CHUNK_SIZE else "Abort"
            raise ChunkError(f"{name} payload of {len(payload)} bytes, need 4")
        value = _BE32.unpack_from(payload)[0]
        if type_id == _SET_CHUNK_SIZE:
            value &= MAX_CHUNK_SIZE  # the top bit is reserved and must be 0
            if value == 0:
                raise ChunkError("Set Chunk Size of 0")
            self.chunk_size = value
        else:
            st = self._streams.get(value)
            if st is not None:
                self._buffered -= len(st.buf)
                if self.budget is not None:
                    self.budget.used -= len(st.buf)
                st.remaining = 0
                st.buf = bytearray()

    def _fmt3_extended(self, st: _InStream) -> int:
        """Consume the extended timestamp of a fmt 3 chunk if the sender wrote one.

        The spec (and FFmpeg, nginx-rtmp, current librtmp) repeat the extended timestamp on
        fmt 3 chunks after a header that had one; librtmp before 2024 and some encoders omit
        it. Accept it when the next 4 bytes equal the value of the last extended field or the
        message's absolute timestamp; otherwise they are chunk data. Returns bytes consumed.
        """
        cands = (st.ext_value, st.timestamp)
        pb = self._pushback
        if not pb and self._peek is not None:
            p = self._peek(4)[:4]
            if len(p) == 4:
                if _BE32.unpack(p)[0] in cands:
                    self._stream.read(4)
                    return 4
                return 0
            if not any(_BE32.pack(c).startswith(p) for c in cands):
                return 0
            # Too few bytes buffered to decide and they match so far: read ahead.
        data = pb[:4]
        rest = pb[4:]
        if len(data) < 4:
            data += self._stream.read(4 - len(data))
        if len(data) == 4 and _BE32.unpack(data)[0] in cands:
            self._set_pushback(rest)
            return 4
        self._set_pushback(data + rest)
        return 0

    def _set_pushback(self, data: bytes) -> None:
        self._pushback = data
        self._read = self._read_pushback if data else self._stream.read

    def _read_pushback(self, n: int) -> bytes:
        """``read`` used while read-ahead bytes are pending: serve them first."""
        pb = self._pushback
        if n < len(pb):
            self._pushback = pb[n:]
            return pb[:n]
        self._set_pushback(b"")
        if n == len(pb):
            return pb
        return pb + self._stream.read(n - len(pb))

    def _eof(self, in_chunk: bool) -> ConnectionClosed:
        partial = in_chunk or any(s.remaining for s in self._streams.values())
        if partial:
            return ConnectionClosed("connection closed in the middle of a message")
        return ConnectionClosed("connection closed")


# --------------------------------------------------------------------------------------------
# Writing


def _chunk(
    payload: Any, header: bytes, cont: bytes, chunk_size: int
) -> bytes:
    """Join ``header``, the payload cut at ``chunk_size`` and ``cont`` before each later piece."""
    length = len(payload)
    if length <= chunk_size:
        return header + payload
    mv = memoryview(payload)
    parts: list[Any] = [header, mv[:chunk_size]]
    for off in range(chunk_size, length, chunk_size):
        parts.append(cont)
        parts.append(mv[off:off + chunk_size])
    return b"".join(parts)


def _check(msg: Message, chunk_size: int) -> int:
    length = len(msg.payload)
    if length > MAX_MESSAGE_LENGTH:
        raise LimitExceeded(f"message of {length} bytes does not fit the 24-bit length field")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {chunk_size} out of range 1..{MAX_CHUNK_SIZE}")
    return length


def chunk_message(msg: Message, csid: int, chunk_size: int) -> bytes:
    """Chunk one message statelessly: a fmt 0 header, then fmt 3 continuation chunks.

    The extended timestamp (timestamp >= 0xFFFFFF) is repeated on every continuation chunk,
    as the spec and FFmpeg do. The result can be sent unchanged to many subscribers (chunk
    once, send many).

    Mixing with a :class:`ChunkWriter` on the same connection: safe on other csids. On a csid
    the writer also uses, the fmt 0 header replaces the receiver's state for that csid, so tell
    the writer with :meth:`ChunkWriter.reset` (next write is fmt 0) or
    :meth:`ChunkWriter.note_sent` (next write compresses against this message).
    ``chunk_size`` must be the connection's current outbound chunk size.
    """
    length = _check(msg, chunk_size)
    ts = msg.timestamp & _MASK32
    header = encode_chunk_header(0, csid, ts, length, msg.type_id, msg.stream_id)
    if length <= chunk_size:
        return header + msg.payload
    cont = encode_chunk_header(3, csid, ts, fmt3_extended=ts >= _EXT)
    return _chunk(msg.payload, header, cont, chunk_size)


class _OutStream:
    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "delta_ok")

    def __init__(self, timestamp: int, length: int, type_id: int, stream_id: int) -> None:
        self.timestamp = timestamp
        self.delta = 0
        self.length = length
        self.type_id = type_id
        self.stream_id = stream_id
        self.delta_ok = False  # False after fmt 0: never send fmt 3 relying on it


class ChunkWriter:
    """Turn messages into chunks, compressing headers per chunk stream (5.3.1.2).

    Header choice for each message on a csid: fmt 0 for a new csid, a different message
    stream id or a timestamp that goes backward; fmt 1 when only the stream id is the same;
    fmt 2 when length and type id are also the same; fmt 3 when the delta is also the same as
    the previous fmt 1/2 delta. Timestamps >= 0xFFFFFF (absolute or delta) use the extended
    timestamp field, repeated on fmt 3 chunks.

    ``chunk_size`` is the outbound chunk size. To change it, write a Set Chunk Size message
    (it is chunked at the old size), then assign the new value here.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size
        self._streams: dict[int, _OutStream] = {}

    def reset(self, csid: int | None = None) -> None:
        """Forget the header state of ``csid`` (all csids if None); its next write is fmt 0.

        Call it after bytes from :func:`chunk_message` were sent on a csid this writer uses.
        """
        if csid is None:
            self._streams.clear()
        else:
            self._streams.pop(csid, None)

    def note_sent(self, msg: Message, csid: int) -> None:
        """Record that ``msg`` went out on ``csid`` with a fmt 0 header (from chunk_message)."""
        self._streams[csid] = _OutStream(
            msg.timestamp & _MASK32, len(msg.payload), msg.type_id, msg.stream_id
        )

    def write(self, msg: Message, csid: int) -> bytes:
        """Chunk ``msg`` on chunk stream ``csid``; returns the bytes to send."""
        chunk_size = self.chunk_size
        length = _check(msg, chunk_size)
        ts = msg.timestamp & _MASK32
        type_id = msg.type_id
        st = self._streams.get(csid)
        if st is not None and st.stream_id == msg.stream_id:
            delta = (ts - st.timestamp) & _MASK32
            if delta & 0x80000000:
                fmt = 0  # went backward (or a jump of 2**31 or more): absolute timestamp
            elif length != st.length or type_id != st.type_id:
                fmt = 1
            elif st.delta_ok and delta == st.delta:
                fmt = 3
            else:
                fmt = 2
        else:
            fmt = 0
        if fmt == 0:
            field = ts
            self._streams[csid] = st = _OutStream(ts, length, type_id, msg.stream_id)
        else:
            field = delta
            st.timestamp = ts
            st.delta = delta
            st.length = length
            st.type_id = type_id
            st.delta_ok = True
        ext = field >= _EXT
        header = encode_chunk_header(
            fmt, csid, field, length, type_id, msg.stream_id, fmt3_extended=ext
        )
        if length <= chunk_size:
            return header + msg.payload
        cont = encode_chunk_header(3, csid, field, fmt3_extended=ext)
        return _chunk(msg.payload, header, cont, chunk_size)
