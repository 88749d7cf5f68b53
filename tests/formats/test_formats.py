"""grtmp.formats as a whole: every declaration parses a real sample, builds it back, and its
compiled form (``.compile()``) agrees; symbolic fields print names; no lambdas.

The per-layout parity tests with the hot paths live beside those paths (test_formats_chunk.py,
test_control.py, test_flv.py, test_tag.py, test_amf0.py, test_amf3.py).
"""

from __future__ import annotations

import ast
import importlib
import random
from typing import Any

import construct
import pytest

from grtmp.amf import amf0, amf3
from grtmp.formats import handshake as hs
from grtmp.formats.audio import FlacStreamInfo
from tests.helpers import ROOT

MODULES = ["flv", "video", "audio", "aac", "avc", "hevc", "av1", "chunk", "control",
           "handshake", "amf"]
FORMATS = ROOT / "grtmp" / "formats"
CORPUS = ROOT / "fuzz" / "corpus" / "media"

SPS = bytes.fromhex("6764001facd9405005bb011000000300100000030320f1831960")
PPS = bytes.fromhex("68ebe3cb22c0")
AVCC = (bytes((1, 0x64, 0x00, 0x1F, 0xFF, 0xE1)) + len(SPS).to_bytes(2, "big") + SPS
        + b"\x01" + len(PPS).to_bytes(2, "big") + PPS)
HVCC = next(CORPUS.glob("config_hvcc-*")).read_bytes()[2:]
OPUS = next(CORPUS.glob("config_opus-*")).read_bytes()[2:]
STREAMINFO = FlacStreamInfo.build({  # 44.1 kHz stereo 16-bit
    "min_block_size": 4096, "max_block_size": 4096, "min_frame_size": 14, "max_frame_size": 3000,
    "sample_rate": 44100, "channels_minus_one": 1, "bits_per_sample_minus_one": 15,
    "total_samples": 10000, "md5": 0x00112233445566778899AABBCCDDEEFF})
PACKET = random.Random(7).randbytes(1536)
FLV_TAG = bytes.fromhex("12000003" "00000000" "000000") + b"abc"
FLV_FILE = b"FLV\x01\x05\x00\x00\x00\x09" + bytes(4) + FLV_TAG + (14).to_bytes(4, "big")

