"""AMF0: byte-exact vectors from the spec, round trips, bounds and garbage."""

from __future__ import annotations

import math
import struct
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grtmp.amf import amf0, amf3
from grtmp.amf.amf0 import (
    UNDEFINED,
    Decoder,
    ECMAArray,
    Encoder,
    TypedObject,
    Undefined,
    Unsupported,
    XMLDocument,
    decode_all,
    encode,
)
from grtmp.amf.values import EPOCH
from grtmp.errors import AMFError
from grtmp.formats import amf as fmt

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# generating nested values is the slow part: fewer, richer examples
NESTED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- byte-exact vectors (AMF0 spec section 2) ------------------------------------------------

VECTORS = [
    (1.5, "00 3ff8000000000000"),  # 2.2 number
    (0.0, "00 0000000000000000"),
    (True, "01 01"),  # 2.3 boolean
    (False, "01 00"),
    ("hi", "02 0002 6869"),  # 2.4 string
    ("", "02 0000"),
    ("é", "02 0002 c3a9"),  # UTF-8 byte length, not characters
    ({"a": 1.0}, "03 0001 61 00 3ff0000000000000 000009"),  # 2.5 object
    ({}, "03 000009"),
    (None, "05"),  # 2.7 null
    (UNDEFINED, "06"),  # 2.8 undefined
    (ECMAArray(a=True), "08 00000001 0001 61 0101 000009"),  # 2.10 ECMA array
    ([1.0, "a"], "0a 00000002 00 3ff0000000000000 02 0001 61"),  # 2.12 strict array
    ([], "0a 00000000"),
    (datetime(1970, 1, 1, tzinfo=UTC), "0b 0000000000000000 0000"),  # 2.13 date
    (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), "0b 408f400000000000 0000"),  # 1000.0 ms
    (Unsupported, "0d"),  # 2.15 unsupported
    (XMLDocument("<a/>"), "0f 00000004 3c612f3e"),  # 2.17 XML document
    (TypedObject("T", x=None), "10 0001 54 0001 78 05 000009"),  # 2.18 typed object
]


@pytest.mark.parametrize(("value", "hexdata"), VECTORS)
def test_vectors_encode_and_decode(value, hexdata):
    data = h(hexdata)
    assert encode(value) == data
    decoded = amf0.decode(data)
    assert decoded == value
    assert type(decoded) is type(value)


def test_int_encodes_as_number_and_decodes_as_float():
    assert encode(3) == h("00 4008000000000000")
    value = amf0.decode(encode(3))
    assert value == 3.0 and type(value) is float


def test_long_string_boundary():
    short = "x" * 0xFFFF
    long = "x" * 0x10000
    assert encode(short)[:3] == h("02 ffff")
    assert encode(long)[:5] == h("0c 00010000")  # 2.14 long string
    assert amf0.decode(encode(long)) == long
    # multi-byte characters count in bytes: 32768 two-byte chars = 65536 bytes
    assert encode("é" * 0x8000)[0] == 0x0C


def test_long_string_decodes_even_if_short():
    assert amf0.decode(h("0c 00000002 6869")) == "hi"


def test_naive_datetime_is_utc_and_decoded_aware():
    value = amf0.decode(encode(datetime(2020, 5, 17, 12, 0, 0, 123000)))
    assert value == datetime(2020, 5, 17, 12, 0, 0, 123000, tzinfo=UTC)
    assert value.tzinfo is not None


def test_date_time_zone_field_is_ignored():
    assert amf0.decode(h("0b 0000000000000000 ff88")) == datetime(1970, 1, 1, tzinfo=UTC)


def test_reference_decodes_to_same_object():
    # object {"a": 1.0}, then strict array [reference 0]
    data = h("03 0001 61 00 3ff0000000000000 000009") + h("0a 00000001 07 0000")
    first, second = decode_all(data)
    assert second[0] is first


def test_encoder_references_and_cycles():
    inner = {"k": "v"}
    value = [inner, inner]
    plain = Encoder().encode(value)
    with_refs = Encoder(use_references=True).encode(value)
    # outer array is index 0, inner object index 1
    assert with_refs == h("0a 00000002 03 0001 6b 02 0001 76 000009 07 0001")
    assert len(with_refs) < len(plain)
    decoded = amf0.decode(with_refs)
    assert decoded[0] is decoded[1]
    cycle: list = []
    cycle.append(cycle)
    decoded = amf0.decode(Encoder(use_references=True).encode(cycle))
    assert decoded[0] is decoded
    with pytest.raises(AMFError, match="cycle"):
        Encoder().encode(cycle)


