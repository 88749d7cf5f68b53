"""ServerSession and ClientSession wired to each other in memory: every command, decision and
state rule, with no sockets and no sleeps."""

from __future__ import annotations

import math

import pytest

from grtmp.amf.command import decode_command, encode_command, encode_data
from grtmp.config import ServerConfig
from grtmp.errors import ProtocolError, StateError
from grtmp.protocol.events import (
    CallResult,
    CommandReceived,
    ConnectRequested,
    ConnectResult,
    ControlReceived,
    DataReceived,
    MediaReceived,
    MediaSelected,
    MetadataReceived,
    Paused,
    PlayRequested,
    PublishRequested,
    StatusReceived,
    StreamEnded,
)
from grtmp.protocol.state import ConnState, StreamState
from grtmp.protocol.status import Status, level_of
from grtmp.wire import control
from grtmp.wire.message import (
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_COMMAND,
    CSID_CONTROL,
    DATA_AMF0,
    DATA_AMF3,
    SET_CHUNK_SIZE,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    Message,
)
from tests.helpers import SessionPair


def statuses(events) -> list[str]:
    return [e.code for e in events if isinstance(e, StatusReceived)]


def publishing(pair: SessionPair, name: str = "cam") -> int:
    sid = pair.stream()
    pair.client.publish(sid, name)
    (req,) = pair.to_server()
    assert isinstance(req, PublishRequested) and req.name == name
    pair.server.accept_publish(sid, name)
    assert statuses(pair.to_client()) == ["NetStream.Publish.Start"]
    return sid


def playing(pair: SessionPair, name: str = "cam") -> int:
    sid = pair.stream()
    pair.client.play(sid, name)
    (req,) = pair.to_server()
    assert isinstance(req, PlayRequested)
    pair.server.accept_play(sid, req.name, req.reset)
    assert statuses(pair.to_client())[-1] == "NetStream.Play.Start"
    return sid


# -- connect ---------------------------------------------------------------------------------------


def test_connect_accept_sends_window_bandwidth_chunk_size_then_result() -> None:
    pair = SessionPair(ServerConfig(chunk_size=8192, window_ack_size=1_000_000))
    pair.client.connect()
    (req,) = pair.to_server()
    assert isinstance(req, ConnectRequested)
    assert req.app == "live" and req.tc_url == "rtmp://127.0.0.1/live"
    assert pair.server.state is ConnState.CONNECTING
    pair.server.accept_connect()
    events = pair.to_client()
    types = [m.type_id for m in pair.client_messages]
    assert types == [WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH, SET_CHUNK_SIZE, COMMAND_AMF0]
    assert pair.client_reader.chunk_size == 8192
    (result,) = [e for e in events if isinstance(e, ConnectResult)]
    assert result.ok and result.info["code"] == "NetConnection.Connect.Success"
    assert result.properties["fmsVer"] == "FMS/3,0,1,123"
    assert pair.server.state is ConnState.CONNECTED and pair.client.state is ConnState.CONNECTED
    assert pair.client.flow.peer_window == 1_000_000


def test_connect_reject_and_redirect_close() -> None:
    pair = SessionPair()
    pair.client.connect()
    pair.to_server()
    pair.server.reject_connect("no you don't")
    (result,) = [e for e in pair.to_client() if isinstance(e, ConnectResult)]
    assert not result.ok and result.info["code"] == "NetConnection.Connect.Rejected"
    assert result.info["level"] == "error" and result.info["description"] == "no you don't"
    assert pair.server.closing
    pair = SessionPair()
    pair.client.connect()
    pair.to_server()
    pair.server.redirect_connect("rtmp://other/live")
    (result,) = [e for e in pair.to_client() if isinstance(e, ConnectResult)]
    assert result.info["ex"] == {"code": 302.0, "redirect": "rtmp://other/live"}
    assert pair.server.closing


def test_decisions_follow_the_state_table() -> None:
    pair = SessionPair()
    with pytest.raises(StateError):
        pair.server.accept_connect()  # nothing asked yet
    pair.client.connect()
    pair.to_server()
    pair.server.accept_connect()
    with pytest.raises(StateError):
        pair.server.accept_connect()  # twice
    with pytest.raises(StateError):
        pair.server.accept_publish(1, "x")  # no such stream
    sid = pair.stream()
    with pytest.raises(StateError):
        pair.server.accept_play(sid, "x")  # nobody asked to play


def test_message_before_the_connect_decision_is_a_state_error() -> None:
    pair = SessionPair()
    pair.client.connect()
    pair.to_server()
    pair.client.create_stream()
    with pytest.raises(StateError):
        pair.to_server()


