"""The client side of an RTMP connection as a pure state machine (the twin of
:class:`~grtmp.protocol.server.ServerSession`).

Requests are methods that queue chunked bytes (:meth:`ClientSession.connect`,
:meth:`~ClientSession.create_stream`, :meth:`~ClientSession.publish`,
:meth:`~ClientSession.play`, :meth:`~ClientSession.send_media`...); the server's messages go to
:meth:`~ClientSession.receive`, which returns typed events (``ConnectResult``,
``StreamCreated``, ``StatusReceived``, ``MediaReceived``...) and answers pings and
acknowledgement windows on the way, with the same :class:`~grtmp.protocol.flow.FlowControl`
as the server. No I/O: :class:`grtmp.net.client.Client` runs it over a socket, the tests wire it
to a ``ServerSession`` in memory.
"""

from __future__ import annotations

from typing import Any

from grtmp.amf.command import decode_command, encode_command, encode_data, int_arg
from grtmp.protocol.events import (
    CallResult,
    CommandReceived,
    ConnectResult,
    ControlReceived,
    DataReceived,
    Event,
    MediaReceived,
    StatusReceived,
    StreamCreated,
)
from grtmp.protocol.flow import FlowControl
from grtmp.protocol.state import CONNECTION, ConnState, advance
from grtmp.protocol.status import level_of
from grtmp.wire.chunk import ChunkWriter
from grtmp.wire.control import (
    PingRequest,
    SetBufferLength,
    SetChunkSize,
    parse_control,
)
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
    DATA_AMF3,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
)

__all__ = ["ClientSession"]


