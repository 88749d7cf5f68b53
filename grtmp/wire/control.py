"""Protocol control messages, User Control events and aggregate messages: build and parse.

Pure: no sockets. Builders return :class:`~grtmp.wire.message.Message` objects on message stream 0,
chunk stream 2; :func:`parse_control` reads them back (through the declarations of
:mod:`grtmp.formats.control`) into a :class:`ControlMessage`. :func:`split_aggregate` unpacks an
aggregate message (type 22) into its audio/video/data sub-messages.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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
    "ControlMessage",
    "abort",
    "acknowledgement",
    "build_aggregate",
    "parse_control",
    "ping_request",
    "ping_response",
    "set_buffer_length",
    "set_chunk_size",
    "set_peer_bandwidth",
    "split_aggregate",
    "stream_begin",
    "stream_dry",
    "stream_eof",
    "stream_is_recorded",
    "user_control",
    "window_ack_size",
]

MAX_CHUNK_SIZE = 0x7FFFFFFF
_U32 = 0xFFFFFFFF

#: Number of 32-bit values each known User Control event carries.
EVENT_ARITY: dict[int, int] = {
    UserControlEvent.STREAM_BEGIN: 1,
    UserControlEvent.STREAM_EOF: 1,
    UserControlEvent.STREAM_DRY: 1,
    UserControlEvent.SET_BUFFER_LENGTH: 2,
    UserControlEvent.STREAM_IS_RECORDED: 1,
    UserControlEvent.PING_REQUEST: 1,
    UserControlEvent.PING_RESPONSE: 1,
}

_EVENT_DATA = {
    UserControlEvent.STREAM_BEGIN: fmt.StreamIdEvent,
    UserControlEvent.STREAM_EOF: fmt.StreamIdEvent,
    UserControlEvent.STREAM_DRY: fmt.StreamIdEvent,
    UserControlEvent.SET_BUFFER_LENGTH: fmt.SetBufferLengthEvent,
    UserControlEvent.STREAM_IS_RECORDED: fmt.StreamIdEvent,
    UserControlEvent.PING_REQUEST: fmt.PingEvent,
    UserControlEvent.PING_RESPONSE: fmt.PingEvent,
}


@dataclass(slots=True)
class ControlMessage:
    """A parsed protocol control or User Control message.

    ``value`` is the chunk size (1), chunk stream id (2), sequence number (3) or window size
    (5, 6); ``limit_type`` is set for Set Peer Bandwidth (a :class:`PeerBandwidthLimit`, or the
    raw int when unknown); ``event`` and ``values`` for User Control (``values`` are the 32-bit
    fields in spec order). An unknown event keeps its raw bytes in ``data`` and empty values.
    """

    type_id: int
    value: int | None = None
    limit_type: PeerBandwidthLimit | int | None = None
    event: UserControlEvent | int | None = None
    values: tuple[int, ...] = ()
    data: bytes = b""


# -- builders ------------------------------------------------------------------------------------


def _control(type_id: int, payload: bytes) -> Message:
    return Message(type_id=type_id, timestamp=0, stream_id=0, payload=payload, csid=CSID_CONTROL)


def _u32(value: int, what: str) -> int:
    value = int(value)
    if not 0 <= value <= _U32:
        raise ValueError(f"{what} {value} does not fit in 32 bits")
    return value


def set_chunk_size(size: int) -> Message:
    """Set Chunk Size (type 1). ``size`` must be 1..0x7FFFFFFF (the top bit stays zero)."""
    size = int(size)
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {size} outside 1..0x7FFFFFFF")
    return _control(SET_CHUNK_SIZE, fmt.SetChunkSize.build({"zero": 0, "chunk_size": size}))


def abort(csid: int) -> Message:
    """Abort Message (type 2): drop the partly received message on chunk stream ``csid``."""
    return _control(ABORT, fmt.Abort.build({"chunk_stream_id": _u32(csid, "chunk stream id")}))


def acknowledgement(sequence: int) -> Message:
    """Acknowledgement (type 3): ``sequence`` is the number of bytes received so far (mod 2**32)."""
    payload = fmt.Acknowledgement.build({"sequence_number": int(sequence) & _U32})
    return _control(ACKNOWLEDGEMENT, payload)


def window_ack_size(size: int) -> Message:
    """Window Acknowledgement Size (type 5)."""
    return _control(WINDOW_ACK_SIZE, fmt.WindowAcknowledgementSize.build(
        {"acknowledgement_window_size": _u32(size, "window size")}))


def set_peer_bandwidth(
    size: int, limit_type: PeerBandwidthLimit | int = PeerBandwidthLimit.DYNAMIC
) -> Message:
    """Set Peer Bandwidth (type 6): window ``size`` and limit type (0 hard, 1 soft, 2 dynamic)."""
    limit = int(limit_type)
    if not 0 <= limit <= 0xFF:
        raise ValueError(f"limit type {limit} does not fit in 8 bits")
    return _control(SET_PEER_BANDWIDTH, fmt.SetPeerBandwidth.build(
        {"acknowledgement_window_size": _u32(size, "window size"), "limit_type": limit}))


def user_control(event: UserControlEvent | int, *values: int) -> Message:
    """User Control Message (type 4): event type then each value as a 32-bit field.

    Known events must get exactly the number of values the spec gives them.
    """
    event = int(event)
    if not 0 <= event <= 0xFFFF:
        raise ValueError(f"user control event {event} does not fit in 16 bits")
    arity = EVENT_ARITY.get(event)
    if arity is not None and len(values) != arity:
        raise ValueError(f"user control event {event} takes {arity} value(s), got {len(values)}")
    data = b"".join(_u32(v, "event value").to_bytes(4, "big") for v in values)
    return _control(USER_CONTROL, fmt.UserControl.build({"event_type": event, "event_data": data}))


def stream_begin(stream_id: int) -> Message:
    """StreamBegin (event 0): the stream became functional."""
    return user_control(UserControlEvent.STREAM_BEGIN, stream_id)


def stream_eof(stream_id: int) -> Message:
    """StreamEOF (event 1): playback of the stream ended."""
    return user_control(UserControlEvent.STREAM_EOF, stream_id)


def stream_dry(stream_id: int) -> Message:
    """StreamDry (event 2): no more data on the stream for now."""
    return user_control(UserControlEvent.STREAM_DRY, stream_id)


def set_buffer_length(stream_id: int, ms: int) -> Message:
    """SetBufferLength (event 3): the client's buffer for ``stream_id`` in milliseconds."""
    return user_control(UserControlEvent.SET_BUFFER_LENGTH, stream_id, ms)


