"""Command and data message bodies: hand-built FFmpeg/FMS payloads, leniency, garbage."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grtmp.amf import amf0
from grtmp.amf.amf0 import UNDEFINED, ECMAArray
from grtmp.amf.command import Command, decode_command, decode_data, encode_command, encode_data
from grtmp.errors import AMFError


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# FFmpeg (libavformat/rtmpproto.c) publishing to rtmp://127.0.0.1:1935/live/test, written
# byte by byte from the AMF0 spec: string = 02 U16-length UTF-8, number = 00 DOUBLE,
# object = 03 (U16-length key, value)* 00 00 09. Checked field by field against the bytes
# FFmpeg 8.1 (Lavf62.12.102) sent to a loopback listener (only the port differed).
FFMPEG_PUBLISH_CONNECT = (
    h("02 0007") + b"connect"
    + h("00 3ff0000000000000")  # transaction id 1.0
    + h("03")
    + h("0003") + b"app" + h("02 0004") + b"live"
    + h("0004") + b"type" + h("02 000a") + b"nonprivate"
    + h("0008") + b"flashVer" + h("02 0024") + b"FMLE/3.0 (compatible; Lavf62.12.102)"
    + h("0005") + b"tcUrl" + h("02 001a") + b"rtmp://127.0.0.1:1935/live"
    + h("000009")
)  # fmt: skip

# FFmpeg playing: numbers and a boolean in the command object.
FFMPEG_PLAY_CONNECT = (
    h("02 0007") + b"connect"
    + h("00 3ff0000000000000")
    + h("03")
    + h("0003") + b"app" + h("02 0004") + b"live"
    + h("0008") + b"flashVer" + h("02 000d") + b"LNX 9,0,124,2"
    + h("0005") + b"tcUrl" + h("02 001a") + b"rtmp://127.0.0.1:1935/live"
    + h("0004") + b"fpad" + h("01 00")
    + h("000c") + b"capabilities" + h("00 402e000000000000")  # 15.0
    + h("000b") + b"audioCodecs" + h("00 40afce0000000000")  # 4071.0
    + h("000b") + b"videoCodecs" + h("00 406f800000000000")  # 252.0
    + h("000d") + b"videoFunction" + h("00 3ff0000000000000")  # 1.0
    + h("000009")
)  # fmt: skip


def test_ffmpeg_publish_connect():
    cmd = decode_command(FFMPEG_PUBLISH_CONNECT)
    assert cmd == Command(
        name="connect",
        transaction_id=1.0,
        command_object={
            "app": "live",
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; Lavf62.12.102)",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
        },
        args=[],
    )
    assert list(cmd.command_object) == ["app", "type", "flashVer", "tcUrl"]  # order kept
    assert encode_command(cmd.name, 1, cmd.command_object) == FFMPEG_PUBLISH_CONNECT


def test_ffmpeg_play_connect():
    cmd = decode_command(FFMPEG_PLAY_CONNECT)
    obj = cmd.command_object
    assert obj["fpad"] is False
    assert (obj["capabilities"], obj["audioCodecs"], obj["videoCodecs"]) == (15.0, 4071.0, 252.0)
    assert obj["videoFunction"] == 1.0
    assert encode_command("connect", 1.0, obj) == FFMPEG_PLAY_CONNECT


def test_connect_result_and_on_status():
    status = {
        "level": "status",
        "code": "NetConnection.Connect.Success",
        "description": "Connection succeeded.",
        "objectEncoding": 0.0,
    }
    data = encode_command("_result", 1, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31}, status)
    assert data.startswith(h("02 0007") + b"_result" + h("00 3ff0000000000000 03 0006") + b"fmsVer")
    cmd = decode_command(data)
    assert cmd.args == [status]
    assert cmd.command_object["capabilities"] == 31.0
    # publish: command object null, stream name and type as arguments
    publish = encode_command("publish", 5, None, "test", "live")
    assert publish == (
        h("02 0007") + b"publish" + h("00 4014000000000000 05")
        + h("02 0004") + b"test" + h("02 0004") + b"live"
    )  # fmt: skip
    assert decode_command(publish) == Command("publish", 5.0, None, ["test", "live"])


def test_amf3_command_with_format_byte_and_avmplus():
    # type 17: format byte 0x00, AMF0 values; the command object switches to AMF3
    payload = (
        h("00")
        + h("02 0007") + b"connect"
        + h("00 3ff0000000000000")
        + h("11 0a 0b 01 07") + b"app" + h("06 09") + b"live" + h("01")
        + h("11 04 07")  # an AMF3 integer argument
    )  # fmt: skip
    cmd = decode_command(payload, amf3=True)
    assert cmd == Command("connect", 1.0, {"app": "live"}, [7])
    # lenient: a type 17 body without the format byte
    assert decode_command(payload[1:], amf3=True) == cmd
    encoded = encode_command("connect", 1.0, {"app": "live"}, amf3=True)
    assert encoded[0] == 0 and decode_command(encoded, amf3=True).command_object == {"app": "live"}


def test_lenient_short_commands():
    assert decode_command(amf0.encode("close")) == Command("close", 0.0, None, [])
    assert decode_command(amf0.encode("deleteStream", 3)) == Command("deleteStream", 3.0, None, [])
    # a null transaction id is read as 0
    assert decode_command(amf0.encode("onBWDone", None)).transaction_id == 0.0
    assert decode_command(amf0.encode("x", 1, UNDEFINED, 2)).args == [2.0]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        h("00"),  # amf3=False: a number, not a name
        amf0.encode(1.0, "connect"),
        amf0.encode(None),
        amf0.encode("connect", "1"),  # transaction id must be a number
        amf0.encode("connect", True),
        h("02 0007") + b"conn",  # truncated name
        amf0.encode("connect", 1) + h("03 0001 61"),  # truncated command object
    ],
)
def test_bad_commands_raise_amf_error(payload):
    with pytest.raises(AMFError):
        decode_command(payload)


def test_amf3_empty_body_raises():
    with pytest.raises(AMFError):
        decode_command(b"\x00", amf3=True)


def test_data_messages():
    meta = ECMAArray(duration=0.0, width=1280.0, height=720.0, videocodecid=7.0, encoder="Lavf")
    data = encode_data("@setDataFrame", "onMetaData", meta)
    assert data.startswith(h("02 000d") + b"@setDataFrame" + h("02 000a") + b"onMetaData")
    assert data[29:34] == h("08 00000005")
    values = decode_data(data)
    assert values == ["@setDataFrame", "onMetaData", meta]
    assert type(values[2]) is ECMAArray
    # type 15: the same with a leading 0x00
    data15 = encode_data("onMetaData", meta, amf3=True)
    assert data15[0] == 0 and data15[1:] == encode_data("onMetaData", meta)
    assert decode_data(data15, amf3=True) == ["onMetaData", meta]
    assert decode_data(b"") == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=100), st.booleans())
def test_garbage_raises_only_amf_error(payload, amf3):
    for fn in (decode_command, decode_data):
        try:
            fn(payload, amf3=amf3)
        except AMFError:
            pass


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=10),
    st.integers(0, 2**31),
    st.lists(
        st.none()
        | st.booleans()
        | st.floats(allow_nan=False)
        | st.text(st.characters(blacklist_categories=("Cs",)), max_size=5),
        max_size=4,
    ),
    st.booleans(),
)
def test_command_round_trip(name, tid, args, amf3):
    data = encode_command(name, tid, None, *args, amf3=amf3)
    assert decode_command(data, amf3=amf3) == Command(name, float(tid), None, args)
