"""Write the seed corpus of every harness under fuzz/corpus/ from valid encodings.

Everything is produced by grtmp's own encoders (ChunkWriter, AMF0/AMF3, control builders,
build_aggregate, build_multitrack, the handshake) plus a tiny PyAV/FFmpeg encode (64x64 H.264
and HEVC, AAC and Opus, muxed to FLV in memory) for real media payloads. Each file is the
harness's selector byte followed by the input. Deterministic apart from the encoders' own
output; re-run after changing a format: ``python -m fuzz.make_corpus``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from unittest import mock

from grtmp.amf import amf0, amf3
from grtmp.amf.amf0 import UNDEFINED, ECMAArray, TypedObject
from grtmp.amf.command import encode_command, encode_data
from grtmp.media.flv import FLVReader
from grtmp.media.multitrack import MANY_TRACKS, MANY_TRACKS_MANY_CODECS, ONE_TRACK, build_multitrack
from grtmp.wire import control, handshake
from grtmp.wire.chunk import ChunkWriter, chunk_message
from grtmp.wire.handshake import (
    CLIENT_VERSION,
    FP_KEY_SHORT,
    HANDSHAKE_SIZE,
    make_digest,
    server_handshake,
)
from grtmp.wire.message import (
    AUDIO,
    COMMAND_AMF0,
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_DATA,
    CSID_VIDEO,
    DATA_AMF0,
    VIDEO,
    Message,
)

from . import fuzz_amf, fuzz_control, fuzz_media
from .session_seeds import session_seeds

CORPUS = Path(__file__).parent / "corpus"


# -- media from a tiny real encode ---------------------------------------------------------


def encode_flv(vcodec: str = "libx264", acodec: str = "aac", frames: int = 4) -> bytes:
    """A few 64x64 frames and audio frames muxed to FLV by FFmpeg (via PyAV), in memory."""
    import av  # noqa: PLC0415 - only the corpus script needs PyAV
    import numpy as np  # noqa: PLC0415

    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        vs = out.add_stream(vcodec, rate=25)
        vs.width = vs.height = 64
        vs.pix_fmt = "yuv420p"
        vs.options = _VIDEO_OPTIONS.get(vcodec, {})
        as_ = out.add_stream(acodec, rate=48000)
        as_.layout = "mono"
        t = np.arange(1024 * frames)
        samples = 0
        for i in range(frames):
            img = np.full((64, 64, 3), (i * 40) % 256, dtype=np.uint8)
            img[i * 8:(i + 1) * 8, :, 0] = 255
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, 25)
            for p in vs.encode(vf):
                out.mux(p)
            n = as_.codec_context.frame_size or 960
            pcm = (np.sin(t[:n] / 10.0) * 0.2).astype(np.float32).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
            af.sample_rate = 48000
            af.pts = samples
            samples += n
            fmt = as_.codec_context.format.name
            af = _resample(af, fmt)
            for p in as_.encode(af):
                out.mux(p)
        for s in (vs, as_):
            for p in s.encode(None):
                out.mux(p)
    return buf.getvalue()


_VIDEO_OPTIONS = {
    "libx264": {"preset": "ultrafast", "g": "2", "bf": "0"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=none:keyint=2"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "g": "2"},
    "libsvtav1": {"preset": "12", "g": "2"},
}
#: (label, video encoder, audio encoder) of the FLV files the media seeds come from; the
#: FLV muxer writes Enhanced RTMP tags for HEVC, VP9, AV1, Opus, FLAC, AC-3 and E-AC-3.
ENCODES = (("h264", "libx264", "aac"), ("hevc", "libx265", "libopus"),
           ("vp9", "libvpx-vp9", "ac3"), ("av1", "libsvtav1", "eac3"),
           ("mp3", "libx264", "libmp3lame"), ("flac", "libx264", "flac"))


def _resample(frame, fmt: str):  # noqa: ANN001, ANN202 - PyAV objects
    import av  # noqa: PLC0415

    if frame.format.name == fmt:
        return frame
    out = av.AudioResampler(format=fmt, layout="mono", rate=48000).resample(frame)
    return out[0]


def media_tags() -> dict[str, tuple[int, int, bytes]]:
    """Named (type id, timestamp, payload) samples: sequence headers, key and inter frames."""
    tags: dict[str, tuple[int, int, bytes]] = {}
    for label, vcodec, acodec in ENCODES:
        try:
            data = encode_flv(vcodec, acodec)
        except Exception as exc:  # noqa: BLE001 - an FFmpeg build without a codec: skip it
            print(f"skipping {label}: {exc}")
            continue
        tags[f"{label}_file"] = (0, 0, data)
        seen: dict[str, int] = {}
        for tag in FLVReader(io.BytesIO(data)):
            kind = {AUDIO: "audio", VIDEO: "video"}.get(tag.tag_type, "script")
            if kind == "video" and vcodec == "libx264" and label != "h264":
                continue  # the same H.264 as the h264 file: only its audio is new
            idx = seen.get(kind, 0)
            seen[kind] = idx + 1
            if idx < 3:
                tags[f"{label}_{kind}{idx}"] = (tag.tag_type, tag.timestamp, tag.payload)
    return tags


# -- per-harness seeds -----------------------------------------------------------------------


def amf_values() -> list[object]:
    """Values covering every AMF0 and AMF3 marker the encoders produce."""
    obj = {"app": "live", "tcUrl": "rtmp://127.0.0.1/live", "n": 1.5, "ok": True}
    return [
        0.0, -1.25, True, False, "", "connect", None, UNDEFINED,
        obj, ECMAArray({"duration": 0.0, "width": 64.0}), [1.0, "a", None],
        datetime(2024, 5, 1, 12, 0, tzinfo=UTC), TypedObject("flex.Msg", {"a": 1.0}),
        {"nested": {"deeper": [obj, obj]}},
    ]


def amf_seeds() -> Iterator[tuple[str, bytes]]:
    values = amf_values()
    t = fuzz_amf.TARGETS
    for i, v in enumerate(values):
        yield f"amf0_{i}", bytes((t.index("amf0"),)) + amf0.encode(v)
        try:
            yield f"amf3_{i}", bytes((t.index("amf3"),)) + amf3.encode(v)
        except Exception:  # noqa: BLE001, S112 - a value AMF3 has no form for
            continue
    # AMF3-only types (vectors, dictionary, externalizable Flex classes, XML, ByteArray), also
    # behind the AMF0 avmplus switch; and nesting just under the decoders' depth bound.
    from grtmp.amf.amf3 import (  # noqa: PLC0415
        XML,
        ArrayCollection,
        ByteArray,
        Dictionary,
        ObjectProxy,
        VectorDouble,
        VectorInt,
        VectorObject,
        VectorUInt,
    )
    amf3_only = [VectorInt([1, -2]), VectorUInt([3]), VectorDouble([0.5]),
                 VectorObject([{"a": 1}], type_name="Foo"), Dictionary({1: "x", "k": 2.5}),
                 ArrayCollection([1, "b"]), ObjectProxy({"p": 1}), XML("<a/>"),
                 ByteArray(b"\x01\x02")]
    yield "amf3_only", bytes((t.index("amf3"),)) + amf3.encode(*amf3_only)
    yield "amf0_avmplus", bytes((t.index("amf0"),)) + amf0.encode(*amf3_only)
    deep: object = 1.0
    for _ in range(60):
        deep = [deep]
    yield "amf0_deep", bytes((t.index("amf0"),)) + amf0.encode(deep)
    yield "amf3_deep", bytes((t.index("amf3"),)) + amf3.encode(deep)
    yield "amf0_long", bytes((t.index("amf0"),)) + amf0.encode("y" * 300, values)
    yield "amf3_many", bytes((t.index("amf3"),)) + amf3.encode(
        1, 2**28 - 1, -(2**28), 2**40, "s", "s", [1, 2, {"k": "s"}], {"k": "s", "j": [1]},
        bytearray(b"\x00\x01"))
    for name, body in command_payloads():
        yield f"command_{name}", bytes((t.index("command"),)) + body
        yield f"command_amf3_{name}", bytes((t.index("command_amf3"),)) + b"\x00" + body
    meta = encode_data("@setDataFrame", "onMetaData",
                       ECMAArray({"width": 64.0, "height": 64.0, "videocodecid": 7.0}))
    yield "data_meta", bytes((t.index("data"),)) + meta
    yield "data_amf3_meta", bytes((t.index("data_amf3"),)) + b"\x00" + meta


def command_payloads() -> list[tuple[str, bytes]]:
    return [
        ("connect", encode_command("connect", 1, {
            "app": "live", "tcUrl": "rtmp://127.0.0.1/live", "flashVer": "FMLE/3.0",
            "objectEncoding": 0.0, "fourCcList": ["avc1", "hvc1"],
            "videoFourCcInfoMap": {"*": 4.0}, "capsEx": 15.0})),
        ("createStream", encode_command("createStream", 2, None)),
        ("publish", encode_command("publish", 3, None, "key?token=1", "live")),
        ("play", encode_command("play", 4, None, "key", -2.0, -1.0, True)),
        ("result", encode_command("_result", 1, {"fmsVer": "FMS/3"}, {"code": "x"})),
    ]


def session_messages(tags: dict[str, tuple[int, int, bytes]]) -> list[tuple[Message, int]]:
    """A publisher's session after the handshake: connect ... publish, metadata, media."""
    msgs: list[tuple[Message, int]] = [
        (control.SetChunkSize(4096).message(), CSID_CONTROL),
    ]
    for _, body in command_payloads()[:3]:
        sid = 1 if body.startswith(b"\x02\x00\x07publish") else 0
        msgs.append((Message(COMMAND_AMF0, 0, sid, body), CSID_COMMAND))
    msgs.append((Message(DATA_AMF0, 0, 1, encode_data(
        "@setDataFrame", "onMetaData", ECMAArray({"width": 64.0}))), CSID_DATA))
    for _name, (type_id, ts, payload) in sorted(tags.items()):
        if type_id in (AUDIO, VIDEO):
            csid = CSID_VIDEO if type_id == VIDEO else CSID_AUDIO
            msgs.append((Message(type_id, ts, 1, payload), csid))
    return msgs


