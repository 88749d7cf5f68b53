"""Protocol control messages, User Control events and aggregate messages: build and parse.

Pure: no sockets. One small frozen dataclass per control message (RTMP 1.0 sections 5.4 and
7.1.7): :class:`SetChunkSize`, :class:`Abort`, :class:`Acknowledgement`,
:class:`WindowAckSize`, :class:`SetPeerBandwidth`, and the User Control events
:class:`StreamBegin`, :class:`StreamEOF`, :class:`StreamDry`, :class:`SetBufferLength`,
:class:`StreamIsRecorded`, :class:`PingRequest`, :class:`PingResponse`
(:class:`UnknownUserControl` keeps any other event). ``X(...).message()`` builds the
:class:`~grtmp.wire.message.Message` (message stream 0, chunk stream 2) through the
declarations of :mod:`grtmp.formats.control`; :func:`parse_control` reads one back.
:func:`split_aggregate` unpacks an aggregate message (type 22) into its sub-messages.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from construct import ConstructError

from grtmp.errors import ProtocolError
from grtmp.formats import control as fmt
from grtmp.wire.message import (
    ABORT,
    ACKNOWLEDGEMENT,
    AGGREGATE,
    CONTROL_TYPES,
    CSID_CONTROL,
    SET_CHUNK_SIZE,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    WINDOW_ACK_SIZE,
    Message,
    PeerBandwidthLimit,
    UserControlEvent,
)

__all__ = [
    "Abort",
    "Acknowledgement",
    "ControlMessage",
    "PingRequest",
    "PingResponse",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "StreamBegin",
    "StreamDry",
    "StreamEOF",
    "StreamIsRecorded",
    "UnknownUserControl",
    "WindowAckSize",
    "build_aggregate",
    "parse_control",
    "split_aggregate",
]

MAX_CHUNK_SIZE = 0x7FFFFFFF
_U32 = 0xFFFFFFFF
# The byte layouts of formats.control, packed with struct: a connection builds these on every
# connect and parses the peer's (tests/wire/test_control.py proves both paths equal).
_U32S = struct.Struct(">I")
_U16S = struct.Struct(">H")
_BANDWIDTH = struct.Struct(">IB")


def _control(type_id: int, payload: bytes) -> Message:
    return Message(type_id=type_id, timestamp=0, stream_id=0, payload=payload, csid=CSID_CONTROL)


def _u32(value: int, what: str) -> int:
    value = int(value)
    if not 0 <= value <= _U32:
        raise ValueError(f"{what} {value} does not fit in 32 bits")
    return value


# -- protocol control messages (5.4) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetChunkSize:
    """5.4.1 Set Chunk Size (type 1): 1..0x7FFFFFFF, the top bit stays zero."""

    size: int
    type_id: ClassVar[int] = SET_CHUNK_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {self.size} outside 1..0x7FFFFFFF")

    def message(self) -> Message:
        return _control(SET_CHUNK_SIZE, _U32S.pack(self.size))


@dataclass(frozen=True, slots=True)
class Abort:
    """5.4.2 Abort Message (type 2): drop the partly received message on ``csid``."""

    csid: int
    type_id: ClassVar[int] = ABORT

    def message(self) -> Message:
        return _control(ABORT, _U32S.pack(_u32(self.csid, "chunk stream id")))


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """5.4.3 Acknowledgement (type 3): bytes received so far (mod 2**32)."""

    sequence: int
    type_id: ClassVar[int] = ACKNOWLEDGEMENT

    def message(self) -> Message:
        return _control(ACKNOWLEDGEMENT, _U32S.pack(int(self.sequence) & _U32))


@dataclass(frozen=True, slots=True)
class WindowAckSize:
    """5.4.4 Window Acknowledgement Size (type 5): acknowledge every ``size`` bytes."""

    size: int
    type_id: ClassVar[int] = WINDOW_ACK_SIZE

    def message(self) -> Message:
        return _control(WINDOW_ACK_SIZE, _U32S.pack(_u32(self.size, "window size")))


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth:
    """5.4.5 Set Peer Bandwidth (type 6): window ``size``, limit 0 hard, 1 soft, 2 dynamic.

    ``limit`` is a :class:`PeerBandwidthLimit`, or the raw int when the peer sent another value.
    """

    size: int
    limit: PeerBandwidthLimit | int = PeerBandwidthLimit.DYNAMIC
    type_id: ClassVar[int] = SET_PEER_BANDWIDTH

    def message(self) -> Message:
        limit = int(self.limit)
        if not 0 <= limit <= 0xFF:
            raise ValueError(f"limit type {limit} does not fit in 8 bits")
        return _control(SET_PEER_BANDWIDTH,
                        _BANDWIDTH.pack(_u32(self.size, "window size"), limit))


# -- user control events (7.1.7) ------------------------------------------------------------------


def _user_control(event: int, *values: int) -> Message:
    data = b"".join(_U32S.pack(_u32(v, "event value")) for v in values)
    return _control(USER_CONTROL, _U16S.pack(event) + data)


@dataclass(frozen=True, slots=True)
class StreamBegin:
    """StreamBegin (event 0): the stream became functional."""

    stream_id: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.STREAM_BEGIN

    def message(self) -> Message:
        return _user_control(self.event, self.stream_id)


@dataclass(frozen=True, slots=True)
class StreamEOF:
    """StreamEOF (event 1): playback of the stream ended."""

    stream_id: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.STREAM_EOF

    def message(self) -> Message:
        return _user_control(self.event, self.stream_id)


@dataclass(frozen=True, slots=True)
class StreamDry:
    """StreamDry (event 2): no more data on the stream for now."""

    stream_id: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.STREAM_DRY

    def message(self) -> Message:
        return _user_control(self.event, self.stream_id)


@dataclass(frozen=True, slots=True)
class SetBufferLength:
    """SetBufferLength (event 3): the client's buffer for ``stream_id``, in milliseconds."""

    stream_id: int
    ms: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.SET_BUFFER_LENGTH

    def message(self) -> Message:
        return _user_control(self.event, self.stream_id, self.ms)