def test_command_before_connect_is_a_protocol_error() -> None:
    pair = SessionPair()
    pair.client.create_stream()
    with pytest.raises(ProtocolError):
        pair.to_server()


def test_second_connect_is_a_protocol_error() -> None:
    pair = SessionPair().connected()
    pair.client.call("connect", params={"app": "x"})
    with pytest.raises(ProtocolError):
        pair.to_server()


def test_enhanced_caps_are_read_and_answered() -> None:
    pair = SessionPair()
    pair.client.connect(fourCcList=["hvc1", "av01", 5.0], capsEx=float(0x02 | 0x01),
                        videoFourCcInfoMap={"hvc1": 4.0, "avc1": math.nan},
                        audioFourCcInfoMap={"Opus": math.inf})
    (req,) = pair.to_server()
    assert req.caps.enhanced and req.caps.multitrack
    assert req.caps.fourcc_list == ("hvc1", "av01")
    assert dict(req.caps.video_fourcc_info) == {"hvc1": 4}
    assert dict(req.caps.audio_fourcc_info) == {}
    pair.server.accept_connect()
    (result,) = [e for e in pair.to_client() if isinstance(e, ConnectResult)]
    assert result.properties["capsEx"] == 15.0 and "hvc1" in result.properties["fourCcList"]


def test_legacy_peer_gets_no_enhanced_fields() -> None:
    pair = SessionPair().connected()
    props, _info = pair.client.connect_result
    assert "fourCcList" not in props and "capsEx" not in props


def test_amf3_object_encoding_is_answered_in_amf3() -> None:
    pair = SessionPair()
    pair.client.connect(objectEncoding=3.0)
    (req,) = pair.to_server()
    assert req.object_encoding == 3
    pair.server.accept_connect()
    pair.to_client()
    assert pair.client_messages[-1].type_id == COMMAND_AMF3


def test_app_query_string_is_split() -> None:
    pair = SessionPair(app="live?key=abc")
    pair.client.connect()
    (req,) = pair.to_server()
    assert req.app == "live" and dict(req.query) == {"key": "abc"}


# -- streams ---------------------------------------------------------------------------------------


def test_publish_flow_and_media_events() -> None:
    pair = SessionPair().connected()
    sid = publishing(pair)
    assert pair.server.streams[sid] is StreamState.PUBLISHING
    pair.client.send_media(sid, VIDEO, 40, b"\x17\x01frame")
    pair.client.send_media(sid, AUDIO, 45, b"\xaf\x01aac")
    events = pair.to_server()
    assert events == [MediaReceived(sid, VIDEO, 40, b"\x17\x01frame"),
                      MediaReceived(sid, AUDIO, 45, b"\xaf\x01aac")]


def test_media_on_a_stream_not_publishing_is_ignored() -> None:
    pair = SessionPair().connected()
    sid = pair.stream()
    pair.client.send_media(sid, VIDEO, 0, b"\x17\x01x")
    assert pair.to_server() == []


def test_publish_reject_with_a_hook_code() -> None:
    pair = SessionPair().connected()
    sid = pair.stream()
    pair.client.publish(sid, "cam?key=bad")
    (req,) = pair.to_server()
    assert dict(req.params) == {"key": "bad", "type": "live"}
    pair.server.reject_publish(sid, "NetStream.Publish.Unauthorized", "bad key")
    (status,) = [e for e in pair.to_client() if isinstance(e, StatusReceived)]
    assert (status.code, status.level, status.description) == \
        ("NetStream.Publish.Unauthorized", "error", "bad key")
    assert pair.server.streams[sid] is StreamState.IDLE


def test_play_preamble_in_nginx_rtmp_order() -> None:
    pair = SessionPair().connected()
    sid = pair.stream()
    pair.client.play(sid, "cam")
    (req,) = pair.to_server()
    assert req.reset is True
    pair.server.accept_play(sid, "cam")
    start = len(pair.client_messages)
    events = pair.to_client()
    msgs = pair.client_messages[start:]
    controls = [e.control for e in events if isinstance(e, ControlReceived)]
    assert controls == [control.StreamIsRecorded(sid), control.StreamBegin(sid)]
    assert statuses(events) == ["NetStream.Play.Reset", "NetStream.Play.Start"]
    assert msgs[-1].type_id == DATA_AMF0 and b"|RtmpSampleAccess" in msgs[-1].payload


