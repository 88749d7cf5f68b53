"""grtmp.wire.chunk: ChunkReader, ChunkWriter and chunk_message (RTMP 1.0 section 5.3)."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grtmp.errors import ChunkError, ConnectionClosed, LimitExceeded, RTMPError
from grtmp.wire.chunk import ChunkReader, ChunkWriter, chunk_message, encode_chunk_header
from grtmp.wire.message import Message


class ReadOnly:
    """A stream with nothing but ``read`` (no ``peek``), like a minimal socket wrapper."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._f.read(n)


def sources(data: bytes) -> list:
    """The same bytes behind each kind of stream the reader must handle."""
    return [
        io.BytesIO(data),
        io.BufferedReader(io.BytesIO(data)),  # has peek(), like socket.makefile('rb')
        io.BufferedReader(io.BytesIO(data), buffer_size=5),  # peek sees few bytes at a time
        ReadOnly(data),
    ]


def read_all(data: bytes, chunk_size: int = 128, **kw) -> list[Message]:
    """Read every message of ``data`` from each stream kind; they must all agree."""
    results = []
    for src in sources(data):
        reader = ChunkReader(src, **kw)
        reader.chunk_size = chunk_size
        msgs = []
        with pytest.raises(ConnectionClosed):
            while True:
                msgs.append(reader.read_message())
        assert reader.bytes_read == len(data)
        assert reader._buffered == 0  # every partial message was completed or aborted
        results.append(msgs)
    for other in results[1:]:
        assert other == results[0]
    return results[0]


def fields(msgs: list[Message]) -> list[tuple]:
    return [(m.type_id, m.timestamp, m.stream_id, bytes(m.payload), m.csid) for m in msgs]


# --------------------------------------------------------------------------------------------
# Byte-exact vectors: RTMP 1.0 section 5.3.2


AUDIO = bytes(range(32))

# 5.3.2.1 Example 1: four audio messages, stream 12345, 32 bytes, timestamps 1000, 1020, ...
# Chunk 1 fmt 0 (delta 1000), chunk 2 fmt 2 (delta 20), chunks 3 and 4 fmt 3.
EXAMPLE1 = (
    bytes.fromhex("03" "0003e8" "000020" "08" "39300000") + AUDIO
    + bytes.fromhex("83" "000014") + AUDIO
    + bytes.fromhex("c3") + AUDIO
    + bytes.fromhex("c3") + AUDIO
)

VIDEO = bytes(random.Random(1).randbytes(307))

# 5.3.2.2 Example 2: a 307-byte video message, stream 12346, timestamp 1000, chunk size 128:
# fmt 0 with 128 bytes, fmt 3 with 128 bytes, fmt 3 with 51 bytes.
EXAMPLE2 = (
    bytes.fromhex("04" "0003e8" "000133" "09" "3a300000") + VIDEO[:128]
    + b"\xc4" + VIDEO[128:256]
    + b"\xc4" + VIDEO[256:]
)


def test_spec_example1_writer_bytes() -> None:
    w = ChunkWriter()
    out = b"".join(w.write(Message(8, t, 12345, AUDIO), 3) for t in (1000, 1020, 1040, 1060))
    assert out == EXAMPLE1
    assert [44, 36, 33, 33] == [1 + 11 + 32, 1 + 3 + 32, 1 + 32, 1 + 32]  # spec's sizes
    assert len(out) == 44 + 36 + 33 + 33


def test_spec_example1_reader() -> None:
    msgs = read_all(EXAMPLE1)
    assert fields(msgs) == [(8, t, 12345, AUDIO, 3) for t in (1000, 1020, 1040, 1060)]


def test_spec_example2_bytes_and_read() -> None:
    msg = Message(9, 1000, 12346, VIDEO)
    assert chunk_message(msg, 4, 128) == EXAMPLE2
    assert ChunkWriter().write(msg, 4) == EXAMPLE2
    assert len(EXAMPLE2) == 140 + 129 + 52
    assert fields(read_all(EXAMPLE2)) == [(9, 1000, 12346, VIDEO, 4)]


