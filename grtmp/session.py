"""One RTMP connection, served by one greenlet, written as straight-line blocking code.

``Conn(sock).serve()`` does the handshake, then reads messages and acts on them until the peer
goes away. Errors from the peer (:class:`grtmp.errors.RTMPError`) are logged once with the peer
address and close this connection only.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import gevent
from gevent.lock import Semaphore

from grtmp.amf.amf0 import UNDEFINED, ECMAArray
from grtmp.amf.command import (
    Command,
    decode_command,
    decode_data,
    encode_command,
    encode_data,
    int_arg,
    text_arg,
)
from grtmp.config import ServerConfig
from grtmp.errors import (
    AMFError,
    CommandError,
    ConnectionClosed,
    HandshakeError,
    ProtocolError,
    RTMPError,
)
from grtmp.logs import ContextLog, peer_text
from grtmp.record import Recorder, record_path
from grtmp.stream import Stream, StreamHub, Subscriber
from grtmp.wire import control
from grtmp.wire.chunk import ChunkReader, ChunkWriter
from grtmp.wire.handshake import server_handshake
from grtmp.wire.message import (
    AGGREGATE,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_COMMAND,
    CSID_CONTROL,
    DATA_AMF0,
    DATA_AMF3,
    SET_CHUNK_SIZE,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
    UserControlEvent,
)

logger = logging.getLogger("grtmp.session")

_default_hub: StreamHub | None = None

# Enhanced RTMP v2: capsEx bits and FourCcInfoMap masks.
CAPS_EX_RECONNECT = 0x01
CAPS_EX_MULTITRACK = 0x02
CAPS_EX_MODEX = 0x04
CAPS_EX_TIMESTAMP_NANO_OFFSET = 0x08
FOURCC_CAN_DECODE = 0x01
FOURCC_CAN_ENCODE = 0x02
FOURCC_CAN_FORWARD = 0x04
#: Longest app or stream name accepted (nginx-rtmp: NGX_RTMP_MAX_NAME), and the longest
#: stream name with its query string, and tcUrl.
MAX_NAME = 256
MAX_NAME_WITH_QUERY = 2048
MAX_URL = 2048
#: Codecs grtmp relays (it forwards any FourCC; these are the ones it also parses).
SUPPORTED_FOURCCS = ["avc1", "hvc1", "av01", "vp09", "vp08", "vvc1",
                     "mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"]


def default_hub() -> StreamHub:
    """The process-wide hub used by a ``Conn`` created without one."""
    global _default_hub
    if _default_hub is None:
        _default_hub = StreamHub()
    return _default_hub


class _FairSocketIO(socket.SocketIO):
    """A socket reader that lets the other greenlets run before each buffer refill.

    gevent switches greenlets only when a read would block, so a peer that keeps its socket
    full (a flood of tiny messages) would otherwise hold the whole server. Yielding once per
    refill (64 KiB) costs nothing measurable and bounds the stall.
    """

    def readinto(self, b: Any) -> int | None:
        gevent.idle()
        return super().readinto(b)


def split_name(raw: str) -> tuple[str, dict[str, str]]:
    """Split ``key?token=abc&x=1`` into the stream name and its query parameters."""
    name, _, query = raw.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return name, params


class Conn:
    """A server-side RTMP connection.

    ``hub`` holds the streams (a process-wide default when omitted), ``config`` the limits.
    ``handler`` may be any object with the optional hooks described in :mod:`grtmp.auth`
    (``on_connect``, ``on_publish``, ``on_play``, ``on_publish_done``, ``on_play_done``,
    ``on_done``): they allow, reject (``False`` or :class:`grtmp.errors.CommandError`) or
    redirect (a new stream name) before anything is sent to the client.
    """

    def __init__(self, sock: socket.socket, address: Any = None, *,
                 hub: StreamHub | None = None, config: ServerConfig | None = None,
                 handler: Any = None):
        self.sock = sock
        if address is None:
            try:
                address = sock.getpeername()
            except OSError:
                address = ("?", 0)
        self.address = address
        self.peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        self.hub = hub if hub is not None else default_hub()
        self.config = config or self.hub.config
        self.handler = handler
        self.log = ContextLog(logger, self.log_context)
        self.app = ""
        self.tc_url = ""
        self.connect_params: dict[str, Any] = {}
        self.connect_query: dict[str, str] = {}
        self.object_encoding = 0
        #: Enhanced RTMP capabilities the peer declared in connect.
        self.caps_ex = 0
        self.fourcc_list: list[str] = []
        self.video_fourcc_info: dict[str, int] = {}
        self.audio_fourcc_info: dict[str, int] = {}
        self.connected = False
        self.closed = False
        self.reader: ChunkReader | None = None
        self.writer = ChunkWriter(128)
        self.out_chunk_size = 128
        self._lock = Semaphore()
        # The non-blocking OS socket under a gevent socket, for the fan-out fast path
        # (not for TLS, where bytes must go through the SSL object).
        self._raw = None
        if type(sock).__module__.startswith("gevent") and not hasattr(sock, "cipher"):
            self._raw = getattr(sock, "_sock", None)
        self._next_stream_id = 1
        #: Message stream ids handed out by createStream and not deleted since.
        self.streams: set[int] = set()
        #: message stream id -> ("publish", Stream) or ("play", Subscriber)
        self.publishing: dict[int, tuple[Stream, dict[str, str]]] = {}
        self.playing: dict[int, Subscriber] = {}
        self.peer_window = 0
        self._acked = 0
        self.started = time.monotonic()
        self._watchdog: gevent.Greenlet | None = None

    def log_context(self) -> str:
        """``peer app/name,...`` for log lines (peer text bounded and escaped)."""
        parts = []
        if self.app:
            parts.append(self.app)
        names = [s.name for s, _ in self.publishing.values()]
        names += [sub.stream.name for sub in self.playing.values()]
        if names:
            parts.append(",".join(names[:4]) + (",..." if len(names) > 4 else ""))
        ctx = peer_text("/".join(parts), 2 * MAX_NAME)
        return f"{self.peer} {ctx}" if ctx else self.peer

    # -- life cycle -------------------------------------------------------------------
    def serve(self) -> None:
        """Run the connection to its end; never raises for peer errors."""
        sock = self.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        rfile = io.BufferedReader(_FairSocketIO(sock, "rb"), 65536)
        try:
            sock.settimeout(self.config.handshake_timeout)
            deadline = gevent.Timeout(self.config.handshake_timeout,
                                      HandshakeError("handshake timed out"))
            with deadline:
                server_handshake(rfile, sock.sendall)
            sock.settimeout(None)
            self.reader = ChunkReader(rfile, max_message_size=self.config.max_message_size,
                                      max_chunk_streams=self.config.max_chunk_streams,
                                      budget=self.hub.buffer_budget)
            self._watchdog = gevent.spawn(self._watch)
            read = self.reader.read_message
            handle = self.handle_message
            while not self.closed:
                handle(read())
        except ConnectionClosed as exc:
            if not self.closed:
                self.log.debug("peer closed: %s", exc)
        except RTMPError as exc:
            self.log.warning("closing: %s: %s", type(exc).__name__, peer_text(str(exc), 500))
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.log.debug("peer went away: %s", exc)
        except OSError as exc:
            if not self.closed:
                self.log.info("connection error: %s", exc)
        except Exception:  # a bug, not the peer's fault: log it, close only this connection
            self.log.exception("internal error; closing")
        finally:
            self._cleanup()
            try:
                rfile.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close the connection from any greenlet; the serving greenlet then cleans up."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _cleanup(self) -> None:
        self.closed = True
        if self.reader is not None:
            self.reader.release()
        if self._watchdog is not None:
            self._watchdog.kill(block=False)
        for msid in list(self.publishing):
            self._stop_publishing(msid, quiet=True)
        for msid in list(self.playing):
            self._stop_playing(msid, flush=False)
        if self.connected:
            self._hook("on_done", self)
            self.log.info("disconnected after %.1fs", time.monotonic() - self.started)
        try:
            self.sock.close()
        except OSError:
            pass

    def _watch(self) -> None:
        """Ping a silent peer and drop it when it stays silent past the idle timeout."""
        cfg = self.config
        interval = max(0.05, min(cfg.ping_interval, cfg.idle_timeout))
        last = -1
        silent_since = time.monotonic()
        while not self.closed:
            gevent.sleep(interval)
            assert self.reader is not None
            now = time.monotonic()
            if self.reader.bytes_read != last:
                last = self.reader.bytes_read
                silent_since = now
                continue
            if now - silent_since >= cfg.idle_timeout:
                self.log.warning("closing: no data for %.0fs", now - silent_since)
                self.close()
                return
            # Never block the watchdog behind a writer stuck on a peer that does not read.
            if not self._lock.acquire(blocking=False):
                continue
            try:
                data = self.writer.write(control.ping_request(int(now * 1000) & 0xFFFFFFFF),
                                         CSID_CONTROL)
                with gevent.Timeout(interval):
                    self.sock.sendall(data)
            except (OSError, gevent.Timeout):
                self.log.warning("closing: peer does not read (ping not sent)")
                self.close()
                return
            finally:
                self._lock.release()

    # -- sending ----------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Write bytes atomically with respect to other greenlets of this connection."""
        with self._lock:
            self.sock.sendall(data)

    def _direct_send(self, data: bytes) -> Any:
        """Try to write ``data`` without blocking (fan-out fast path, see Subscriber.offer).

        Returns None when all was sent, ``data`` itself when nothing was (the caller queues
        it), or the unsent rest, in which case the lock stays held for :meth:`_finish_send`.
        """
        raw = self._raw
        lock = self._lock
        if raw is None or self.closed or lock.locked():
            return data
        # A non-blocking send never yields, so no other greenlet can write in between: the
        # lock only needs taking when part of the message is left for the writer greenlet.
        try:
            n = raw.send(data)
        except OSError:  # would block, or broken: the queued path deals with it
            return data
        if n == len(data):
            return None
        if n == 0:
            return data
        lock.acquire(blocking=False)  # free (checked above, nothing yielded since)
        return memoryview(data)[n:]

    def _finish_send(self, rest: Any) -> None:
        """Send the rest of a partly written message, then release the lock it kept."""
        try:
            self.sock.sendall(rest)
        finally:
            self._lock.release()

    def send_messages(self, *items: tuple[Message, int]) -> None:
        """Chunk ``(message, csid)`` pairs with this connection's writer and send them."""
        with self._lock:
            w = self.writer.write
            self.sock.sendall(b"".join(w(m, csid) for m, csid in items))

    def send_control(self, msg: Message) -> None:
        self.send_messages((msg, CSID_CONTROL))

    def _command_message(self, stream_id: int, name: str, tid: float, obj: Any,
                         *args: Any) -> Message:
        amf3 = self.object_encoding == 3
        payload = encode_command(name, tid, obj, *args, amf3=amf3)
        return Message(COMMAND_AMF3 if amf3 else COMMAND_AMF0, 0, stream_id, payload)

    def send_command(self, stream_id: int, name: str, tid: float, obj: Any, *args: Any) -> None:
        self.send_messages((self._command_message(stream_id, name, tid, obj, *args),
                            CSID_COMMAND))

    def _status_info(self, code: str, description: str, level: str = "status",
                     **extra: Any) -> dict[str, Any]:
        info = {"level": level, "code": code, "description": description}
        info.update(extra)
        return info

    def send_status(self, stream_id: int, code: str, description: str,
                    level: str = "status", **extra: Any) -> None:
        self.send_command(stream_id, "onStatus", 0, None,
                          self._status_info(code, description, level, **extra))

    def set_chunk_size(self, size: int) -> None:
        """Announce and switch to a new outbound chunk size."""
        with self._lock:
            data = self.writer.write(control.set_chunk_size(size), CSID_CONTROL)
            self.writer.chunk_size = size
            self.out_chunk_size = size
            self.sock.sendall(data)

    # -- receiving --------------------------------------------------------------------
    def handle_message(self, msg: Message) -> None:
        """Act on one message from the peer."""
        t = msg.type_id
        if t == VIDEO or t == AUDIO:
            entry = self.publishing.get(msg.stream_id)
            if entry is not None:
                entry[0].feed(t, msg.timestamp, msg.payload)
        elif t == COMMAND_AMF0 or t == COMMAND_AMF3:
            self.handle_command(msg)
        elif t == DATA_AMF0 or t == DATA_AMF3:
            self.handle_data(msg)
        elif t == AGGREGATE:
            entry = self.publishing.get(msg.stream_id)
            if entry is not None:
                for sub in control.split_aggregate(msg):
                    if sub.type_id in (AUDIO, VIDEO):
                        entry[0].feed(sub.type_id, sub.timestamp, sub.payload)
                    elif sub.type_id in (DATA_AMF0, DATA_AMF3):
                        self.handle_data(sub)
        elif t == USER_CONTROL:
            ctl = control.parse_control(msg)
            if ctl.event == UserControlEvent.PING_REQUEST:
                self.send_control(control.ping_response(ctl.values[0]))
        elif t == WINDOW_ACK_SIZE:
            self.peer_window = control.parse_control(msg).value or 0
        elif t == SET_CHUNK_SIZE:
            self.log.debug("peer chunk size %d", self.reader.chunk_size if self.reader else 0)
        # Acknowledgement, Abort (applied by the reader), Set Peer Bandwidth and shared
        # objects need nothing from us.
        reader = self.reader
        if self.peer_window and reader is not None and \
                reader.bytes_read - self._acked >= self.peer_window:
            self._acked = reader.bytes_read
            self.send_control(control.acknowledgement(reader.bytes_read & 0xFFFFFFFF))

    def handle_data(self, msg: Message) -> None:
        entry = self.publishing.get(msg.stream_id)
        if entry is None:
            return
        stream = entry[0]
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
                meta = values[1] if isinstance(values[1], dict) else {}
                meta = ECMAArray(meta)
                meta.setdefault("server", "grtmp")
                stream.set_metadata(meta, encode_data("onMetaData", meta, max_size=limit))
                return
            if values and values[0] == "@clearDataFrame":
                return
            if amf3 or wrapped:  # players get plain AMF0, without the @setDataFrame wrapper
                payload = encode_data(*values, max_size=limit)
            else:
                payload = msg.payload
        except AMFError as exc:  # shared references written out in full grew too large
            self.log.warning("dropping data message: %s", exc)
            return
        stream.feed(DATA_AMF0, msg.timestamp, payload)

    def handle_command(self, msg: Message) -> None:
        cmd = decode_command(msg.payload, amf3=msg.type_id == COMMAND_AMF3)
        method = _COMMANDS.get(cmd.name)
        if method is None:
            if cmd.name in ("_result", "_error", "onStatus", "onBWDone"):
                return
            self.log.debug("unknown command %r", peer_text(cmd.name))
            if cmd.transaction_id:
                self.send_command(msg.stream_id, "_error", cmd.transaction_id, None,
                                  self._status_info("NetConnection.Call.Failed",
                                                    f"Method not found ({cmd.name}).",
                                                    "error"))
            return
        if not self.connected and cmd.name != "connect":
            raise ProtocolError(f"{peer_text(cmd.name, 64)!r} before connect")
        try:
            method(self, msg, cmd)
        except CommandError as exc:
            self.log.warning("%s refused: %s", cmd.name, peer_text(str(exc)))
            if cmd.transaction_id:
                self.send_command(msg.stream_id, "_error", cmd.transaction_id, None,
                                  self._status_info(exc.code, str(exc), "error"))

    def _hook(self, name: str, *args: Any) -> Any:
        fn: Callable[..., Any] | None = getattr(self.handler, name, None)
        if fn is None:
            return None
        return fn(*args)

    # -- commands ---------------------------------------------------------------------
    def cmd_connect(self, msg: Message, cmd: Command) -> None:
        if self.connected:
            raise CommandError("already connected", "NetConnection.Connect.Rejected")
        params = cmd.command_object if isinstance(cmd.command_object, dict) else {}
        # Only strings where strings are meant: str() of a decoded value could expand a
        # reference graph (the decoder bounds it, and names are bounded here too).
        app, query = split_name(text_arg(params.get("app"), MAX_NAME_WITH_QUERY) or "")
        if len(app) > MAX_NAME:
            raise CommandError("app name too long", "NetConnection.Connect.Rejected")
        self.app = app.strip("/")
        self.connect_query = query
        self.tc_url = text_arg(params.get("tcUrl"), MAX_URL) or ""
        self.connect_params = dict(params)
        enc = params.get("objectEncoding", 0)
        self.object_encoding = 3 if enc == 3 else 0
        if msg.type_id == COMMAND_AMF3:
            self.object_encoding = 3
        enhanced = self._read_enhanced(params)
        try:
            decision = self._hook("on_connect", self, params)
            if decision is False:
                raise CommandError("connection refused", "NetConnection.Connect.Rejected")
        except CommandError as exc:
            self.log.warning("connect rejected: %s", peer_text(str(exc)))
            self.send_command(0, "_error", cmd.transaction_id, None,
                              self._status_info("NetConnection.Connect.Rejected", str(exc),
                                                "error"))
            self.close()
            return
        if isinstance(decision, str):
            # Redirect, as Adobe/Wowza servers do: a rejection carrying the new URL.
            self.log.info("connect redirected to %s", decision)
            self.send_command(0, "_error", cmd.transaction_id, None,
                              self._status_info("NetConnection.Connect.Rejected",
                                                "Redirected.", "error",
                                                ex={"code": 302.0, "redirect": decision}))
            self.close()
            return
        cfg = self.config
        self.send_messages((control.window_ack_size(cfg.window_ack_size), CSID_CONTROL),
                           (control.set_peer_bandwidth(cfg.peer_bandwidth), CSID_CONTROL))
        self.set_chunk_size(cfg.chunk_size)
        props: dict[str, Any] = {"fmsVer": cfg.fms_version,
                                 "capabilities": float(cfg.capabilities), "mode": 1.0}
        if enhanced:
            # Enhanced RTMP: answer with our own support, under the same names.
            props["fourCcList"] = list(SUPPORTED_FOURCCS)
            props["videoFourCcInfoMap"] = {"*": float(FOURCC_CAN_FORWARD)}
            props["audioFourCcInfoMap"] = {"*": float(FOURCC_CAN_FORWARD)}
            props["capsEx"] = float(CAPS_EX_RECONNECT | CAPS_EX_MULTITRACK | CAPS_EX_MODEX
                                    | CAPS_EX_TIMESTAMP_NANO_OFFSET)
        info = self._status_info("NetConnection.Connect.Success", "Connection succeeded.",
                                 objectEncoding=float(self.object_encoding))
        self.connected = True
        self.send_command(0, "_result", cmd.transaction_id, props, info)
        self.log.info("connect app=%r tcUrl=%r flashVer=%r", peer_text(self.app),
                      peer_text(self.tc_url), peer_text(params.get("flashVer")))

    def _read_enhanced(self, params: dict[str, Any]) -> bool:
        """Read Enhanced RTMP fields of connect; True when the peer sent any."""
        found = False
        fourccs = params.get("fourCcList")
        if isinstance(fourccs, list):
            self.fourcc_list = [f for f in fourccs[:64] if isinstance(f, str) and len(f) <= 4]
            found = True
        for key, target in (("videoFourCcInfoMap", self.video_fourcc_info),
                            ("audioFourCcInfoMap", self.audio_fourcc_info)):
            value = params.get(key)
            if isinstance(value, dict):
                for cc, raw in list(value.items())[:64]:
                    # Non-finite or out-of-range numbers count as absent (never int(nan)).
                    mask = int_arg(raw)
                    if mask is not None and isinstance(cc, str) and len(cc) <= 4:
                        target[cc] = mask
                found = True
        caps = params.get("capsEx")
        if isinstance(caps, int | float) and not isinstance(caps, bool):
            self.caps_ex = int_arg(caps) or 0
            found = True
        return found

    def request_reconnect(self, tc_url: str | None = None,
                          description: str = "The server asks you to reconnect.") -> None:
        """Enhanced RTMP v2 Reconnect Request: ask the peer to reconnect (to ``tc_url``).

        Sent as ``onStatus`` with ``NetConnection.Connect.ReconnectRequest`` on stream 0;
        peers that did not declare capsEx Reconnect may ignore it.
        """
        info = self._status_info("NetConnection.Connect.ReconnectRequest", description)
        if tc_url:
            info["tcUrl"] = tc_url
        self.send_command(0, "onStatus", 0, None, info)
        self.log.info("reconnect requested%s", f" to {tc_url}" if tc_url else "")

    def cmd_create_stream(self, msg: Message, cmd: Command) -> None:
        cap = self.config.max_message_streams
        if cap and len(self.streams) >= cap:
            self.log.warning("createStream refused: %d streams open (max_message_streams)",
                             len(self.streams))
            raise CommandError(f"Too many streams ({cap}).", "NetConnection.Call.Failed")
        sid = self._next_stream_id
        self._next_stream_id = sid + 1 if sid < 0xFFFFFFFF else 1
        self.streams.add(sid)
        self.send_command(0, "_result", cmd.transaction_id, None, float(sid))

    def _check_stream_id(self, msid: int, refused: str) -> bool:
        """Publish and play only on ids createStream handed out; else an error status."""
        if msid in self.streams:
            return True
        self.log.warning("refused: message stream %d was not created", msid)
        self.send_status(msid, refused, f"Stream id {msid} was not created.", "error")
        return False

    def cmd_release_stream(self, msg: Message, cmd: Command) -> None:
        self.send_command(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def cmd_fc_publish(self, msg: Message, cmd: Command) -> None:
        name = (text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None) or ""
        self.send_command(0, "onFCPublish", 0, None,
                          {"code": "NetStream.Publish.Start", "description": name})
        self.send_command(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def cmd_fc_unpublish(self, msg: Message, cmd: Command) -> None:
        name = (text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None) or ""
        self.send_command(0, "onFCUnpublish", 0, None,
                          {"code": "NetStream.Unpublish.Success", "description": name})
        self.send_command(0, "_result", cmd.transaction_id, None, UNDEFINED)

    def cmd_publish(self, msg: Message, cmd: Command) -> None:
        msid = msg.stream_id
        if not self._check_stream_id(msid, "NetStream.Publish.BadName"):
            return
        raw = text_arg(cmd.args[0], MAX_NAME_WITH_QUERY) if cmd.args else None
        name, params = split_name(raw or "")
        if not name or len(name) > MAX_NAME:
            self.send_status(msid, "NetStream.Publish.BadName",
                             "No stream name." if not name else "Stream name too long.",
                             "error")
            return
        kind = cmd.args[1] if len(cmd.args) > 1 and isinstance(cmd.args[1], str) else "live"
        params.setdefault("type", kind)
        if msid in self.publishing or msid in self.playing:
            self._stop_publishing(msid)
            self._stop_playing(msid)
        # The decision comes before anything about the stream is sent or created.
        decided = self._decide("publish", msid, name, params)
        if decided is None:
            return
        name = decided
        stream = self.hub.get_or_create(self.app, name)
        if stream.publisher is not None:
            self.log.warning("publish %r refused: already publishing", name)
            self.send_status(msid, "NetStream.Publish.BadName",
                             f"{name} is already being published.", "error")
            self.hub.discard_if_idle(stream)
            return
        stream.start_publishing(self)
        self.publishing[msid] = (stream, params)
        if self.config.record_dir:
            try:
                path = record_path(self.config.record_dir, self.app, name)
                stream.start_recording(Recorder(path))
                self.log.info("recording %r to %s", name, path)
            except OSError as exc:
                self.log.error("cannot record %r: %s", name, exc)
        self.send_messages((control.stream_begin(msid), CSID_CONTROL))
        self.send_status(msid, "NetStream.Publish.Start", f"{name} is now published.",
                         details=name)
        self.log.info("publish %r (%s)", name, kind)

    def _decide(self, action: str, msid: int, name: str, params: dict[str, str]) -> str | None:
        """Ask the ``on_publish``/``on_play`` hook; the stream name to use, or None if refused.

        A refusal sends the error status (with the hook's reason) and logs one line.
        """
        refused = "NetStream.Publish.Denied" if action == "publish" else "NetStream.Play.Failed"
        try:
            decision = self._hook(f"on_{action}", self, name, params)
            if decision is False:
                raise CommandError(f"{action} of {name} is not allowed", refused)
        except CommandError as exc:
            self.log.warning("%s %r rejected: %s", action, name, peer_text(str(exc)))
            self.send_status(msid, exc.code if exc.code.startswith("NetStream.") else refused,
                             str(exc), "error")
            return None
        if isinstance(decision, str) and decision:
            self.log.info("%s %r redirected to %r", action, name, decision)
            name, extra = split_name(decision)
            params.update(extra)
        return name

    def cmd_play(self, msg: Message, cmd: Command) -> None:
        msid = msg.stream_id
        args = cmd.args
        raw = text_arg(args[0], MAX_NAME_WITH_QUERY) if args else None
        reset = bool(args[3]) if len(args) > 3 and isinstance(args[3], bool) else True
        self._play(msid, raw or "", reset)

    def cmd_play2(self, msg: Message, cmd: Command) -> None:
        opts = cmd.args[0] if cmd.args and isinstance(cmd.args[0], dict) else {}
        name = text_arg(opts.get("streamName"), MAX_NAME_WITH_QUERY)
        self._play(msg.stream_id, name or "", False)

    def _play(self, msid: int, raw_name: str, reset: bool) -> None:
        if not self._check_stream_id(msid, "NetStream.Play.Failed"):
            return
        name, params = split_name(raw_name)
        if not name or len(name) > MAX_NAME:
            self.send_status(msid, "NetStream.Play.StreamNotFound",
                             "No stream name." if not name else "Stream name too long.",
                             "error")
            return
        if msid in self.publishing or msid in self.playing:
            self._stop_publishing(msid)
            self._stop_playing(msid)
        decided = self._decide("play", msid, name, params)
        if decided is None:
            return
        name = decided
        stream = self.hub.get(self.app, name)
        if stream is None and not self.config.waits_for_publisher(self.app):
            self.send_status(msid, "NetStream.Play.StreamNotFound",
                             f"No such stream: {name}", "error")
            return
        stream = stream or self.hub.get_or_create(self.app, name)
        cap = self.config.max_players_per_stream
        if cap and len(stream.subscribers) >= cap:
            self.log.warning("play %r refused: %d players (max_players_per_stream)", name,
                             len(stream.subscribers))
            self.send_status(msid, "NetStream.Play.Failed", "Too many players.", "error")
            self.hub.discard_if_idle(stream)
            return
        items: list[tuple[Message, int]] = [(control.stream_is_recorded(msid), CSID_CONTROL),
                                            (control.stream_begin(msid), CSID_CONTROL)]
        if reset:
            items.append((self._command_message(
                msid, "onStatus", 0, None,
                self._status_info("NetStream.Play.Reset", f"Playing and resetting {name}.",
                                  details=name)), CSID_COMMAND))
        items.append((self._command_message(
            msid, "onStatus", 0, None,
            self._status_info("NetStream.Play.Start", f"Started playing {name}.",
                              details=name)), CSID_COMMAND))
        items.append((Message(DATA_AMF0, 0, msid,
                              encode_data("|RtmpSampleAccess", True, True)), CSID_COMMAND))
        self.send_messages(*items)
        sub = Subscriber(stream, queue_size=self.config.queue_size, stream_id=msid,
                         chunk_size=self.out_chunk_size, sink=self.send_raw,
                         on_lag=self._on_lag, on_notify=self._notify, name=self.peer,
                         direct=self._direct_send, finish=self._finish_send)
        sub.multitrack = bool(self.caps_ex & CAPS_EX_MULTITRACK)
        sub.params = params
        self.playing[msid] = sub
        stream.subscribe(sub)
        sub.start_writer()
        self.log.info("play %r%s", name, "" if stream.is_live else " (waiting for publisher)")

    def _notify(self, sub: Subscriber, what: str) -> None:
        """Send the status a player gets when its stream is published or unpublished."""
        msid = sub.stream_id
        name = sub.stream.name
        if what == "publish":
            ctl = control.stream_begin(msid)
            code, desc = "NetStream.Play.PublishNotify", f"{name} is now published."
        else:
            ctl = control.stream_eof(msid)
            code, desc = "NetStream.Play.UnpublishNotify", f"{name} is now unpublished."
        status = self._command_message(msid, "onStatus", 0, None,
                                       self._status_info(code, desc, details=name))
        self.send_messages((ctl, CSID_CONTROL), (status, CSID_COMMAND))

    def _on_lag(self, sub: Subscriber) -> None:
        self.log.warning("player too far behind on %r (%d messages dropped); disconnecting",
                         sub.stream.name, sub.dropped)
        gevent.spawn(self.close)

    def _stop_publishing(self, msid: int, quiet: bool = False) -> None:
        entry = self.publishing.pop(msid, None)
        if entry is None:
            return
        stream, params = entry
        if stream.publisher is self:
            stream.stop_publishing()
        self._hook("on_publish_done", self, stream.name, params)
        codecs = stream.codecs()
        self.log.info("unpublish %r (%d messages, %d bytes; %s)", stream.name,
                      stream.messages_in, stream.bytes_in,
                      ", ".join(f"{k}={v}" for k, v in codecs.items()) or "no media")
        if not quiet and not self.closed:
            try:
                self.send_status(msid, "NetStream.Unpublish.Success",
                                 f"{stream.name} is now unpublished.", details=stream.name)
            except OSError:
                pass
        self.hub.discard_if_idle(stream)

    def _stop_playing(self, msid: int, flush: bool = True) -> None:
        sub = self.playing.pop(msid, None)
        if sub is None:
            return
        sub.stream.unsubscribe(sub)
        sub.stop(flush=flush and not self.closed, timeout=2.0)
        self._hook("on_play_done", self, sub.stream.name, sub.params)
        self.hub.discard_if_idle(sub.stream)
        self.log.info("stop playing %r", sub.stream.name)

    def cmd_delete_stream(self, msg: Message, cmd: Command) -> None:
        msid = msg.stream_id
        arg = int_arg(cmd.args[0]) if cmd.args else None
        if arg is not None:  # NaN, infinities and out-of-range ids are ignored
            msid = arg
        self._stop_publishing(msid)
        self._stop_playing(msid)
        self.streams.discard(msid)

    def cmd_close_stream(self, msg: Message, cmd: Command) -> None:
        self._stop_publishing(msg.stream_id)
        self._stop_playing(msg.stream_id)

    def cmd_pause(self, msg: Message, cmd: Command) -> None:
        sub = self.playing.get(msg.stream_id)
        if sub is None:
            return
        pause = bool(cmd.args[0]) if cmd.args else not sub.paused
        name = sub.stream.name
        if pause:
            sub.paused = True
            self.send_status(msg.stream_id, "NetStream.Pause.Notify", f"Paused {name}.",
                             details=name)
        else:
            sub.need_keyframe = True
            sub.paused = False
            self.send_status(msg.stream_id, "NetStream.Unpause.Notify", f"Unpaused {name}.",
                             details=name)

    def cmd_receive_audio(self, msg: Message, cmd: Command) -> None:
        sub = self.playing.get(msg.stream_id)
        if sub is not None and cmd.args:
            sub.audio = bool(cmd.args[0])

    def cmd_receive_video(self, msg: Message, cmd: Command) -> None:
        sub = self.playing.get(msg.stream_id)
        if sub is not None and cmd.args:
            enable = bool(cmd.args[0])
            if enable and not sub.video:
                sub.need_keyframe = True
            sub.video = enable

    def cmd_get_stream_length(self, msg: Message, cmd: Command) -> None:
        self.send_command(msg.stream_id, "_result", cmd.transaction_id, None, 0.0)

    def cmd_checkbw(self, msg: Message, cmd: Command) -> None:
        self.send_command(0, "_result", cmd.transaction_id, None, UNDEFINED)

    # -- API --------------------------------------------------------------------------
    def stop_streams(self) -> None:
        """End every publish of this connection (server shutdown)."""
        for msid in list(self.publishing):
            self._stop_publishing(msid, quiet=False)


_COMMANDS: dict[str, Callable[[Conn, Message, Command], None]] = {
    "connect": Conn.cmd_connect,
    "createStream": Conn.cmd_create_stream,
    "releaseStream": Conn.cmd_release_stream,
    "FCPublish": Conn.cmd_fc_publish,
    "FCUnpublish": Conn.cmd_fc_unpublish,
    "publish": Conn.cmd_publish,
    "play": Conn.cmd_play,
    "play2": Conn.cmd_play2,
    "deleteStream": Conn.cmd_delete_stream,
    "closeStream": Conn.cmd_close_stream,
    "pause": Conn.cmd_pause,
    "pauseRaw": Conn.cmd_pause,
    "receiveAudio": Conn.cmd_receive_audio,
    "receiveVideo": Conn.cmd_receive_video,
    "getStreamLength": Conn.cmd_get_stream_length,
    "_checkbw": Conn.cmd_checkbw,
}