#: (module, name) -> (sample bytes, parse keyword arguments)
SAMPLES: dict[tuple[str, str], tuple[bytes, dict[str, Any]]] = {
    ("flv", "FlvHeader"): (FLV_FILE[:9], {}),
    ("flv", "FlvTagHeader"): (bytes.fromhex("0900000334567812000000"), {}),
    ("flv", "FlvTimestamp"): (bytes.fromhex("34567812"), {}),
    ("flv", "FlvTag"): (FLV_TAG, {}),
    ("flv", "FlvTagWithSize"): (FLV_TAG + (14).to_bytes(4, "big"), {}),
    ("flv", "PreviousTagSize"): (b"\x00\x00\x00\x0e", {}),
    ("flv", "FlvFile"): (FLV_FILE, {}),
    ("video", "VideoTagHeader"): (b"\x17", {}),
    ("video", "ExVideoTagHeader"): (b"\x91", {}),
    ("video", "AVCVideoPacket"): (b"\x01\xff\xff\xf6", {}),
    ("video", "CompositionTime"): (b"\xff\xff\xf6", {}),
    ("video", "FourCC"): (b"hvc1", {}),
    ("video", "VideoFourCC"): (b"av01", {}),
    ("video", "ModExEntry"): (b"\xff\x01\x00" + bytes(257) + b"\x01", {}),
    ("video", "MultitrackHeader"): (b"\x21", {}),
    ("video", "TrackHeader"): (b"vp09\x03\x00\x00\x10", {"multitrack_type": 2}),
    ("video", "VPCodecConfigurationRecord"): (bytes.fromhex("0100000000" "1f" "82" "010101"
                                                            "0000"), {}),
    ("video", "VP9FrameHeader"): (b"\x82", {}),
    ("audio", "AudioTagHeader"): (b"\x2e", {}),
    ("audio", "ExAudioTagHeader"): (b"\x94", {}),
    ("audio", "AudioFourCC"): (b"Opus", {}),
    ("audio", "ModExEntry"): (b"\x02\x00\x00\x01\x01", {}),
    ("audio", "MultitrackHeader"): (b"\x10", {}),
    ("audio", "TrackHeader"): (b"\x01", {"multitrack_type": 0}),
    ("audio", "MultichannelConfig"): (bytes((1, 6, 0, 0, 0, 0x3F)), {}),
    ("audio", "OpusHead"): (OPUS, {}),
    ("audio", "FlacStreamInfo"): (STREAMINFO, {}),
    ("audio", "FlacSequenceHeader"): (b"fLaC\x80\x00\x00\x22" + STREAMINFO, {}),
    ("audio", "AC3SyncInfo"): (bytes.fromhex("0b77" "1234" "14" "40" "e1"), {}),
    ("audio", "EAC3SyncInfo"): (bytes.fromhex("0b77" "01ff" "3f" "86"), {}),
    ("audio", "MPEGAudioFrameHeader"): (bytes.fromhex("fffb9064"), {}),
    ("aac", "AACAudioData"): (b"\x00\x12\x10", {}),
    ("aac", "AudioSpecificConfig"): (bytes.fromhex("1210"), {}),
    ("avc", "AVCDecoderConfigurationRecord"): (AVCC, {}),
    ("avc", "AVCNALHeader"): (b"\x65", {}),
    ("hevc", "HEVCDecoderConfigurationRecord"): (HVCC, {}),
    ("hevc", "HEVCNALArray"): (HVCC[23:23 + 3 + 2 + int.from_bytes(HVCC[26:28], "big")], {}),
    ("hevc", "HEVCNALHeader"): (b"\x40\x01", {}),
    ("av1", "AV1CodecConfigurationRecord"): (bytes.fromhex("81000c00" "0a0b00000024"), {}),
    ("av1", "OBUHeader"): (b"\x0a", {}),
    ("chunk", "ChunkBasicHeader"): (b"\x01\x05\x02", {}),
    ("chunk", "ChunkHeader"): (bytes.fromhex("02ffffff000004010000000001020304"), {}),
    ("chunk", "ChunkMessageHeaderType0"): (bytes.fromhex("0003e800002008" "39300000"), {}),
    ("chunk", "ChunkMessageHeaderType1"): (bytes.fromhex("00001400013309"), {}),
    ("chunk", "ChunkMessageHeaderType2"): (b"\xab\xcd\xef", {}),
    ("chunk", "ChunkMessageHeaderType3"): (b"", {}),
    ("chunk", "ExtendedTimestamp"): (b"\x01\x02\x03\x04", {}),
    ("chunk", "MessageTypeField"): (b"\x14", {}),
    ("control", "SetChunkSize"): (b"\x00\x00\x10\x00", {}),
    ("control", "Abort"): (b"\x00\x00\x00\x03", {}),
    ("control", "Acknowledgement"): (b"\x01\x02\x03\x04", {}),
    ("control", "WindowAcknowledgementSize"): (b"\x00\x26\x25\xa0", {}),
    ("control", "SetPeerBandwidth"): (b"\x00\x26\x25\xa0\x02", {}),
    ("control", "UserControl"): (b"\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8", {}),
    ("control", "StreamIdEvent"): (b"\x00\x00\x00\x01", {}),
    ("control", "SetBufferLengthEvent"): (b"\x00\x00\x00\x01\x00\x00\x0b\xb8", {}),
    ("control", "PingEvent"): (b"\xde\xad\xbe\xef", {}),
    ("control", "AggregateTag"): (FLV_TAG + (14).to_bytes(4, "big"), {}),
    ("control", "AggregateBody"): ((FLV_TAG + (14).to_bytes(4, "big")) * 2, {}),
    ("control", "FlvTagHeader"): (FLV_TAG[:11], {}),
    ("handshake", "C0S0"): (b"\x03", {}),
    ("handshake", "C1S1"): (PACKET, {}),
    ("handshake", "C2S2"): (PACKET, {}),
    ("handshake", "C1S1Scheme0"): (PACKET, {}),
    ("handshake", "C1S1Scheme1"): (PACKET, {}),
    ("handshake", "C2S2Complex"): (PACKET, {}),
    ("handshake", "DigestBlock"): (PACKET[8:772], {}),
    ("handshake", "KeyBlock"): (PACKET[772:], {}),
    ("handshake", "S0S1S2"): (b"\x03" + PACKET + PACKET, {}),
    ("amf", "AMF0ArrayCount"): (b"\x00\x00\x00\x02", {}),
    ("amf", "AMF0Boolean"): (b"\x01", {}),
    ("amf", "AMF0Date"): (amf0.encode(amf0.decode(b"\x0b" + bytes(10)))[1:], {}),
    ("amf", "AMF0LongString"): (b"\x00\x00\x00\x02hi", {}),
    ("amf", "AMF0MarkerField"): (b"\x08", {}),
    ("amf", "AMF0Number"): (amf0.encode(1.5)[1:], {}),
    ("amf", "AMF0ObjectEnd"): (b"\x00\x00\x09", {}),
    ("amf", "AMF0Reference"): (b"\x00\x07", {}),
    ("amf", "AMF0Scalar"): (amf0.encode("connect"), {}),
    ("amf", "AMF0String"): (b"\x00\x02hi", {}),
    ("amf", "AMF0UTF8"): (b"\x00\x02hi", {}),
    ("amf", "AMF0UTF8Long"): (b"\x00\x00\x00\x02hi", {}),
    ("amf", "AMF3ByteArray"): (amf3.encode(bytearray(b"ab"))[1:], {}),
    ("amf", "AMF3Date"): (bytes.fromhex("01") + amf0.encode(0.0)[1:], {}),
    ("amf", "AMF3Double"): (amf0.encode(2.5)[1:], {}),
    ("amf", "AMF3Integer"): (amf3.encode(-5)[1:], {}),
    ("amf", "AMF3MarkerField"): (b"\x0a", {}),
    ("amf", "AMF3Scalar"): (amf3.encode("héllo"), {}),
    ("amf", "AMF3UTF8"): (amf3.encode("héllo")[1:], {}),
    ("amf", "AMF3VectorHeader"): (b"\x05\x00", {}),
    ("amf", "U29"): (b"\xbf\xff\xff\xff", {}),
}