def test_avmplus_switch_decodes_one_amf3_value():
    # 0x11, then AMF3 integer 5, then an AMF0 number
    assert decode_all(h("11 04 05 00 3ff0000000000000")) == [5, 1.0]
    assert amf0.decode(h("11 0a 0b 01 03 61 06 03 62 01")) == {"a": "b"}


def test_amf3_only_types_encode_with_avmplus():
    assert encode(amf3.ByteArray(b"\x01\x02")) == h("11 0c 05 0102")
    assert encode(amf3.VectorInt([1])) == h("11 0d 03 00 00000001")
    assert Encoder(avmplus=True).encode({"a": 1}) == h("11 0a 0b 01 03 61 04 01 01")
    assert amf0.decode(encode({"v": amf3.VectorDouble([0.5])})) == {"v": [0.5]}


def test_ecma_array_without_end_marker_at_end_of_message():
    assert amf0.decode(h("08 00000001 0001 61 0101")) == {"a": True}


def test_ecma_array_count_is_only_a_hint():
    assert amf0.decode(h("08 ffffffff 000009")) == ECMAArray()


def test_ecma_array_int_keys_encode_as_strings():
    assert encode(ECMAArray({0: "x"})) == h("08 00000001 0001 30 02 0001 78 000009")


def test_empty_key_with_value_is_a_property():
    assert amf0.decode(h("03 0000 0101 000009")) == {"": True}
    assert amf0.decode(encode({"": 1.0, "b": None})) == {"": 1.0, "b": None}


def test_sentinels():
    assert Undefined() is UNDEFINED
    assert not UNDEFINED and repr(UNDEFINED) == "Undefined"
    assert not Unsupported and amf0.UNSUPPORTED is Unsupported
    assert TypedObject("A", x=1) != TypedObject("B", x=1)
    assert TypedObject("A", x=1) == TypedObject("A", x=1)
    assert repr(TypedObject("A")) == "TypedObject('A', {})"


@pytest.mark.parametrize(
    "hexdata",
    [
        "",  # nothing
        "04",  # movieclip: reserved, not supported
        "0e",  # recordset: reserved, not supported
        "09",  # object-end where a value is expected
        "12",  # unknown marker
        "00 3ff0",  # truncated number
        "01",  # truncated boolean
        "02 0005 6869",  # string shorter than its length
        "02 0002 ff fe",  # invalid UTF-8
        "03 0001 61",  # object without value/end
        "03 0001 61 05",  # object without end
        "07 0000",  # reference to nothing
        "0a 00000002 05",  # strict array shorter than its count
        "0a ffffffff 0505050505",  # 4 G elements claimed on 5 bytes
        "0c ffffffff 6869",  # 4 GiB long string claimed
        "0b 7ff8000000000000 0000",  # NaN date
        "0b 7fefffffffffffff 0000",  # date out of range
        "10 0001",  # typed object truncated class name
        "11",  # avmplus with nothing after
        "11 0a 07 03 41",  # avmplus: unknown externalizable class "A"
    ],
)
def test_bad_input_raises_amf_error(hexdata):
    decoder = Decoder(h(hexdata))
    with pytest.raises(AMFError):
        decoder.decode()
        decoder.decode_all()


def test_huge_claims_fail_fast():
    start = time.perf_counter()
    for data in (h("0a ffffffff") + bytes(5), h("0c ffffffff") + bytes(5)):
        with pytest.raises(AMFError):
            amf0.decode(data)
    assert time.perf_counter() - start < 0.1


def test_depth_is_bounded():
    deep = h("0a 00000001") * 100 + h("05")
    with pytest.raises(AMFError, match="deeper"):
        amf0.decode(deep)
    # max_depth counts nested containers: ten nested arrays need max_depth >= 10
    assert Decoder(h("0a 00000001") * 10 + h("05"), max_depth=10).decode()
    with pytest.raises(AMFError):
        Decoder(h("0a 00000001") * 10 + h("05"), max_depth=9).decode()
    # a depth bound above Python's recursion limit still gives AMFError
    with pytest.raises(AMFError):
        Decoder(h("0a 00000001") * 5000 + h("05"), max_depth=100_000).decode()
    value: list = []
    for _ in range(100):
        value = [value]
    with pytest.raises(AMFError):
        encode(value)


def test_unencodable_values():
    for value in (object(), {1.5: 1}, b"raw", "\ud800", 10**400, {"k": "x" * 2}.keys()):
        with pytest.raises(AMFError):
            encode(value)


def test_decoder_remaining_and_memoryview():
    data = memoryview(encode("a", 1.0))
    decoder = Decoder(data)
    assert decoder.remaining == 8 + 9 - 4
    assert decoder.decode() == "a"
    assert decoder.remaining == 9
    assert decoder.decode_all() == [1.0]
    assert decoder.remaining == 0
    with pytest.raises(AMFError):
        decoder.decode()