@pytest.mark.parametrize(
    ("csid", "basic"),
    [(2, "02"), (63, "3f"), (64, "0000"), (319, "00ff"), (320, "010001"), (65599, "01ffff")],
)
def test_basic_header_forms_write_and_read(csid: int, basic: str) -> None:
    payload = bytes(range(200))
    data = chunk_message(Message(20, 5, 1, payload), csid, 128)
    b = bytes.fromhex(basic)
    cont = bytes([b[0] | 0xC0]) + b[1:]
    assert data == (b + bytes.fromhex("000005" "0000c8" "14" "01000000") + payload[:128]
                    + cont + payload[128:])
    assert fields(read_all(data)) == [(20, 5, 1, payload, csid)]


# --------------------------------------------------------------------------------------------
# Writer header selection


def fmt_of(data: bytes) -> int:
    return data[0] >> 6


def test_writer_picks_smallest_header() -> None:
    w = ChunkWriter()
    p = b"x" * 10
    assert fmt_of(w.write(Message(9, 0, 1, p), 6)) == 0  # new csid
    assert fmt_of(w.write(Message(9, 40, 1, p), 6)) == 2  # same stream, length, type
    assert fmt_of(w.write(Message(9, 80, 1, p), 6)) == 3  # same delta too
    assert fmt_of(w.write(Message(9, 120, 1, p), 6)) == 3
    assert fmt_of(w.write(Message(9, 150, 1, p), 6)) == 2  # delta changed
    assert fmt_of(w.write(Message(9, 180, 1, p + b"y"), 6)) == 1  # length changed
    assert fmt_of(w.write(Message(8, 210, 1, p + b"y"), 6)) == 1  # type changed
    assert fmt_of(w.write(Message(8, 240, 2, p + b"y"), 6)) == 0  # stream id changed
    assert fmt_of(w.write(Message(8, 100, 2, p + b"y"), 6)) == 0  # timestamp went backward
    assert fmt_of(w.write(Message(8, 100, 2, p + b"y"), 7)) == 0  # another csid: new


def test_writer_no_fmt3_right_after_fmt0() -> None:
    # After fmt 0 the spec's "delta" for a fmt 3 is the fmt 0 timestamp; implementations
    # disagree, so the writer uses fmt 2 once before compressing to fmt 3.
    w = ChunkWriter()
    w.write(Message(9, 100, 1, b"a"), 6)
    assert w.write(Message(9, 200, 1, b"a"), 6) == bytes.fromhex("86000064") + b"a"


def test_reader_fmt3_after_fmt0_uses_fmt0_timestamp_as_delta() -> None:
    # SRS's comment on FMLE: fmt 0 ts 26 then a fresh fmt 3 message -> ts 52.
    data = bytes.fromhex("04" "00001a" "000001" "08" "01000000") + b"a" + b"\xc4" + b"b"
    assert fields(read_all(data)) == [(8, 26, 1, b"a", 4), (8, 52, 1, b"b", 4)]


# --------------------------------------------------------------------------------------------
# Extended timestamps


def test_extended_timestamp_fmt0_repeated_on_continuations() -> None:
    payload = bytes(range(200))
    ts = 0x01020304
    data = chunk_message(Message(9, ts, 1, payload), 6, 100)
    assert data == (
        bytes.fromhex("06" "ffffff" "0000c8" "09" "01000000" "01020304") + payload[:100]
        + bytes.fromhex("c6" "01020304") + payload[100:]
    )
    assert fields(read_all(data, 100)) == [(9, ts, 1, payload, 6)]


def test_extended_timestamp_exactly_0xffffff() -> None:
    data = chunk_message(Message(9, 0xFFFFFF, 1, b"abc"), 6, 128)
    assert data == bytes.fromhex("06" "ffffff" "000003" "09" "01000000" "00ffffff") + b"abc"
    assert fields(read_all(data))[0][1] == 0xFFFFFF