def declarations() -> list[tuple[str, str]]:
    """Every construct declaration grtmp.formats defines (not construct's own primitives)."""
    out = []
    for m in MODULES:
        mod = importlib.import_module(f"grtmp.formats.{m}")
        for name in dir(mod):
            obj = getattr(mod, name)
            if (isinstance(obj, construct.Construct) and not name.startswith("_")
                    and getattr(construct, name, None) is not obj):
                out.append((m, name))
    return out


def test_every_declaration_has_a_sample() -> None:
    assert set(declarations()) == set(SAMPLES)


#: construct 2.10's compiled builder keeps an Enum field's number, not its name, in the
#: context, so a Switch keyed by names builds the default case: build these uncompiled (grtmp
#: compiles parsers only).
COMPILED_BUILD_DIFFERS = {("amf", "AMF0Scalar"), ("amf", "AMF3Scalar"),
                          ("audio", "MultichannelConfig")}


@pytest.mark.parametrize(("module", "name"), sorted(SAMPLES))
def test_parse_build_and_compiled_agree(module: str, name: str) -> None:
    decl = getattr(importlib.import_module(f"grtmp.formats.{module}"), name)
    data, params = SAMPLES[(module, name)]
    value = decl.parse(data, **params)
    compiled = decl.compile()
    assert compiled.parse(data, **params) == value
    assert decl.build(value, **params) == data
    if (module, name) not in COMPILED_BUILD_DIFFERS:
        assert compiled.build(value, **params) == data