@dataclass(frozen=True, slots=True)
class StreamIsRecorded:
    """StreamIsRecorded (event 4): the stream is a recorded one."""

    stream_id: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.STREAM_IS_RECORDED

    def message(self) -> Message:
        return _user_control(self.event, self.stream_id)


@dataclass(frozen=True, slots=True)
class PingRequest:
    """PingRequest (event 6): the peer answers with PingResponse and this timestamp."""

    timestamp: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.PING_REQUEST

    def message(self) -> Message:
        return _user_control(self.event, self.timestamp & _U32)


@dataclass(frozen=True, slots=True)
class PingResponse:
    """PingResponse (event 7): the answer to a PingRequest, echoing its timestamp."""

    timestamp: int
    type_id: ClassVar[int] = USER_CONTROL
    event: ClassVar[UserControlEvent] = UserControlEvent.PING_RESPONSE

    def message(self) -> Message:
        return _user_control(self.event, self.timestamp & _U32)


@dataclass(frozen=True, slots=True)
class UnknownUserControl:
    """A User Control event this library does not know, with its raw event data."""

    event: int
    data: bytes = b""
    type_id: ClassVar[int] = USER_CONTROL

    def message(self) -> Message:
        if not 0 <= self.event <= 0xFFFF:
            raise ValueError(f"user control event {self.event} does not fit in 16 bits")
        return _control(USER_CONTROL, fmt.UserControl.build({"event_type": self.event,
                                                            "event_data": self.data}))


ControlMessage = (SetChunkSize | Abort | Acknowledgement | WindowAckSize | SetPeerBandwidth
                  | StreamBegin | StreamEOF | StreamDry | SetBufferLength | StreamIsRecorded
                  | PingRequest | PingResponse | UnknownUserControl)