def test_play_notify_publish_and_unpublish() -> None:
    pair = SessionPair().connected()
    sid = playing(pair)
    pair.server.play_notify(sid, "cam", False)
    events = pair.to_client()
    assert [e.control for e in events if isinstance(e, ControlReceived)] == \
        [control.StreamEOF(sid)]
    assert statuses(events) == ["NetStream.Play.UnpublishNotify"]
    pair.server.play_notify(sid, "cam", True)
    assert statuses(pair.to_client()) == ["NetStream.Play.PublishNotify"]


def test_close_and_delete_stream_end_what_runs() -> None:
    pair = SessionPair().connected()
    sid = publishing(pair)
    pair.client.call("closeStream", stream_id=sid)
    assert pair.to_server() == [StreamEnded(sid, "publish", "closeStream")]
    assert statuses(pair.to_client()) == ["NetStream.Unpublish.Success"]
    assert pair.server.streams[sid] is StreamState.IDLE
    psid = playing(pair)
    pair.client.delete_stream(psid)
    assert pair.to_server() == [StreamEnded(psid, "play", "deleteStream")]
    assert psid not in pair.server.streams


def test_publish_again_on_the_same_stream_ends_the_first() -> None:
    pair = SessionPair().connected()
    sid = publishing(pair, "a")
    pair.client.publish(sid, "b")
    events = pair.to_server()
    assert events[0] == StreamEnded(sid, "publish", "replaced")
    assert isinstance(events[1], PublishRequested) and events[1].name == "b"


def test_only_created_stream_ids_and_a_cap() -> None:
    pair = SessionPair(ServerConfig(max_message_streams=2)).connected()
    pair.client.play(7, "cam")
    assert pair.to_server() == []
    assert statuses(pair.to_client()) == ["NetStream.Play.Failed"]
    pair.stream()
    pair.stream()
    pair.client.create_stream()
    pair.to_server()
    (result,) = [e for e in pair.to_client() if isinstance(e, CallResult)]
    assert not result.ok and result.values[1]["code"] == "NetConnection.Call.Failed"


def test_names_are_strings_of_bounded_length() -> None:
    pair = SessionPair().connected()
    sid = pair.stream()
    pair.client.publish(sid, "x" * 300)
    assert pair.to_server() == []
    assert statuses(pair.to_client()) == ["NetStream.Publish.BadName"]
    pair.client.send_message(Message(COMMAND_AMF0, 0, sid, encode_command("play", 0, None, 5.0)),
                             CSID_COMMAND)
    assert pair.to_server() == []
    assert statuses(pair.to_client()) == ["NetStream.Play.StreamNotFound"]


def test_pause_toggle_and_receive_video() -> None:
    pair = SessionPair().connected()
    sid = playing(pair)
    pair.client.call("pause", True, 0.0, stream_id=sid)
    assert pair.to_server() == [Paused(sid, True)]
    assert statuses(pair.to_client()) == ["NetStream.Pause.Notify"]
    pair.client.call("pauseRaw", stream_id=sid)  # no flag: toggles
    assert pair.to_server() == [Paused(sid, False)]
    assert statuses(pair.to_client()) == ["NetStream.Unpause.Notify"]
    pair.client.call("receiveVideo", False, stream_id=sid)
    pair.client.call("receiveAudio", True, stream_id=sid)
    assert pair.to_server() == [MediaSelected(sid, video=False), MediaSelected(sid, audio=True)]


def test_metadata_and_data_are_unwrapped_and_amf0() -> None:
    pair = SessionPair().connected()
    sid = publishing(pair)
    pair.client.send_metadata(sid, {"width": 640.0})
    (meta,) = pair.to_server()
    assert isinstance(meta, MetadataReceived)
    assert meta.metadata["width"] == 640.0 and meta.metadata["server"] == "grtmp"
    assert meta.payload.startswith(encode_data("onMetaData")[:13])
    body = b"\x00" + encode_data("onCuePoint", {"t": 1.0})
    pair.client.send_message(Message(DATA_AMF3, 5, sid, body), 5)
    (data,) = pair.to_server()
    assert data == DataReceived(sid, 5, encode_data("onCuePoint", {"t": 1.0}))


def test_aggregate_is_split_into_media_events() -> None:
    pair = SessionPair().connected()
    sid = publishing(pair)
    agg = control.build_aggregate([Message(VIDEO, 1000, sid, b"\x17\x01a"),
                                   Message(AUDIO, 1040, sid, b"\xaf\x01b")])
    pair.client.send_message(agg, 6)
    events = pair.to_server()
    assert [(e.type_id, e.timestamp, e.payload) for e in events] == \
        [(VIDEO, 1000, b"\x17\x01a"), (AUDIO, 1040, b"\xaf\x01b")]


