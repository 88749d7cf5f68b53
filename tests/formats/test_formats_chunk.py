"""grtmp.formats.chunk: construct declarations of chunk headers, and the fast path agreeing."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.errors import ChunkError
from grtmp.formats.chunk import (
    ChunkBasicHeader,
    ChunkHeader,
    ChunkMessageHeaderType0,
    ChunkMessageHeaderType1,
    ChunkMessageHeaderType2,
)
from grtmp.wire.chunk import (
    ChunkReader,
    encode_basic_header,
    encode_chunk_header,
    parse_chunk_header,
)

COMPILED = ChunkHeader.compile()


@pytest.mark.parametrize(
    ("csid", "wire"),
    [
        (2, "c2"),
        (63, "ff"),
        (64, "c000"),
        (319, "c0ff"),
        (320, "c10001"),
        (65599, "c1ffff"),
    ],
)
def test_basic_header_forms(csid: int, wire: str) -> None:
    data = bytes.fromhex(wire)
    assert ChunkBasicHeader.build({"fmt": 3, "cs_id": csid}) == data
    parsed = ChunkBasicHeader.parse(data)
    assert (parsed.fmt, parsed.cs_id) == (3, csid)
    assert encode_basic_header(3, csid) == data
    assert parse_chunk_header(data)["cs_id"] == csid


def test_three_byte_form_is_64_plus_b1_plus_b2_times_256() -> None:
    # cs id = 64 + b1 + b2 * 256 (5.3.1.1)
    assert ChunkBasicHeader.parse(b"\x01\x05\x02").cs_id == 64 + 5 + 2 * 256
    assert ChunkBasicHeader.parse(b"\x00\x05").cs_id == 64 + 5


def test_message_header_layouts() -> None:
    h0 = ChunkMessageHeaderType0.build(
        {"timestamp": 1000, "message_length": 32, "message_type_id": 8,
         "message_stream_id": 12345}
    )
    # timestamp, length big endian 24 bit; stream id little endian 32 bit
    assert h0 == bytes.fromhex("0003e8" "000020" "08" "39300000")
    h1 = ChunkMessageHeaderType1.build(
        {"timestamp_delta": 20, "message_length": 307, "message_type_id": 9}
    )
    assert h1 == bytes.fromhex("000014" "000133" "09")
    assert ChunkMessageHeaderType2.build({"timestamp_delta": 0xABCDEF}) == b"\xab\xcd\xef"


def test_extended_timestamp_presence() -> None:
    data = bytes.fromhex("02" "ffffff" "000004" "01" "00000000" "01020304")
    parsed = ChunkHeader.parse(data)
    assert parsed.message_header.timestamp == 0xFFFFFF
    assert parsed.extended_timestamp == 0x01020304
    fmt3 = bytes.fromhex("c2" "01020304")
    assert ChunkHeader.parse(fmt3, fmt3_extended=True).extended_timestamp == 0x01020304
    assert ChunkHeader.parse(fmt3, fmt3_extended=False).extended_timestamp is None
    assert parse_chunk_header(fmt3, fmt3_extended=True)["size"] == 5
    assert parse_chunk_header(fmt3)["size"] == 1


def test_fast_parse_short_data_is_chunk_error() -> None:
    for data in (b"", b"\x00", b"\x01\x00", b"\x03\x00\x00", b"\x43\xff\xff\xff\x00\x00\x01\x08"):
        with pytest.raises(ChunkError):
            parse_chunk_header(data)


csids = st.one_of(
    st.integers(2, 63),
    st.integers(64, 319),
    st.integers(320, 65599),
    st.sampled_from([2, 63, 64, 319, 320, 65599]),
)
ts_values = st.one_of(
    st.integers(0, 0xFFFFFE), st.just(0xFFFFFF), st.integers(0xFFFFFF, 0xFFFFFFFF)
)


@st.composite
def headers(draw):  # type: ignore[no-untyped-def]
    """A random chunk header as (construct value, fast-path arguments)."""
    fmt = draw(st.integers(0, 3))
    csid = draw(csids)
    ts = draw(ts_values)
    length = draw(st.integers(0, 0xFFFFFF))
    type_id = draw(st.integers(0, 255))
    stream_id = draw(st.integers(0, 0xFFFFFFFF))
    fmt3_ext = draw(st.booleans())
    field = min(ts, 0xFFFFFF)
    if fmt == 0:
        mh = {"timestamp": field, "message_length": length, "message_type_id": type_id,
              "message_stream_id": stream_id}
    elif fmt == 1:
        mh = {"timestamp_delta": field, "message_length": length, "message_type_id": type_id}
    elif fmt == 2:
        mh = {"timestamp_delta": field}
    else:
        mh = {}
    has_ext = field == 0xFFFFFF if fmt < 3 else fmt3_ext
    value = {
        "basic_header": {"fmt": fmt, "cs_id": csid},
        "message_header": mh,
        "extended_timestamp": ts if has_ext else None,
    }
    args = (fmt, csid, ts, length, type_id, stream_id, fmt3_ext)
    return value, args


@settings(max_examples=300, deadline=None)
@given(headers())
def test_fast_path_agrees_with_construct(case) -> None:  # type: ignore[no-untyped-def]
    value, (fmt, csid, ts, length, type_id, stream_id, fmt3_ext) = case
    built = ChunkHeader.build(value, fmt3_extended=fmt3_ext)
    # build: struct fast path == construct == compiled construct
    assert encode_chunk_header(fmt, csid, ts, length, type_id, stream_id, fmt3_ext) == built
    assert COMPILED.build(value, fmt3_extended=fmt3_ext) == built
    # parse: struct fast path == construct
    ref = ChunkHeader.parse(built, fmt3_extended=fmt3_ext)
    assert COMPILED.parse(built, fmt3_extended=fmt3_ext) == ref
    fast = parse_chunk_header(built + b"trailing", fmt3_ext)
    assert fast["size"] == len(built)
    assert fast["fmt"] == ref.basic_header.fmt == fmt
    assert fast["cs_id"] == ref.basic_header.cs_id == csid
    assert fast["extended_timestamp"] == ref.extended_timestamp
    for key, val in ref.message_header.items():
        if not key.startswith("_"):
            assert fast[key] == int(val)  # message_type_id is an Enum field (a name string)


@settings(max_examples=200, deadline=None)
@given(
    csid=csids,
    ts=ts_values,
    stream_id=st.integers(0, 0xFFFFFFFF),
    type_id=st.integers(3, 255),
    payload=st.binary(max_size=300),
)
def test_reader_reads_construct_built_chunks(csid, ts, stream_id, type_id, payload) -> None:  # type: ignore[no-untyped-def]
    """The reader's inlined parser agrees with the declaration: a construct-built fmt 0 chunk
    (then fmt 3 continuations, extended timestamp repeated) reads back as the same message."""
    field = min(ts, 0xFFFFFF)
    ext = ts if field == 0xFFFFFF else None
    first = ChunkHeader.build({
        "basic_header": {"fmt": 0, "cs_id": csid},
        "message_header": {"timestamp": field, "message_length": len(payload),
                           "message_type_id": type_id, "message_stream_id": stream_id},
        "extended_timestamp": ext,
    })
    cont = ChunkHeader.build(
        {"basic_header": {"fmt": 3, "cs_id": csid}, "message_header": {},
         "extended_timestamp": ext},
        fmt3_extended=ext is not None,
    )
    data = first + payload[:128]
    for off in range(128, len(payload), 128):
        data += cont + payload[off:off + 128]
    reader = ChunkReader(io.BytesIO(data))
    msg = reader.read_message()
    assert (msg.type_id, msg.timestamp, msg.stream_id, msg.payload, msg.csid) == (
        type_id, ts, stream_id, payload, csid)
    assert reader.bytes_read == len(data)


def test_message_type_prints_its_name() -> None:
    h0 = ChunkMessageHeaderType0.parse(bytes.fromhex("0003e8" "000020" "14" "00000000"))
    assert h0.message_type_id == "COMMAND_AMF0" and int(h0.message_type_id) == 20
    assert "COMMAND_AMF0" in str(h0)
    h1 = ChunkMessageHeaderType1.parse(bytes.fromhex("000014" "000133" "63"))
    assert h1.message_type_id == 0x63  # unknown type id: a plain number
