"""Mutated RTMP byte streams against a live server (issue #5).

Hypothesis builds what a real publisher sends -- C0+C1, C2, then chunked connect, createStream,
publish, @setDataFrame, audio/video (real H.264/AAC payloads from fuzz/corpus), control messages,
AMF reference graphs and '%' names as command arguments -- with varied chunk sizes, chunk stream
ids and timestamps, then mutates the bytes (flip, overwrite, truncate, delete, duplicate, insert)
and sends them to an in-process server.

For every example: the server closes the connection within a bound once we stop sending, it
logs at most one "closing:" line for it, naming a typed grtmp error; nothing reaches gevent's
hub as an unhandled error and nothing is logged with a traceback. Throughout, a well-behaved
publisher -> player pair on the same server keeps flowing: every numbered frame sent is
received, in order.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import gevent
import gevent.socket
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.session_seeds import amf0_graph_array
from grtmp import errors
from grtmp.amf import amf0
from grtmp.amf.amf0 import ECMAArray
from grtmp.amf.command import encode_command, encode_data
from grtmp.media.multitrack import build_multitrack
from grtmp.net.client import Client
from grtmp.wire import control
from grtmp.wire.chunk import ChunkWriter
from grtmp.wire.message import (
    AGGREGATE,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    DATA_AMF0,
    VIDEO,
    Message,
)
from tests.helpers import wait_until

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus" / "media"
HANDSHAKE_SIZE = 1536
#: Bound on how long the server may take to close a connection after our EOF.
CLOSE_BOUND = 5.0
#: Exception names a "closing:" line may carry: the typed errors of grtmp.errors.
CLOSING = re.compile(r"^\[(?P<peer>[^\] ]+)[^\]]*\] closing: (?P<exc>\w+): ")
TYPED = {name for name in dir(errors)
         if isinstance(getattr(errors, name), type)
         and issubclass(getattr(errors, name), errors.RTMPError)}


def _media_samples() -> list[tuple[int, bytes]]:
    """Real H.264/AAC payloads (sequence headers first) from the fuzz seed corpus."""
    out = []
    for prefix, type_id in (("h264_video", VIDEO), ("h264_audio", AUDIO)):
        for path in sorted(CORPUS.glob(f"{prefix}[0-9]-*")):
            out.append((type_id, path.read_bytes()[1:]))  # drop the harness selector byte
    out.sort(key=lambda item: item[1][1:2] != b"\x00")  # sequence headers first
    return out or [(VIDEO, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe0\x00"),
                   (AUDIO, b"\xaf\x00\x12\x10")]


MEDIA = _media_samples()


def _multitrack_video(payload: bytes) -> bytes:
    """A legacy AVC packet re-packed as a two-track Enhanced RTMP multitrack message."""
    packet_type = 0 if payload[1:2] == b"\x00" else 1  # SequenceStart / CodedFrames
    body = payload[5:] if packet_type == 0 else payload[2:]  # CodedFrames keeps the CTS
    return build_multitrack(VIDEO, payload[0] & 0xF0, packet_type,
                            [(0, b"avc1", body), (1, b"avc1", body)])


def _multitrack_audio(payload: bytes) -> bytes:
    packet_type = 0 if payload[1:2] == b"\x00" else 1
    return build_multitrack(AUDIO, 0, packet_type, [(0, b"mp4a", payload[2:]),
                                                    (2, b"mp4a", payload[2:])])


MULTITRACK = {VIDEO: _multitrack_video, AUDIO: _multitrack_audio}


# -- building a valid client stream ------------------------------------------------------------


COMMAND_NAMES = ["connect", "createStream", "releaseStream", "FCPublish", "FCUnpublish",
                 "publish", "play", "play2", "deleteStream", "closeStream", "pause", "pauseRaw",
                 "receiveAudio", "receiveVideo", "getStreamLength", "_checkbw", "_result",
                 "onStatus", "noSuchMethod"]
#: AMF0 values a peer may put where the server expects a number, a name or an object.
AMF_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=12),
              st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from([0.0, 1.0, -1.0, 2.0**32, 2.0**63, 1e308, float("nan")])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@st.composite
def client_streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A valid publisher byte stream and the offsets where each message's first chunk starts.

    ``offsets[0]`` is where the chunk stream starts (after C0+C1+C2).
    """
    c1 = bytes(8) + draw(st.binary(min_size=16, max_size=16)) * 95  # 8 + 1520 + 8 = 1536
    c1 = (c1 + bytes(HANDSHAKE_SIZE))[:HANDSHAKE_SIZE]
    hs = b"\x03" + c1 + bytes(HANDSHAKE_SIZE)  # the server does not refuse a bad C2

    chunk_size = draw(st.sampled_from([1, 2, 7, 64, 128, 4096, 65536]))
    csids = draw(st.lists(st.sampled_from([3, 4, 5, 6, 8, 63, 64, 319, 320, 65599]),
                          min_size=3, max_size=3))
    base_ts = draw(st.sampled_from([0, 1000, 0xFFFFFE, 0xFFFFFF, 0xFFFFFFF0]))
    amf3 = draw(st.booleans())
    name = f"fz{draw(st.integers(0, 3))}"
    caps: dict = draw(st.sampled_from([{}, {"capsEx": 15.0, "fourCcList": ["avc1", "mp4a"]},
                                       {"capsEx": 0.0}]))
    watch = draw(st.booleans())  # also play our own stream: media flows back to us

    w = ChunkWriter(128)
    out = [w.write(control.SetChunkSize(chunk_size).message(), 2)]
    if draw(st.integers(0, 9)) > 0:  # else: announce one chunk size, send with another
        w.chunk_size = chunk_size
    cmd_type = COMMAND_AMF3 if amf3 else COMMAND_AMF0

    def cmd(sid: int, *parts: object) -> None:
        out.append(w.write(Message(cmd_type, 0, sid, encode_command(*parts, amf3=amf3)),
                           csids[0]))

    cmd(0, "connect", 1, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live",
                          "objectEncoding": 3.0 if amf3 else 0.0, **caps})
    window = draw(st.sampled_from([0, 100, 2_500_000]))
    out.append(w.write(control.WindowAckSize(window).message(), 2))
    cmd(0, "releaseStream", 2, None, name)
    cmd(0, "FCPublish", 3, None, name)
    cmd(0, "createStream", 4, None)
    cmd(1, "publish", 5, None, name, "live")
    if watch:
        cmd(0, "createStream", 9, None)
        cmd(2, "play", 10, None, name, -2.0)
    meta = encode_data("@setDataFrame", "onMetaData",
                       ECMAArray({"width": 64.0, "height": 64.0, "videocodecid": 7.0}))
    out.append(w.write(Message(DATA_AMF0, 0, 1, meta), csids[1]))
    n_media = draw(st.integers(1, len(MEDIA)))
    media = MEDIA[:n_media]
    if draw(st.booleans()):  # Enhanced RTMP multitrack copies of the frames
        media = media + [(type_id, MULTITRACK[type_id](payload)) for type_id, payload in media]
    sent = []
    for i, (type_id, payload) in enumerate(media):
        ts = (base_ts + 40 * i) & 0xFFFFFFFF
        msg = Message(type_id, ts, 1, payload)
        sent.append(msg)
        out.append(w.write(msg, csids[2] if type_id == VIDEO else csids[1]))
    extras = draw(st.lists(st.sampled_from(["ping", "abort", "ack", "aggregate", "play",
                                             "delete", "unknown", "command", "command",
                                             "graph", "percent"]),
                           max_size=4))
    for extra in extras:
        if extra == "ping":
            out.append(w.write(control.PingRequest(7).message(), 2))
        elif extra == "abort":
            out.append(w.write(control.Abort(csids[2]).message(), 2))
        elif extra == "ack":
            out.append(w.write(control.Acknowledgement(1234).message(), 2))
        elif extra == "aggregate":
            agg = control.build_aggregate(sent[:3], stream_id=1)
            out.append(w.write(Message(AGGREGATE, agg.timestamp, 1, agg.payload), csids[2]))
        elif extra == "play":
            cmd(1, "play", 6, None, "good", -2.0)
        elif extra == "delete":
            cmd(0, "deleteStream", 7, None, draw(st.sampled_from(
                [1.0, float("nan"), float("inf"), -1.0, 2.0**40, True, "1"])))
        elif extra == "graph":
            # An AMF reference graph (2**levels leaves if expanded) as a command argument.
            levels = draw(st.sampled_from([8, 12, 24, 40]))
            name = draw(st.sampled_from(["FCPublish", "releaseStream", "play", "publish"]))
            out.append(w.write(Message(COMMAND_AMF0, 0, draw(st.sampled_from([0, 1])),
                                       amf0.encode(name, 11.0, None)
                                       + amf0_graph_array(levels)), csids[0]))
        elif extra == "percent":
            # '%' in names a peer chooses (they must reach the log as arguments only).
            text = draw(st.sampled_from(["%s", "%300000000s", "%d%%", "a\n%(x)s"]))
            cmd(0, draw(st.sampled_from(["FCPublish", "releaseStream", text])), 12, None, text)
            cmd(1, "play", 13, None, text, -2.0)
        elif extra == "command":
            # Any command, odd arguments: numbers that are NaN, names that are not strings...
            cmd(draw(st.sampled_from([0, 1, 2**31])), draw(st.sampled_from(COMMAND_NAMES)),
                draw(st.sampled_from([0.0, 9.0, float("nan")])), draw(AMF_VALUES),
                *draw(st.lists(AMF_VALUES, max_size=4)))
        else:
            cmd(0, "noSuchMethod", 8, None)
    offsets = [len(hs)]
    for piece in out[:-1]:
        offsets.append(offsets[-1] + len(piece))
    return hs + b"".join(out), offsets


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """A valid stream with 0-6 mutations, mostly after the handshake.

    Besides byte-level edits, ``header`` rewrites a field of a message's first chunk header:
    its fmt, chunk stream id, message length or type id (exact for 1-byte basic headers).
    """
    data, offsets = draw(client_streams())
    body_at = offsets[0]
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        if not buf:
            break
        in_body = draw(st.integers(0, 9)) > 0 and len(buf) > body_at
        lo = body_at if in_body else 0
        pos = draw(st.integers(lo, len(buf) - 1))
        op = draw(st.sampled_from(["flip", "set", "truncate", "delete", "duplicate",
                                   "insert", "header", "header"]))
        if op == "header":
            at = draw(st.sampled_from(offsets))
            if at + 8 > len(buf):
                continue
            field = draw(st.sampled_from(["fmt", "csid", "length", "type"]))
            if field == "fmt":
                buf[at] = (buf[at] & 0x3F) | (draw(st.integers(0, 3)) << 6)
            elif field == "csid":
                buf[at] = (buf[at] & 0xC0) | draw(st.integers(0, 63))
            elif field == "length":
                buf[at + 4:at + 7] = draw(st.integers(0, 0xFFFFFF)).to_bytes(3, "big")
            else:
                buf[at + 7] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16,
                                                    17, 18, 19, 20, 22, 255]))
        elif op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = draw(st.sampled_from([0x00, 0x01, 0x3F, 0x7F, 0x80, 0xC0, 0xFF]))
        elif op == "truncate":
            del buf[pos:]
        elif op == "delete":
            del buf[pos:pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            end = min(len(buf), pos + draw(st.integers(1, 256)))
            buf[pos:pos] = buf[pos:end]
        else:
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=32))
    return bytes(buf)


