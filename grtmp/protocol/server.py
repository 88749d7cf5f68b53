"""The server side of an RTMP connection as a pure state machine: messages in, events and
bytes out.

The contract (after websockets' ``Protocol``): the I/O layer reads a
:class:`~grtmp.wire.message.Message` with the blocking chunk reader and calls
:meth:`ServerSession.receive`, which returns typed events (:mod:`grtmp.protocol.events`) and
queues the replies the protocol itself owes (acknowledgements, ping responses, ``_result`` of
``createStream``...). Decisions are methods: a ``ConnectRequested`` is answered with
:meth:`~ServerSession.accept_connect` or :meth:`~ServerSession.reject_connect`, a
``PublishRequested`` with :meth:`~ServerSession.accept_publish` or
:meth:`~ServerSession.reject_publish`, and so on; the I/O layer calls the user's hooks in
between. :meth:`~ServerSession.data_to_send` hands out the chunked bytes to write, in order.

No sockets, no gevent, no clocks: the same object runs under the gevent shell, in memory in the
tests (a :class:`~grtmp.protocol.client.ClientSession` wired to it) and under a fuzzer.

Replies follow nginx-rtmp's order and codes (RTMP 1.0 section 7.2; Enhanced RTMP v2 for the
``connect`` capabilities).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from grtmp.amf import amf0
from grtmp.amf.command import (
    Command,
    decode_command,
    decode_data,
    encode_command,
    encode_data,
    int_arg,
    text_arg,
)
from grtmp.amf.values import UNDEFINED, ECMAArray
from grtmp.config import ServerConfig
from grtmp.errors import AMFError, ProtocolError, StateError
from grtmp.logs import ContextLog, peer_text
from grtmp.names import MAX_NAME, MAX_NAME_WITH_QUERY, MAX_URL, split_name
from grtmp.protocol.events import (
    CAPS_EX_MODEX,
    CAPS_EX_MULTITRACK,
    CAPS_EX_RECONNECT,
    CAPS_EX_TIMESTAMP_NANO_OFFSET,
    ConnectRequested,
    DataReceived,
    Event,
    MediaReceived,
    MediaSelected,
    MetadataReceived,
    Paused,
    PeerCaps,
    PlayRequested,
    PublishRequested,
    StreamEnded,
)
from grtmp.protocol.flow import FlowControl
from grtmp.protocol.state import CONNECTION, STREAM, ConnState, StreamState, advance
from grtmp.protocol.status import Status, status_info
from grtmp.wire.chunk import ChunkWriter
from grtmp.wire.control import (
    ControlMessage,
    PingRequest,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamEOF,
    StreamIsRecorded,
    WindowAckSize,
    parse_control,
    split_aggregate,
)
from grtmp.wire.message import (
    AGGREGATE,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_COMMAND,
    CSID_CONTROL,
    DATA_AMF0,
    DATA_AMF3,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
)

__all__ = ["ServerSession", "SUPPORTED_FOURCCS"]

logger = logging.getLogger("grtmp.session")

#: FourCC info map bits (Enhanced RTMP v2): we forward every codec.
FOURCC_CAN_FORWARD = 0x04
#: Codecs grtmp relays (it forwards any FourCC; these are the ones it also parses).
SUPPORTED_FOURCCS = ("avc1", "hvc1", "av01", "vp09", "vp08", "vvc1",
                     "mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3")
#: Control messages the session acts on (pings, the peer's window); the rest it skips.
_FLOW_TYPES = frozenset({USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH})
_IGNORED_COMMANDS = frozenset({"_result", "_error", "onStatus", "onBWDone"})


class ServerSession:
    """One RTMP connection, server side, after the handshake.

    ``peer`` names the connection in log lines. Attributes read by hooks and the shell:
    ``state``, ``app``, ``tc_url``, ``connect_params``, ``connect_query``, ``caps``,
    ``object_encoding``, ``streams`` (message stream id -> :class:`StreamState`) and
    ``out_chunk_size``.
    """

    def __init__(self, config: ServerConfig | None = None, *, peer: str = "",
                 log: logging.LoggerAdapter | None = None) -> None:
        self.config = config or ServerConfig()
        self.peer = peer
        self.log = log or ContextLog(logger, lambda: self.peer)
        self.state = ConnState.WAIT_CONNECT
        self.app = ""
        self.tc_url = ""
        self.connect_params: dict[str, Any] = {}
        self.connect_query: dict[str, str] = {}
        self.object_encoding = 0
        self.caps = PeerCaps()
        self.streams: dict[int, StreamState] = {}
        #: Stream names by message stream id, while publishing or playing (for log lines).
        self.names: dict[int, str] = {}
        self.flow = FlowControl()
        self.writer = ChunkWriter(128)
        self._out: list[bytes] = []
        self._next_stream_id = 1
        self._connect_tid = 0.0
        self._paused: set[int] = set()

    # -- the contract -----------------------------------------------------------------------
    @property
    def out_chunk_size(self) -> int:
        return self.writer.chunk_size

    @property
    def closing(self) -> bool:
        """True once the connection must end (connect refused); send what is left, close."""
        return self.state is ConnState.CLOSED

    def receive(self, msg: Message, bytes_read: int = 0) -> list[Event]:
        """Act on one message from the peer; ``bytes_read`` is the reader's running total.

        Peer errors raise :class:`~grtmp.errors.ProtocolError` (the caller closes the
        connection); anything to send is queued for :meth:`data_to_send`.
        """
        if self.state is ConnState.CONNECTING:
            raise StateError("a message arrived before the connect decision was made")
        events: list[Event] = []
        t = msg.type_id
        if t == VIDEO or t == AUDIO:
            if self.streams.get(msg.stream_id) is StreamState.PUBLISHING:
                events.append(MediaReceived(msg.stream_id, t, msg.timestamp, msg.payload))
        elif t == COMMAND_AMF0 or t == COMMAND_AMF3:
            self._command(msg, events)
        elif t == DATA_AMF0 or t == DATA_AMF3:
            self._data(msg, events)
        elif t == AGGREGATE:
            if self.streams.get(msg.stream_id) is StreamState.PUBLISHING:
                for sub in split_aggregate(msg):
                    if sub.type_id == AUDIO or sub.type_id == VIDEO:
                        events.append(MediaReceived(sub.stream_id, sub.type_id, sub.timestamp,
                                                    sub.payload))
                    elif sub.type_id == DATA_AMF0 or sub.type_id == DATA_AMF3:
                        self._data(sub, events)
        elif t in _FLOW_TYPES:
            reply = self.flow.on_control(parse_control(msg))
            if reply is not None:
                self._send_control(reply)
        # Set Chunk Size and Abort (applied by the reader), Acknowledgements of what we sent
        # and shared objects need nothing from us: not even parsing.
        if bytes_read:
            ack = self.flow.on_bytes(bytes_read)
            if ack is not None:
                self._send_control(ack)
        return events

    def data_to_send(self) -> bytes:
        """The chunked bytes queued since the last call, in order (empty when nothing).

        The shell must take these and write them while holding the connection's write lock,
        so bytes produced by different greenlets go out in the order they were produced.
        """
        if not self._out:
            return b""
        out = self._out
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    # -- decisions ----------------------------------------------------------------------------
    def accept_connect(self) -> None:
        """Window size, peer bandwidth, chunk size, then ``_result`` with our capabilities."""
        self.state = advance(CONNECTION, self.state, "accept", "(connect) ")
        cfg = self.config
        self._send_control(WindowAckSize(cfg.window_ack_size))
        self._send_control(SetPeerBandwidth(cfg.peer_bandwidth))
        self._send_control(SetChunkSize(cfg.chunk_size))
        self.writer.chunk_size = cfg.chunk_size
        amf3 = self.object_encoding == 3
        payload = amf0.encode("_result", float(self._connect_tid)) + _connect_result_tail(
            cfg.fms_version, cfg.capabilities, self.caps.enhanced, self.object_encoding)
        if amf3:
            payload = b"\x00" + payload
        self._send(Message(COMMAND_AMF3 if amf3 else COMMAND_AMF0, 0, 0, payload), CSID_COMMAND)
        self.log.info("connect app=%r tcUrl=%r flashVer=%r", peer_text(self.app),
                      peer_text(self.tc_url), peer_text(self.connect_params.get("flashVer")))

    def reject_connect(self, reason: str, code: str = Status.CONNECT_REJECTED) -> None:
        """``_error`` with ``NetConnection.Connect.Rejected`` and the reason; then close."""
        self.state = advance(CONNECTION, self.state, "reject", "(connect) ")
        self._command_out(0, "_error", self._connect_tid, None, status_info(code, reason))
        self.log.warning("connect rejected: %s", peer_text(reason))

    def redirect_connect(self, url: str, reason: str = "Redirected.") -> None:
        """Reject with a redirect to ``url``, as Adobe/Wowza servers do (code 302); close."""
        self.state = advance(CONNECTION, self.state, "reject", "(connect) ")
        self._command_out(0, "_error", self._connect_tid, None,
                          status_info(Status.CONNECT_REJECTED, reason,
                                      ex={"code": 302.0, "redirect": url}))
        self.log.info("connect redirected to %s", peer_text(url))

    def accept_publish(self, stream_id: int, name: str) -> None:
        """StreamBegin, then ``NetStream.Publish.Start`` for ``name`` (the name decided on)."""
        self._advance_stream(stream_id, "accept", "publish")
        self.names[stream_id] = name
        self._send_control(StreamBegin(stream_id))
        self._status(stream_id, Status.PUBLISH_START, f"{name} is now published.",
                     details=name)

    def reject_publish(self, stream_id: int, code: str, reason: str) -> None:
        """An error ``onStatus`` (BadName, Denied, a hook's code...) with the reason."""
        self._advance_stream(stream_id, "reject", "publish")
        self._status(stream_id, code, reason)

    def accept_play(self, stream_id: int, name: str, reset: bool = True) -> None:
        """StreamIsRecorded, StreamBegin, Play.Reset, Play.Start, ``|RtmpSampleAccess``.

        nginx-rtmp's order; players may start receiving media right after these bytes.
        """
        self._advance_stream(stream_id, "accept", "play")
        self.names[stream_id] = name
        self._send_control(StreamIsRecorded(stream_id))
        self._send_control(StreamBegin(stream_id))
        if reset:
            self._status(stream_id, Status.PLAY_RESET, f"Playing and resetting {name}.",
                         details=name)
        self._status(stream_id, Status.PLAY_START, f"Started playing {name}.", details=name)
        self._send(Message(DATA_AMF0, 0, stream_id,
                           encode_data("|RtmpSampleAccess", True, True)), CSID_COMMAND)

    def reject_play(self, stream_id: int, code: str, reason: str) -> None:
        """An error ``onStatus`` (StreamNotFound, Failed, a hook's code...) with the reason."""
        self._advance_stream(stream_id, "reject", "play")
        self._status(stream_id, code, reason)

    def end_publish(self, stream_id: int, *, notify: bool = True) -> None:
        """The publish on ``stream_id`` ended (by us): ``NetStream.Unpublish.Success``."""
        if self.streams.get(stream_id) is not StreamState.PUBLISHING:
            return
        self.streams[stream_id] = advance(STREAM, StreamState.PUBLISHING, "end")
        name = self.names.pop(stream_id, "")
        if notify and self.state is ConnState.CONNECTED:
            self._status(stream_id, Status.UNPUBLISH_SUCCESS, f"{name} is now unpublished.",
                         details=name)

    def end_play(self, stream_id: int) -> None:
        """The play on ``stream_id`` ended (by us or by the peer); nothing is sent."""
        if self.streams.get(stream_id) is StreamState.PLAYING:
            self.streams[stream_id] = advance(STREAM, StreamState.PLAYING, "end")
            self.names.pop(stream_id, None)
            self._paused.discard(stream_id)

    def play_notify(self, stream_id: int, name: str, published: bool) -> None:
        """A player's stream was (un)published: StreamBegin + PublishNotify, or StreamEOF +
        UnpublishNotify. Call it when the player's queue reaches that point, so it stays in
        order with the media around it."""
        if published:
            self._send_control(StreamBegin(stream_id))
            self._status(stream_id, Status.PLAY_PUBLISH_NOTIFY, f"{name} is now published.",
                         details=name)
        else:
            self._send_control(StreamEOF(stream_id))
            self._status(stream_id, Status.PLAY_UNPUBLISH_NOTIFY,
                         f"{name} is now unpublished.", details=name)

    def ping(self, timestamp_ms: int) -> None:
        """Queue a PingRequest (keepalive of a silent peer)."""
        self._send_control(PingRequest(timestamp_ms & 0xFFFFFFFF))

    def request_reconnect(self, tc_url: str | None = None,
                          description: str = "The server asks you to reconnect.") -> None:
        """Enhanced RTMP v2 Reconnect Request: ``onStatus`` on stream 0 with
        ``NetConnection.Connect.ReconnectRequest`` (and ``tcUrl``). Peers that did not declare
        capsEx Reconnect may ignore it."""
        extra = {"tcUrl": tc_url} if tc_url else {}
        self._status(0, Status.CONNECT_RECONNECT_REQUEST, description, **extra)
        self.log.info("reconnect requested%s", " to " + peer_text(tc_url) if tc_url else "")

    def close(self) -> None:
        """The connection is over (either side); later decisions are refused."""
        self.state = advance(CONNECTION, self.state, "close")

    # -- output helpers ------------------------------------------------------------------------
    def _send(self, msg: Message, csid: int) -> None:
        self._out.append(self.writer.write(msg, csid))

    def _send_control(self, ctl: ControlMessage) -> None:
        self._out.append(self.writer.write(ctl.message(), CSID_CONTROL))

    def _command_out(self, stream_id: int, name: str, tid: float, obj: Any, *args: Any) -> None:
        amf3 = self.object_encoding == 3
        payload = encode_command(name, tid, obj, *args, amf3=amf3)
        self._send(Message(COMMAND_AMF3 if amf3 else COMMAND_AMF0, 0, stream_id, payload),
                   CSID_COMMAND)

    def _status(self, stream_id: int, code: str, description: str, **extra: Any) -> None:
        self._command_out(stream_id, "onStatus", 0, None,
                          status_info(code, description, **extra))

    def _advance_stream(self, stream_id: int, action: str, what: str) -> None:
        state = self.streams.get(stream_id)
        if state is None:
            raise StateError(f"{action} {what}: message stream {stream_id} does not exist")
        self.streams[stream_id] = advance(STREAM, state, action, f"({what}) ")

    # -- data messages ---------------------------------------------------------------------------
    def _data(self, msg: Message, events: list[Event]) -> None:
        """A data message of a publisher: onMetaData or other data to relay as plain AMF0."""
        if self.streams.get(msg.stream_id) is not StreamState.PUBLISHING:
            return
        amf3 = msg.type_id == DATA_AMF3
        try:
            values = decode_data(msg.payload, amf3=amf3)
        except AMFError as exc:
            self.log.warning("dropping undecodable data message: %s", exc)
            return
        wrapped = bool(values) and values[0] == "@setDataFrame"
        if wrapped:
            values = values[1:]
        limit = self.config.max_message_size
        try:
            if len(values) >= 2 and values[0] == "onMetaData":
                meta = ECMAArray(values[1] if isinstance(values[1], dict) else {})
                meta.setdefault("server", "grtmp")
                # Written out again in full: bounded (references may have shared objects).
                payload = encode_data("onMetaData", meta, max_size=limit)
                events.append(MetadataReceived(msg.stream_id, msg.timestamp, meta, payload))
                return
            if values and values[0] == "@clearDataFrame":
                return
            if amf3 or wrapped:  # players get plain AMF0, without the @setDataFrame wrapper
                payload = encode_data(*values, max_size=limit)
            else:
                payload = bytes(msg.payload)
        except AMFError as exc:
            self.log.warning("dropping data message: %s", exc)
            return
        events.append(DataReceived(msg.stream_id, msg.timestamp, payload))

    # -- commands ------------------------------------------------------------------------------
    def _command(self, msg: Message, events: list[Event]) -> None:
        cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
        handler = _COMMANDS.get(cmd.name)
        if handler is None:
            if cmd.name in _IGNORED_COMMANDS:
                return
            self.log.debug("unknown command %r", peer_text(cmd.name))
            if cmd.transaction_id and self.state is ConnState.CONNECTED:
                self._command_out(msg.stream_id, "_error", cmd.transaction_id, None,
                                  status_info(Status.CALL_FAILED,
                                              f"Method not found ({peer_text(cmd.name)})."))
            return
        if self.state is not ConnState.CONNECTED and cmd.name != "connect":
            raise ProtocolError(f"{peer_text(cmd.name, 64)!r} before connect")
        handler(self, msg, cmd, events)

    def _call_failed(self, msg: Message, cmd: Command, reason: str) -> None:
        self.log.warning("%s refused: %s", cmd.name, reason)
        if cmd.transaction_id:
            self._command_out(msg.stream_id, "_error", cmd.transaction_id, None,
                              status_info(Status.CALL_FAILED, reason))

    def _cmd_connect(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        if self.state is not ConnState.WAIT_CONNECT:
            raise ProtocolError("connect on a connection already connected")
        params = cmd.command_object if isinstance(cmd.command_object, dict) else {}
        # Only strings where strings are meant: str() of a decoded value could expand a
        # reference graph (the decoder bounds it; names are bounded here too).
        app, query = split_name(text_arg(params.get("app"), MAX_NAME_WITH_QUERY) or "")
        self.app = app.strip("/")[:MAX_NAME]
        self.connect_query = query
        self.tc_url = text_arg(params.get("tcUrl"), MAX_URL) or ""
        self.connect_params = dict(params)
        self.object_encoding = 3 if (params.get("objectEncoding") == 3
                                     or msg.type_id == COMMAND_AMF3) else 0
        self.caps = _read_caps(params)
        self._connect_tid = cmd.transaction_id
        self.state = advance(CONNECTION, self.state, "connect")
        if len(app) > MAX_NAME:  # decided here, not by hooks: too long to be an app name
            self.reject_connect("App name too long.")
            return
        events.append(ConnectRequested(cmd.transaction_id, self.app, self.tc_url, params,
                                       query, self.object_encoding, self.caps))

    def _cmd_create_stream(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        cap = self.config.max_message_streams
        if cap and len(self.streams) >= cap:
            self._call_failed(msg, cmd, f"Too many streams ({cap}).")
            return
        sid = self._next_stream_id
        while sid in self.streams:
            sid = sid + 1 if sid < 0xFFFFFFFF else 1
        self._next_stream_id = sid + 1 if sid < 0xFFFFFFFF else 1
        self.streams[sid] = StreamState.IDLE
        self._command_out(0, "_result", cmd.transaction_id, None, float(sid))

    def _cmd_release_stream(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        self._command_out(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def _cmd_fc_publish(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        name = (text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None) or ""
        self._command_out(0, "onFCPublish", 0, None,
                          {"code": Status.PUBLISH_START.value, "description": name})
        self._command_out(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def _cmd_fc_unpublish(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        name = (text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None) or ""
        self._command_out(0, "onFCUnpublish", 0, None,
                          {"code": Status.UNPUBLISH_SUCCESS.value, "description": name})
        self._command_out(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def _usable_stream(self, msid: int, refused: str, events: list[Event]) -> bool:
        """Publish and play only on ids createStream handed out; end what runs there now."""
        state = self.streams.get(msid)
        if state is None:
            self.log.warning("refused: message stream %d was not created", msid)
            self._status(msid, refused, f"Stream id {msid} was not created.")
            return False
        self._end_by_peer(msid, "replaced", events)
        return True

    def _cmd_publish(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        msid = msg.stream_id
        if not self._usable_stream(msid, Status.PUBLISH_BAD_NAME, events):
            return
        raw = text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None
        name, params = split_name(raw or "")
        if not name or len(name) > MAX_NAME:
            self._status(msid, Status.PUBLISH_BAD_NAME,
                         "No stream name." if not name else "Stream name too long.")
            return
        kind = text_arg(cmd.args[1], 16) if len(cmd.args) > 1 else None
        kind = kind or "live"
        params.setdefault("type", kind)
        self.streams[msid] = advance(STREAM, self.streams[msid], "publish")
        events.append(PublishRequested(msid, name, params, kind))

    def _cmd_play(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        args = cmd.args
        raw = text_arg(args[0], MAX_NAME_WITH_QUERY) if args else None
        reset = bool(args[3]) if len(args) > 3 and isinstance(args[3], bool) else True
        self._play(msg.stream_id, raw or "", reset, events)

    def _cmd_play2(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        opts = cmd.args[0] if cmd.args and isinstance(cmd.args[0], dict) else {}
        raw = text_arg(opts.get("streamName"), MAX_NAME_WITH_QUERY)
        self._play(msg.stream_id, raw or "", False, events)

    def _play(self, msid: int, raw: str, reset: bool, events: list[Event]) -> None:
        if not self._usable_stream(msid, Status.PLAY_FAILED, events):
            return
        name, params = split_name(raw)
        if not name or len(name) > MAX_NAME:
            self._status(msid, Status.PLAY_STREAM_NOT_FOUND,
                         "No stream name." if not name else "Stream name too long.")
            return
        self.streams[msid] = advance(STREAM, self.streams[msid], "play")
        events.append(PlayRequested(msid, name, params, reset))

    def _end_by_peer(self, msid: int, reason: str, events: list[Event]) -> None:
        """The peer ends what runs on ``msid`` (closeStream, deleteStream, a new publish or
        play there): a publisher is told ``NetStream.Unpublish.Success``, as nginx-rtmp does."""
        state = self.streams.get(msid)
        if state is StreamState.PUBLISHING:
            events.append(StreamEnded(msid, "publish", reason))
            self.end_publish(msid)
        elif state is StreamState.PLAYING:
            events.append(StreamEnded(msid, "play", reason))
            self.end_play(msid)

    def _cmd_delete_stream(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        arg = int_arg(cmd.args[0]) if cmd.args else None  # NaN, inf, out of range: ignored
        msid = msg.stream_id if arg is None else arg
        self._end_by_peer(msid, "deleteStream", events)
        self.streams.pop(msid, None)

    def _cmd_close_stream(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        self._end_by_peer(msg.stream_id, "closeStream", events)

    def _cmd_pause(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        msid = msg.stream_id
        if self.streams.get(msid) is not StreamState.PLAYING:
            return
        name = self.names.get(msid, "")
        pause = bool(cmd.args[0]) if cmd.args else msid not in self._paused
        if pause:
            self._paused.add(msid)
            self._status(msid, Status.PAUSE_NOTIFY, f"Paused {name}.", details=name)
        else:
            self._paused.discard(msid)
            self._status(msid, Status.UNPAUSE_NOTIFY, f"Unpaused {name}.", details=name)
        events.append(Paused(msid, pause))

    def _cmd_receive_audio(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        if self.streams.get(msg.stream_id) is StreamState.PLAYING and cmd.args:
            events.append(MediaSelected(msg.stream_id, audio=bool(cmd.args[0])))

    def _cmd_receive_video(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        if self.streams.get(msg.stream_id) is StreamState.PLAYING and cmd.args:
            events.append(MediaSelected(msg.stream_id, video=bool(cmd.args[0])))

    def _cmd_get_stream_length(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        self._command_out(msg.stream_id, "_result", cmd.transaction_id, None, 0.0)

    def _cmd_checkbw(self, msg: Message, cmd: Command, events: list[Event]) -> None:
        self._command_out(0, "_result", cmd.transaction_id, None, UNDEFINED)


@functools.lru_cache(maxsize=16)
def _connect_result_tail(fms_version: str, capabilities: int, enhanced: bool,
                         object_encoding: int) -> bytes:
    """The properties and info objects of connect's ``_result``, AMF0-encoded once per
    server setting (every connection sends the same bytes: encoding them was a third of the
    CPU a connect costs)."""
    props: dict[str, Any] = {"fmsVer": fms_version, "capabilities": float(capabilities),
                             "mode": 1.0}
    if enhanced:
        # Enhanced RTMP: answer with our own support, under the same names.
        props["fourCcList"] = list(SUPPORTED_FOURCCS)
        props["videoFourCcInfoMap"] = {"*": float(FOURCC_CAN_FORWARD)}
        props["audioFourCcInfoMap"] = {"*": float(FOURCC_CAN_FORWARD)}
        props["capsEx"] = float(CAPS_EX_RECONNECT | CAPS_EX_MULTITRACK | CAPS_EX_MODEX
                                | CAPS_EX_TIMESTAMP_NANO_OFFSET)
    info = status_info(Status.CONNECT_SUCCESS, "Connection succeeded.",
                       objectEncoding=float(object_encoding))
    return amf0.encode(props, info)


def _read_caps(params: dict[str, Any]) -> PeerCaps:
    """Enhanced RTMP fields of connect (``fourCcList``, the FourCC info maps, ``capsEx``).

    Non-finite or out-of-range numbers count as absent (never ``int(nan)``); lists and maps
    are bounded.
    """
    enhanced = False
    fourccs: tuple[str, ...] = ()
    raw = params.get("fourCcList")
    if isinstance(raw, list):
        fourccs = tuple(f for f in raw[:64] if isinstance(f, str) and len(f) <= 4)
        enhanced = True
    maps: list[dict[str, int]] = []
    for key in ("videoFourCcInfoMap", "audioFourCcInfoMap"):
        value = params.get(key)
        info: dict[str, int] = {}
        if isinstance(value, dict):
            for cc, mask in list(value.items())[:64]:
                bits = int_arg(mask)
                if bits is not None and isinstance(cc, str) and len(cc) <= 4:
                    info[cc] = bits
            enhanced = True
        maps.append(info)
    caps = 0
    raw = params.get("capsEx")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        caps = int_arg(raw) or 0
        enhanced = True
    return PeerCaps(enhanced, caps, fourccs, maps[0], maps[1])


_Handler = Callable[[ServerSession, Message, Command, list[Event]], None]
_COMMANDS: dict[str, _Handler] = {
    "connect": ServerSession._cmd_connect,
    "createStream": ServerSession._cmd_create_stream,
    "releaseStream": ServerSession._cmd_release_stream,
    "FCPublish": ServerSession._cmd_fc_publish,
    "FCUnpublish": ServerSession._cmd_fc_unpublish,
    "publish": ServerSession._cmd_publish,
    "play": ServerSession._cmd_play,
    "play2": ServerSession._cmd_play2,
    "deleteStream": ServerSession._cmd_delete_stream,
    "closeStream": ServerSession._cmd_close_stream,
    "pause": ServerSession._cmd_pause,
    "pauseRaw": ServerSession._cmd_pause,
    "receiveAudio": ServerSession._cmd_receive_audio,
    "receiveVideo": ServerSession._cmd_receive_video,
    "getStreamLength": ServerSession._cmd_get_stream_length,
    "_checkbw": ServerSession._cmd_checkbw,
}