def test_nan_and_infinity_numbers():
    assert math.isnan(amf0.decode(encode(math.nan)))
    assert amf0.decode(encode(-math.inf)) == -math.inf


# --- construct declarations agree with the fast path ----------------------------------------


@FAST
@given(st.floats(allow_nan=False))
def test_number_matches_declaration(x):
    data = encode(x)
    assert data == bytes([fmt.AMF0Marker.NUMBER]) + fmt.AMF0Number.build(x)
    assert fmt.AMF0Scalar.parse(data).value == x


@FAST
@given(st.text(max_size=40))
def test_string_matches_declaration(s):
    data = encode(s)
    assert data == bytes([fmt.AMF0Marker.STRING]) + fmt.AMF0String.build(s)
    assert fmt.AMF0Scalar.parse(data).value == s


@FAST
@given(st.integers(-(2**40), 2**40))
def test_date_matches_declaration(ms):
    value = EPOCH + timedelta(milliseconds=ms)
    data = encode(value)
    assert data == bytes([fmt.AMF0Marker.DATE]) + fmt.AMF0Date.build({"date": ms, "time_zone": 0})
    parsed = fmt.AMF0Scalar.parse(data)
    assert parsed.marker == "DATE" and parsed.value.date == ms


def test_markers_match_declaration():
    for value, marker in [
        (None, "NULL"),
        (UNDEFINED, "UNDEFINED"),
        (True, "BOOLEAN"),
        (Unsupported, "UNSUPPORTED"),
        ("x" * 70000, "LONG_STRING"),
        (XMLDocument("<x/>"), "XML_DOCUMENT"),
        ({}, "OBJECT"),
        (ECMAArray(), "ECMA_ARRAY"),
        ([], "STRICT_ARRAY"),
        (TypedObject("C"), "TYPED_OBJECT"),
        (amf3.XML("<x/>"), "AVMPLUS_OBJECT"),
    ]:
        assert fmt.AMF0MarkerField.parse(encode(value)) == marker
    assert fmt.AMF0Reference.build(7) == struct.pack(">H", 7)
    assert fmt.AMF0ObjectEnd.build(None) == b"\x00\x00\x09"


# --- hypothesis round trips and garbage ------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
dates = st.integers(-(2**45), 2**45).map(lambda ms: EPOCH + timedelta(milliseconds=ms))
scalars = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers(-(2**53), 2**53).map(float)
    | text
    | dates
    | st.just(UNDEFINED)
    | st.just(Unsupported)
    | text.map(XMLDocument)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(text, children, max_size=5)
        | st.dictionaries(text, children, max_size=5).map(ECMAArray)
        | st.builds(
            TypedObject,
            st.text(min_size=1, max_size=10),
            st.dictionaries(text, children, max_size=3),
        )
    ),
    max_leaves=20,
)


def same_types(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        for key in a:
            same_types(a[key], b[key])
    elif isinstance(a, list):
        for x, y in zip(a, b):
            same_types(x, y)


@NESTED
@given(st.lists(values, min_size=1, max_size=3))
def test_round_trip(items):
    data = encode(*items)
    decoded = decode_all(data)
    assert decoded == items
    same_types(decoded, items)
    assert decode_all(Encoder(use_references=True).encode(items[0])) == [items[0]]


@FAST
@given(st.binary(max_size=200))
def test_garbage_raises_only_amf_error(data):
    try:
        decode_all(data)
    except AMFError:
        pass


@NESTED
@given(values, st.data())
def test_mutated_encodings_raise_only_amf_error(value, data):
    buf = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = bytes([data.draw(st.integers(0, 255))])
        elif op == "delete" and buf:
            del buf[pos]
        else:
            del buf[pos:]
    try:
        decode_all(bytes(buf))
    except AMFError:
        pass


def test_shared_subobjects_cannot_expand_exponentially():
    # 40 levels, each an array holding the level below twice: tiny with references, 2**40
    # leaves without. Decoding is linear; encoding again without references hits max_size.
    value: list = [None]
    for _ in range(40):
        value = [value, value]
    data = Encoder(use_references=True).encode(value)
    assert len(data) < 1000
    with pytest.raises(AMFError, match="expand past"):
        amf0.decode(data)  # the decoder refuses the graph by default
    decoded = amf0.Decoder(data, max_expansion=2**62).decode()
    start = time.perf_counter()
    with pytest.raises(AMFError, match="larger than"):
        encode(decoded)
    assert time.perf_counter() - start < 2
    assert len(amf3.encode(decoded)) < 1000  # with AMF3 references it stays small
    with pytest.raises(AMFError, match="larger than"):
        Encoder(max_size=10).encode("x" * 20)
    assert Encoder(max_size=None).encode("x" * 20)