# -- the healthy pair --------------------------------------------------------------------------


class HealthyPair:
    """A publisher sending numbered keyframes every 20 ms and a player recording them."""

    def __init__(self, port: int):
        url = f"rtmp://127.0.0.1:{port}/live/good"
        self.pub = Client(url, socket_module=gevent.socket, timeout=10)
        self.pub.connect()
        self.pub.publish()
        self.pub.send_media(VIDEO, 0, MEDIA[0][1])  # a sequence header, as encoders start
        self.player = Client(url, socket_module=gevent.socket, timeout=10)
        self.player.connect()
        self.player.play()
        self.received: list[int] = []
        self.sent = 0
        self.running = True
        self._reader = gevent.spawn(self._read)
        self._writer = gevent.spawn(self._write)

    @staticmethod
    def frame(n: int) -> bytes:
        # AVC keyframe NALU packet; the sequence number lives in the NAL body.
        return b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + n.to_bytes(4, "big")

    def _read(self) -> None:
        try:
            for msg in self.player.media():
                p = msg.payload
                if msg.type_id == VIDEO and len(p) == 14 and p[:2] == b"\x17\x01":
                    self.received.append(int.from_bytes(p[10:14], "big"))
        except (errors.RTMPError, OSError):
            pass

    def _write(self) -> None:
        while self.running:
            self.pub.send_media(VIDEO, 40 * self.sent, self.frame(self.sent))
            self.sent += 1
            gevent.sleep(0.02)

    def finish(self) -> None:
        self.running = False
        self._writer.join(timeout=5)
        assert self._writer.successful(), self._writer.exception
        assert wait_until(lambda: len(self.received) >= self.sent, timeout=10), \
            (self.sent, len(self.received))
        self.pub.close()
        self.player.close()
        self._reader.join(timeout=5)


