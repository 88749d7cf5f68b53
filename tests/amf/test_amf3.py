"""AMF3: byte-exact vectors from the spec, reference tables, bounds, round trips, garbage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grtmp.amf import amf0, amf3
from grtmp.amf.amf0 import UNDEFINED, ECMAArray, TypedObject, XMLDocument
from grtmp.amf.amf3 import (
    XML,
    ArrayCollection,
    ASObject,
    ByteArray,
    Decoder,
    Dictionary,
    Encoder,
    ObjectProxy,
    VectorDouble,
    VectorInt,
    VectorObject,
    VectorUInt,
    decode_all,
    encode,
    encode_u29,
)
from grtmp.amf.values import EPOCH
from grtmp.errors import AMFError
from grtmp.formats import amf as fmt

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# generating nested values is the slow part: fewer, richer examples
NESTED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- U29 (AMF3 1.3.1) --------------------------------------------------------------------------

U29_VECTORS = [
    (0, "00"),
    (0x7F, "7f"),
    (0x80, "81 00"),
    (0x3FFF, "ff 7f"),
    (0x4000, "81 80 00"),
    (0x1FFFFF, "ff ff 7f"),
    (0x200000, "80 c0 80 00"),
    (0x1FFFFFFF, "ff ff ff ff"),
]


@pytest.mark.parametrize(("value", "hexdata"), U29_VECTORS)
def test_u29_vectors(value, hexdata):
    assert encode_u29(value) == h(hexdata)
    assert fmt.U29.build(value) == h(hexdata)
    assert fmt.U29.parse(h(hexdata)) == value


@FAST
@given(st.integers(0, fmt.U29_MAX))
def test_u29_fast_path_matches_declaration(n):
    data = encode_u29(n)
    assert data == fmt.U29.build(n)
    assert fmt.U29.parse(data) == n
    # the decoder's U29 reader, through an integer value
    signed = n - (1 << 29) if n & (1 << 28) else n
    assert amf3.decode(b"\x04" + data) == signed


@FAST
@given(st.integers(fmt.AMF3_INT_MIN, fmt.AMF3_INT_MAX))
def test_integer_matches_declaration(n):
    data = encode(n)
    assert data == b"\x04" + fmt.AMF3Integer.build(n)
    parsed = fmt.AMF3Scalar.parse(data)
    assert parsed.marker == "INTEGER" and parsed.value == n


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20), st.floats(allow_nan=False))
def test_string_and_double_match_declaration(s, x):
    parsed = fmt.AMF3Scalar.parse(encode(s))
    assert parsed.marker == "STRING" and parsed.value.value == (s if s else "")
    assert encode(x) == b"\x05" + fmt.AMF3Double.build(x)
    assert fmt.AMF3Scalar.parse(encode(x)).value == x


def test_u29_out_of_range():
    with pytest.raises(AMFError):
        encode_u29(1 << 29)
    with pytest.raises(AMFError):
        encode_u29(-1)


# --- byte-exact value vectors ------------------------------------------------------------------

VECTORS = [
    (UNDEFINED, "00"),
    (None, "01"),
    (False, "02"),
    (True, "03"),
    (1, "04 01"),
    (-1, "04 ff ff ff ff"),
    (fmt.AMF3_INT_MAX, "04 bf ff ff ff"),
    (fmt.AMF3_INT_MIN, "04 c0 80 80 00"),
    (2.0**28, "05 41b0000000000000"),
    (0.5, "05 3fe0000000000000"),
    ("", "06 01"),
    ("hi", "06 05 6869"),
    (XMLDocument("<a/>"), "07 09 3c612f3e"),
    (datetime(1970, 1, 1, tzinfo=UTC), "08 01 0000000000000000"),
    ([1, "a"], "09 05 01 04 01 06 03 61"),
    (ECMAArray(a=1), "09 01 03 61 04 01 01"),  # associative only
    (ECMAArray({"a": 1, 0: True}), "09 03 03 61 04 01 01 03"),  # both parts
    ({"a": 1}, "0a 0b 01 03 61 04 01 01"),  # anonymous dynamic object
    (TypedObject("T", a=1), "0a 0b 03 54 03 61 04 01 01"),  # typed, all members dynamic
    (
        ASObject("P", {"x": 1, "y": 2}, sealed=("x", "y"), dynamic=False),
        "0a 23 03 50 03 78 03 79 04 01 04 02",  # 2 sealed members, not dynamic
    ),
    (XML("<b/>"), "0b 09 3c622f3e"),
    (ByteArray(b"\x01\x02"), "0c 05 01 02"),
    (VectorInt([1, -1]), "0d 05 00 00000001 ffffffff"),
    (VectorUInt([1, 0xFFFFFFFF], fixed=True), "0e 05 01 00000001 ffffffff"),
    (VectorDouble([1.0]), "0f 03 00 3ff0000000000000"),
    (VectorObject(["a"], type_name="String"), "10 03 00 0d 537472696e67 06 03 61"),
    (Dictionary({"k": 1}, weak_keys=True), "11 03 01 06 03 6b 04 01"),
]


@pytest.mark.parametrize(("value", "hexdata"), VECTORS)
def test_vectors_encode_and_decode(value, hexdata):
    data = h(hexdata)
    assert encode(value) == data
    decoded = amf3.decode(data)
    assert decoded == value
    if isinstance(value, TypedObject) and not isinstance(value, ASObject):
        assert decoded.class_name == value.class_name
    else:
        assert type(decoded) is type(value)
    for attr in ("fixed", "type_name", "weak_keys", "sealed", "dynamic", "class_name"):
        if hasattr(value, attr):
            assert getattr(decoded, attr) == getattr(value, attr)


def test_int_outside_29_bits_encodes_as_double():
    assert encode(2**28) == h("05 41b0000000000000")
    assert encode(-(2**28) - 1) == h("05 c1b0000001000000")
    assert amf3.decode(encode(2**28)) == 2**28


def test_plain_bytes_encode_as_byte_array():
    assert encode(b"\x00") == h("0c 03 00")
    assert encode(bytearray(b"\x00")) == h("0c 03 00")


# --- reference tables ------------------------------------------------------------------------


def test_string_references():
    # "a" goes in the string table at index 0; the second "a" is U29S-ref 0; "" is never
    # referenced
    assert encode(["a", "a", "", ""]) == h("09 09 01 06 03 61 06 00 06 01 06 01")
    assert amf3.decode(h("09 05 01 06 03 61 06 00")) == ["a", "a"]


def test_traits_references():
    # second object reuses traits 0 (header 0x01) and key "a" as string ref 0
    data = h("09 05 01 0a 0b 01 03 61 04 01 01 0a 01 00 04 02 01")
    assert encode([{"a": 1}, {"a": 2}]) == data
    assert amf3.decode(data) == [{"a": 1}, {"a": 2}]
    typed = [TypedObject("T", a=1), TypedObject("T", a=2)]
    decoded = amf3.decode(encode(typed))
    assert decoded == typed and decoded[1].class_name == "T"
    sealed = [ASObject("S", {"x": i}, sealed=("x",), dynamic=False) for i in range(2)]
    data = encode(sealed)
    assert data == h("09 05 01 0a 13 03 53 03 78 04 00 0a 01 04 01")
    assert amf3.decode(data) == sealed


def test_object_references_and_cycles():
    inner = {"k": 1}
    data = encode([inner, inner])
    # outer array is object 0, inner object 1: U29O-ref 1 = 0x02
    assert data == h("09 05 01 0a 0b 01 03 6b 04 01 01 0a 02")
    decoded = amf3.decode(data)
    assert decoded[0] is decoded[1]
    cycle: dict = {}
    cycle["self"] = cycle
    decoded = amf3.decode(encode(cycle))
    assert decoded["self"] is decoded
    with pytest.raises(AMFError):
        Encoder(use_references=False).encode(cycle)
    assert Encoder(use_references=False).encode([inner, inner]) == h(
        "09 05 01 0a 0b 01 03 6b 04 01 01 0a 01 00 04 01 01"
    )


def test_other_object_references():
    when = datetime(2001, 1, 1, tzinfo=UTC)
    blob = ByteArray(b"x")
    xml = XML("<a/>")
    vec = VectorInt([1])
    decoded = amf3.decode(encode([when, when, blob, blob, xml, xml, vec, vec]))
    assert decoded == [when, when, blob, blob, xml, xml, vec, vec]
    assert decoded[2] is decoded[3] and decoded[6] is decoded[7]


def test_tables_reset_per_top_level_value():
    data = encode("abc", "abc")
    assert data == h("06 07 616263") * 2
    assert decode_all(data) == ["abc", "abc"]
    with pytest.raises(AMFError):
        decode_all(h("06 07 616263 06 00"))  # the string table does not carry over


def test_externalizable_flex_classes():
    ac = ArrayCollection([1, 2])
    data = encode(ac)
    assert data == h("0a 07 43") + b"flex.messaging.io.ArrayCollection" + h("09 05 01 04 01 04 02")
    decoded = amf3.decode(data)
    assert type(decoded) is ArrayCollection and decoded == [1, 2]
    proxy = amf3.decode(encode(ObjectProxy(a=1)))
    assert type(proxy) is ObjectProxy and proxy == {"a": 1}


def test_unknown_externalizable_is_rejected():
    with pytest.raises(AMFError, match="externalizable"):
        amf3.decode(h("0a 07 07 466f6f"))


def test_amf0_types_through_amf3():
    value = amf0.decode(b"\x11" + encode(ASObject("C", {"a": 1}, sealed=("a",))))
    assert value.class_name == "C" and value.sealed == ("a",) and value == {"a": 1}


# --- bounds and bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hexdata",
    [
        "",
        "12",  # unknown marker
        "04 ff",  # truncated U29
        "05 3ff0",  # truncated double
        "06 07 61",  # string shorter than its length
        "06 05 ff fe",  # invalid UTF-8
        "06 02",  # string reference with an empty table
        "09 ff ff ff ff 01",  # array of 2**28 elements on 0 bytes
        "09 03 01",  # array shorter than its count
        "09 02",  # object reference with an empty table
        "0a 01",  # traits reference with an empty table
        "0a 07 07 466f6f",  # unknown externalizable class
        "0a 7f ff ff ff 01",  # 2**24 sealed names claimed
        "0c ff ff ff ff",  # huge ByteArray
        "0d ff ff ff ff 00",  # huge Vector.<int>
        "0f 05 00 3ff0000000000000",  # Vector.<Number> shorter than its count
        "10 ff ff ff ff 00 01",  # huge Vector.<Object>
        "11 ff ff ff ff 00",  # huge Dictionary
        "11 03 00 0a 0b 01 01 04 01",  # unhashable Dictionary key (an object)
        "08 01 7ff8000000000000",  # NaN date
        "0a 0b 01 03 61",  # object truncated after a key
    ],
)
def test_bad_input_raises_amf_error(hexdata):
    decoder = Decoder(h(hexdata))
    with pytest.raises(AMFError):
        decoder.decode()
        decoder.decode_all()


def test_huge_claims_fail_fast():
    start = time.perf_counter()
    for data in ("09 ff ff ff ff 01", "0f ff ff ff ff 00", "0c ff ff ff ff", "06 ff ff ff ff"):
        with pytest.raises(AMFError):
            amf3.decode(h(data) + bytes(8))
    assert time.perf_counter() - start < 0.1


def test_depth_is_bounded():
    nest = h("09 03 01")
    assert Decoder(nest * 10 + h("01"), max_depth=10).decode()
    with pytest.raises(AMFError, match="deeper"):
        Decoder(nest * 10 + h("01"), max_depth=9).decode()
    with pytest.raises(AMFError):
        amf3.decode(nest * 100 + h("01"))
    with pytest.raises(AMFError):
        Decoder(nest * 5000 + h("01"), max_depth=100_000).decode()
    # the depth bound carries through an AMF0 avmplus switch
    with pytest.raises(AMFError):
        amf0.Decoder(h("0a 00000001") * 60 + b"\x11" + nest * 10 + h("01")).decode()


def test_unencodable_values():
    cases = [
        object(),
        {"": 1},
        {1.5: 1},
        "\ud800",
        10**400,
        VectorInt([2**31]),
        VectorUInt([-1]),
        ASObject("S", {"x": 1, "y": 2}, sealed=("x",), dynamic=False),
        amf0.Unsupported,
    ]
    for value in cases:
        with pytest.raises(AMFError):
            encode(value)


# --- hypothesis round trips and garbage ---------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10)
dates = st.integers(-(2**45), 2**45).map(lambda ms: EPOCH + timedelta(milliseconds=ms))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | text
    | dates
    | st.just(UNDEFINED)
    | st.binary(max_size=10).map(ByteArray)
    | text.map(XML)
    | text.map(XMLDocument)
    | st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5).map(VectorInt)
    | st.lists(st.integers(0, 2**32 - 1), max_size=5).map(VectorUInt)
    | st.lists(st.floats(allow_nan=False), max_size=5).map(VectorDouble)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(keys, children, max_size=5)
        # an empty ECMAArray is an empty array on the wire and decodes as []
        | st.dictionaries(keys, children, min_size=1, max_size=5).map(ECMAArray)
        | st.builds(TypedObject, keys, st.dictionaries(keys, children, max_size=3))
        | st.builds(
            lambda items, name: VectorObject(items, type_name=name),
            st.lists(children, max_size=3),
            text,
        )
        | st.dictionaries(st.integers(-(2**53), 2**53) | keys, children, max_size=3).map(Dictionary)
    ),
    max_leaves=20,
)


@NESTED
@given(st.lists(values, min_size=1, max_size=3))
def test_round_trip(items):
    data = encode(*items)
    assert decode_all(data) == items
    # through AMF0 with the avmplus switch, as in an RTMP type 17 message
    assert amf0.decode_all(amf0.Encoder(avmplus=True).encode(items[0])) == [items[0]]
    assert decode_all(Encoder(use_references=False).encode(items[0])) == [items[0]]


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