def chunk_seeds(tags: dict[str, tuple[int, int, bytes]]) -> Iterator[tuple[str, bytes]]:
    msgs = session_messages(tags)
    for opts in (0, 1, 4, 5, 8, 10):
        w = ChunkWriter(128)
        out = []
        for m, csid in msgs:
            out.append(w.write(m, csid))
            if m.type_id == 1:  # Set Chunk Size: later chunks use the new size
                w.chunk_size = 4096
        yield f"session_{opts}", bytes((opts,)) + b"".join(out)
    # Header compression fmt 1/2/3, extended timestamps, csids needing 2- and 3-byte headers.
    w = ChunkWriter(128)
    out = [w.write(control.SetChunkSize(64).message(), CSID_CONTROL)]
    w.chunk_size = 64
    for i, csid in enumerate((3, 3, 3, 3, 70, 70, 400, 400)):
        ts = i * 40 if csid != 400 else 0xFFFFFF + i * 1000
        out.append(w.write(Message(VIDEO, ts, 1, bytes(range(100))), csid))
    out.append(w.write(control.Abort(3).message(), CSID_CONTROL))
    out.append(w.write(control.PingRequest(123).message(), CSID_CONTROL))
    out.append(w.write(control.WindowAckSize(5000).message(), CSID_CONTROL))
    agg = control.build_aggregate([Message(VIDEO, 10, 1, b"\x27\x01\x00\x00\x00ab"),
                                   Message(AUDIO, 20, 1, b"\xaf\x01xyz")])
    out.append(w.write(agg, 5))
    for opts in (4, 5, 8):
        yield f"headers_{opts}", bytes((opts,)) + b"".join(out)
    # Two 500-byte messages whose 128-byte chunks interleave on csids 3 and 4: with the small
    # limits (bit 1) more than max_buffered bytes are held in partial messages at once.
    parts = []
    for csid in (3, 4):
        raw = chunk_message(Message(VIDEO, 0, 1, bytes(500)), csid, 128)
        pieces = [raw[:12 + 128]]
        pos = 12 + 128
        while pos < len(raw):
            pieces.append(raw[pos:pos + 1 + 128])
            pos += 1 + 128
        parts.append(pieces)
    mixed = b"".join(a + b for a, b in zip(*parts, strict=True))
    yield "limits_2", b"\x02" + mixed