# -- the test ----------------------------------------------------------------------------------


def _feed(port: int, data: bytes, rng_split: int) -> str:
    """Send ``data`` (in two writes), half-close, drain until the server closes (bounded).

    Returns our address as the server's log lines show it (``ip:port``).
    """
    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=CLOSE_BOUND)
    host, local_port = sock.getsockname()[:2]
    peer = f"{host}:{local_port}"
    try:
        try:
            cut = rng_split % (len(data) + 1)
            sock.sendall(data[:cut])
            gevent.sleep(0)
            sock.sendall(data[cut:])
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return peer  # the server closed first (it refused the stream): fine
        with gevent.Timeout(CLOSE_BOUND, AssertionError("server did not close the connection")):
            while True:
                try:
                    if not sock.recv(65536):
                        return peer
                except OSError:
                    return peer
    finally:
        sock.close()


@pytest.fixture
def hub_errors(monkeypatch: pytest.MonkeyPatch) -> list:
    """Errors that reach gevent's hub (an exception escaping a greenlet)."""
    seen: list = []
    hub = gevent.get_hub()
    original = hub.handle_error

    def handle_error(context, type_, value, tb):  # noqa: ANN001 - gevent's signature
        if not issubclass(type_, (gevent.GreenletExit, KeyboardInterrupt, SystemExit)):
            seen.append((context, type_, value))
        return original(context, type_, value, tb)

    monkeypatch.setattr(hub, "handle_error", handle_error)
    return seen