#: Known User Control events: the class and the declaration of its event data.
_EVENTS: dict[int, tuple[type, Any]] = {
    UserControlEvent.STREAM_BEGIN: (StreamBegin, fmt.StreamIdEvent),
    UserControlEvent.STREAM_EOF: (StreamEOF, fmt.StreamIdEvent),
    UserControlEvent.STREAM_DRY: (StreamDry, fmt.StreamIdEvent),
    UserControlEvent.SET_BUFFER_LENGTH: (SetBufferLength, fmt.SetBufferLengthEvent),
    UserControlEvent.STREAM_IS_RECORDED: (StreamIsRecorded, fmt.StreamIdEvent),
    UserControlEvent.PING_REQUEST: (PingRequest, fmt.PingEvent),
    UserControlEvent.PING_RESPONSE: (PingResponse, fmt.PingEvent),
}


# -- parsing -------------------------------------------------------------------------------------


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise ProtocolError(f"truncated {what}: {len(payload)} bytes, need {n}")


def parse_control(msg: Message) -> ControlMessage:
    """Parse a protocol control (1, 2, 3, 5, 6) or User Control (4) message.

    A truncated payload, a Set Chunk Size with the top bit set or zero, or a message of another
    type raises :class:`ProtocolError`. Trailing bytes are ignored. An unknown User Control
    event is returned as :class:`UnknownUserControl`, not refused.
    """
    type_id = msg.type_id
    payload = bytes(msg.payload)
    if type_id not in CONTROL_TYPES:
        raise ProtocolError(f"message type {type_id} is not a control message")
    # The messages every connection exchanges, with struct (same layouts as the declarations).
    n = len(payload)
    if type_id == WINDOW_ACK_SIZE and n >= 4:
        return WindowAckSize(_U32S.unpack_from(payload)[0])
    if type_id == SET_PEER_BANDWIDTH and n >= 5:
        size, limit = _BANDWIDTH.unpack_from(payload)
        return SetPeerBandwidth(size, PeerBandwidthLimit(limit) if limit <= 2 else limit)
    if type_id == USER_CONTROL and n >= 6:
        event = _U16S.unpack_from(payload)[0]
        if event == UserControlEvent.PING_REQUEST:
            return PingRequest(_U32S.unpack_from(payload, 2)[0])
        if event == UserControlEvent.STREAM_BEGIN:
            return StreamBegin(_U32S.unpack_from(payload, 2)[0])
    try:
        if type_id == SET_CHUNK_SIZE:
            _need(payload, 4, "Set Chunk Size")
            c = fmt.SetChunkSize.parse(payload)
            if c.zero or c.chunk_size == 0:
                raise ProtocolError(
                    f"invalid chunk size 0x{int.from_bytes(payload[:4], 'big'):08x}")
            return SetChunkSize(int(c.chunk_size))
        if type_id == ABORT:
            _need(payload, 4, "Abort Message")
            return Abort(int(fmt.Abort.parse(payload).chunk_stream_id))
        if type_id == ACKNOWLEDGEMENT:
            _need(payload, 4, "Acknowledgement")
            return Acknowledgement(int(fmt.Acknowledgement.parse(payload).sequence_number))
        if type_id == WINDOW_ACK_SIZE:
            _need(payload, 4, "Window Acknowledgement Size")
            c = fmt.WindowAcknowledgementSize.parse(payload)
            return WindowAckSize(int(c.acknowledgement_window_size))
        if type_id == SET_PEER_BANDWIDTH:
            _need(payload, 5, "Set Peer Bandwidth")
            c = fmt.SetPeerBandwidth.parse(payload)
            limit: PeerBandwidthLimit | int = int(c.limit_type)
            if limit in PeerBandwidthLimit._value2member_map_:
                limit = PeerBandwidthLimit(limit)
            return SetPeerBandwidth(int(c.acknowledgement_window_size), limit)
        # USER_CONTROL
        _need(payload, 2, "User Control Message")
        uc = fmt.UserControl.parse(payload)
        event = int(uc.event_type)
        data = bytes(uc.event_data)
        known = _EVENTS.get(event)
        if known is None:
            return UnknownUserControl(event, data)
        cls, declaration = known
        _need(data, declaration.sizeof(), f"{UserControlEvent(event).name} event data")
        fields = declaration.parse(data)
        return cls(*(int(v) for k, v in fields.items() if not k.startswith("_")))
    except ConstructError as exc:  # defensive: lengths are checked above
        raise ProtocolError(f"bad control message type {type_id}: {exc}") from exc


