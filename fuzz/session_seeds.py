"""Seeds of the whole-session harness (``fuzz_session``, ``fuzz_live``): client byte streams
after the handshake.

Valid sessions are written by :class:`grtmp.protocol.client.ClientSession` (connect with every
Enhanced RTMP field, createStream, publish with metadata and audio/video of many codecs,
multitrack, ModEx, aggregate and data messages in AMF0 and AMF3, play, pause, receiveVideo,
closeStream, deleteStream, an AMF3 connect) from the media samples ``make_corpus`` takes from a
real FFmpeg encode. The attack seeds carry what the security issue found: AMF reference graphs
of 10-40 levels in connect's app/tcUrl/flashVer, in FCPublish arguments, publish names and
metadata; NaN and infinities in capsEx, the FourCC info maps and deleteStream; ``%`` and
``%300000000s`` in every string a peer names; plays on 1000 stream ids never created and 100
createStreams. The message stream ids assume the server numbers createStream answers 1, 2...
as grtmp does.

Each seed is ``(label, options byte, bytes)``; the options byte is the harness's (bit 1: the
name-driven hooks of :class:`fuzz.fuzz_session.FuzzHooks`; bits 2 and 3: players' writers
interleaved with the reading).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

from grtmp.amf import amf0, amf3
from grtmp.amf.amf0 import ECMAArray
from grtmp.amf.command import encode_command, encode_data
from grtmp.media.multitrack import MANY_TRACKS, MANY_TRACKS_MANY_CODECS, build_multitrack
from grtmp.protocol.client import ClientSession
from grtmp.wire import control
from grtmp.wire.message import (
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_DATA,
    DATA_AMF0,
    DATA_AMF3,
    VIDEO,
    Message,
)

Tags = dict[str, tuple[int, int, bytes]]
#: Enhanced RTMP connect fields (v2): every one a peer may send.
ENHANCED = {"fourCcList": ["avc1", "hvc1", "av01", "vp09", "Opus", "mp4a", "fLaC", ".mp3"],
            "videoFourCcInfoMap": {"*": 4.0, "hvc1": 7.0},
            "audioFourCcInfoMap": {"Opus": 4.0, "*": 1.0}, "capsEx": 15.0}
PERCENT = ("%s", "%d%%", "%300000000s", "%(name)s", "%n%n%n", "100%", "%-2147483647d")
NON_FINITE = (math.nan, math.inf, -math.inf)


# -- AMF reference graphs ------------------------------------------------------------------------


def amf0_graph_object(levels: int, field: str) -> bytes:
    """An AMF0 object whose ``field`` is a reference graph of ``levels`` levels.

    Level 0 is ``[null, null]``; level i is ``[ref(i-1), ref(i-1)]`` (2**levels leaves when
    expanded, 11 bytes per level). The object is reference 0 of the message, level i is
    reference i + 1, so the object must be the message's first complex value.
    """
    out = bytearray(b"\x03")
    out += struct.pack(">H", 2) + b"l0" + b"\x0a\x00\x00\x00\x02\x05\x05"
    for i in range(1, levels):
        k = f"l{i}".encode()
        ref = b"\x07" + struct.pack(">H", i)
        out += struct.pack(">H", len(k)) + k + b"\x0a\x00\x00\x00\x02" + ref + ref
    k = field.encode()
    out += struct.pack(">H", len(k)) + k + b"\x07" + struct.pack(">H", levels)
    out += b"\x00\x00\x09"
    return bytes(out)


def amf0_graph_array(levels: int) -> bytes:
    """The graph as one AMF0 strict array value (its last level), the message's first complex
    value: reference 0 is level 0."""
    # Level k is [level k-1 (inline), ref(level k-1)]; levels open outermost first, so level
    # k is reference levels-1-k and the innermost, level 0, is [null, null].
    out = bytearray(b"\x0a\x00\x00\x00\x02" * (levels - 1))
    out += b"\x0a\x00\x00\x00\x02\x05\x05"
    for k in range(1, levels):
        out += b"\x07" + struct.pack(">H", levels - k)
    return bytes(out)


def amf3_graph(levels: int) -> bytes:
    """One AMF3 array of ``levels`` arrays, each holding the previous one twice."""
    out = bytearray(b"\x09" + amf3.encode_u29((levels << 1) | 1) + b"\x01")
    out += b"\x09\x05\x01\x01\x01"
    for i in range(1, levels):
        ref = b"\x09" + amf3.encode_u29(i << 1)
        out += b"\x09\x05\x01" + ref + ref
    return bytes(out)


# -- building blocks -------------------------------------------------------------------------------


class Builder:
    """A :class:`ClientSession` whose bytes are collected; raw messages go through its writer."""

    def __init__(self, app: str = "live", chunk_size: int = 4096, *,
                 tc_url: str | None = None, flash_ver: str = "FMLE/3.0 (grtmp fuzz)") -> None:
        self.s = ClientSession(app, tc_url or f"rtmp://127.0.0.1/{app}", chunk_size=chunk_size,
                               flash_ver=flash_ver)
        self.next_id = 1

    def connect(self, **extra: Any) -> Builder:
        self.s.connect(**extra)
        return self

    def raw(self, type_id: int, stream_id: int, payload: bytes, csid: int = CSID_COMMAND,
            timestamp: int = 0) -> Builder:
        self.s.send_message(Message(type_id, timestamp, stream_id, payload), csid)
        return self

    def command(self, stream_id: int, name: str, *args: Any, tid: float = 0.0,
                obj: Any = None, amf3: bool = False) -> Builder:
        return self.raw(COMMAND_AMF3 if amf3 else COMMAND_AMF0, stream_id,
                        encode_command(name, tid, obj, *args, amf3=amf3))

    def create(self) -> int:
        self.s.create_stream()
        sid = self.next_id
        self.next_id += 1
        return sid

    def publish(self, name: str = "fz", kind: str = "live", announce: bool = True) -> int:
        if announce:
            self.s.announce(name)
        sid = self.create()
        self.s.publish(sid, name, kind)
        return sid

    def play(self, name: str, **kw: Any) -> int:
        sid = self.create()
        self.s.play(sid, name, **kw)
        return sid

    def media(self, sid: int, tags: list[tuple[int, int, bytes]], base: int = 0) -> Builder:
        for i, (type_id, ts, payload) in enumerate(tags):
            self.s.send_media(sid, type_id, base + ts + i, payload)
        return self

    def bytes(self) -> bytes:
        return self.s.data_to_send()


def _pick(tags: Tags, prefix: str) -> list[tuple[int, int, bytes]]:
    """The audio/video samples of one encode (sequence headers first), in tag order."""
    out = [tags[k] for k in sorted(tags) if k.startswith(prefix)
           and tags[k][0] in (AUDIO, VIDEO) and not k.endswith("_file")]
    out.sort(key=lambda t: (t[2][1:2] != b"\x00", t[1]))
    return out


def _fallback(tags: Tags) -> list[tuple[int, int, bytes]]:
    return _pick(tags, "h264_") or [
        (VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f"
                   b"\x01\x00\x02\x68\xeb"),
        (AUDIO, 0, b"\xaf\x00\x12\x10"), (VIDEO, 40, b"\x17\x01\x00\x00\x00" + bytes(16)),
        (AUDIO, 20, b"\xaf\x01" + bytes(6))]


def _modex(samples: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Enhanced RTMP ModEx (TimestampOffsetNano) copies of legacy H.264/AAC samples."""
    nano = b"\x02\x01\xe2\x40"
    out = []
    for type_id, ts, p in samples:
        if type_id == VIDEO and p[:1] in (b"\x17", b"\x27") and len(p) > 5:
            seq = p[1] == 0
            body = p[5:] if seq else p[2:]
            frame = 0x90 if p[0] >> 4 == 1 else 0xA0
            out.append((VIDEO, ts, bytes((frame | 7,)) + nano
                        + bytes((0 if seq else 1,)) + b"avc1" + body))
        elif type_id == AUDIO and p[:1] == b"\xaf" and len(p) > 2:
            out.append((AUDIO, ts, b"\x97" + nano + bytes((0 if p[1] == 0 else 1,)) + b"mp4a"
                        + p[2:]))
    return out


