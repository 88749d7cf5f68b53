"""Protocol control messages, User Control events and aggregate messages (RTMP 1.0 5.4, 7.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.errors import ProtocolError
from grtmp.formats import control as fmt
from grtmp.wire import control
from grtmp.wire.control import (
    Abort,
    Acknowledgement,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEOF,
    StreamIsRecorded,
    UnknownUserControl,
    WindowAckSize,
    build_aggregate,
    parse_control,
    split_aggregate,
)
from grtmp.wire.message import Message, PeerBandwidthLimit, UserControlEvent

# (builder call, type id, payload hex) -- layouts of RTMP 1.0 figures 5.4.1-5.4.5 and 7.1.7,
# all big-endian: 32-bit values, 16-bit event type, 8-bit limit type.
VECTORS = [
    (lambda: control.SetChunkSize(128).message(), 1, "00000080"),
    (lambda: control.SetChunkSize(4096).message(), 1, "00001000"),
    (lambda: control.SetChunkSize(0x7FFFFFFF).message(), 1, "7fffffff"),
    (lambda: control.Abort(3).message(), 2, "00000003"),
    (lambda: control.Acknowledgement(0x01020304).message(), 3, "01020304"),
    (lambda: control.Acknowledgement(2**32 + 7).message(), 3, "00000007"),  # sequence wraps
    (lambda: control.WindowAckSize(2_500_000).message(), 5, "002625a0"),
    (lambda: control.SetPeerBandwidth(2_500_000).message(), 6, "002625a002"),
    (lambda: control.SetPeerBandwidth(5_000_000, PeerBandwidthLimit.HARD).message(), 6,
     "004c4b4000"),
    (lambda: control.SetPeerBandwidth(1, PeerBandwidthLimit.SOFT).message(), 6, "0000000101"),
    (lambda: control.StreamBegin(1).message(), 4, "0000" "00000001"),
    (lambda: control.StreamEOF(1).message(), 4, "0001" "00000001"),
    (lambda: control.StreamDry(2).message(), 4, "0002" "00000002"),
    (lambda: control.SetBufferLength(1, 3000).message(), 4, "0003" "00000001" "00000bb8"),
    (lambda: control.StreamIsRecorded(1).message(), 4, "0004" "00000001"),
    (lambda: control.PingRequest(0xDEADBEEF).message(), 4, "0006" "deadbeef"),
    (lambda: control.PingResponse(0xDEADBEEF).message(), 4, "0007" "deadbeef"),
    (lambda: control.StreamBegin(0).message(), 4, "0000" "00000000"),
    (lambda: UnknownUserControl(0x1F, b"\0\0\0\1").message(), 4, "001f" "00000001"),
    # BufferEmpty (an extension) above: unknown events keep their raw data
]


@pytest.mark.parametrize(("build", "type_id", "payload"), VECTORS)
def test_builders_byte_exact(build, type_id, payload):
    msg = build()
    assert msg.type_id == type_id
    assert msg.payload == bytes.fromhex(payload)
    assert msg.stream_id == 0
    assert msg.timestamp == 0
    assert msg.csid == 2


@pytest.mark.parametrize(
    ("type_id", "payload", "expected"),
    [
        (1, "00001000", SetChunkSize(4096)),
        (2, "00000004", Abort(4)),
        (3, "ffffffff", Acknowledgement(0xFFFFFFFF)),
        (5, "002625a0", WindowAckSize(2_500_000)),
        (6, "002625a001", SetPeerBandwidth(2_500_000, PeerBandwidthLimit.SOFT)),
        (6, "0000000109", SetPeerBandwidth(1, 9)),  # unknown limit kept raw
        (4, "000000000001", StreamBegin(1)),
        (4, "00030000000100000bb8", SetBufferLength(1, 3000)),
        (4, "000700000010", PingResponse(16)),
        # unknown event (SWFVerification request 0x1a, BufferReady 0x20): raw data, no error
        (4, "001a", UnknownUserControl(0x1A)),
        (4, "002000000001", UnknownUserControl(0x20, b"\0\0\0\1")),
        # trailing bytes after the fields are ignored
        (5, "0000100099", WindowAckSize(4096)),
    ],
)
def test_parse_vectors(type_id, payload, expected):
    msg = Message(type_id, 0, 0, bytes.fromhex(payload), 2)
    assert parse_control(msg) == expected


def test_parse_accepts_memoryview():
    msg = Message(1, 0, 0, memoryview(bytes.fromhex("00000100")))
    assert parse_control(msg) == SetChunkSize(256)


@pytest.mark.parametrize(
    ("type_id", "payload"),
    [
        (1, ""), (1, "000010"), (2, "000000"), (3, "00"), (5, ""), (6, "00000001"),
        (4, ""), (4, "00"), (4, "0000"), (4, "0000000000"), (4, "0003000000010000"),
        (4, "0006000000"),
        (1, "80000080"),  # Set Chunk Size: the first bit MUST be zero
        (1, "00000000"),  # chunk size must be at least 1
        (8, "00000000"),  # not a control message
    ],
)
def test_parse_bad_payload_raises_protocol_error(type_id, payload):
    with pytest.raises(ProtocolError):
        parse_control(Message(type_id, 0, 0, bytes.fromhex(payload)))


def test_builder_argument_checks():
    with pytest.raises(ValueError):
        control.SetChunkSize(0).message()
    with pytest.raises(ValueError):
        control.SetChunkSize(0x80000000).message()
    with pytest.raises(ValueError):
        control.WindowAckSize(-1).message()
    with pytest.raises(ValueError):
        control.Abort(2**32).message()
    with pytest.raises(ValueError):
        control.SetPeerBandwidth(1, 256).message()
    with pytest.raises(ValueError):
        UnknownUserControl(0x10000).message()
    with pytest.raises(ValueError):
        StreamBegin(2**32).message()


def test_set_chunk_size_declaration_reads_the_top_bit():
    c = fmt.SetChunkSize.parse(bytes.fromhex("80000080"))
    assert (c.zero, c.chunk_size) == (1, 128)


def test_declarations_print_symbolic_names():
    uc = fmt.UserControl.parse(bytes.fromhex("0006deadbeef"))
    assert uc.event_type == "PING_REQUEST" and int(uc.event_type) == UserControlEvent.PING_REQUEST
    assert "PING_REQUEST" in str(uc)
    assert int(fmt.UserControl.parse(bytes.fromhex("001f")).event_type) == 0x1F  # unknown: a number
    bw = fmt.SetPeerBandwidth.parse(bytes.fromhex("002625a002"))
    assert bw.limit_type == "DYNAMIC" and int(bw.limit_type) == PeerBandwidthLimit.DYNAMIC
    # The enums are the ones grtmp.wire.message exports.
    from grtmp.wire import message

    assert message.UserControlEvent is fmt.UserControlEvent
    assert message.PeerBandwidthLimit is fmt.PeerBandwidthLimit


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.binary(max_size=12))
def test_user_control_declaration_agrees_with_builder_and_parser(event, data):
    payload = event.to_bytes(2, "big") + data
    uc = fmt.UserControl.parse(payload)
    assert int(uc.event_type) == event and uc.event_data == data
    assert fmt.UserControl.build(uc) == payload
    try:
        parsed = parse_control(Message(4, 0, 0, payload))
    except ProtocolError:
        return
    assert int(parsed.event) == event


u32 = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 0x7FFFFFFF), u32, u32, st.sampled_from(list(PeerBandwidthLimit)))
def test_round_trips(chunk, seq, size, limit):
    for ctl in (SetChunkSize(chunk), Acknowledgement(seq), Abort(seq), WindowAckSize(size),
                SetPeerBandwidth(size, limit), SetBufferLength(seq, size), StreamBegin(seq),
                StreamEOF(seq), StreamDry(seq), StreamIsRecorded(seq), PingRequest(seq),
                PingResponse(seq)):
        assert parse_control(ctl.message()) == ctl
        assert ctl.message().type_id == ctl.type_id


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 3, 4, 5, 6]), st.binary(max_size=12))
def test_parse_garbage_only_protocol_errors(type_id, payload):
    try:
        parse_control(Message(type_id, 0, 0, payload))
    except ProtocolError:
        pass


# -- aggregate -----------------------------------------------------------------------------------

# Two sub-tags: video 'abc' at 1000 ms, audio 'de' at 1040 ms, stream id 1 (FLV tag layout).
AGG = bytes.fromhex(
    "09" "000003" "0003e8" "00" "000001" "616263" "0000000e"
    "08" "000002" "000410" "00" "000001" "6465" "0000000d"
)


def test_split_aggregate_vector_rebases_timestamps():
    msg = Message(22, 5000, 7, AGG, 6)
    subs = list(split_aggregate(msg))
    assert subs == [
        Message(9, 5000, 7, b"abc", 6),
        Message(8, 5040, 7, b"de", 6),
    ]


def test_split_aggregate_extended_timestamp_and_wrap():
    # first tag at 0x01000000 (extended byte 1), second at 0x01000010; aggregate at 2**32 - 8
    payload = bytes.fromhex(
        "09" "000001" "000000" "01" "000000" "aa" "0000000c"
        "09" "000001" "000010" "01" "000000" "bb" "0000000c"
    )
    subs = list(split_aggregate(Message(22, 2**32 - 8, 1, payload)))
    assert [s.timestamp for s in subs] == [2**32 - 8, 8]
    assert [s.payload for s in subs] == [b"\xaa", b"\xbb"]


def test_build_aggregate_vector_and_declaration():
    msg = build_aggregate([Message(9, 1000, 1, b"abc"), Message(8, 1040, 1, b"de")])
    assert msg.type_id == 22 and msg.timestamp == 1000 and msg.stream_id == 1
    assert msg.payload == AGG
    tags = fmt.AggregateBody.parse(AGG)
    assert [(int(t.header.type.tag_type), t.header.data_size, t.header.timestamp, t.data,
             t.back_pointer) for t in tags] == [(9, 3, 1000, b"abc", 14), (8, 2, 1040, b"de", 13)]
    assert [t.header.type.tag_type for t in tags] == ["VIDEO", "AUDIO"]  # symbolic names


def test_split_empty_aggregate():
    assert list(split_aggregate(Message(22, 0, 1, b""))) == []


@pytest.mark.parametrize("cut", [1, 5, 10, 11, 13, 16, 18])
def test_split_truncated_aggregate(cut):
    with pytest.raises(ProtocolError):
        list(split_aggregate(Message(22, 0, 1, AGG[:-cut])))


def test_split_overlong_subtag():
    bad = bytearray(AGG)
    bad[1:4] = (100).to_bytes(3, "big")
    with pytest.raises(ProtocolError):
        list(split_aggregate(Message(22, 0, 1, bytes(bad))))


def test_split_nested_aggregate_refused():
    inner = build_aggregate([Message(9, 0, 1, b"x")]).payload
    outer = build_aggregate([Message(22, 0, 1, inner)])
    with pytest.raises(ProtocolError):
        list(split_aggregate(outer))


def test_split_refuses_other_types():
    with pytest.raises(ProtocolError):
        list(split_aggregate(Message(9, 0, 1, AGG)))


sub_messages = st.lists(
    st.builds(Message, st.sampled_from([8, 9, 18]), u32, st.integers(0, 0xFFFFFF),
              st.binary(max_size=40)),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(sub_messages, u32, st.integers(0, 2**24))
def test_aggregate_round_trip_and_agrees_with_declaration(subs, base, stream_id):
    agg = build_aggregate(subs)
    # the fast splitter and the construct declaration read the same tags
    tags = fmt.AggregateBody.parse(agg.payload)
    assert [bytes(t.data) for t in tags] == [bytes(m.payload) for m in subs]
    assert [t.header.timestamp for t in tags] == [m.timestamp for m in subs]
    assert [int(t.header.type.tag_type) for t in tags] == [m.type_id for m in subs]
    out = list(split_aggregate(Message(22, base, stream_id, agg.payload, 4)))
    assert [(m.type_id, m.payload, m.stream_id, m.csid) for m in out] == [
        (m.type_id, m.payload, stream_id, 4) for m in subs]
    if subs:
        first = subs[0].timestamp
        assert [m.timestamp for m in out] == [
            (base + m.timestamp - first) % 2**32 for m in subs]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_split_garbage_only_protocol_errors(payload):
    try:
        for m in split_aggregate(Message(22, 0, 1, payload)):
            assert isinstance(m.payload, bytes)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 31), st.integers(0, 2**32 - 1),
                          st.integers(0, 0xFFFFFF), st.binary(max_size=20)), max_size=5))
def test_split_aggregate_struct_path_agrees_with_declaration(tags):
    """split_aggregate reads sub-tag headers with struct; the FLV tag header declaration
    (shared with FLV files, 24 + 8-bit timestamp Adapter) reads the same bytes."""
    payload = b"".join(
        bytes((t,)) + len(d).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        + bytes((ts >> 24,)) + sid.to_bytes(3, "big") + d + (11 + len(d)).to_bytes(4, "big")
        for t, ts, sid, d in tags)
    parsed = fmt.AggregateBody.parse(payload)
    assert [(int(p.header.type.tag_type), p.header.timestamp, p.header.stream_id, p.data)
            for p in parsed] == [(t, ts, sid, d) for t, ts, sid, d in tags]
    if any(t == 22 for t, _, _, _ in tags):
        return  # nested aggregates are refused by the splitter
    out = list(split_aggregate(Message(22, 0, 1, payload)))
    assert [(m.type_id, m.payload) for m in out] == [(t, d) for t, _, _, d in tags]
    if tags:
        assert [m.timestamp for m in out] == [(ts - tags[0][1]) % 2**32 for _, ts, _, _ in tags]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 0x7FFFFFFF), u32, u32, st.integers(0, 255), st.integers(0, 0xFFFF))
def test_struct_builders_and_parsers_agree_with_declarations(chunk, seq, size, limit, event):
    """The struct fast paths of wire.control produce and read what formats.control declares."""
    assert SetChunkSize(chunk).message().payload == fmt.SetChunkSize.build(
        {"zero": 0, "chunk_size": chunk})
    assert Abort(seq).message().payload == fmt.Abort.build({"chunk_stream_id": seq})
    assert Acknowledgement(seq).message().payload == fmt.Acknowledgement.build(
        {"sequence_number": seq})
    assert WindowAckSize(size).message().payload == fmt.WindowAcknowledgementSize.build(
        {"acknowledgement_window_size": size})
    bw = SetPeerBandwidth(size, limit).message().payload
    assert bw == fmt.SetPeerBandwidth.build({"acknowledgement_window_size": size,
                                             "limit_type": limit})
    parsed = fmt.SetPeerBandwidth.parse(bw)
    assert parse_control(SetPeerBandwidth(size, limit).message()) == \
        SetPeerBandwidth(parsed.acknowledgement_window_size, int(parsed.limit_type)
                         if int(parsed.limit_type) > 2 else PeerBandwidthLimit(limit))
    for ctl in (StreamBegin(seq), PingRequest(seq), PingResponse(seq), SetBufferLength(seq, size)):
        payload = ctl.message().payload
        decl = fmt.UserControl.parse(payload)
        assert int(decl.event_type) == ctl.event and payload[2:] == bytes(decl.event_data)
        assert parse_control(ctl.message()) == ctl
    raw = UnknownUserControl(event, b"\x00\x00\x00\x01") if event not in (0, 1, 2, 3, 4, 6, 7) \
        else None
    if raw is not None:
        assert raw.message().payload == fmt.UserControl.build(
            {"event_type": event, "event_data": b"\x00\x00\x00\x01"})