@pytest.mark.parametrize(("module", "name", "path", "want"), [
    ("video", "ExVideoTagHeader", ("packet_type",), "CODED_FRAMES"),
    ("video", "VideoTagHeader", ("codec_id",), "AVC"),
    ("video", "VideoTagHeader", ("frame_type",), "KEY"),
    ("video", "VideoFourCC", (), "av01"),
    ("video", "ModExEntry", ("next", "mod_ex_type"), "TIMESTAMP_OFFSET_NANO"),
    ("video", "MultitrackHeader", ("multitrack_type",), "MANY_TRACKS_MANY_CODECS"),
    ("audio", "AudioTagHeader", ("sound_format",), "MP3"),
    ("audio", "ExAudioTagHeader", ("packet_type",), "MULTICHANNEL_CONFIG"),
    ("audio", "MultichannelConfig", ("channel_order",), "NATIVE"),
    ("audio", "MPEGAudioFrameHeader", ("layer",), "LAYER_III"),
    ("audio", "FlacSequenceHeader", ("block_header", "block_type"), "STREAMINFO"),
    ("aac", "AACAudioData", ("aac_packet_type",), "SEQUENCE_HEADER"),
    ("aac", "AudioSpecificConfig", ("audio_object_type",), "AAC_LC"),
    ("avc", "AVCNALHeader", ("nal_unit_type",), "IDR_SLICE"),
    ("hevc", "HEVCNALHeader", ("nal_unit_type",), "VPS"),
    ("av1", "OBUHeader", ("obu_type",), "SEQUENCE_HEADER"),
    ("flv", "FlvTagHeader", ("type", "tag_type"), "VIDEO"),
    ("chunk", "ChunkMessageHeaderType0", ("message_type_id",), "AUDIO"),
    ("control", "SetPeerBandwidth", ("limit_type",), "DYNAMIC"),
    ("control", "UserControl", ("event_type",), "SET_BUFFER_LENGTH"),
    ("handshake", "C0S0", ("version",), "RTMP"),
    ("amf", "AMF0MarkerField", (), "ECMA_ARRAY"),
    ("amf", "AMF3MarkerField", (), "OBJECT"),
])
def test_symbolic_fields_parse_to_names(module: str, name: str, path: tuple[str, ...],
                                        want: str) -> None:
    decl = getattr(importlib.import_module(f"grtmp.formats.{module}"), name)
    data, params = SAMPLES[(module, name)]
    value = decl.parse(data, **params)
    for key in path:
        value = value[key]
    assert value == want and isinstance(int(value), int)


def test_no_lambdas_in_declarations() -> None:
    """`this`, `len_`, `sum_`, `obj_` expressions only, so every declaration compiles.

    The one exception is ``LazyBound(lambda: Box)``: a recursive declaration (ISO BMFF boxes
    inside boxes) needs a callable to refer to itself.
    """
    for path in sorted(FORMATS.glob("*.py")):
        tree = ast.parse(path.read_text())
        lazy = {id(arg) for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == "LazyBound" for arg in n.args}
        lambdas = [n.lineno for n in ast.walk(tree)
                   if isinstance(n, ast.Lambda) and id(n) not in lazy]
        assert not lambdas, f"{path.name}: lambda at lines {lambdas}"


def test_digest_offsets_from_sum_expression() -> None:
    for scheme, view in hs.C1S1_SCHEMES.items():
        parsed = view.compile().parse(PACKET)
        base = 12 if scheme == 0 else 776
        assert parsed.digest_block.offset + base == hs.digest_offset(PACKET, scheme)
