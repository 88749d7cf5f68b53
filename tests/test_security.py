"""The session layer does not trust decoded values (security issue: five findings).

1. reference graphs (AMF0/AMF3 references) are bounded by the decoders, and only strings are
   taken where strings are meant;
2. NaN and infinities in connect count as absent;
3. re-encoded data messages are bounded, oversize is a typed error, a writer survives it;
4. peer text never reaches a log format string;
5. message streams per connection are capped and must come from createStream.
"""

from __future__ import annotations

import logging
import math
import struct
import time

import gevent
import pytest

from grtmp.amf import amf0, amf3
from grtmp.amf.command import decode_command, decode_data, encode_command, int_arg, text_arg
from grtmp.errors import AMFError, LimitExceeded
from grtmp.live import Packet, PlayerPolicy, Stream
from grtmp.logs import peer_text
from grtmp.net.outbox import Outbox, Wire
from grtmp.wire.chunk import chunk_message
from grtmp.wire.message import COMMAND_AMF0, COMMAND_AMF3, CSID_COMMAND, DATA_AMF0, VIDEO, Message
from tests.helpers import AVC_HEADER, Peer, is_cmd, key, status_of, wait_until

# -- reference graphs ---------------------------------------------------------------------------


def amf0_graph_object(levels: int, field: str = "app") -> bytes:
    """An AMF0 object whose ``field`` is a reference graph of ``levels`` levels (11 B each).

    Level 0 is ``[null, null]``; level i is ``[ref(i-1), ref(i-1)]``: 2**levels leaves when
    expanded. The object itself is reference 0, level i is reference i + 1.
    """
    out = bytearray(b"\x03")
    out += struct.pack(">H", 2) + b"l0" + b"\x0a\x00\x00\x00\x02\x05\x05"
    for i in range(1, levels):
        k = f"l{i}".encode()
        ref = b"\x07" + struct.pack(">H", i)
        out += struct.pack(">H", len(k)) + k + b"\x0a\x00\x00\x00\x02" + ref + ref
    k = field.encode()
    out += struct.pack(">H", len(k)) + k + b"\x07" + struct.pack(">H", levels)
    out += b"\x00\x00\x09"
    return bytes(out)


def amf0_graph_values(levels: int) -> bytes:
    """The same graph as top-level values (the AMF0 table spans a message's values)."""
    out = bytearray(b"\x0a\x00\x00\x00\x02\x05\x05")
    for i in range(1, levels):
        ref = b"\x07" + struct.pack(">H", i - 1)
        out += b"\x0a\x00\x00\x00\x02" + ref + ref
    return bytes(out)


def amf3_graph(levels: int) -> bytes:
    """One AMF3 array of ``levels`` arrays, each holding the previous one twice."""
    out = bytearray(b"\x09" + amf3.encode_u29((levels << 1) | 1) + b"\x01")
    out += b"\x09\x05\x01\x01\x01"
    for i in range(1, levels):
        ref = b"\x09" + amf3.encode_u29(i << 1)
        out += b"\x09\x05\x01" + ref + ref
    return bytes(out)


def fast_amf_error(fn, *args, **kwargs) -> None:
    start = time.perf_counter()
    with pytest.raises(AMFError, match="expand past"):
        fn(*args, **kwargs)
    assert time.perf_counter() - start < 0.5