def test_extended_delta_fmt1_fmt2_fmt3() -> None:
    big = 0x01000000
    w = ChunkWriter(4)
    out = [
        w.write(Message(9, 10, 1, b"abcdef"), 6),  # fmt 0
        w.write(Message(9, 10 + big, 1, b"abc"), 6),  # fmt 1, extended delta
        w.write(Message(9, 10 + 3 * big, 1, b"xyz"), 6),  # fmt 2, another extended delta
        w.write(Message(9, 10 + 5 * big, 1, b"ABCDE"), 6),  # fmt 1, two chunks
        w.write(Message(9, 10 + 7 * big, 1, b"67890"), 6),  # fmt 3 new message, same delta
    ]
    ext1 = bytes.fromhex("01000000")
    ext2 = bytes.fromhex("02000000")
    assert out[1] == bytes.fromhex("46" "ffffff" "000003" "09") + ext1 + b"abc"
    assert out[2] == bytes.fromhex("86" "ffffff") + ext2 + b"xyz"
    assert out[3] == bytes.fromhex("46" "ffffff" "000005" "09") + ext2 + b"ABCD" + \
        b"\xc6" + ext2 + b"E"
    assert out[4] == b"\xc6" + ext2 + b"6789" + b"\xc6" + ext2 + b"0"
    msgs = read_all(b"".join(out), 4)
    assert [m.timestamp for m in msgs] == [10, 10 + big, 10 + 3 * big, 10 + 5 * big, 10 + 7 * big]
    assert [m.payload for m in msgs] == [b"abcdef", b"abc", b"xyz", b"ABCDE", b"67890"]


def test_fmt3_extended_timestamp_omitted_by_sender() -> None:
    """librtmp before 2024 left the extended timestamp off fmt 3 continuation chunks."""
    payload = bytes(range(1, 251))
    ts = 0x12345678
    data = (
        bytes.fromhex("06" "ffffff" "0000fa" "09" "01000000" "12345678") + payload[:100]
        + b"\xc6" + payload[100:200]
        + b"\xc6" + payload[200:]
    )
    assert fields(read_all(data, 100)) == [(9, ts, 1, payload, 6)]


def test_fmt3_extended_omitted_short_last_piece() -> None:
    # the last piece has fewer than 4 bytes and no extended timestamp: a reader without
    # peek must read ahead and keep the bytes that were not a timestamp.
    payload = b"A" * 100 + b"BC"
    first = bytes.fromhex("06" "ffffff" "000066" "09" "01000000" "12345678") + payload[:100]
    scs = bytes.fromhex("02" "000000" "000004" "01" "00000000" "00000100")
    data = first + b"\xc6" + b"BC" + scs
    msgs = read_all(data, 100)
    assert fields(msgs) == [(9, 0x12345678, 1, payload, 6), (1, 0, 0, b"\x00\x00\x01\x00", 2)]


def test_fmt3_extended_present_and_omitted_mixed() -> None:
    payload = bytes(300)
    data = (
        bytes.fromhex("06" "ffffff" "00012c" "09" "01000000" "0abcdef0") + payload[:128]
        + bytes.fromhex("c6" "0abcdef0") + payload[128:256]
        + b"\xc6" + payload[256:]
    )
    assert fields(read_all(data)) == [(9, 0x0ABCDEF0, 1, payload, 6)]


def test_fmt3_new_message_extended_omitted() -> None:
    # fmt 1 with extended delta, then a fmt 3 new message without repeating it
    data = (
        bytes.fromhex("06" "000000" "000001" "09" "01000000") + b"a"
        + bytes.fromhex("46" "ffffff" "000001" "09" "01000000") + b"b"
        + b"\xc6" + b"c"
    )
    msgs = read_all(data)
    assert [m.timestamp for m in msgs] == [0, 0x01000000, 0x02000000]
    assert [m.payload for m in msgs] == [b"a", b"b", b"c"]


# --------------------------------------------------------------------------------------------
# Timestamps wrap at 2**32


def test_timestamp_wrap_reader() -> None:
    data = (
        bytes.fromhex("06" "ffffff" "000001" "09" "01000000" "fffffff0") + b"a"
        + bytes.fromhex("86" "000020") + b"b"
        + b"\xc6" + b"c"
    )
    assert [m.timestamp for m in read_all(data)] == [0xFFFFFFF0, 0x10, 0x30]


def test_timestamp_wrap_writer_uses_delta() -> None:
    w = ChunkWriter()
    w.write(Message(9, 0xFFFFFFF0, 1, b"a"), 6)
    out = w.write(Message(9, 0x10, 1, b"a"), 6)
    assert out == bytes.fromhex("86000020") + b"a"  # fmt 2, delta 0x20 across the wrap
    assert Message(9, 2**32 + 5, 1, b"").timestamp & 0xFFFFFFFF == 5
    assert read_all(chunk_message(Message(9, 2**32 + 5, 1, b""), 6, 128))[0].timestamp == 5