def test_ping_is_answered() -> None:
    pair = SessionPair().connected()
    pair.server.ping(1234)
    pair.to_client()  # the client answers
    pair.to_server()
    responses = [m for m in pair.server_messages if m.type_id == USER_CONTROL]
    assert control.parse_control(responses[-1]) == control.PingResponse(1234)
    pair.client.send_message(control.PingRequest(77).message(), CSID_CONTROL)
    pair.to_server()
    pair.to_client()
    assert control.parse_control(pair.client_messages[-1]) == control.PingResponse(77)


def test_acknowledgements_follow_each_window() -> None:
    """Both sides acknowledge every window of bytes they read (RTMP 1.0 5.4.3)."""
    pair = SessionPair(ServerConfig(window_ack_size=1000)).connected()
    pair.client.send_message(control.WindowAckSize(500).message(), CSID_CONTROL)
    pair.to_server()
    sid = publishing(pair)
    for i in range(6):
        pair.server.request_reconnect(None, "x" * 300)  # about 350 bytes each to the client
        pair.client.send_media(sid, VIDEO, i, b"\x27\x01" + bytes(300))
        pair.to_client()
        pair.to_server()
    pair.to_client()
    server_acks = [control.parse_control(m) for m in pair.server_messages if m.type_id == 3]
    client_acks = [control.parse_control(m) for m in pair.client_messages if m.type_id == 3]
    # The client read over 2000 bytes from the server: at least two acks, increasing.
    assert len(server_acks) >= 2
    seqs = [a.sequence for a in server_acks]
    assert seqs == sorted(seqs) and seqs[-1] <= pair.client_reader.bytes_read
    # The server read about 1900 bytes from the client after its window of 500: three acks.
    assert len(client_acks) >= 3
    assert all(b.sequence - a.sequence >= 500 for a, b in zip(client_acks, client_acks[1:]))


def test_unknown_command_gets_an_error_result() -> None:
    pair = SessionPair().connected()
    tid = pair.client.call("noSuchThing", 1.0)
    assert pair.to_server() == []
    (result,) = [e for e in pair.to_client() if isinstance(e, CallResult)]
    assert result.transaction_id == tid and not result.ok
    assert result.values[1]["code"] == "NetConnection.Call.Failed"


def test_fc_publish_and_release_stream_are_answered() -> None:
    pair = SessionPair().connected()
    pair.client.announce("cam")
    assert pair.to_server() == []
    events = pair.to_client()
    names = [e.name for e in events if isinstance(e, CommandReceived)]
    assert names == ["onFCPublish"]
    assert [e.ok for e in events if isinstance(e, CallResult)] == [True, True]


def test_request_reconnect() -> None:
    pair = SessionPair().connected()
    pair.server.request_reconnect("rtmp://b/live")
    (status,) = [e for e in pair.to_client() if isinstance(e, StatusReceived)]
    assert status.code == "NetConnection.Connect.ReconnectRequest"
    assert status.info["tcUrl"] == "rtmp://b/live"


def test_status_levels_follow_the_codes() -> None:
    assert Status.PLAY_START.level == "status"
    assert Status.PUBLISH_BAD_NAME.level == "error"
    assert Status.CONNECT_REJECTED.level == "error"
    assert level_of("NetStream.Play.Unauthorized") == "error"
    assert level_of("NetStream.Play.PublishNotify") == "status"
    assert all(s.level in ("status", "error") for s in Status)


def test_commands_of_a_real_ffmpeg_publisher() -> None:
    """FFmpeg's sequence: releaseStream, FCPublish, createStream, then publish on stream 1."""
    pair = SessionPair().connected()
    for tid, name, args in [(2.0, "releaseStream", ["cam"]), (3.0, "FCPublish", ["cam"]),
                            (4.0, "createStream", [])]:
        pair.client.send_message(
            Message(COMMAND_AMF0, 0, 0, encode_command(name, tid, None, *args)), CSID_COMMAND)
    assert pair.to_server() == []
    pair.to_client()
    results = [decode_command(m.payload) for m in pair.client_messages
               if m.type_id == COMMAND_AMF0]
    assert [(c.name, c.transaction_id) for c in results
            if c.name == "_result" and c.transaction_id > 1] == \
        [("_result", 2.0), ("_result", 3.0), ("_result", 4.0)]
    assert results[-1].args == [1.0]
    pair.client.send_message(
        Message(COMMAND_AMF0, 0, 1, encode_command("publish", 5.0, None, "cam", "live")),
        CSID_COMMAND)
    (req,) = pair.to_server()
    assert req == PublishRequested(1, "cam", {"type": "live"}, "live")