def test_mutated_streams_close_cleanly(make_server, caplog, hub_errors) -> None:
    srv = make_server(handshake_timeout=2.0, idle_timeout=3.0, ping_interval=1.0)
    caplog.set_level(logging.DEBUG, logger="grtmp")
    pair = HealthyPair(srv.port)
    baseline = len(srv.conns)
    assert baseline == 2
    examples = 0
    refused: list[str] = []

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=mutated_streams(), split=st.integers(0, 2**16))
    def run(data: bytes, split: int) -> None:
        nonlocal examples
        examples += 1
        first = len(caplog.records)
        peer = _feed(srv.port, data, split)
        assert wait_until(lambda: len(srv.conns) <= baseline, timeout=CLOSE_BOUND), \
            "a fuzzed connection outlived its peer"
        assert not hub_errors, hub_errors
        # This connection's records: at most one "closing:" line, with a typed error.
        lines = [m for m in (r.getMessage() for r in caplog.records[first:])
                 if " closing: " in m and m.startswith((f"[{peer}]", f"[{peer} "))]
        assert len(lines) <= 1, lines
        for line in lines:
            assert CLOSING.match(line) and CLOSING.match(line)["exc"] in TYPED, line
        refused.extend(lines)

    run()
    pair.finish()
    assert examples >= 150
    assert pair.sent >= 20 and pair.received == list(range(pair.sent))

    for rec in caplog.records:
        msg = rec.getMessage()
        assert rec.exc_info is None, msg
        assert "Traceback" not in msg and "Unhandled" not in msg, msg
    assert len(refused) >= 20, "few fuzzed streams were refused: the mutations did not bite"
    assert not hub_errors, hub_errors


@pytest.mark.parametrize("stall", ["handshake", "chunk", "after_connect"])
def test_stalled_peer_is_dropped(make_server, caplog, hub_errors, stall: str) -> None:
    """A peer that stops mid-handshake or mid-message (without closing) does not hang a
    connection: the handshake timeout or the idle timeout closes it, with one log line."""
    srv = make_server(handshake_timeout=0.5, idle_timeout=1.0, ping_interval=0.2)
    caplog.set_level(logging.DEBUG, logger="grtmp")
    data, offsets = _valid_stream()
    cut = {"handshake": 700, "chunk": offsets[1] + 5, "after_connect": offsets[2]}[stall]
    sock = gevent.socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        sock.sendall(data[:cut])
        assert wait_until(lambda: len(srv.conns) == 1, timeout=2)
        started = gevent.get_hub().loop.now()
        assert wait_until(lambda: not srv.conns, timeout=4), "stalled peer never dropped"
        took = gevent.get_hub().loop.now() - started
        assert took < 3.0
    finally:
        sock.close()
    lines = [r.getMessage() for r in caplog.records if " closing: " in r.getMessage()]
    assert len(lines) == 1, lines
    expect = "handshake timed out" if stall == "handshake" else "no data for"
    assert expect in lines[0]
    assert not hub_errors, hub_errors


def _valid_stream() -> tuple[bytes, list[int]]:
    """A fixed valid publisher stream (the builder of client_streams with plain choices)."""
    c1 = bytes(HANDSHAKE_SIZE)
    hs = b"\x03" + c1 + bytes(HANDSHAKE_SIZE)
    w = ChunkWriter(128)
    out = [w.write(control.SetChunkSize(4096).message(), 2)]
    w.chunk_size = 4096
    out.append(w.write(Message(COMMAND_AMF0, 0, 0, encode_command(
        "connect", 1, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live"})), 3))
    out.append(w.write(Message(COMMAND_AMF0, 0, 0, encode_command("createStream", 2, None)), 3))
    offsets = [len(hs)]
    for piece in out[:-1]:
        offsets.append(offsets[-1] + len(piece))
    return hs + b"".join(out), offsets