# --------------------------------------------------------------------------------------------
# Interleaving, Set Chunk Size, Abort


def test_interleaved_chunk_streams() -> None:
    video = bytes(range(256)) * 2  # 512 bytes, 4 chunks
    audio = b"\xaf" * 200  # 2 chunks
    v = chunk_message(Message(9, 40, 1, video), 6, 128)
    a = chunk_message(Message(8, 41, 1, audio), 4, 128)
    v_chunks = [v[:12 + 128], v[140:269], v[269:398], v[398:]]
    a_chunks = [a[:12 + 128], a[140:]]
    data = v_chunks[0] + a_chunks[0] + v_chunks[1] + v_chunks[2] + a_chunks[1] + v_chunks[3]
    assert fields(read_all(data)) == [(8, 41, 1, audio, 4), (9, 40, 1, video, 6)]


def set_chunk_size(n: int, ts: int = 0) -> Message:
    return Message(1, ts, 0, n.to_bytes(4, "big"))


def test_set_chunk_size_applied_and_returned() -> None:
    w = ChunkWriter()
    payload = bytes(range(256)) * 20
    data = w.write(set_chunk_size(4096), 2)
    w.chunk_size = 4096
    data += w.write(Message(9, 0, 1, payload), 6)
    reader = ChunkReader(io.BytesIO(data))
    m = reader.read_message()
    assert (m.type_id, m.payload) == (1, b"\x00\x00\x10\x00")
    assert reader.chunk_size == 4096
    assert reader.read_message().payload == payload
    assert reader.bytes_read == len(data)


def test_set_chunk_size_top_bit_cleared() -> None:
    data = ChunkWriter().write(Message(1, 0, 0, b"\x80\x00\x10\x00"), 2)
    reader = ChunkReader(io.BytesIO(data))
    reader.read_message()
    assert reader.chunk_size == 0x1000
    data = ChunkWriter().write(Message(1, 0, 0, b"\xff\xff\xff\xff"), 2)
    reader = ChunkReader(io.BytesIO(data))
    reader.read_message()
    assert reader.chunk_size == 0x7FFFFFFF


@pytest.mark.parametrize("payload", [b"\x00\x00\x00\x00", b"\x80\x00\x00\x00"])
def test_set_chunk_size_zero_is_error(payload: bytes) -> None:
    data = ChunkWriter().write(Message(1, 0, 0, payload), 2)
    with pytest.raises(ChunkError):
        ChunkReader(io.BytesIO(data)).read_message()


@pytest.mark.parametrize("type_id", [1, 2])
def test_truncated_control_payload(type_id: int) -> None:
    data = ChunkWriter().write(Message(type_id, 0, 0, b"\x00\x01"), 2)
    with pytest.raises(ChunkError):
        ChunkReader(io.BytesIO(data)).read_message()


def test_abort_drops_partial_message() -> None:
    big = b"V" * 300
    v = chunk_message(Message(9, 0, 1, big), 6, 128)
    abort = chunk_message(Message(2, 0, 0, (6).to_bytes(4, "big")), 2, 128)
    after = ChunkWriter().write(Message(9, 33, 1, b"fresh"), 6)  # fmt 0 again on csid 6
    small_fmt2 = bytes.fromhex("86" "000005") + b"x" * 300  # fmt 2 keeps length 300
    data = v[:140] + abort + after + v[:140] + abort + small_fmt2[:4 + 128]
    data += b"\xc6" + small_fmt2[4 + 128:4 + 256] + b"\xc6" + small_fmt2[4 + 256:]
    msgs = read_all(data)
    assert fields(msgs) == [
        (2, 0, 0, b"\x00\x00\x00\x06", 2),
        (9, 33, 1, b"fresh", 6),
        (2, 0, 0, b"\x00\x00\x00\x06", 2),
        (9, 0 + 5, 1, b"x" * 300, 6),  # fmt 2 after the aborted fmt 0 (ts 0) message
    ]