def test_every_decoder_entry_point_bounds_reference_expansion() -> None:
    cmd = amf0.encode("connect", 1.0) + amf0_graph_object(40)
    fast_amf_error(decode_command, cmd)
    fast_amf_error(decode_command, b"\x00" + cmd, amf3=True)  # type 17
    fast_amf_error(decode_command, amf0.encode("connect", 1.0) + b"\x11" + amf3_graph(40),
                   amf3=True)
    fast_amf_error(decode_data, amf0.encode("@setDataFrame", "onMetaData")
                   + amf0_graph_values(40))
    fast_amf_error(decode_data, b"\x00" + amf0.encode("onMetaData") + b"\x11"
                   + amf3_graph(40), amf3=True)  # type 15
    fast_amf_error(amf0.decode_all, amf0_graph_values(40))
    fast_amf_error(amf3.decode, amf3_graph(40))
    # AMF3 string references count their length too.
    big = "x" * 60000
    strings = b"\x09" + amf3.encode_u29((40 << 1) | 1) + b"\x01" + b"\x06" \
        + amf3.encode_u29((len(big) << 1) | 1) + big.encode() + b"\x06\x00" * 39
    fast_amf_error(amf3.decode, strings)
    # A graph of a few levels is still fine.
    assert len(decode_data(amf0_graph_values(6))) == 6


def test_reference_graph_connect_is_refused_fast_and_nobody_stalls(rtmp_server, caplog) -> None:
    """A 24-level graph as connect's app (2**24 leaves): closed at once, others unaffected."""
    caplog.set_level(logging.WARNING, logger="grtmp")
    port = rtmp_server.port
    healthy = Peer(port)
    healthy.connect()
    bad = Peer(port)
    payload = amf0.encode("connect", 1.0) + amf0_graph_object(24)
    start = time.perf_counter()
    bad.send(Message(COMMAND_AMF0, 0, 0, payload), CSID_COMMAND)
    assert bad.eof(timeout=2.0), "the server kept the connection"
    assert time.perf_counter() - start < 2.0
    # The healthy peer is served at once.
    tid = healthy.command("createStream", None)
    healthy.read_until(lambda m: is_cmd(m, "_result", tid), timeout=1.0)
    assert any("expand past" in r.getMessage() for r in caplog.records)
    assert all(len(r.getMessage()) < 2000 for r in caplog.records)
    healthy.close()
    bad.close()


def test_only_strings_are_taken_where_strings_are_meant(rtmp_server, caplog) -> None:
    """Non-string app/tcUrl/flashVer/FCPublish values are treated as absent, not str()-ed."""
    caplog.set_level(logging.INFO, logger="grtmp")
    peer = Peer(rtmp_server.port)
    msgs = peer.connect(app=[1.0, 2.0], tcUrl={"a": 1.0}, flashVer=[["x"] * 50])
    assert is_cmd(msgs[-1], "_result")
    tid = peer.command("FCPublish", None, {"nested": [1.0] * 100})
    peer.read_until(lambda m: is_cmd(m, "_result", tid))
    line = next(r.getMessage() for r in caplog.records if "connect app=" in r.getMessage())
    assert "app=''" in line and "tcUrl=''" in line and "<list>" in line
    assert text_arg(["x"]) is None and text_arg("x" * 10, 5) is None and text_arg("ab") == "ab"
    peer.close()


# -- non-finite numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300])
def test_non_finite_numbers_in_connect_are_absent(rtmp_server, caplog, bad) -> None:
    caplog.set_level(logging.WARNING, logger="grtmp")
    peer = Peer(rtmp_server.port)
    msgs = peer.connect(capsEx=bad, fourCcList=["hvc1"],
                        videoFourCcInfoMap={"hvc1": bad, "avc1": 1.0},
                        audioFourCcInfoMap={"Opus": bad})
    assert is_cmd(msgs[-1], "_result")
    info = decode_command(msgs[-1].payload).args[0]
    assert info["code"] == "NetConnection.Connect.Success"
    conn = next(iter(rtmp_server.conns))
    assert conn.session.caps.caps_ex == 0
    assert conn.session.caps.video_fourcc_info == {"avc1": 1}
    assert conn.session.caps.audio_fourcc_info == {}
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]
    # deleteStream with the same values is ignored, not an internal error.
    sid = peer.create_stream()
    peer.command("deleteStream", None, bad)
    peer.command("deleteStream", None, float(sid))
    tid = peer.command("createStream", None)
    peer.read_until(lambda m: is_cmd(m, "_result", tid))
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]
    peer.close()