class ClientSession:
    """One RTMP connection, client side, after the handshake.

    ``app`` and ``tc_url`` go into ``connect``; ``chunk_size`` is announced right after it.
    """

    def __init__(self, app: str, tc_url: str, *, chunk_size: int = 4096,
                 flash_ver: str = "FMLE/3.0 (grtmp)") -> None:
        self.app = app
        self.tc_url = tc_url
        self.chunk_size = chunk_size
        self.flash_ver = flash_ver
        self.state = ConnState.WAIT_CONNECT
        self.flow = FlowControl()
        self.writer = ChunkWriter(128)
        self._out: list[bytes] = []
        self._tid = 1
        self._calls: dict[float, str] = {}
        #: The server's connect answer: (properties, info), once known.
        self.connect_result: tuple[Any, Any] | None = None

    # -- the contract -----------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """The chunked bytes queued since the last call, in order."""
        if not self._out:
            return b""
        out = self._out
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def receive(self, msg: Message, bytes_read: int = 0) -> list[Event]:
        """Act on one message from the server; returns what it means."""
        events: list[Event] = []
        t = msg.type_id
        if t == VIDEO or t == AUDIO:
            events.append(MediaReceived(msg.stream_id, t, msg.timestamp, msg.payload))
        elif t == DATA_AMF0 or t == DATA_AMF3:
            events.append(DataReceived(msg.stream_id, msg.timestamp, bytes(msg.payload)))
        elif t == COMMAND_AMF0 or t == COMMAND_AMF3:
            self._command(msg, events)
        elif t == USER_CONTROL or t == WINDOW_ACK_SIZE or t == SET_PEER_BANDWIDTH:
            ctl = parse_control(msg)
            reply = self.flow.on_control(ctl)
            if reply is not None:
                self._send(reply.message(), CSID_CONTROL)
            if t == USER_CONTROL and not isinstance(ctl, PingRequest):
                events.append(ControlReceived(ctl))
        if bytes_read:
            ack = self.flow.on_bytes(bytes_read)
            if ack is not None:
                self._send(ack.message(), CSID_CONTROL)
        return events

    # -- requests ---------------------------------------------------------------------------------
    def connect(self, **extra: Any) -> float:
        """``connect`` with the usual FMLE fields (``extra`` adds or overrides), then Set Chunk
        Size. Returns the transaction id."""
        self.state = advance(CONNECTION, self.state, "connect")
        params: dict[str, Any] = {
            "app": self.app, "type": "nonprivate", "flashVer": self.flash_ver,
            "tcUrl": self.tc_url, "fpad": False, "capabilities": 15.0, "audioCodecs": 4071.0,
            "videoCodecs": 252.0, "videoFunction": 1.0, "objectEncoding": 0.0}
        params.update(extra)
        tid = self.call("connect", params=params, kind="connect")
        self._send(SetChunkSize(self.chunk_size).message(), CSID_CONTROL)
        self.writer.chunk_size = self.chunk_size
        return tid

    def call(self, name: str, *args: Any, stream_id: int = 0, params: Any = None,
             kind: str = "call") -> float:
        """Send a command; returns its transaction id (answers come as events)."""
        tid = float(self._tid)
        self._tid += 1
        self._calls[tid] = kind
        self._send(Message(COMMAND_AMF0, 0, stream_id, encode_command(name, tid, params, *args)),
                   CSID_COMMAND)
        return tid

    def create_stream(self) -> float:
        """``createStream``; a :class:`StreamCreated` event carries the id."""
        return self.call("createStream", kind="createStream")

    def announce(self, name: str) -> None:
        """``releaseStream`` and ``FCPublish``, which FFmpeg and OBS send before
        ``createStream`` when they publish."""
        self.call("releaseStream", name)
        self.call("FCPublish", name)

    def publish(self, stream_id: int, name: str, kind: str = "live") -> None:
        """``publish`` on a stream from ``createStream``; a ``StatusReceived`` answers."""
        self._command_no_reply(stream_id, "publish", name, kind)

    def play(self, stream_id: int, name: str, start: float = -2.0,
             buffer_ms: int = 3000) -> None:
        """``play`` then SetBufferLength."""
        self._command_no_reply(stream_id, "play", name, start)
        self._send(SetBufferLength(stream_id, buffer_ms).message(), CSID_CONTROL)

    def delete_stream(self, stream_id: int) -> None:
        self._command_no_reply(0, "deleteStream", float(stream_id))

    def send_media(self, stream_id: int, type_id: int, timestamp: int, payload: bytes) -> None:
        csid = CSID_VIDEO if type_id == VIDEO else CSID_AUDIO if type_id == AUDIO else CSID_DATA
        self._send(Message(type_id, timestamp & 0xFFFFFFFF, stream_id, payload), csid)

    def send_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        payload = encode_data("@setDataFrame", "onMetaData", metadata)
        self._send(Message(DATA_AMF0, 0, stream_id, payload), CSID_DATA)

    def send_message(self, msg: Message, csid: int) -> None:
        """Any message, chunked by this session's writer."""
        self._send(msg, csid)

    # -- internals --------------------------------------------------------------------------------
    def _send(self, msg: Message, csid: int) -> None:
        self._out.append(self.writer.write(msg, csid))

    def _command_no_reply(self, stream_id: int, name: str, *args: Any) -> None:
        self._send(Message(COMMAND_AMF0, 0, stream_id, encode_command(name, 0.0, None, *args)),
                   CSID_COMMAND)

    def _command(self, msg: Message, events: list[Event]) -> None:
        cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
        if cmd.name in ("_result", "_error"):
            ok = cmd.name == "_result"
            kind = self._calls.pop(cmd.transaction_id, None)
            values = (cmd.command_object, *cmd.args)
            if kind == "connect":
                info = cmd.args[0] if cmd.args and isinstance(cmd.args[0], dict) else {}
                self.state = advance(CONNECTION, self.state, "accept" if ok else "reject")
                self.connect_result = (cmd.command_object, info)
                events.append(ConnectResult(ok, cmd.command_object, info))
                return
            if kind == "createStream" and ok:
                sid = int_arg(cmd.args[0]) if cmd.args else None
                if sid is not None:
                    events.append(StreamCreated(cmd.transaction_id, sid))
                    return
            events.append(CallResult(cmd.transaction_id, ok, values))
            return
        if cmd.name == "onStatus" and cmd.args and isinstance(cmd.args[0], dict):
            info = cmd.args[0]
            code = info.get("code")
            code = code if isinstance(code, str) else ""
            level = info.get("level")
            description = info.get("description")
            events.append(StatusReceived(
                msg.stream_id, code, level if isinstance(level, str) else level_of(code),
                description if isinstance(description, str) else "", info))
            return
        events.append(CommandReceived(msg.stream_id, cmd.name, cmd.transaction_id,
                                      (cmd.command_object, *cmd.args)))