def _multitrack(samples: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Two-track copies of legacy H.264/AAC samples (one codec, and one per track)."""
    out = []
    for type_id, ts, p in samples:
        if type_id == VIDEO and p[:1] in (b"\x17", b"\x27") and len(p) > 5:
            inner = 0 if p[1] == 0 else 1
            body = p[5:] if inner == 0 else p[2:]
            out.append((VIDEO, ts, build_multitrack(VIDEO, p[0] & 0xF0, inner,
                                                    [(0, b"avc1", body), (1, b"avc1", body)])))
        elif type_id == AUDIO and p[:1] == b"\xaf" and len(p) > 2:
            inner = 0 if p[1] == 0 else 1
            out.append((AUDIO, ts, build_multitrack(
                AUDIO, 0, inner, [(0, b"mp4a", p[2:]), (1, b"mp4a", p[2:])],
                MANY_TRACKS_MANY_CODECS if inner else MANY_TRACKS)))
    return out


META = ECMAArray({"width": 64.0, "height": 64.0, "framerate": 25.0, "videocodecid": 7.0,
                  "audiocodecid": 10.0, "encoder": "grtmp fuzz", "duration": 0.0})


# -- valid sessions --------------------------------------------------------------------------------


def valid_seeds(tags: Tags) -> Iterator[tuple[str, int, bytes]]:
    h264 = _fallback(tags)

    # A full publish: every Enhanced RTMP connect field, metadata, H.264/AAC, aggregate, data
    # messages (AMF0, AMF3 type 15, with the avmplus switch), then the publisher's goodbyes.
    b = Builder().connect(**ENHANCED)
    sid = b.publish("fz")
    b.s.send_metadata(sid, META)
    b.media(sid, h264)
    agg = control.build_aggregate([Message(t, 100 + ts, sid, p) for t, ts, p in h264[:4]])
    b.raw(agg.type_id, sid, agg.payload, csid=6, timestamp=agg.timestamp)
    b.raw(DATA_AMF0, sid, encode_data("onTextData", {"text": "hi"}), csid=CSID_DATA)
    b.raw(DATA_AMF3, sid, encode_data("@setDataFrame", "onCuePoint", {"t": 1.0}, amf3=True),
          csid=CSID_DATA)
    b.raw(DATA_AMF3, sid, b"\x00" + amf0.encode("onTextData") + b"\x11"
          + amf3.encode({"text": "amf3", "n": 3}), csid=CSID_DATA)
    b.raw(DATA_AMF0, sid, encode_data("@clearDataFrame", "onMetaData"), csid=CSID_DATA)
    b.command(0, "FCUnpublish", "fz", tid=9.0)
    b.command(sid, "closeStream")
    b.command(0, "deleteStream", float(sid))
    yield "publish_h264", 0, b.bytes()

    # Enhanced codecs from the real encodes: HEVC+Opus, AV1+E-AC-3, VP9+AC-3, FLAC, MP3; then
    # multitrack and ModEx copies of the H.264/AAC samples.
    for label in ("hevc", "av1", "vp9", "flac", "mp3"):
        samples = _pick(tags, f"{label}_")
        if not samples:
            continue
        b = Builder(chunk_size=128 if label == "hevc" else 4096).connect(**ENHANCED)
        sid = b.publish(label)
        b.s.send_metadata(sid, META)
        b.media(sid, samples)
        yield f"publish_{label}", 0, b.bytes()
    b = Builder().connect(**ENHANCED)
    sid = b.publish("mt")
    b.media(sid, _multitrack(h264) + _modex(h264))
    yield "publish_multitrack_modex", 0, b.bytes()

    # Publish and play the same stream on one connection: media flows back through a player
    # (a multitrack one, it declared capsEx), paused, resumed, video off and on.
    b = Builder(chunk_size=256).connect(**ENHANCED)
    pub = b.publish("loop")
    b.media(pub, h264[:2])
    play = b.play("loop")
    b.media(pub, h264[2:] + _multitrack(h264))
    b.command(play, "pause", True, 0.0)
    b.media(pub, h264[2:])
    b.command(play, "pause", False, 0.0)
    b.command(play, "receiveVideo", False)
    b.command(play, "receiveAudio", False)
    b.media(pub, h264[2:])
    b.command(play, "receiveVideo", True)
    b.command(play, "receiveAudio", True)
    b.command(play, "pauseRaw")
    b.media(pub, h264)
    b.command(play, "closeStream")
    b.command(0, "deleteStream", float(pub))
    b.command(0, "deleteStream", float(play))
    yield "publish_and_play", 0, b.bytes()

    # A player of its own stream that never gets to write (no greenlet runs while the input
    # is read): its queue (64) overflows, video waits for a keyframe, a sequence header is
    # missed and resent, and more than 10 s of stream time behind the player is cut off.
    b = Builder().connect()
    pub = b.publish("lag")
    b.play("lag")
    header, key, inter = h264[0], (VIDEO, 0, b"\x17\x01\x00\x00\x00" + bytes(12)), \
        (VIDEO, 0, b"\x27\x01\x00\x00\x00" + bytes(8))
    frames = [header] + [key if i % 25 == 0 else inter for i in range(300)]
    frames.insert(90, header)
    for i, (type_id, _ts, p) in enumerate(frames):
        b.s.send_media(pub, type_id, 100 * i, p)
    yield "publish_and_play_lagging", 0, b.bytes()

    # Players: the healthy stream (a second player), a name nobody publishes (waits), an
    # app whose players do not wait (StreamNotFound), play2, and the small calls.
    b = Builder().connect()
    play = b.play("healthy")
    b.command(play, "pause", True, 0.0)
    b.command(play, "pause", False, 0.0)
    b.command(play, "receiveVideo", False)
    b.command(play, "receiveVideo", True)
    b.command(0, "getStreamLength", "healthy", tid=5.0)
    b.command(0, "_checkbw", tid=6.0)
    b.command(0, "noSuchMethod", 1.0, tid=7.0)
    b.command(0, "_result", 1.0, tid=1.0)
    wait = b.play("nobody_yet")
    b.command(wait, "play2", {"streamName": "healthy", "transition": "switch"})
    b.command(play, "closeStream")
    b.command(0, "deleteStream", float(wait))
    yield "play_healthy", 0, b.bytes()
    b = Builder("vod").connect()
    b.play("absent")
    yield "play_no_wait", 1, b.bytes()

    # A third player of the healthy stream (its cap is two), and a publish of it (busy).
    b = Builder().connect()
    b.play("healthy")
    b.play("healthy")
    b.publish("healthy")
    yield "healthy_busy_and_full", 0, b.bytes()

    # Control messages on the way: window, peer bandwidth, ping, buffer length, abort, ack.
    b = Builder(chunk_size=64).connect()
    for ctl in (control.WindowAckSize(1000), control.SetPeerBandwidth(1000, 2),
                control.PingRequest(5), control.SetBufferLength(1, 100), control.Abort(7),
                control.Acknowledgement(10), control.SetChunkSize(128)):
        b.raw(ctl.message().type_id, 0, ctl.message().payload, csid=CSID_CONTROL)
    b.s.writer.chunk_size = 128
    sid = b.publish("ctl", announce=False)
    b.media(sid, h264)
    yield "control_messages", 1, b.bytes()

    # AMF3 connect (type 17, objectEncoding 3) and AMF3 commands after it.
    b = Builder()
    b.raw(COMMAND_AMF3, 0, encode_command("connect", 1.0, {
        "app": "live", "tcUrl": "rtmp://127.0.0.1/live", "objectEncoding": 3.0,
        "flashVer": "WIN 32,0,0,1", **ENHANCED}, amf3=True))
    b.raw(COMMAND_AMF3, 0, b"\x00" + amf0.encode("createStream", 2.0, None))
    b.raw(COMMAND_AMF3, 1, b"\x00" + amf0.encode("publish", 0.0, None) + b"\x11"
          + amf3.encode("a3"))
    b.raw(DATA_AMF3, 1, b"\x00" + amf0.encode("@setDataFrame", "onMetaData") + b"\x11"
          + amf3.encode({"width": 64.0, "height": 64.0}), csid=CSID_DATA)
    for type_id, ts, p in h264:
        b.raw(type_id, 1, p, csid=6 if type_id == VIDEO else 4, timestamp=ts)
    yield "amf3_connect_publish", 0, b.bytes()

    # Name-driven hooks (options bit 1): refused, redirected and raising connects; denied,
    # moved and raising publishes and plays.
    for app in ("refuse", "redirect", "raise"):
        yield f"hooks_connect_{app}", 2, Builder(app).connect().bytes()
    b = Builder().connect()
    for name in ("deny1", "raise1", "move1"):
        sid = b.publish(name)
        b.media(sid, h264[:2])
    for name in ("deny2", "raise2", "movehealthy"):
        b.play(name)
    yield "hooks_streams", 2, b.bytes()


# -- attack seeds ----------------------------------------------------------------------------------


def _connect_payload(obj_bytes: bytes, amf3_type: bool = False) -> bytes:
    body = amf0.encode("connect", 1.0) + obj_bytes
    return b"\x00" + body if amf3_type else body


def attack_seeds(tags: Tags) -> Iterator[tuple[str, int, bytes]]:
    h264 = _fallback(tags)

    def connected(app: str = "live") -> Builder:
        return Builder(app).connect()

    # Reference graphs in connect's app, tcUrl and flashVer (AMF0, and AMF3 behind avmplus).
    for levels in (10, 16, 20, 30, 40):
        for field in ("app", "tcUrl", "flashVer"):
            b = Builder()
            b.raw(COMMAND_AMF0, 0, _connect_payload(amf0_graph_object(levels, field)))
            b.command(0, "createStream", tid=2.0)
            yield f"graph{levels}_connect_{field}", 0, b.bytes()
    for levels in (10, 20, 40):
        b = Builder()
        obj = amf0.encode({"tcUrl": "rtmp://127.0.0.1/live"})[:-3]  # object, unterminated
        obj += struct.pack(">H", 3) + b"app" + b"\x11" + amf3_graph(levels) + b"\x00\x00\x09"
        b.raw(COMMAND_AMF3, 0, _connect_payload(obj, amf3_type=True))
        yield f"graph{levels}_connect_amf3", 0, b.bytes()
    # ... in FCPublish and releaseStream arguments, publish and play names, metadata.
    for levels in (10, 20, 40):
        b = connected()
        b.raw(COMMAND_AMF0, 0, amf0.encode("FCPublish", 3.0, None) + amf0_graph_array(levels))
        b.raw(COMMAND_AMF0, 0, amf0.encode("releaseStream", 4.0, None)
              + amf0_graph_array(levels))
        sid = b.create()
        b.raw(COMMAND_AMF0, sid, amf0.encode("publish", 0.0, None) + amf0_graph_array(levels)
              + amf0.encode("live"))
        b.s.publish(sid, "fz")
        b.raw(DATA_AMF0, sid, amf0.encode("@setDataFrame", "onMetaData")
              + amf0_graph_object(levels, "width"), csid=CSID_DATA)
        b.raw(DATA_AMF0, sid, amf0.encode("onTextData") + amf0_graph_array(levels),
              csid=CSID_DATA)
        b.raw(DATA_AMF3, sid, b"\x00" + amf0.encode("onMetaData") + b"\x11"
              + amf3_graph(levels), csid=CSID_DATA)
        b.media(sid, h264[:2])
        play = b.create()
        b.raw(COMMAND_AMF0, play, amf0.encode("play", 0.0, None) + amf0_graph_array(levels))
        b.raw(COMMAND_AMF0, play, amf0.encode("play2", 0.0, None)
              + amf0_graph_object(levels, "streamName"))
        yield f"graph{levels}_stream_commands", 0, b.bytes()

    # NaN and infinities where numbers are read: capsEx, the FourCC info maps, deleteStream,
    # transaction ids, play start, pause flags, createStream answers' ids.
    for bad in NON_FINITE:
        tag = {math.inf: "inf", -math.inf: "ninf"}.get(bad, "nan")
        b = Builder().connect(capsEx=bad, fourCcList=["hvc1", bad],
                              videoFourCcInfoMap={"hvc1": bad, "avc1": 1.0, "*": bad},
                              audioFourCcInfoMap={"Opus": bad}, objectEncoding=bad,
                              capabilities=bad)
        sid = b.publish("nf")
        b.media(sid, h264[:2])
        b.command(0, "deleteStream", bad)
        b.command(0, "deleteStream", 2.0 ** 40)
        b.command(0, "deleteStream", -1.0)
        b.command(0, "createStream", tid=bad)
        b.next_id += 1
        play = b.create()
        b.command(play, "play", "healthy", bad, bad, bad)
        b.command(play, "pause", bad, bad)
        b.command(play, "receiveVideo", bad)
        b.command(0, "closeStream", bad)
        yield f"nonfinite_{tag}", 0, b.bytes()

    # '%' in every string a peer names: app, tcUrl, flashVer, stream names, publish type,
    # query strings, command names, FCPublish arguments, metadata keys; with control
    # characters and a newline that would forge a log line.
    for i, pct in enumerate(PERCENT):
        text = f"{pct}\n[x] forged\x00\x1b[31m{pct}"
        b = Builder(f"live{pct}" if i % 2 else "live", tc_url=f"rtmp://127.0.0.1/{pct}",
                    flash_ver=text).connect(pageUrl=pct, swfUrl=pct)
        b.command(0, "releaseStream", pct, tid=2.0)
        b.command(0, "FCPublish", pct, tid=3.0)
        sid = b.publish(f"{pct}?k={pct}&{pct}={pct}", kind=pct, announce=False)
        b.raw(DATA_AMF0, sid, encode_data("@setDataFrame", "onMetaData", {pct: pct}),
              csid=CSID_DATA)
        b.media(sid, h264[:2])
        b.play(text)
        b.command(0, pct, pct, tid=4.0)
        b.command(0, text, tid=5.0)
        b.command(0, "FCUnpublish", pct, tid=6.0)
        yield f"percent_{i}", i & 1, b.bytes()
        # Before connect: the first command's name goes into the refusal.
        yield f"percent_{i}_unconnected", 0, Builder().command(0, "publish" + pct).bytes()
    b = Builder("live%s" * 300)  # an app too long to keep
    yield "percent_long_app", 0, b.connect().bytes()

    # Plays on 1000 message stream ids nobody created; 100 createStreams (the cap is 16);
    # publishes on ids never created; deleteStream of every id.
    b = connected()
    for sid in range(1, 1001):
        b.command(sid, "play", "healthy")
    yield "play_1000_uncreated", 0, b.bytes()
    b = connected()
    for _ in range(100):
        b.s.create_stream()
    for sid in range(1, 40):
        b.s.publish(sid, f"s{sid}")
    for sid in range(1, 40):
        b.s.delete_stream(sid)
    yield "create_100_streams", 0, b.bytes()
    b = connected()
    for sid in (0, 2, 2**31, 0xFFFFFFFF):
        b.s.publish(sid, "never_created")
    yield "publish_uncreated", 0, b.bytes()


#: Seeds also written with options bit 2 (fair reader) and/or bit 3 (slow socket).
_INTERLEAVED = {"publish_and_play": 12, "play_healthy": 4, "publish_multitrack_modex": 8,
                "healthy_busy_and_full": 12}


def session_seeds(tags: Tags) -> Iterator[tuple[str, bytes]]:
    """Every seed as ``(label, options byte + bytes)`` for the corpus."""
    sources: list[Callable[[Tags], Iterator[tuple[str, int, bytes]]]] = [valid_seeds,
                                                                          attack_seeds]
    for source in sources:
        for label, opts, data in source(tags):
            yield label, bytes((opts,)) + data
            if label in _INTERLEAVED:  # also with the writers running while it is read
                yield f"{label}_interleaved", bytes((opts | _INTERLEAVED[label],)) + data