def test_abort_of_unknown_csid_is_harmless() -> None:
    data = chunk_message(Message(2, 0, 0, (40).to_bytes(4, "big")), 2, 128)
    assert read_all(data)[0].type_id == 2


# --------------------------------------------------------------------------------------------
# Errors and limits


def test_fmt123_on_unknown_csid_is_chunk_error() -> None:
    for data in (b"\x43" + bytes(7), b"\x83" + bytes(3), b"\xc3"):
        with pytest.raises(ChunkError):
            ChunkReader(io.BytesIO(data)).read_message()


def test_fmt1_on_fresh_csid2_accepted_librtmp_ping() -> None:
    data = bytes.fromhex("42" "000000" "000006" "04" "0006" "00000d0f")
    assert fields(read_all(data)) == [(4, 0, 0, bytes.fromhex("000600000d0f"), 2)]


def test_message_too_long() -> None:
    data = bytes.fromhex("03" "000000" "010001" "14" "00000000")
    with pytest.raises(LimitExceeded):
        ChunkReader(io.BytesIO(data), max_message_size=0x10000).read_message()
    ok = chunk_message(Message(20, 0, 0, bytes(0x10000)), 3, 4096)
    reader = ChunkReader(io.BytesIO(ok), max_message_size=0x10000)
    reader.chunk_size = 4096
    assert len(reader.read_message()) == 0x10000
    data = bytes.fromhex("43" "000000" "010001" "14")
    reader = ChunkReader(io.BytesIO(ok + data), max_message_size=0x10000)
    reader.chunk_size = 4096
    reader.read_message()
    with pytest.raises(LimitExceeded):
        reader.read_message()


def test_buffered_limit_across_chunk_streams() -> None:
    # two partial 3000-byte messages: 2 x 2048 bytes held > 3000 allowed
    parts = [chunk_message(Message(9, 0, 1, bytes(3000)), csid, 2048) for csid in (4, 6)]
    data = parts[0][:12 + 2048] + parts[1][:12 + 2048]
    reader = ChunkReader(io.BytesIO(data), max_message_size=4096, max_buffered=3000)
    reader.chunk_size = 2048
    with pytest.raises(LimitExceeded):
        reader.read_message()
    # completed and aborted messages release what they held
    abort = chunk_message(Message(2, 0, 0, (4).to_bytes(4, "big")), 2, 2048)
    data = parts[0] + parts[1] + parts[0][:12 + 2048] + abort + parts[1]
    reader = ChunkReader(io.BytesIO(data), max_message_size=4096, max_buffered=3000)
    reader.chunk_size = 2048
    assert [len(reader.read_message()) for _ in range(4)] == [3000, 3000, 4, 3000]
    assert reader._buffered == 0


def test_too_many_chunk_streams() -> None:
    data = b"".join(chunk_message(Message(20, 0, 0, b"x"), 3 + i, 128) for i in range(5))
    reader = ChunkReader(io.BytesIO(data), max_chunk_streams=4)
    for _ in range(4):
        reader.read_message()
    with pytest.raises(LimitExceeded):
        reader.read_message()
    assert isinstance(LimitExceeded(), RTMPError)


def test_length_change_mid_message_is_error() -> None:
    v = chunk_message(Message(9, 0, 1, bytes(300)), 6, 128)
    data = v[:140] + bytes.fromhex("46" "000000" "000010" "09") + bytes(16)
    with pytest.raises(ChunkError):
        ChunkReader(io.BytesIO(data)).read_message()


def test_same_length_header_mid_message_continues() -> None:
    # FFmpeg keeps assembling when the restated length is the same
    v = chunk_message(Message(9, 0, 1, b"a" * 200), 6, 128)
    data = v[:140] + bytes.fromhex("86" "000007") + b"b" * 72
    assert fields(read_all(data)) == [(9, 7, 1, b"a" * 128 + b"b" * 72, 6)]


def test_eof() -> None:
    with pytest.raises(ConnectionClosed, match="^connection closed$"):
        ChunkReader(io.BytesIO(b"")).read_message()
    data = EXAMPLE2
    for cut in (1, 5, 12, 100, 140, 141, 200, len(data) - 1):
        with pytest.raises(ConnectionClosed, match="middle"):
            ChunkReader(io.BytesIO(data[:cut])).read_message()
    reader = ChunkReader(io.BytesIO(EXAMPLE1))
    for _ in range(4):
        reader.read_message()
    with pytest.raises(ConnectionClosed, match="^connection closed$"):
        reader.read_message()