def test_int_arg() -> None:
    assert int_arg(math.nan) is None and int_arg(math.inf) is None and int_arg(-math.inf) is None
    assert int_arg(True) is None and int_arg("1") is None and int_arg(-1.0) is None
    assert int_arg(2.0**32) is None and int_arg(7.9) == 7 and int_arg(5, 0, 4) is None
    assert int_arg(0xFFFFFFFF) == 0xFFFFFFFF


# -- re-encoded data ------------------------------------------------------------------------------


def test_reencoded_data_is_bounded_by_the_message_size_limit(make_server, caplog) -> None:
    """A wrapped data message whose references expand past max_message_size is dropped."""
    caplog.set_level(logging.WARNING, logger="grtmp")
    srv = make_server(max_message_size=64 * 1024)
    pub = Peer(srv.port)
    pub.connect()
    sid = pub.create_stream()
    pub.publish("s", sid)
    player = Peer(srv.port)
    player.connect()
    psid = player.create_stream()
    player.play("s", psid)
    # 14 levels: 2**14 leaves, about 150 KB expanded: under the decoder's bound, over the limit.
    for payload in (amf0.encode("@setDataFrame", "onMetaData") + amf0_graph_object(14, "x"),
                    amf0.encode("@setDataFrame", "onCuePoint") + amf0_graph_values(14)):
        assert len(payload) < 300
        pub.media(DATA_AMF0, 0, payload, stream_id=sid)
    pub.media(VIDEO, 0, AVC_HEADER, stream_id=sid)
    pub.media(VIDEO, 0, key(1), stream_id=sid)
    got = player.read_until(lambda m: m.type_id == VIDEO and bytes(m.payload) == key(1))
    assert all(len(m.payload) <= 64 * 1024 for m in got)
    assert not [m for m in got if m.type_id == DATA_AMF0 and len(m.payload) > 1000]
    assert len([r for r in caplog.records if "dropping data message" in r.getMessage()]) == 2
    stream = srv.hub.get("live", "s")
    assert stream is not None and stream.metadata_packet is None
    pub.close()
    player.close()


def test_oversize_message_is_a_typed_error_and_a_writer_survives_it() -> None:
    with pytest.raises(LimitExceeded):
        chunk_message(Message(DATA_AMF0, 0, 1, b"x" * (1 << 24)), 5, 4096)
    stream = Stream("live", "s")
    sent: list[bytes] = []

    class Sock:
        def sendall(self, data: bytes) -> None:
            sent.append(bytes(data))

    outbox = Outbox(Wire(Sock()), PlayerPolicy(stream), queue_size=16,
                    encode=lambda packet: packet.chunked(4096, 1))
    stream.subscribe(outbox)
    writer = outbox.start()
    try:
        outbox.offer(Packet(DATA_AMF0, 0, b"\x02" * (1 << 24)))
        outbox.offer(Packet(DATA_AMF0, 1, amf0.encode("onCuePoint")))
        assert wait_until(lambda: len(sent) == 1, timeout=5)
        assert not writer.dead
        assert amf0.encode("onCuePoint") in sent[0]
    finally:
        outbox.stop(flush=False)


# -- log format strings ---------------------------------------------------------------------------