def stream_is_recorded(stream_id: int) -> Message:
    """StreamIsRecorded (event 4): the stream is a recorded one."""
    return user_control(UserControlEvent.STREAM_IS_RECORDED, stream_id)


def ping_request(timestamp: int) -> Message:
    """PingRequest (event 6): the peer should answer with PingResponse and this timestamp."""
    return user_control(UserControlEvent.PING_REQUEST, timestamp & _U32)


def ping_response(timestamp: int) -> Message:
    """PingResponse (event 7): the answer to a PingRequest, echoing its timestamp."""
    return user_control(UserControlEvent.PING_RESPONSE, timestamp & _U32)


# -- parsing -------------------------------------------------------------------------------------


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise ProtocolError(f"truncated {what}: {len(payload)} bytes, need {n}")


def parse_control(msg: Message) -> ControlMessage:
    """Parse a protocol control (1, 2, 3, 5, 6) or User Control (4) message.

    A truncated payload, a Set Chunk Size with the top bit set or zero, or a message of another
    type raises :class:`ProtocolError`. Trailing bytes are ignored. An unknown User Control
    event is returned with its raw data, not refused.
    """
    type_id = msg.type_id
    payload = bytes(msg.payload)
    if type_id not in CONTROL_TYPES:
        raise ProtocolError(f"message type {type_id} is not a control message")
    try:
        if type_id == SET_CHUNK_SIZE:
            _need(payload, 4, "Set Chunk Size")
            c = fmt.SetChunkSize.parse(payload)
            if c.zero or c.chunk_size == 0:
                raise ProtocolError(
                    f"invalid chunk size 0x{int.from_bytes(payload[:4], 'big'):08x}")
            return ControlMessage(type_id, value=c.chunk_size)
        if type_id == ABORT:
            _need(payload, 4, "Abort Message")
            return ControlMessage(type_id, value=fmt.Abort.parse(payload).chunk_stream_id)
        if type_id == ACKNOWLEDGEMENT:
            _need(payload, 4, "Acknowledgement")
            return ControlMessage(type_id,
                                  value=fmt.Acknowledgement.parse(payload).sequence_number)
        if type_id == WINDOW_ACK_SIZE:
            _need(payload, 4, "Window Acknowledgement Size")
            c = fmt.WindowAcknowledgementSize.parse(payload)
            return ControlMessage(type_id, value=c.acknowledgement_window_size)
        if type_id == SET_PEER_BANDWIDTH:
            _need(payload, 5, "Set Peer Bandwidth")
            c = fmt.SetPeerBandwidth.parse(payload)
            limit: PeerBandwidthLimit | int = int(c.limit_type)
            if limit in PeerBandwidthLimit._value2member_map_:
                limit = PeerBandwidthLimit(limit)
            return ControlMessage(type_id, value=c.acknowledgement_window_size, limit_type=limit)
        # USER_CONTROL
        _need(payload, 2, "User Control Message")
        uc = fmt.UserControl.parse(payload)
        data = bytes(uc.event_data)
        event_type = int(uc.event_type)
        if event_type not in EVENT_ARITY:
            return ControlMessage(type_id, event=event_type, data=data)
        event = UserControlEvent(event_type)
        arity = EVENT_ARITY[event]
        _need(data, 4 * arity, f"{event.name} event data")
        fields = _EVENT_DATA[event].parse(data)
        values = tuple(v for k, v in fields.items() if not k.startswith("_"))
        return ControlMessage(type_id, event=event, values=values, data=data)
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