def test_bytes_read_counts_everything() -> None:
    reader = ChunkReader(io.BytesIO(EXAMPLE1 + EXAMPLE2))
    sizes = []
    for _ in range(5):
        reader.read_message()
        sizes.append(reader.bytes_read)
    assert sizes == [44, 80, 113, 146, 146 + 321]


def test_payload_is_bytes() -> None:
    for m in read_all(EXAMPLE1 + EXAMPLE2):
        assert type(m.payload) is bytes


# --------------------------------------------------------------------------------------------
# chunk_message and ChunkWriter sharing a connection


def test_chunk_message_and_writer_share_csid() -> None:
    w = ChunkWriter(64)
    p = bytes(range(100))
    data = w.write(Message(9, 0, 1, p), 6)
    data += w.write(Message(9, 40, 1, p), 6)
    fan = Message(9, 1000, 1, p[:50])
    data += chunk_message(fan, 6, 64)  # fmt 0: replaces the receiver's state for csid 6
    w.note_sent(fan, 6)
    data += w.write(Message(9, 1040, 1, p[:50]), 6)  # fmt 2 against the fan-out message
    data += chunk_message(Message(9, 2000, 1, p), 6, 64)
    w.reset(6)
    data += w.write(Message(9, 2040, 1, p), 6)  # fmt 0 after reset
    msgs = read_all(data, 64)
    assert [m.timestamp for m in msgs] == [0, 40, 1000, 1040, 2000, 2040]
    assert [len(m) for m in msgs] == [100, 100, 50, 50, 100, 100]


def test_writer_validates_arguments() -> None:
    with pytest.raises(ValueError):
        ChunkWriter().write(Message(9, 0, 1, b""), 1)
    with pytest.raises(ValueError):
        chunk_message(Message(9, 0, 1, b""), 65600, 128)
    with pytest.raises(ValueError):
        chunk_message(Message(9, 0, 1, b""), 3, 0)


# --------------------------------------------------------------------------------------------
# Property tests


timestamps = st.one_of(
    st.integers(0, 0x00FFFFFE),
    st.integers(0x00FFFF00, 0x01000100),
    st.integers(0xFFFFFF00, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
)
sizes = st.one_of(st.integers(0, 300), st.integers(0, 20000))
chunk_sizes = st.one_of(st.integers(1, 16), st.integers(17, 70000), st.sampled_from([128, 4096]))
message_ops = st.tuples(
    st.just("msg"),
    st.sampled_from([3, 4, 5, 6, 63, 64, 319, 320, 65599]),  # csid
    st.integers(0, 3),  # message stream id
    st.integers(3, 255),  # type id (Set Chunk Size / Abort come as their own ops)
    sizes,
    timestamps,
)
ops = st.lists(
    st.one_of(message_ops, message_ops, message_ops, st.tuples(st.just("size"), chunk_sizes)),
    max_size=12,
)


def build(ops_list: list, seed: int, mode: str) -> tuple[bytes, list[tuple]]:
    """Chunk the ops with a ChunkWriter, with chunk_message, or a random mix of both."""
    rng = random.Random(seed)
    w = ChunkWriter()
    out = []
    expected = []
    for op in ops_list:
        if op[0] == "size":
            msg = set_chunk_size(op[1])
            out.append(w.write(msg, 2))  # chunked at the old size...
            w.chunk_size = op[1]  # ...then the new size applies
            expected.append((1, 0, 0, msg.payload, 2))
            continue
        _, csid, sid, type_id, size, ts = op
        payload = rng.randbytes(size)
        msg = Message(type_id, ts, sid, payload)
        if mode == "stateless" or (mode == "mixed" and rng.random() < 0.5):
            out.append(chunk_message(msg, csid, w.chunk_size))
            if rng.random() < 0.5:
                w.note_sent(msg, csid)
            else:
                w.reset(csid)
        else:
            out.append(w.write(msg, csid))
        expected.append((type_id, ts, sid, payload, csid))
    return b"".join(out), expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops_list=ops,
    seed=st.integers(0, 2**32),
    mode=st.sampled_from(["writer", "stateless", "mixed"]),
)
def test_round_trip(ops_list: list, seed: int, mode: str) -> None:
    data, expected = build(ops_list, seed, mode)
    assert fields(read_all(data, max_message_size=1 << 24)) == expected