class _FormatAll(logging.Handler):
    """Formats every record like a real handler would, and keeps what failed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[str] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # noqa: BLE001 - any failure to format is the finding
            self.failures.append(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("app", ["liv%", "%300000000s", "a%d%s%%\nFAKE LOG LINE", "x" * 250])
def test_peer_text_never_reaches_a_format_string(rtmp_server, app) -> None:
    handler = _FormatAll()
    logger = logging.getLogger("grtmp")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        peer = Peer(rtmp_server.port)
        peer.connect(app=app)
        sid = peer.create_stream()
        peer.publish(app + "%s", sid)
        peer.command("no%such%command", None, tid=5.0)
        peer.close()
        conn_gone = wait_until(lambda: not rtmp_server.conns, timeout=5)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert conn_gone
    assert handler.failures == []
    assert handler.lines and all(len(line) < 3000 for line in handler.lines)
    assert not any(line.startswith("FAKE") for text in handler.lines
                   for line in text.splitlines()[1:])
    if len(app) < 200 and app.isprintable():
        assert any(app in line for line in handler.lines)


def test_peer_text() -> None:
    assert peer_text("a\nb") == "a\\x0ab"
    assert peer_text("x" * 500, 10) == "x" * 10 + "..."
    assert peer_text([1, 2]) == "<list>"
    assert peer_text(None) == "None"


def test_no_peer_text_in_format_strings_anywhere() -> None:
    """Grep-level rule: no f-string or %-formatted or concatenated text as a log message."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "grtmp"
    call = re.compile(r"\b(?:log|logger|self\.log|_log)\.(?:debug|info|warning|error|exception|"
                      r"critical|log)\(\s*(f[\"']|[\"'][^\"']*[\"']\s*[%+]|[a-z_]+\s*[,)])")
    bad = []
    for path in root.rglob("*.py"):
        if path.name == "logs.py":  # the adapter: a literal prefix plus our own format
            continue
        text = path.read_text()
        for m in call.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            if "# log-format:" in text.splitlines()[line - 1]:
                continue  # a documented pass-through of literal formats
            bad.append(f"{path.relative_to(root)}:{line}: {m.group(0)}")
    assert bad == []


# -- message streams ------------------------------------------------------------------------------


def test_play_and_publish_only_on_created_stream_ids(rtmp_server) -> None:
    peer = Peer(rtmp_server.port)
    peer.connect()
    for i in range(200):
        peer.command("play", None, "s", -2.0, stream_id=1000 + i, tid=0.0)
    peer.command("publish", None, "p", "live", stream_id=77, tid=0.0)
    msgs = peer.read_until(lambda m: status_of(m) == "NetStream.Publish.BadName")
    codes = [status_of(m) for m in msgs if status_of(m)]
    assert codes.count("NetStream.Play.Failed") == 200
    assert "NetStream.Play.Start" not in codes
    assert rtmp_server.hub.get("live", "s") is None
    assert rtmp_server.hub.get("live", "p") is None
    conn = next(iter(rtmp_server.conns))
    assert not conn.playing and not conn.publishing
    peer.close()


def test_message_streams_per_connection_are_capped(make_server) -> None:
    srv = make_server(max_message_streams=4)
    peer = Peer(srv.port)
    peer.connect()
    ids = [peer.create_stream() for _ in range(4)]
    assert len(set(ids)) == 4
    tid = peer.command("createStream", None)
    msgs = peer.read_until(lambda m: is_cmd(m, "_error", tid))
    info = decode_command(msgs[-1].payload).args[0]
    assert info["code"] == "NetConnection.Call.Failed"
    # Deleting one frees a place.
    peer.command("deleteStream", None, float(ids[0]))
    new = peer.create_stream()
    assert new not in ids
    for sid in ids[1:] + [new]:
        peer.play(f"n{sid}", sid)
    conn = next(iter(srv.conns))
    assert len(conn.playing) == 4
    peer.close()


def test_amf3_command_type_17_graph_closes_only_that_connection(rtmp_server) -> None:
    healthy = Peer(rtmp_server.port)
    healthy.connect()
    bad = Peer(rtmp_server.port)
    body = b"\x00" + encode_command("connect", 1.0, None)[:-1] + b"\x11" + amf3_graph(40)
    bad.send(Message(COMMAND_AMF3, 0, 0, body), CSID_COMMAND)
    assert bad.eof(timeout=2.0)
    with gevent.Timeout(2):
        assert healthy.create_stream() >= 1
    healthy.close()
    bad.close()