def media_seeds(tags: dict[str, tuple[int, int, bytes]]) -> Iterator[tuple[str, bytes]]:
    t = fuzz_media.TARGETS
    for name, (type_id, _ts, payload) in sorted(tags.items()):
        if name.endswith("_file"):
            yield name, bytes((t.index("flv"),)) + payload
        elif type_id == VIDEO:
            yield name, bytes((t.index("video"),)) + payload
            if name.startswith("h264"):
                yield f"{name}_h264", bytes((t.index("h264"),)) + payload
        elif type_id == AUDIO:
            yield name, bytes((t.index("audio"),)) + payload
            if name.startswith("h264"):  # the AAC half of the H.264 file
                yield f"{name}_aac", bytes((t.index("aac"),)) + payload
    # Codec configuration records alone, for the "config" target (parser index byte first).
    h264_seq = tags.get("h264_video0")
    if h264_seq is not None:
        yield "config_avcc", bytes((t.index("config"), 0)) + h264_seq[2][5:]
    aac_seq = tags.get("h264_audio0")
    if aac_seq is not None:
        yield "config_asc", bytes((t.index("config"), 4)) + aac_seq[2][2:]
    hevc_seq = tags.get("hevc_video0")
    if hevc_seq is not None:
        yield "config_hvcc", bytes((t.index("config"), 1)) + hevc_seq[2][5:]
    opus_seq = tags.get("hevc_audio0")
    if opus_seq is not None:
        yield "config_opus", bytes((t.index("config"), 5)) + opus_seq[2][5:]
    yield "fast_avc_key", bytes((t.index("fast"),)) + b"\x17\x01\x00\x00\x00\x00\x00\x00\x02ab"
    # Enhanced RTMP ModEx: a TimestampOffsetNano entry (size 3, 123456 ns) in front of a
    # SequenceStart, coded frames and a Multitrack header (the walk grtmp.media.tag shares).
    nano = b"\x02\x01\xe2\x40"
    if h264_seq is not None:
        yield "modex_video_seq", bytes((t.index("video"),)) + b"\x97" + nano + b"\x00avc1" + \
            h264_seq[2][5:]
    h264_key = tags.get("h264_video1")
    if h264_key is not None:
        cts_nalus = h264_key[2][2:]
        yield "modex_video_key", bytes((t.index("video"),)) + b"\x97" + nano + b"\x01avc1" + \
            cts_nalus
        yield "modex_video_mt", bytes((t.index("video"),)) + b"\x97" + nano + b"\x06" + \
            b"\x01avc1\x00" + cts_nalus
    if aac_seq is not None:
        yield "modex_audio_seq", bytes((t.index("audio"),)) + b"\x97" + nano + b"\x00mp4a" + \
            aac_seq[2][2:]