@settings(max_examples=100, deadline=None)
@given(
    msgs=st.lists(
        st.tuples(st.sampled_from([3, 6, 64, 400]), st.integers(0, 2000),
                  st.integers(0xFFFFFF, 0xFFFFFFFF)),
        min_size=1, max_size=5,
    ),
    chunk_size=st.integers(1, 500),
    seed=st.integers(0, 2**32),
)
def test_round_trip_fmt3_extended_omitted(msgs: list, chunk_size: int, seed: int) -> None:
    """librtmp-style senders: fmt 0 with an extended timestamp, continuations without it."""
    rng = random.Random(seed)
    data = b""
    expected = []
    for csid, size, ts in msgs:
        payload = rng.randbytes(size)
        chunked = chunk_message(Message(9, ts, 1, payload), csid, chunk_size)
        h0 = len(encode_chunk_header(0, csid, ts, size, 9, 1))
        basic3 = len(encode_chunk_header(3, csid))
        parts = [chunked[:h0 + chunk_size]]
        pos = h0 + chunk_size
        while pos < len(chunked):  # drop the 4 extended timestamp bytes of each continuation
            parts.append(chunked[pos:pos + basic3])
            parts.append(chunked[pos + basic3 + 4:pos + basic3 + 4 + chunk_size])
            pos += basic3 + 4 + chunk_size
        data += b"".join(parts)
        expected.append((9, ts, 1, payload, csid))
    assert fields(read_all(data, chunk_size)) == expected


@settings(max_examples=150, deadline=None)
@given(
    msgs=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 600), timestamps), min_size=1, max_size=6
    ),
    chunk_size=st.integers(1, 300),
    order_seed=st.integers(0, 2**32),
)
def test_interleaved_round_trip(msgs: list, chunk_size: int, order_seed: int) -> None:
    """Chunks of messages on different csids, interleaved in a random order."""
    rng = random.Random(order_seed)
    queues = []
    expected = []
    for i, (sid, size, ts) in enumerate(msgs):
        csid = 3 + i
        payload = rng.randbytes(size)
        data = chunk_message(Message(9, ts, sid, payload), csid, chunk_size)
        h0 = len(encode_chunk_header(0, csid, ts, size, 9, sid))
        h3 = len(encode_chunk_header(3, csid, ts, fmt3_extended=ts >= 0xFFFFFF))
        chunks = [data[:h0 + chunk_size]]
        pos = h0 + chunk_size
        while pos < len(data):
            chunks.append(data[pos:pos + h3 + chunk_size])
            pos += h3 + chunk_size
        queues.append(chunks)
        expected.append((9, ts, sid, payload, csid))
    stream = []
    completed = []
    while any(queues):
        i = rng.choice([k for k, q in enumerate(queues) if q])
        stream.append(queues[i].pop(0))
        if not queues[i]:
            completed.append(expected[i])
    reader = ChunkReader(io.BytesIO(b"".join(stream)))
    reader.chunk_size = chunk_size
    got = [reader.read_message() for _ in msgs]
    assert fields(got) == completed


PRIMED = b"".join(
    chunk_message(Message(9, 0xFFFFFF + i, 1, b"p" * 3), csid, 128)
    for i, csid in enumerate((2, 3, 4, 6, 64, 320))
)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=400), primed=st.booleans(), peek=st.booleans())
def test_garbage_raises_only_rtmp_errors(garbage: bytes, primed: bool, peek: bool) -> None:
    data = (PRIMED if primed else b"") + garbage
    src = io.BufferedReader(io.BytesIO(data), 16) if peek else ReadOnly(data)
    reader = ChunkReader(src, max_message_size=4096, max_chunk_streams=8)
    try:
        for _ in range(1000):
            msg = reader.read_message()
            assert len(msg.payload) <= 4096
    except RTMPError:
        pass
    assert reader.bytes_read <= len(data)