# -- aggregate messages --------------------------------------------------------------------------

_TAG_HEADER = struct.Struct(">B3sI3s")  # type, size (24), timestamp (24) + ext (8), stream (24)
_HEADER = fmt.AGGREGATE_TAG_HEADER_SIZE
_BACK = fmt.AGGREGATE_BACK_POINTER_SIZE


def split_aggregate(msg: Message) -> Iterator[Message]:
    """Yield the sub-messages of an aggregate message (type 22).

    Each sub-message gets ``msg.stream_id`` and ``msg.csid``; timestamps are rebased so the
    first sub-message has ``msg.timestamp`` and later ones keep their offset from the first
    (mod 2**32). A truncated or overlong sub-tag, or a nested aggregate, raises
    :class:`ProtocolError` (sub-messages before it have been yielded). Back pointers are not
    checked: encoders disagree about them.
    """
    if msg.type_id != AGGREGATE:
        raise ProtocolError(f"message type {msg.type_id} is not an aggregate message")
    payload = msg.payload
    view = memoryview(payload)
    end = len(view)
    pos = 0
    first_ts: int | None = None
    while pos < end:
        if end - pos < _HEADER:
            raise ProtocolError(f"truncated aggregate sub-tag header at byte {pos}")
        tag_type, size_b, ts_low, _stream = _TAG_HEADER.unpack_from(view, pos)
        size = int.from_bytes(size_b, "big")
        # 24-bit timestamp then 8-bit extension (the upper byte): rotate into a 32-bit value.
        ts = (ts_low >> 8) | ((ts_low & 0xFF) << 24)
        data_start = pos + _HEADER
        data_end = data_start + size
        if data_end + _BACK > end:
            raise ProtocolError(
                f"aggregate sub-tag at byte {pos} claims {size} bytes, only "
                f"{max(end - data_start - _BACK, 0)} left")
        if tag_type == AGGREGATE:
            raise ProtocolError("nested aggregate message")
        if first_ts is None:
            first_ts = ts
        timestamp = (msg.timestamp + ts - first_ts) & _U32
        yield Message(type_id=tag_type, timestamp=timestamp, stream_id=msg.stream_id,
                      payload=bytes(view[data_start:data_end]), csid=msg.csid)
        pos = data_end + _BACK


def build_aggregate(messages: Iterable[Message], *, timestamp: int | None = None,
                    stream_id: int | None = None, csid: int = 0) -> Message:
    """Pack ``messages`` into one aggregate message (type 22), mainly for tests and relays.

    Sub-tags keep their own timestamps; the aggregate takes ``timestamp`` (default: the first
    message's) and ``stream_id`` (default: the first message's, else 0).
    """
    parts: list[bytes] = []
    first: Message | None = None
    for m in messages:
        if first is None:
            first = m
        data = bytes(m.payload)
        if len(data) > 0xFFFFFF:
            raise ValueError(f"sub-message of {len(data)} bytes does not fit in 24 bits")
        ts = m.timestamp & _U32
        parts.append(fmt.AggregateTag.build({
            "header": {"type": {"reserved": 0, "filter": False, "tag_type": m.type_id},
                       "data_size": len(data), "timestamp": ts,
                       "stream_id": m.stream_id & 0xFFFFFF},
            "data": data,
            "back_pointer": _HEADER + len(data),
        }))
    if timestamp is None:
        timestamp = first.timestamp if first is not None else 0
    if stream_id is None:
        stream_id = first.stream_id if first is not None else 0
    return Message(type_id=AGGREGATE, timestamp=timestamp & _U32, stream_id=stream_id,
                   payload=b"".join(parts), csid=csid)