def control_seeds(tags: dict[str, tuple[int, int, bytes]]) -> Iterator[tuple[str, bytes]]:
    t = fuzz_control.TARGETS
    controls = (control.SetChunkSize(4096), control.Abort(3), control.Acknowledgement(1),
                control.WindowAckSize(2_500_000), control.SetPeerBandwidth(2_500_000),
                control.StreamBegin(1), control.SetBufferLength(1, 3000),
                control.PingRequest(99), control.UnknownUserControl(0x1F, b"\0\0\0\1"))
    for m in (c.message() for c in controls):
        yield f"control_{m.type_id}_{m.payload.hex()[:8]}", \
            bytes((t.index("control"), m.type_id)) + m.payload
    media = [Message(tid, ts, 1, p) for tid, ts, p in tags.values() if tid in (AUDIO, VIDEO)]
    agg = control.build_aggregate(media[:4] or [Message(VIDEO, 0, 1, b"\x17\x01")])
    yield "aggregate", bytes((t.index("aggregate"),)) + agg.payload
    body = b"\x00\x00\x00\x00abcdef"
    for mt in (ONE_TRACK, MANY_TRACKS, MANY_TRACKS_MANY_CODECS):
        tracks = [(0, b"avc1", body)] if mt == ONE_TRACK else \
            [(0, b"avc1", body), (1, b"hvc1" if mt == 2 else b"avc1", body[:5])]
        yield f"mt_video_{mt}", bytes((t.index("multitrack_video"),)) + \
            build_multitrack(VIDEO, 0x10, 1, tracks, mt)
        atracks = [(tid, b"mp4a" if cc != b"hvc1" else b"Opus", b) for tid, cc, b in tracks]
        yield f"mt_audio_{mt}", bytes((t.index("multitrack_audio"),)) + \
            build_multitrack(AUDIO, 0, 1, atracks, mt)


