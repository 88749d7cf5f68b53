"""grtmp.session through a real in-process server: commands, play/publish, control, bad peers."""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
import gevent.socket
import pytest

from grtmp.amf.command import decode_data, encode_data
from grtmp.errors import CommandError, ConnectionClosed, RTMPError
from grtmp.net.client import Client
from grtmp.wire import control
from grtmp.wire.handshake import client_handshake
from grtmp.wire.message import (
    ACKNOWLEDGEMENT,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_DATA,
    CSID_VIDEO,
    DATA_AMF0,
    SET_CHUNK_SIZE,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
    UserControlEvent,
)
from tests.helpers import (
    AAC_HEADER,
    AVC_HEADER,
    Peer,
    aac,
    cmd_of,
    inter,
    is_cmd,
    key,
    media_of,
    status_of,
    uc,
    wait_until,
)


@pytest.fixture
def peers():
    made: list[Peer] = []

    def factory(port: int, **kw: Any) -> Peer:
        p = Peer(port, **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()


def _publisher(srv, peers, name: str = "s") -> Peer:
    pub = peers(srv.port)
    pub.connect()
    sid = pub.create_stream()
    pub.publish(name, sid)
    return pub


def _player(srv, peers, name: str = "s") -> tuple[Peer, list[Message]]:
    p = peers(srv.port)
    p.connect()
    sid = p.create_stream()
    return p, p.play(name, sid)


def _stream(srv, name: str = "s"):
    return srv.hub.get("live", name)


# -- connect ------------------------------------------------------------------------------------


def test_connect_result_and_control_messages_before_it(rtmp_server, peers):
    p = peers(rtmp_server.port)
    msgs = p.connect()
    assert [m.type_id for m in msgs] == [WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH, SET_CHUNK_SIZE,
                                         COMMAND_AMF0]
    assert control.parse_control(msgs[0]).size == 2_500_000
    assert control.parse_control(msgs[1]).size == 2_500_000
    assert control.parse_control(msgs[2]).size == 4096
    assert p.reader.chunk_size == 4096
    result = cmd_of(msgs[-1])
    assert result.name == "_result" and result.transaction_id == 2.0
    assert result.command_object["fmsVer"] == "FMS/3,0,1,123"
    assert result.command_object["capabilities"] == 31.0
    info = result.args[0]
    assert info["code"] == "NetConnection.Connect.Success"
    assert info["level"] == "status"
    assert info["objectEncoding"] == 0.0
    conn = next(iter(rtmp_server.conns))
    assert conn.app == "live" and conn.connected


def test_connect_with_configured_chunk_size_and_window(make_server, peers):
    srv = make_server(chunk_size=8192, window_ack_size=1_000_000, peer_bandwidth=1_500_000)
    p = peers(srv.port)
    msgs = p.connect()
    ctl = {m.type_id: control.parse_control(m) for m in msgs[:-1]}
    assert ctl[WINDOW_ACK_SIZE].size == 1_000_000
    assert ctl[SET_PEER_BANDWIDTH].size == 1_500_000
    assert ctl[SET_CHUNK_SIZE].size == 8192
    assert p.reader.chunk_size == 8192
    # Media then really comes in 8192-byte chunks (our reader was switched by the message).
    pub = _publisher(srv, peers)
    sid = p.create_stream()
    p.play("s", sid)
    big = b"\x17\x01\x00\x00\x00" + bytes(range(256)) * 30
    pub.media(VIDEO, 0, big)
    before = p.reader.bytes_read
    msg = p.read_until(lambda m: m.type_id == VIDEO)[-1]
    assert msg.payload == big
    # One 12-byte header (+ |RtmpSampleAccess before it); a 128-byte chunking would add 60.
    assert p.reader.bytes_read - before < len(big) + 12 + 60


def test_object_encoding_3_gets_amf3_command_replies(rtmp_server, peers):
    p = peers(rtmp_server.port)
    msgs = p.connect(objectEncoding=3.0)
    assert msgs[-1].type_id == COMMAND_AMF3
    result = cmd_of(msgs[-1])
    assert result.args[0]["objectEncoding"] == 3.0
    assert result.args[0]["code"] == "NetConnection.Connect.Success"
    tid = p.command("createStream", None)
    reply = p.read_until(lambda m: is_cmd(m, "_result", tid))[-1]
    assert reply.type_id == COMMAND_AMF3 and cmd_of(reply).args == [1.0]


def test_client_connect(rtmp_server):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/s"
    with Client(url, socket_module=gevent.socket, timeout=5) as c:
        values = c.connect()
        assert values[1]["code"] == "NetConnection.Connect.Success"
        assert values[0]["fmsVer"] == "FMS/3,0,1,123"


def test_connect_app_query_is_split(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect(app="live?key=abc")
    conn = next(iter(rtmp_server.conns))
    assert conn.app == "live" and conn.session.connect_query == {"key": "abc"}


# -- publish ------------------------------------------------------------------------------------


def test_publish_sequence(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect()
    tid = p.command("releaseStream", None, "s")
    assert is_cmd(p.read_until(lambda m: is_cmd(m, "_result"))[-1], "_result", tid)
    tid = p.command("FCPublish", None, "s")
    msgs = p.read_until(lambda m: is_cmd(m, "_result", tid))
    fc = [cmd_of(m) for m in msgs if is_cmd(m, "onFCPublish")]
    assert len(fc) == 1 and fc[0].args[0]["code"] == "NetStream.Publish.Start"
    assert fc[0].args[0]["description"] == "s"
    ids = [p.create_stream() for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3 and ids[0] >= 1
    msgs = p.publish("s", ids[0])
    events = [uc(m) for m in msgs if m.type_id == USER_CONTROL]
    assert events == [(UserControlEvent.STREAM_BEGIN, (ids[0],))]
    assert msgs[-1].stream_id == ids[0]
    assert cmd_of(msgs[-1]).args[0]["level"] == "status"
    assert _stream(rtmp_server).is_live
    tid = p.command("FCUnpublish", None, "s")
    msgs = p.read_until(lambda m: is_cmd(m, "_result", tid))
    assert any(is_cmd(m, "onFCUnpublish") for m in msgs)


def test_second_publisher_gets_badname_when_takeover_is_never(make_server, peers):
    srv = make_server(publisher_takeover="never")
    first = _publisher(srv, peers)
    p = peers(srv.port)
    p.connect()
    sid = p.create_stream()
    p.command("publish", None, "s", "live", stream_id=sid, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) is not None)
    assert status_of(msgs[-1]) == "NetStream.Publish.BadName"
    assert not first.eof(timeout=0.3)  # the first one is untouched


def test_second_publisher_takes_over_and_players_stay(rtmp_server, peers):
    """publisher_takeover = always (the default): the new publisher gets the stream, the old
    connection is closed, the player stays attached and sees timestamps continue."""
    first = _publisher(rtmp_server, peers)
    first.media(VIDEO, 0, AVC_HEADER)
    first.media(VIDEO, 1000, key(1))
    player, _ = _player(rtmp_server, peers)
    got = player.read_until(lambda m: m.type_id == VIDEO and bytes(m.payload) == key(1))
    second = _publisher(rtmp_server, peers)
    assert first.eof(timeout=5), "the old publisher was not closed"
    second.media(VIDEO, 0, AVC_HEADER)
    second.media(VIDEO, 0, key(2))
    msgs = player.read_until(lambda m: m.type_id == VIDEO and bytes(m.payload) == key(2))
    # No Unpublish/PublishNotify (FFmpeg players would stop): the stream just goes on.
    assert not [status_of(m) for m in msgs if status_of(m)]
    assert msgs[-1].timestamp > got[-1].timestamp
    assert _stream(rtmp_server).publisher is not None


def test_idle_takeover_only_from_a_silent_publisher(make_server, peers):
    srv = make_server(publisher_takeover="idle:0.5")
    first = _publisher(srv, peers)
    first.media(VIDEO, 0, key(1))
    p = peers(srv.port)
    p.connect()
    sid = p.create_stream()
    p.command("publish", None, "s", "live", stream_id=sid, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) is not None)
    assert status_of(msgs[-1]) == "NetStream.Publish.BadName"  # it just sent a frame
    gevent.sleep(0.6)
    p.command("publish", None, "s", "live", stream_id=sid, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) is not None)
    assert status_of(msgs[-1]) == "NetStream.Publish.Start"
    assert first.eof(timeout=5)


def test_delete_stream_notifies_players_and_frees_the_name(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    player, _ = _player(rtmp_server, peers)
    pub.command("deleteStream", None, 1.0)
    msgs = player.read_until(lambda m: status_of(m) == "NetStream.Play.UnpublishNotify")
    assert (UserControlEvent.STREAM_EOF, (1,)) in [uc(m) for m in msgs]
    eof_at = next(i for i, m in enumerate(msgs) if uc(m) == (UserControlEvent.STREAM_EOF, (1,)))
    assert eof_at < len(msgs) - 1
    assert pub.read_until(lambda m: status_of(m) == "NetStream.Unpublish.Success")
    assert wait_until(lambda: not _stream(rtmp_server).is_live, timeout=5)
    # The name can be published again, by another connection or the same one.
    other = _publisher(rtmp_server, peers)
    msgs = player.read_until(lambda m: status_of(m) == "NetStream.Play.PublishNotify")
    other.media(VIDEO, 0, key(7))
    got = player.read_until(lambda m: m.type_id == VIDEO)
    assert got[-1].payload == key(7)


def test_publish_query_string_is_split(rtmp_server, peers):
    pub = peers(rtmp_server.port)
    pub.connect()
    sid = pub.create_stream()
    pub.publish("s?token=x&b=2", sid)
    assert _stream(rtmp_server) is not None and _stream(rtmp_server).is_live
    conn = next(c for c in rtmp_server.conns if c.address[1] == pub.port)
    stream, params = conn.publishing[sid]
    assert stream.name == "s"
    assert params == {"token": "x", "b": "2", "type": "live"}
    player, _ = _player(rtmp_server, peers, "s?token=y")
    pub.media(VIDEO, 0, key(1))
    assert player.read_until(lambda m: m.type_id == VIDEO)[-1].payload == key(1)


# -- play ----------------------------------------------------------------------------------------


def test_play_preamble_and_late_joiner_catch_up(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    pub.send(Message(DATA_AMF0, 0, 1, encode_data("@setDataFrame", "onMetaData",
                                                    {"width": 160.0, "height": 120.0})),
             CSID_DATA)
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(AUDIO, 0, AAC_HEADER)
    pub.media(VIDEO, 0, key(1))
    pub.media(VIDEO, 40, inter(2))
    pub.media(VIDEO, 80, key(3))
    pub.media(AUDIO, 90, aac(4))
    pub.media(VIDEO, 120, inter(5))
    stream = _stream(rtmp_server)
    assert wait_until(lambda: len(stream.gop) == 3, timeout=5)
    p = peers(rtmp_server.port)
    p.connect()
    sid = p.create_stream()
    msgs = p.play("s", sid)
    assert [uc(m) for m in msgs[:2]] == [(UserControlEvent.STREAM_IS_RECORDED, (sid,)),
                                         (UserControlEvent.STREAM_BEGIN, (sid,))]
    assert [status_of(m) for m in msgs[2:]] == ["NetStream.Play.Reset", "NetStream.Play.Start"]
    assert all(m.stream_id == sid for m in msgs[2:])  # user control goes on stream 0
    rest = p.read_until(lambda m: m.type_id == VIDEO and m.payload == inter(5))
    assert rest[0].type_id == DATA_AMF0
    assert decode_data(rest[0].payload) == ["|RtmpSampleAccess", True, True]
    assert rest[1].type_id == DATA_AMF0
    meta = decode_data(rest[1].payload)
    assert meta[0] == "onMetaData"
    assert meta[1]["width"] == 160.0 and meta[1]["height"] == 120.0
    assert media_of(rest) == [(VIDEO, AVC_HEADER), (AUDIO, AAC_HEADER), (VIDEO, key(3)),
                              (AUDIO, aac(4)), (VIDEO, inter(5))]
    stamps = [m.timestamp for m in rest if m.type_id in (AUDIO, VIDEO)]
    assert stamps[2:] == [80, 90, 120]
    assert all(m.stream_id == sid for m in rest)
    # Live packets follow.
    pub.media(VIDEO, 160, inter(6))
    assert p.read_until(lambda m: m.type_id == VIDEO)[-1].payload == inter(6)


def test_metadata_forwarded_live_without_setdataframe(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    p, _ = _player(rtmp_server, peers)
    pub.send(Message(DATA_AMF0, 0, 1, encode_data("@setDataFrame", "onMetaData",
                                                    {"framerate": 25.0})), CSID_DATA)
    msg = p.read_until(lambda m: m.type_id == DATA_AMF0
                       and decode_data(m.payload)[0] == "onMetaData")[-1]
    values = decode_data(msg.payload)
    assert values[1]["framerate"] == 25.0
    assert "@setDataFrame" not in values
    assert _stream(rtmp_server).metadata["framerate"] == 25.0


def test_play2(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    p = peers(rtmp_server.port)
    p.connect()
    sid = p.create_stream()
    p.command("play2", None, {"streamName": "s", "transition": "switch"}, stream_id=sid, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) == "NetStream.Play.Start")
    assert "NetStream.Play.Reset" not in [status_of(m) for m in msgs]
    pub.media(VIDEO, 0, key(1))
    assert p.read_until(lambda m: m.type_id == VIDEO)[-1].payload == key(1)


def test_play_missing_stream_not_found_when_not_waiting(make_server, peers):
    srv = make_server(wait_for_publisher=False)
    p = peers(srv.port)
    p.connect()
    sid = p.create_stream()
    p.command("play", None, "nobody", -2.0, stream_id=sid, tid=0.0)
    msg = p.read_until(lambda m: status_of(m) is not None)[-1]
    assert status_of(msg) == "NetStream.Play.StreamNotFound"
    assert cmd_of(msg).args[0]["level"] == "error"
    assert srv.hub.get("live", "nobody") is None
    # The connection keeps working.
    assert p.create_stream() > sid


def test_play_waits_for_publisher_by_default(rtmp_server, peers):
    p, _ = _player(rtmp_server, peers, "later")
    pub = _publisher(rtmp_server, peers, "later")
    p.read_until(lambda m: status_of(m) == "NetStream.Play.PublishNotify")
    pub.media(VIDEO, 0, inter(0))  # not a keyframe: a new player starts at one
    pub.media(VIDEO, 40, key(1))
    assert media_of(p.read_until(lambda m: m.type_id == VIDEO)) == [(VIDEO, key(1))]


def test_pause_and_unpause(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    p, _ = _player(rtmp_server, peers)
    pub.media(VIDEO, 0, key(1))
    p.read_until(lambda m: m.type_id == VIDEO)
    p.command("pause", None, True, 0.0, stream_id=1, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) is not None)
    assert status_of(msgs[-1]) == "NetStream.Pause.Notify"
    pub.media(VIDEO, 40, inter(2))
    pub.media(AUDIO, 50, aac(3))
    pub.media(VIDEO, 80, key(4))
    assert media_of(p.read_for(0.3)) == []
    p.command("pause", None, False, 80.0, stream_id=1, tid=0.0)
    msgs = p.read_until(lambda m: status_of(m) is not None)
    assert status_of(msgs[-1]) == "NetStream.Unpause.Notify"
    pub.media(VIDEO, 120, inter(5))  # dropped: video resumes at a keyframe
    pub.media(VIDEO, 160, key(6))
    pub.media(VIDEO, 200, inter(7))
    got = p.read_until(lambda m: m.type_id == VIDEO and m.payload == inter(7))
    assert media_of(got) == [(VIDEO, key(6)), (VIDEO, inter(7))]


def test_receive_audio_and_video_false(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    pa, _ = _player(rtmp_server, peers)
    pv, _ = _player(rtmp_server, peers)
    pa.command("receiveAudio", None, False, stream_id=1, tid=0.0)
    pv.command("receiveVideo", None, False, stream_id=1, tid=0.0)
    subs = _stream(rtmp_server).players
    assert wait_until(lambda: len(subs) == 2 and sorted((s.policy.audio, s.policy.video)
                                                        for s in subs)
                      == [(False, True), (True, False)], timeout=5)
    pub.media(VIDEO, 0, key(1))
    pub.media(AUDIO, 10, aac(2))
    pub.media(VIDEO, 40, inter(3))
    pub.media(AUDIO, 50, aac(4))
    got_a = pa.read_until(lambda m: m.payload == inter(3))
    assert media_of(got_a) == [(VIDEO, key(1)), (VIDEO, inter(3))]
    got_v = pv.read_until(lambda m: m.payload == aac(4))
    assert media_of(got_v) == [(AUDIO, aac(2)), (AUDIO, aac(4))]
    # Video back on: from the next keyframe.
    pv.command("receiveVideo", None, True, stream_id=1, tid=0.0)
    assert wait_until(lambda: all(s.policy.video for s in subs), timeout=5)
    pub.media(VIDEO, 80, inter(5))
    pub.media(VIDEO, 120, key(6))
    got_v = pv.read_until(lambda m: m.type_id == VIDEO)
    assert media_of(got_v) == [(VIDEO, key(6))]


def test_get_stream_length_checkbw_and_unknown_command(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect()
    sid = p.create_stream()
    tid = p.command("getStreamLength", None, "s", stream_id=sid)
    msg = p.read_until(lambda m: is_cmd(m, "_result", tid))[-1]
    assert cmd_of(msg).args == [0.0]
    tid = p.command("_checkbw", None)
    assert p.read_until(lambda m: is_cmd(m, "_result", tid))
    tid = p.command("noSuchMethod", None, 1.0)
    msg = p.read_until(lambda m: cmd_of(m) is not None and cmd_of(m).transaction_id == tid)[-1]
    cmd = cmd_of(msg)
    assert cmd.name == "_error"
    assert cmd.args[0]["code"] == "NetConnection.Call.Failed"
    assert cmd.args[0]["level"] == "error"
    # Still working.
    assert p.create_stream() == sid + 1


# -- control ------------------------------------------------------------------------------------


def test_ping_request_gets_ping_response(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect()
    p.send(control.PingRequest(0x12345678).message(), CSID_CONTROL)
    msg = p.read_until(lambda m: m.type_id == USER_CONTROL)[-1]
    assert uc(msg) == (UserControlEvent.PING_RESPONSE, (0x12345678,))


def test_acknowledgement_after_window(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect()
    p.send(control.WindowAckSize(1000).message(), CSID_CONTROL)
    p.set_chunk_size(4096)
    assert p.sent < 1000
    marks = []
    for size in (1500, 400, 700, 100):
        p.media(AUDIO, 0, b"\xaf\x01" + b"z" * size, stream_id=7)  # nobody publishes 7
        marks.append(p.sent)
    p.command("_checkbw", None)  # a reply to wait for
    msgs = p.read_until(lambda m: is_cmd(m, "_result"))
    acks = [control.parse_control(m).sequence for m in msgs if m.type_id == ACKNOWLEDGEMENT]
    # After 1500 (>= window): ack; 400 more: not yet; 700 more (1100): ack; then 100: not.
    assert acks == [marks[0], marks[2]]


def test_idle_client_is_pinged_then_closed(make_server, peers, caplog):
    srv = make_server(ping_interval=0.2, idle_timeout=1)
    p = peers(srv.port)
    p.connect()
    t0 = time.monotonic()
    events = []
    try:
        with gevent.Timeout(5):
            while True:
                msg = p.reader.read_message()
                if msg.type_id == USER_CONTROL:
                    events.append(uc(msg)[0])
    except (ConnectionClosed, OSError):
        pass
    elapsed = time.monotonic() - t0
    assert UserControlEvent.PING_REQUEST in events
    assert 0.8 <= elapsed <= 2.5
    assert wait_until(lambda: not srv.conns, timeout=3)
    lines = [r for r in caplog.records if r.levelno == logging.WARNING and p.name in r.getMessage()]
    assert len(lines) == 1 and "no data" in lines[0].getMessage()


def test_active_client_is_not_dropped(make_server, peers):
    srv = make_server(ping_interval=0.2, idle_timeout=0.6)
    p = peers(srv.port)
    p.connect()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        p.send(control.PingResponse(0).message(), CSID_CONTROL)  # keeps talking
        gevent.sleep(0.1)
    assert len(srv.conns) == 1
    assert p.create_stream() == 1


# -- bad input ----------------------------------------------------------------------------------


def _bad_peer_closed_alone(srv, peers, caplog, attack) -> list[logging.LogRecord]:
    """Run ``attack(port)`` beside a healthy publisher->player pair; return its log lines."""
    pub = _publisher(srv, peers, "ok")
    player, _ = _player(srv, peers, "ok")
    pub.media(VIDEO, 0, key(1))
    player.read_until(lambda m: m.type_id == VIDEO)
    caplog.clear()
    bad_name = attack(srv.port)
    pub.media(VIDEO, 40, inter(2))
    pub.media(VIDEO, 80, key(3))
    got = player.read_until(lambda m: m.payload == key(3))
    assert media_of(got) == [(VIDEO, inter(2)), (VIDEO, key(3))]
    assert wait_until(lambda: len(srv.conns) == 2, timeout=5)
    return [r for r in caplog.records if r.levelno >= logging.WARNING
            and bad_name in r.getMessage()]


def test_garbage_instead_of_handshake(rtmp_server, peers, caplog):
    def attack(port):
        p = peers(port, handshake=False)
        p.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 1600)
        assert p.eof()
        return p.name

    lines = _bad_peer_closed_alone(rtmp_server, peers, caplog, attack)
    assert len(lines) == 1 and "HandshakeError" in lines[0].getMessage()


def test_garbage_chunks_after_handshake(rtmp_server, peers, caplog):
    def attack(port):
        p = peers(port)
        p.send_raw(b"\xc5" + bytes(range(256)) * 4)  # fmt 3 on a chunk stream never opened
        assert p.eof()
        return p.name

    lines = _bad_peer_closed_alone(rtmp_server, peers, caplog, attack)
    assert len(lines) == 1 and "ChunkError" in lines[0].getMessage()


def test_command_before_connect(rtmp_server, peers, caplog):
    def attack(port):
        p = peers(port)
        p.command("createStream", None)
        assert p.eof()
        return p.name

    lines = _bad_peer_closed_alone(rtmp_server, peers, caplog, attack)
    assert len(lines) == 1 and "before connect" in lines[0].getMessage()


def test_oversized_message_claim(make_server, peers, caplog):
    srv = make_server(max_message_size=64 * 1024)

    def attack(port):
        p = peers(port)
        p.connect()
        # fmt 0 header on csid 6 claiming a 16 MiB - 1 video message.
        header = bytes((0x06,)) + b"\x00\x00\x00" + b"\xff\xff\xff" + bytes((VIDEO,)) \
            + (1).to_bytes(4, "little")
        p.send_raw(header + b"\x00" * 128)
        assert p.eof()
        return p.name

    lines = _bad_peer_closed_alone(srv, peers, caplog, attack)
    assert len(lines) == 1 and "LimitExceeded" in lines[0].getMessage()


def test_bad_amf_in_command(rtmp_server, peers, caplog):
    def attack(port):
        p = peers(port)
        p.connect()
        p.send(Message(COMMAND_AMF0, 0, 0, b"\x02\x00\x10abc"), CSID_COMMAND)  # truncated
        assert p.eof()
        return p.name

    lines = _bad_peer_closed_alone(rtmp_server, peers, caplog, attack)
    assert len(lines) == 1


# -- limits ---------------------------------------------------------------------------------------


def _refused(port: int) -> bool:
    """True when the server closes a new connection without answering the handshake."""
    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        rfile = sock.makefile("rb")
        try:
            client_handshake(rfile, sock.sendall)
        except (RTMPError, OSError):
            return True
        return False
    finally:
        sock.close()


def test_max_connections(make_server, peers):
    srv = make_server(max_connections=2)
    a = peers(srv.port)
    peers(srv.port)
    assert wait_until(lambda: len(srv.conns) == 2, timeout=5)
    assert _refused(srv.port)
    a.connect()  # the open ones still work
    a.close()
    assert wait_until(lambda: len(srv.conns) == 1, timeout=5)
    c = peers(srv.port)
    assert c.connect()[-1].type_id == COMMAND_AMF0


def test_max_connections_per_ip(make_server, peers):
    srv = make_server(max_connections_per_ip=1)
    peers(srv.port).connect()
    assert _refused(srv.port)
    assert len(srv.conns) == 1


def test_max_players_per_stream(make_server, peers):
    srv = make_server(max_players_per_stream=1)
    _publisher(srv, peers)
    _player(srv, peers)
    url = f"rtmp://127.0.0.1:{srv.port}/live/s"
    with Client(url, socket_module=gevent.socket, timeout=5) as c:
        c.connect()
        with pytest.raises(CommandError) as exc:
            c.play()
        assert exc.value.code == "NetStream.Play.Failed"


# -- more of the life cycle ---------------------------------------------------------------------


def test_delete_stream_with_nan_id_does_not_kill_the_connection(rtmp_server, peers):
    p = peers(rtmp_server.port)
    p.connect()
    sid = p.create_stream()
    for bad in (float("nan"), float("inf"), -1.0, 1e300):
        p.command("deleteStream", None, bad)
    assert p.create_stream() == sid + 1


def test_close_stream_stops_playing(rtmp_server, peers):
    _publisher(rtmp_server, peers)
    p, _ = _player(rtmp_server, peers)
    assert len(_stream(rtmp_server).players) == 1
    p.command("closeStream", None, stream_id=1, tid=0.0)
    assert wait_until(lambda: _stream(rtmp_server).players == [], timeout=5)
    assert p.create_stream() == 2


def test_republish_on_the_same_connection(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    player, _ = _player(rtmp_server, peers)
    pub.media(VIDEO, 1000, key(1))
    first = player.read_until(lambda m: m.type_id == VIDEO)[-1]
    pub.command("FCUnpublish", None, "s")
    pub.command("deleteStream", None, 1.0)
    player.read_until(lambda m: status_of(m) == "NetStream.Play.UnpublishNotify")
    sid = pub.create_stream()
    pub.publish("s", sid)
    player.read_until(lambda m: status_of(m) == "NetStream.Play.PublishNotify")
    pub.media(VIDEO, 0, key(2), stream_id=sid)
    second = player.read_until(lambda m: m.type_id == VIDEO)[-1]
    assert second.payload == key(2)
    assert second.timestamp > first.timestamp


def test_waiting_player_gets_headers_then_keyframe(rtmp_server, peers):
    p, _ = _player(rtmp_server, peers, "w")
    pub = _publisher(rtmp_server, peers, "w")
    pub.send(Message(DATA_AMF0, 0, 1, encode_data("@setDataFrame", "onMetaData",
                                                    {"width": 64.0})), CSID_DATA)
    pub.media(VIDEO, 0, AVC_HEADER)
    pub.media(AUDIO, 0, AAC_HEADER)
    pub.media(VIDEO, 0, key(1))
    got = p.read_until(lambda m: m.type_id == VIDEO and m.payload == key(1))
    codes = [status_of(m) for m in got if status_of(m)]
    assert codes == ["NetStream.Play.PublishNotify"]
    data = [decode_data(m.payload)[0] for m in got if m.type_id == DATA_AMF0]
    assert data == ["|RtmpSampleAccess", "onMetaData"]
    assert media_of(got) == [(VIDEO, AVC_HEADER), (AUDIO, AAC_HEADER), (VIDEO, key(1))]


def test_amf3_metadata_and_aggregate_from_publisher(rtmp_server, peers):
    pub = _publisher(rtmp_server, peers)
    p, _ = _player(rtmp_server, peers)
    # Type 15 data: format byte 0, then AMF0 values.
    pub.send(Message(15, 0, 1, b"\x00" + encode_data("@setDataFrame", "onMetaData",
                                                      {"fps": 30.0})), CSID_DATA)
    meta = p.read_until(lambda m: m.type_id == DATA_AMF0
                        and decode_data(m.payload)[0] == "onMetaData")[-1]
    assert decode_data(meta.payload)[1]["fps"] == 30.0
    agg = control.build_aggregate([Message(VIDEO, 100, 1, key(1)),
                                   Message(AUDIO, 110, 1, aac(2)),
                                   Message(VIDEO, 140, 1, inter(3))], timestamp=100)
    pub.send(agg, CSID_VIDEO)
    got = p.read_until(lambda m: m.payload == inter(3))
    assert media_of(got) == [(VIDEO, key(1)), (AUDIO, aac(2)), (VIDEO, inter(3))]
    stamps = [m.timestamp for m in got if m.type_id in (AUDIO, VIDEO)]
    assert [t - stamps[0] for t in stamps] == [0, 10, 40]


def test_handshake_timeout(make_server, peers, caplog):
    srv = make_server(handshake_timeout=0.3)
    p = peers(srv.port, handshake=False)
    p.send_raw(b"\x03" + b"\x00" * 100)  # C0 and part of C1, then nothing
    t0 = time.monotonic()
    assert p.eof(5)
    assert time.monotonic() - t0 < 2
    assert wait_until(lambda: not srv.conns, timeout=3)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING
             and p.name in r.getMessage()]
    assert len(lines) == 1 and "HandshakeError" in lines[0].getMessage()


def test_server_stop_ends_streams(make_server, peers):
    srv = make_server()
    pub = _publisher(srv, peers)
    player, _ = _player(srv, peers)
    srv.stop(timeout=3)
    msgs = player.read_until(lambda m: status_of(m) == "NetStream.Play.UnpublishNotify")
    assert (UserControlEvent.STREAM_EOF, (1,)) in [uc(m) for m in msgs]
    assert player.eof(3)
    assert pub.read_until(lambda m: status_of(m) == "NetStream.Unpublish.Success")
    assert pub.eof(3)


def test_stuck_player_is_dropped_others_keep_everything(make_server, peers, caplog):
    srv = make_server(queue_size=64, max_lag_seconds=1.0)
    pub = _publisher(srv, peers)
    pub.set_chunk_size(65536)
    good, _ = _player(srv, peers)
    stuck = peers(srv.port, rcvbuf=4096)
    stuck.connect()
    stuck.play("s", stuck.create_stream())  # and never reads again
    stuck_conn = next(c for c in srv.conns if c.address[1] == stuck.port)
    n = 300
    frames = [(key if i % 10 == 0 else inter)(0)[:5] + i.to_bytes(2, "big") + bytes(40_000)
              for i in range(n)]
    got: list[bytes] = []

    def read_good():
        while len(got) < n:
            msg = good.reader.read_message()
            if msg.type_id == VIDEO:
                got.append(bytes(msg.payload))

    reader = gevent.spawn(read_good)
    for i, payload in enumerate(frames):
        pub.media(VIDEO, i * 40, payload)
        gevent.sleep(0.002)
    reader.join(10)
    assert reader.successful() and got == frames
    assert wait_until(lambda: stuck_conn.closed, timeout=5)
    sub_dropped = [r for r in caplog.records if r.levelno >= logging.WARNING
                   and stuck.name in r.getMessage()]
    assert len(sub_dropped) == 1 and "too far behind" in sub_dropped[0].getMessage()


def test_wait_for_publisher_per_app(make_server):
    srv = make_server(wait_for_publisher=frozenset({"live"}))
    waiting = Client(f"rtmp://127.0.0.1:{srv.port}/live/nobody", socket_module=gevent.socket)
    waiting.connect()
    assert waiting.play()["code"] == "NetStream.Play.Start"
    strict = Client(f"rtmp://127.0.0.1:{srv.port}/vod/nobody", socket_module=gevent.socket)
    strict.connect()
    with pytest.raises(CommandError) as info:
        strict.play()
    assert info.value.code == "NetStream.Play.StreamNotFound"
    waiting.close()
    strict.close()


def test_set_data_frame_wrapper_is_removed_from_other_data(rtmp_server):
    url = f"rtmp://127.0.0.1:{rtmp_server.port}/live/cue"
    player = Client(url, socket_module=gevent.socket)
    player.connect()
    player.play()
    pub = Client(url, socket_module=gevent.socket)
    pub.connect()
    pub.publish()
    cue = {"name": "ad", "time": 1.5}
    payload = encode_data("@setDataFrame", "onCuePoint", cue)
    pub.send_message(Message(DATA_AMF0, 10, pub.stream_id, payload), CSID_DATA)
    pub.send_message(Message(DATA_AMF0, 20, pub.stream_id, encode_data("onTextData", {"t": "x"})),
                     CSID_DATA)
    got = []
    with gevent.Timeout(5):
        while len(got) < 2:
            m = player.read_message()
            if m.type_id == DATA_AMF0:
                values = decode_data(m.payload)
                if values[0] != "|RtmpSampleAccess":
                    got.append(values)
    assert got == [["onCuePoint", cue], ["onTextData", {"t": "x"}]]
    pub.close()
    player.close()