def handshake_seeds() -> Iterator[tuple[str, bytes]]:
    """C0+C1+C2 for the server side; S0+S1+S2 answering fuzz_handshake's own C1 (time 0,
    zero random bytes) for the client side, so those seeds complete a handshake."""
    simple_c1 = (bytes(8) + bytes(range(256)) * 6)[:HANDSHAKE_SIZE]
    complex_c1 = make_digest(bytes(4) + CLIENT_VERSION + bytes(HANDSHAKE_SIZE - 8), 0,
                             FP_KEY_SHORT)
    c2 = bytes(HANDSHAKE_SIZE)
    yield "server_simple", b"\x00\x03" + simple_c1 + c2
    yield "server_complex", b"\x00\x03" + complex_c1 + c2
    client_simple_c1 = bytes(HANDSHAKE_SIZE)  # what fuzz_handshake's simple client sends
    with mock.patch.object(handshake, "_now_ms", return_value=0):
        for name, c1, side in (("complex", complex_c1, 1), ("simple", client_simple_c1, 2)):
            sent: list[bytes] = []
            server_handshake(io.BytesIO(b"\x03" + c1 + c2), sent.append, rand=bytes)
            yield f"client_{name}", bytes((side,)) + b"".join(sent)


def write_corpus(root: Path = CORPUS, only: list[str] | None = None) -> dict[str, int]:
    """Write every seed file (named by label and a content hash); returns files per harness.

    ``only`` names the harnesses to rewrite (default: all)."""
    tags = media_tags()
    sets = {
        "chunk": chunk_seeds(tags), "amf": amf_seeds(), "media": media_seeds(tags),
        "control": control_seeds(tags), "handshake": handshake_seeds(),
        "session": session_seeds(tags),
    }
    counts = {}
    for harness, seeds in sets.items():
        if only and harness not in only:
            continue
        d = root / harness
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        n = 0
        for label, data in seeds:
            digest = hashlib.sha1(data).hexdigest()[:8]
            (d / f"{label}-{digest}").write_bytes(data)
            n += 1
        counts[harness] = n
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=CORPUS)
    ap.add_argument("--only", action="append", metavar="HARNESS",
                    help="rewrite only this harness's seeds (repeatable)")
    args = ap.parse_args()
    for harness, n in write_corpus(args.out, args.only).items():
        print(f"{harness}: {n} seeds")


if __name__ == "__main__":
    main()
