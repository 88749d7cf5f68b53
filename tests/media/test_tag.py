"""grtmp.media.tag: the one tag-header reader and the fan-out's classify() built on it.

Vectors for legacy and Enhanced RTMP headers; the ModEx regression (a SequenceStart behind a
TimestampOffsetNano entry is a header, not a keyframe); the memo of legacy answers against
fresh ones for every two-byte prefix; the hot-path ModEx walk against the construct
declaration; and the parity of classify / is_sequence_header / is_video_keyframe /
is_multitrack with the full parsers on generated messages, real encoder output and every
media payload of the fuzz corpus.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz import fuzz_chunk, fuzz_control, fuzz_media
from grtmp.amf import amf0
from grtmp.errors import CodecError
from grtmp.formats import aac as faac
from grtmp.formats import audio as faudio
from grtmp.formats import video as fvideo
from grtmp.formats.video import ModExEntry
from grtmp.media import parse_audio, parse_video
from grtmp.media import tag as tag_mod
from grtmp.media.flv import FLVReader
from grtmp.media.multitrack import (
    MANY_TRACKS,
    MANY_TRACKS_MANY_CODECS,
    ONE_TRACK,
    build_multitrack,
    is_multitrack,
    single_track,
    split_tracks,
)
from grtmp.media.tag import (
    KIND_FRAME,
    KIND_HEADER,
    KIND_KEYFRAME,
    KIND_OTHER,
    classify,
    is_sequence_header,
    is_video_keyframe,
    iter_tracks,
    read_tag_header,
)
from tests.helpers import ROOT

AUDIO, VIDEO, DATA_AMF0 = 8, 9, 18
CORPUS = ROOT / "fuzz" / "corpus"

# -- synthetic payloads -------------------------------------------------------------------------

SPS = bytes.fromhex("6764001facd9405005bb011000000300100000030320f1831960")
PPS = bytes.fromhex("68ebe3cb22c0")
AVC_RECORD = (bytes((1, 0x64, 0x00, 0x1F, 0xFF, 0xE1)) + len(SPS).to_bytes(2, "big") + SPS
              + b"\x01" + len(PPS).to_bytes(2, "big") + PPS)
AVC_HEADER = b"\x17\x00\x00\x00\x00" + AVC_RECORD
AAC_HEADER = b"\xaf\x00\x12\x10"
OPUS_HEAD = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"


def key(n: int = 0, size: int = 20) -> bytes:
    return b"\x17\x01\x00\x00\x00" + bytes([n & 0xFF]) * size


def inter(n: int = 0, size: int = 10) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([n & 0xFF]) * size


def aac(n: int = 0, size: int = 8) -> bytes:
    return b"\xaf\x01" + bytes([n & 0xFF]) * size


def ex_video(frame_type: int, packet_type: int, fourcc: bytes = b"hvc1",
             body: bytes = b"\x00\x01\x02") -> bytes:
    """Enhanced RTMP ExVideoTagHeader: IsExHeader | FrameType | PacketType, FourCC, body."""
    return bytes((0x80 | (frame_type << 4) | packet_type,)) + fourcc + body


def ex_audio(packet_type: int, fourcc: bytes = b"Opus", body: bytes = b"\x01\x02") -> bytes:
    """Enhanced RTMP ExAudioTagHeader: SoundFormat 9 | AudioPacketType, FourCC, body."""
    return bytes((0x90 | packet_type,)) + fourcc + body


def mod_ex(entries: list[tuple[int, bytes]], last_packet_type: int) -> bytes:
    """ModEx entries (type, data); each announces the next packet type: ModEx again, then
    ``last_packet_type`` after the last one."""
    out = b""
    for i, (mtype, data) in enumerate(entries):
        size = len(data) - 1
        out += bytes((size,)) if size < 255 else b"\xff" + size.to_bytes(2, "big")
        nxt = 7 if i + 1 < len(entries) else last_packet_type
        out += data + bytes(((mtype << 4) | nxt,))
    return out


def nano(value: int) -> tuple[int, bytes]:
    """A TimestampOffsetNano ModEx entry (type 0, UI24)."""
    return 0, value.to_bytes(3, "big")


# -- classify vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("type_id", "payload", "want"), [
    (VIDEO, AVC_HEADER, (KIND_HEADER, (VIDEO, 7))),
    (VIDEO, key(), (KIND_KEYFRAME, None)),
    (VIDEO, inter(), (KIND_FRAME, None)),
    (VIDEO, b"\x27\x01", (KIND_FRAME, None)),
    (VIDEO, b"\x1c\x00\x00\x00\x00\x01", (KIND_HEADER, (VIDEO, 12))),  # legacy-id HEVC
    (VIDEO, b"\x1c\x01\x00\x00\x00\x01", (KIND_KEYFRAME, None)),
    (VIDEO, b"\x52\x00", (KIND_OTHER, None)),  # video info/command frame (frame type 5)
    (VIDEO, b"\x12\x00\x00", (KIND_KEYFRAME, None)),  # Sorenson H.263 keyframe, no header
    (VIDEO, b"\x17", (KIND_OTHER, None)),  # AVC without AVCPacketType: malformed
    (VIDEO, b"\x17\x05\x00\x00\x00", (KIND_OTHER, None)),  # reserved AVCPacketType
    (VIDEO, b"", (KIND_OTHER, None)),
    (AUDIO, AAC_HEADER, (KIND_HEADER, (AUDIO, 10))),
    (AUDIO, aac(), (KIND_FRAME, None)),
    (AUDIO, b"\x2f\xff\xfb", (KIND_FRAME, None)),  # MP3
    (AUDIO, b"", (KIND_OTHER, None)),
    (DATA_AMF0, b"\x02\x00\x0aonMetaData", (KIND_OTHER, None)),
])
def test_classify_legacy(type_id, payload, want):
    assert classify(type_id, payload) == want


def test_classify_legacy_avc_end_of_sequence_is_not_a_keyframe():
    # FFmpeg's FLV muxer ends an H.264 stream with 17 02 00 00 00. It carries no picture, so
    # it must neither reset the GOP cache nor end a subscriber's wait for a keyframe (the
    # Enhanced RTMP SequenceEnd is already KIND_OTHER).
    assert classify(VIDEO, b"\x17\x02\x00\x00\x00")[0] == KIND_OTHER
    assert classify(VIDEO, ex_video(1, 2))[0] == KIND_OTHER


def test_classify_enhanced_video():
    # SequenceStart (0): header keyed by FourCC and packet type.
    assert classify(VIDEO, ex_video(1, 0, b"hvc1")) == (KIND_HEADER, (VIDEO, b"hvc1", 0))
    assert classify(VIDEO, ex_video(1, 0, b"av01")) == (KIND_HEADER, (VIDEO, b"av01", 0))
    # CodedFrames (1) and CodedFramesX (3): key or inter by frame type.
    assert classify(VIDEO, ex_video(1, 1)) == (KIND_KEYFRAME, None)
    assert classify(VIDEO, ex_video(2, 1)) == (KIND_FRAME, None)
    assert classify(VIDEO, ex_video(1, 3)) == (KIND_KEYFRAME, None)
    assert classify(VIDEO, ex_video(2, 3)) == (KIND_FRAME, None)
    # SequenceEnd (2) is not media.
    assert classify(VIDEO, ex_video(1, 2)) == (KIND_OTHER, None)
    # Metadata (4, colorInfo) and MPEG2TSSequenceStart (5) are cached like headers, apart.
    assert classify(VIDEO, ex_video(1, 4, b"hvc1")) == (KIND_HEADER, (VIDEO, b"hvc1", 4))
    assert classify(VIDEO, ex_video(1, 5, b"av01")) == (KIND_HEADER, (VIDEO, b"av01", 5))
    # Command frame (frame type 5).
    assert classify(VIDEO, ex_video(5, 1)) == (KIND_OTHER, None)
    # ModEx (7): classified by the packet type after the ModEx entries.
    body = mod_ex([nano(1000)], 1) + b"hvc1\x00\x00\x00"
    assert classify(VIDEO, bytes((0x97,)) + body) == (KIND_KEYFRAME, None)
    assert classify(VIDEO, bytes((0xA7,)) + body) == (KIND_FRAME, None)
    # A ModEx entry claiming more bytes than the message has: malformed, not a frame.
    assert classify(VIDEO, ex_video(1, 7)) == (KIND_OTHER, None)
    # Reserved packet types 8..15.
    assert classify(VIDEO, ex_video(1, 9)) == (KIND_OTHER, None)


def test_classify_enhanced_video_multitrack():
    hdr = build_multitrack(VIDEO, 0x10, 0, [(0, b"avc1", AVC_RECORD), (1, b"avc1", AVC_RECORD)])
    assert classify(VIDEO, hdr) == (KIND_HEADER, (VIDEO, MANY_TRACKS, b"avc1", 0, 0))
    kf = build_multitrack(VIDEO, 0x10, 1, [(0, b"avc1", b"\x00\x00\x00" + b"k" * 9)])
    assert classify(VIDEO, kf) == (KIND_KEYFRAME, None)
    fr = build_multitrack(VIDEO, 0x20, 1, [(0, b"avc1", b"\x00\x00\x00" + b"p" * 9)])
    assert classify(VIDEO, fr) == (KIND_FRAME, None)
    # Headers of different tracks are kept apart.
    one0 = build_multitrack(VIDEO, 0x10, 0, [(0, b"hvc1", b"\x01abc")], ONE_TRACK)
    one1 = build_multitrack(VIDEO, 0x10, 0, [(1, b"hvc1", b"\x01abc")], ONE_TRACK)
    assert classify(VIDEO, one0)[0] == classify(VIDEO, one1)[0] == KIND_HEADER
    assert classify(VIDEO, one0)[1] != classify(VIDEO, one1)[1]
    many = build_multitrack(VIDEO, 0x10, 0, [(3, b"vp09", b"x"), (4, b"av01", b"y")],
                            MANY_TRACKS_MANY_CODECS)
    assert classify(VIDEO, many) == (KIND_HEADER, (VIDEO, MANY_TRACKS_MANY_CODECS, b"vp09", 3, 0))
    # A multitrack message without any track is malformed.
    assert classify(VIDEO, bytes((0x96, 0x10)) + b"avc1") == (KIND_OTHER, None)


def test_classify_enhanced_audio():
    assert classify(AUDIO, ex_audio(0, b"Opus")) == (KIND_HEADER, (AUDIO, b"Opus", 0))
    assert classify(AUDIO, ex_audio(0, b"fLaC")) == (KIND_HEADER, (AUDIO, b"fLaC", 0))
    assert classify(AUDIO, ex_audio(4, b"Opus")) == (KIND_HEADER, (AUDIO, b"Opus", 4))
    assert classify(AUDIO, ex_audio(1)) == (KIND_FRAME, None)
    assert classify(AUDIO, ex_audio(2)) == (KIND_OTHER, None)  # SequenceEnd
    assert classify(AUDIO, ex_audio(3)) == (KIND_OTHER, None)  # reserved
    mt_hdr = build_multitrack(AUDIO, 0, 0, [(0, b"Opus", b"h0"), (1, b"Opus", b"h1")])
    kind, k = classify(AUDIO, mt_hdr)
    assert kind == KIND_HEADER and k[0] == AUDIO and k[-1] == 0
    mt_frame = build_multitrack(AUDIO, 0, 1, [(0, b"Opus", b"f0"), (1, b"Opus", b"f1")])
    assert classify(AUDIO, mt_frame) == (KIND_FRAME, None)
    # ModEx in front of a SequenceStart.
    msg = bytes((0x97,)) + mod_ex([nano(5)], 0) + b"mp4a\x12\x10"
    assert classify(AUDIO, msg) == (KIND_HEADER, (AUDIO, b"mp4a", 0))


def test_classify_header_keys_differ_between_codecs():
    keys = {classify(VIDEO, AVC_HEADER)[1], classify(AUDIO, AAC_HEADER)[1],
            classify(VIDEO, ex_video(1, 0, b"hvc1"))[1], classify(AUDIO, ex_audio(0))[1]}
    assert len(keys) == 4


# -- the ModEx regression -------------------------------------------------------------------------


def test_modex_sequence_start_is_a_header_not_a_keyframe():
    """0x97 (ExHeader, key frame, ModEx) + TimestampOffsetNano, then SequenceStart avc1 + avcC.

    parse_video always said "sequence header"; the fan-out's classify said "keyframe", so the
    hub cached the decoder configuration as a frame and reset its GOP on it. Both now read the
    header through read_tag_header, and the header is cached under the same key as a plain
    avc1 SequenceStart (so it replaces it).
    """
    msg = bytes((0x97,)) + mod_ex([nano(123_456)], 0) + b"avc1" + AVC_RECORD
    pkt = parse_video(msg)
    assert pkt.is_sequence_header and pkt.timestamp_offset_nano == 123_456
    assert pkt.config.sps == [SPS]
    assert classify(VIDEO, msg) == (KIND_HEADER, (VIDEO, b"avc1", 0))
    assert classify(VIDEO, msg) == classify(VIDEO, ex_video(1, 0, b"avc1", AVC_RECORD))
    assert is_sequence_header(VIDEO, msg) and not is_video_keyframe(msg)
    h = read_tag_header(VIDEO, msg)
    assert (h.packet_type, h.fourcc, h.timestamp_offset_nano, h.mod_ex_end) == (0, b"avc1",
                                                                               123_456, 6)


def test_long_and_chained_modex():
    data = bytes(range(256)) + bytes(44)  # 300 bytes: UI8 255 then UI16 size escape
    msg = bytes((0x97,)) + mod_ex([(5, data), nano(42), (3, b"x")], 3) + b"hvc1" + b"\x00\x00"
    h = read_tag_header(VIDEO, msg)
    assert (h.packet_type, h.timestamp_offset_nano, h.fourcc) == (3, 42, b"hvc1")
    assert classify(VIDEO, msg) == (KIND_KEYFRAME, None)
    with pytest.raises(CodecError):  # TimestampOffsetNano shorter than its UI24
        read_tag_header(VIDEO, bytes((0x97,)) + mod_ex([(0, b"\x01\x02")], 1) + b"hvc1")
    with pytest.raises(CodecError):  # a ModEx chain longer than MAX_MOD_EX
        read_tag_header(VIDEO, bytes((0x97,)) + mod_ex([(1, b"a")] * 65, 1) + b"hvc1")


# -- the reader --------------------------------------------------------------------------------


def test_read_tag_header_fields():
    h = read_tag_header(AUDIO, b"\xaf\x01abc")
    assert (h.enhanced, h.codec_id, h.packet_type, h.offset) == (False, 10, 1, 2)
    assert (h.sound_rate, h.sound_size, h.sound_type) == (3, 1, 1)
    h = read_tag_header(VIDEO, b"\x57\x01")
    assert (h.frame_type, h.command, h.kind) == (5, 1, KIND_OTHER)
    h = read_tag_header(VIDEO, bytes((0xD4,)) + b"hvc1" + amf0.encode("colorInfo", {}))
    assert h.command is None and h.kind == KIND_HEADER  # Metadata is never a command
    h = read_tag_header(VIDEO, build_multitrack(VIDEO, 0x20, 3, [(7, b"vp09", b"ab"),
                                                                 (8, b"av01", b"c")],
                                                MANY_TRACKS_MANY_CODECS))
    assert (h.multitrack_type, h.packet_type, h.fourcc) == (MANY_TRACKS_MANY_CODECS, 3, None)
    assert "multitrack_type=2" in repr(h)
    for bad in (b"", b"\x80", b"\x80hvc", b"\x96", b"\x96\x36avc1", b"\x96\x30avc1",
                b"\x97\x00", b"\xd1"):
        with pytest.raises(CodecError):
            read_tag_header(VIDEO, bad)
    for bad in (b"\xa0", b"\xaf\x02", b"\x95\x15mp4a", b"\x96Opus", b"\x90Op"):
        with pytest.raises(CodecError):
            read_tag_header(AUDIO, bad)
    with pytest.raises(CodecError):
        read_tag_header(DATA_AMF0, b"\x02")


def test_iter_tracks_bounds():
    msg = build_multitrack(VIDEO, 0x10, 1, [(i % 256, b"avc1", b"") for i in range(257)])
    with pytest.raises(CodecError):
        list(iter_tracks(read_tag_header(VIDEO, msg), msg))
    msg = build_multitrack(VIDEO, 0x10, 1, [(0, b"avc1", b"abc")])
    with pytest.raises(CodecError):
        list(iter_tracks(read_tag_header(VIDEO, msg[:-1]), msg[:-1]))


def test_memo_equals_fresh_answers_for_every_legacy_two_byte_prefix():
    """classify() answers legacy headers from a memo keyed by their first two bytes: prove the
    answer depends on nothing else, for every first byte, second byte, and length 1."""
    tails = (b"", b"\x00\x00\x00", b"\xff" * 9)
    for type_id in (AUDIO, VIDEO):
        for b0 in range(256):
            if (type_id == VIDEO and b0 & 0x80) or (type_id == AUDIO and b0 >> 4 == 9):
                continue
            want = tag_mod._classify(type_id, bytes((b0,)))
            tag_mod._MEMOS[type_id].clear()
            assert classify(type_id, bytes((b0,))) == want
            assert classify(type_id, bytes((b0,))) == want  # from the memo
            for b1 in range(256):
                fresh = {tag_mod._classify(type_id, bytes((b0, b1)) + t) for t in tails}
                assert len(fresh) == 1
                assert classify(type_id, bytes((b0, b1)) + tails[2]) == fresh.pop()
    assert all(len(m) <= tag_mod._MEMO_MAX for m in tag_mod._MEMOS.values())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([AUDIO, VIDEO]), st.integers(0, 127),
       st.sampled_from([b"", b"h", b"hv", b"hvc", b"hvc1", b"Opus", b"\x00\x00\x00\x00"]),
       st.binary(max_size=12), st.binary(max_size=12))
def test_memo_equals_fresh_answers_for_enhanced_headers(type_id, low, fourcc, tail1, tail2):
    """Enhanced headers without ModEx/Multitrack are memoised by their first five bytes."""
    b0 = (0x80 | low) if type_id == VIDEO else (0x90 | (low & 0x0F))
    if b0 & 0x0F == 7 or b0 & 0x0F == (6 if type_id == VIDEO else 5):
        b0 &= 0xF0  # ModEx / Multitrack are not memoised: test SequenceStart instead
    head = bytes((b0,)) + fourcc
    fresh = tag_mod._classify(type_id, head + tail1)
    if len(head) >= 5:
        assert tag_mod._classify(type_id, head + tail2) == fresh
    tag_mod._MEMOS[type_id].clear()
    assert classify(type_id, head + tail1) == fresh
    assert classify(type_id, head + (tail2 if len(head) >= 5 else tail1)) == fresh


def test_memo_is_bounded_and_accepts_memoryview():
    memo = tag_mod._MEMOS[VIDEO]
    memo.clear()
    for i in range(tag_mod._MEMO_MAX + 100):
        classify(VIDEO, b"\x91" + i.to_bytes(4, "big"))
    assert len(memo) == tag_mod._MEMO_MAX
    assert classify(VIDEO, b"\x91" + (10**6).to_bytes(4, "big")) == (KIND_KEYFRAME, None)
    assert classify(VIDEO, memoryview(AVC_HEADER)) == (KIND_HEADER, (VIDEO, 7))
    assert classify(AUDIO, memoryview(b"\x90Opus")) == (KIND_HEADER, (AUDIO, b"Opus", 0))
    memo.clear()


# -- the hot-path ModEx walk against the construct declaration ------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.binary(min_size=1, max_size=600)),
                min_size=1, max_size=4),
       st.sampled_from([0, 1, 2, 3, 4, 5]))
def test_modex_walk_agrees_with_declaration(entries, last_pt):
    entries = [(t, d if t != 0 or len(d) >= 3 else d + b"\0\0") for t, d in entries]
    raw = mod_ex(entries, last_pt)
    msg = bytes((0x97,)) + raw + b"vvc1"
    h = read_tag_header(VIDEO, msg)
    pos, nano_value, pt = 1, None, 7
    while pt == 7:  # walk with the declaration
        e = ModExEntry.parse(msg[pos:])
        size = e.size_minus_one + 1
        assert len(e.data) == size
        pos += 1 + (2 if e.size8 == 255 else 0) + size + 1
        pt = int(e.next.packet_type)
        if e.next.mod_ex_type == "TIMESTAMP_OFFSET_NANO":
            nano_value = int.from_bytes(e.data[:3], "big")
        assert ModExEntry.build(e) == msg[pos - len(ModExEntry.build(e)):pos]
    assert (h.mod_ex_end, h.packet_type, h.timestamp_offset_nano) == (pos, pt, nano_value)


# -- parity with the full parsers ---------------------------------------------------------------


def expected(type_id: int, payload: bytes) -> tuple[int, object] | None:
    """(kind, header key) as the full parser describes the message; None if it refuses it."""
    try:
        pkt = parse_video(payload) if type_id == VIDEO else parse_audio(payload)
    except CodecError:
        return None
    pt = pkt.packet_type
    if type_id == AUDIO and pkt.silence:
        return KIND_OTHER, None
    if getattr(pkt, "command", None) is not None:
        return KIND_OTHER, None
    if pkt.is_sequence_header or pt == 4:  # video Metadata / audio MultichannelConfig
        if not pkt.enhanced:
            return KIND_HEADER, (type_id, pkt.codec_id if type_id == VIDEO else pkt.sound_format)
        first = pkt.tracks[0]
        fourcc = first.fourcc.encode("latin-1")
        if pkt.multitrack_type is None:
            return KIND_HEADER, (type_id, fourcc, pt)
        return KIND_HEADER, (type_id, pkt.multitrack_type, fourcc, first.track_id, pt)
    if pt == 2:  # SequenceEnd
        return KIND_OTHER, None
    if type_id == VIDEO and pkt.frame_type == 1:
        return KIND_KEYFRAME, None
    return KIND_FRAME, None


def check_parity(type_id: int, payload: bytes) -> bool:
    """classify and the hot-path helpers agree with the parser; True if the parser took it."""
    got = classify(type_id, payload)
    assert got == tag_mod._classify(type_id, payload)
    want = expected(type_id, payload)
    if want is None:
        return False
    assert got == want, (payload[:16].hex(), got, want)
    pkt = parse_video(payload) if type_id == VIDEO else parse_audio(payload)
    assert is_sequence_header(type_id, payload) == pkt.is_sequence_header
    if type_id == VIDEO:
        assert is_video_keyframe(payload) == (got[0] == KIND_KEYFRAME)
    multitrack = pkt.multitrack_type is not None
    assert is_multitrack(type_id, payload) == multitrack
    if multitrack:
        inner, tracks = split_tracks(type_id, payload)
        assert inner == pkt.packet_type
        assert [(t, f.decode("latin-1")) for t, f, _ in tracks] == [
            (t.track_id, t.fourcc) for t in pkt.tracks]
        single = single_track(type_id, payload, tracks[0][0])
        one = parse_video(single) if type_id == VIDEO else parse_audio(single)
        assert one.multitrack_type is None and one.packet_type == pkt.packet_type
        assert one.timestamp_offset_nano == pkt.timestamp_offset_nano
        assert one.tracks[0].data == pkt.tracks[0].data
        if type_id == VIDEO:
            assert one.frame_type == pkt.frame_type
    return True


def _nal_units(draw: st.DrawFn) -> bytes:
    units = draw(st.lists(st.binary(min_size=1, max_size=12), max_size=3))
    return b"".join(len(u).to_bytes(4, "big") + u for u in units)


@st.composite
def video_messages(draw: st.DrawFn) -> tuple[bytes, tuple[int, object], int | None]:
    """A valid video message, the (kind, key) it must get, and its TimestampOffsetNano."""
    frame_type = draw(st.sampled_from([1, 2, 3, 4, 5, 0, 7]))
    if draw(st.booleans()):  # legacy
        codec_id = draw(st.sampled_from([2, 3, 4, 5, 6, 7, 12, 13]))
        first = bytes(((frame_type << 4) | codec_id,))
        if frame_type == 5:
            return first + draw(st.binary(min_size=1, max_size=4)), (KIND_OTHER, None), None
        if codec_id not in (7, 12, 13):
            kind = KIND_KEYFRAME if frame_type == 1 else KIND_FRAME
            return first + draw(st.binary(max_size=20)), (kind, None), None
        pt = draw(st.sampled_from([0, 1, 2] if codec_id == 7 else [1, 2]))
        cts = draw(st.binary(min_size=3, max_size=3))
        body = AVC_RECORD if pt == 0 else _nal_units(draw) if pt == 1 and codec_id != 13 else b""
        want = {0: (KIND_HEADER, (VIDEO, codec_id)), 2: (KIND_OTHER, None)}.get(
            pt, (KIND_KEYFRAME if frame_type == 1 else KIND_FRAME, None))
        return first + bytes((pt,)) + cts + body, want, None
    mods = draw(st.lists(st.tuples(st.integers(0, 3), st.binary(min_size=3, max_size=300)),
                         max_size=3))
    nano_value = None
    for mtype, data in mods:
        if mtype == 0:
            nano_value = int.from_bytes(data[:3], "big")
    mt = draw(st.sampled_from([None, ONE_TRACK, MANY_TRACKS, MANY_TRACKS_MANY_CODECS]))
    if frame_type == 5:
        pt = draw(st.sampled_from([1, 4]))
    else:
        pt = draw(st.integers(0, 5))
    fourccs = [b"avc1", b"vvc1"] if pt == 0 else [b"avc1", b"hvc1", b"vvc1", b"av01", b"vp09"]
    outer_pt = 6 if mt is not None else pt
    first = bytes((0x80 | (frame_type << 4) | (7 if mods else outer_pt),))
    head = first + (mod_ex(mods, outer_pt) if mods else b"")
    if frame_type == 5 and outer_pt != 4:  # a command frame (the packet type is not Metadata)
        return head + bytes((draw(st.integers(0, 255)),)), (KIND_OTHER, None), nano_value

    def body(fourcc: bytes) -> bytes:
        if pt == 0:
            return AVC_RECORD if fourcc == b"avc1" else draw(st.binary(max_size=10))
        if pt == 4:
            return amf0.encode("colorInfo", {"colorConfig": {"bitDepth": 8.0}})
        if pt == 5:
            return draw(st.binary(max_size=10))
        if pt in (1, 3) and fourcc in (b"avc1", b"hvc1", b"vvc1"):
            return (b"\x00\x00\x05" if pt == 1 else b"") + _nal_units(draw)
        return b""

    if mt is None:
        fourcc = draw(st.sampled_from(fourccs))
        msg = head + fourcc + body(fourcc)
        key = (VIDEO, fourcc, pt)
    else:
        n = 1 if mt == ONE_TRACK else draw(st.integers(1, 3))
        ids = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))
        shared = draw(st.sampled_from(fourccs))
        ccs = [draw(st.sampled_from(fourccs)) if mt == MANY_TRACKS_MANY_CODECS else shared
               for _ in ids]
        tracks = [(tid, cc, body(cc)) for tid, cc in zip(ids, ccs, strict=True)]
        msg = head + build_multitrack(VIDEO, 0, pt, tracks, mt)[1:]
        key = (VIDEO, mt, ccs[0], ids[0], pt)
    if pt in (0, 4, 5):
        return msg, (KIND_HEADER, key), nano_value
    if pt == 2:
        return msg, (KIND_OTHER, None), nano_value
    return msg, (KIND_KEYFRAME if frame_type == 1 else KIND_FRAME, None), nano_value


@st.composite
def audio_messages(draw: st.DrawFn) -> tuple[bytes, tuple[int, object], int | None]:
    """A valid audio message, the (kind, key) it must get, and its TimestampOffsetNano."""
    if draw(st.booleans()):  # legacy
        fmt = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 14, 15]))
        first = bytes(((fmt << 4) | draw(st.integers(0, 15)),))
        if fmt != 10:
            return first + draw(st.binary(max_size=3)), (KIND_FRAME, None), None
        if draw(st.booleans()):
            return first + b"\x00\x12\x10", (KIND_HEADER, (AUDIO, 10)), None
        return first + b"\x01" + draw(st.binary(max_size=20)), (KIND_FRAME, None), None
    mods = draw(st.lists(st.tuples(st.integers(0, 3), st.binary(min_size=3, max_size=20)),
                         max_size=2))
    nano_value = None
    for mtype, data in mods:
        if mtype == 0:
            nano_value = int.from_bytes(data[:3], "big")
    mt = draw(st.sampled_from([None, ONE_TRACK, MANY_TRACKS, MANY_TRACKS_MANY_CODECS]))
    pt = draw(st.sampled_from([0, 1, 2, 4]))
    fourccs = [b"mp4a", b"Opus"] if pt == 0 else [b"mp4a", b"Opus", b".mp3", b"ac-3"]

    def body(fourcc: bytes) -> bytes:
        if pt == 0:
            return b"\x12\x10" if fourcc == b"mp4a" else OPUS_HEAD
        if pt == 4:
            return b"\x00\x02"  # MultichannelConfig, unspecified order, 2 channels
        if pt == 1 and fourcc in (b"mp4a", b"Opus"):
            return draw(st.binary(max_size=10))
        return b""

    outer_pt = 5 if mt is not None else pt
    head = bytes((0x90 | (7 if mods else outer_pt),)) + (mod_ex(mods, outer_pt) if mods else b"")
    if mt is None:
        fourcc = draw(st.sampled_from(fourccs))
        msg, key = head + fourcc + body(fourcc), (AUDIO, fourcc, pt)
    else:
        n = 1 if mt == ONE_TRACK else draw(st.integers(1, 3))
        ids = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))
        shared = draw(st.sampled_from(fourccs))
        ccs = [draw(st.sampled_from(fourccs)) if mt == MANY_TRACKS_MANY_CODECS else shared
               for _ in ids]
        tracks = [(tid, cc, body(cc)) for tid, cc in zip(ids, ccs, strict=True)]
        msg = head + build_multitrack(AUDIO, 0, pt, tracks, mt)[1:]
        key = (AUDIO, mt, ccs[0], ids[0], pt)
    want = {0: (KIND_HEADER, key), 4: (KIND_HEADER, key), 2: (KIND_OTHER, None)}.get(
        pt, (KIND_FRAME, None))
    return msg, want, nano_value


@settings(max_examples=400, deadline=None)
@given(video_messages())
def test_generated_video_parity(case):
    msg, want, nano_value = case
    assert classify(VIDEO, msg) == want
    assert check_parity(VIDEO, msg)  # the parser accepts every generated message
    assert parse_video(msg).timestamp_offset_nano == nano_value


@settings(max_examples=400, deadline=None)
@given(audio_messages())
def test_generated_audio_parity(case):
    msg, want, nano_value = case
    assert classify(AUDIO, msg) == want
    assert check_parity(AUDIO, msg)
    assert parse_audio(msg).timestamp_offset_nano == nano_value


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([AUDIO, VIDEO]),
       st.sampled_from([b"", b"\x17\x00", b"\x17\x01\x00\x00\x00", b"\x97\x02", b"\x96\x10avc1",
                        b"\x96\x20", b"\x91hvc1", b"\xd1", b"\xaf\x00", b"\x95\x10mp4a",
                        b"\x97\x02\x00\x00\x00\x06\x10avc1", b"\x90Opus"]),
       st.binary(max_size=40))
def test_garbage_parity(type_id, prefix, tail):
    """Random bytes: classify never raises; where the parser accepts them, they agree."""
    check_parity(type_id, prefix + tail)


def corpus_payloads() -> list[tuple[str, int, bytes]]:
    """Every audio/video payload in the fuzz corpus: media seeds (by their target), FLV files'
    tags, multitrack seeds of the control harness, aggregate sub-messages, and the media
    messages of the chunk harness's session streams."""
    out: list[tuple[str, int, bytes]] = []
    for path in sorted((CORPUS / "media").iterdir()):
        data = path.read_bytes()
        target = fuzz_media.TARGETS[data[0] % len(fuzz_media.TARGETS)]
        body = data[1:]
        if target in ("video", "h264"):
            out.append((path.name, VIDEO, body))
        elif target in ("audio", "aac"):
            out.append((path.name, AUDIO, body))
        elif target == "fast":
            out += [(path.name, AUDIO, body), (path.name, VIDEO, body)]
        elif target == "flv":
            out += [(f"{path.name}#{i}", t.tag_type, t.payload)
                    for i, t in enumerate(FLVReader(io.BytesIO(body)))
                    if t.tag_type in (AUDIO, VIDEO)]
    for path in sorted((CORPUS / "control").iterdir()):
        data = path.read_bytes()
        target = fuzz_control.TARGETS[data[0] % len(fuzz_control.TARGETS)]
        if target.startswith("multitrack_"):
            out.append((path.name, VIDEO if target.endswith("video") else AUDIO, data[1:]))
    for path in sorted((CORPUS / "chunk").iterdir()):
        msgs, _ = fuzz_chunk.messages(path.read_bytes()[1:], "bytesio", 1 << 16)
        out += [(f"{path.name}#{i}", m.type_id, bytes(m.payload)) for i, m in enumerate(msgs)
                if m.type_id in (AUDIO, VIDEO)]
    return out


def test_corpus_parity():
    payloads = corpus_payloads()
    accepted = [name for name, type_id, payload in payloads if check_parity(type_id, payload)]
    # The corpus is real encoder output: the parser takes nearly all of it.
    assert len(accepted) >= 100 and len(accepted) >= 0.9 * len(payloads)
    kinds = {classify(t, p)[0] for _, t, p in payloads}
    assert kinds == {KIND_HEADER, KIND_KEYFRAME, KIND_FRAME, KIND_OTHER}
    # Enhanced RTMP from FFmpeg's muxer (HEVC, VP9, AV1, Opus, AC-3...) is among them.
    enhanced = {p[:5] for n, t, p in payloads if n in accepted and read_tag_header(t, p).enhanced}
    assert len(enhanced) >= 8


def test_single_track_keeps_modex():
    msg = bytes((0x97,)) + mod_ex([nano(777)], 6) + build_multitrack(
        VIDEO, 0, 1, [(0, b"avc1", b"\0\0\0\0\0\0\x01\x65"), (1, b"avc1", b"\0\0\0")])[1:]
    assert is_multitrack(VIDEO, msg)
    one = single_track(VIDEO, msg, 0)
    assert one[0] == 0x97 and not is_multitrack(VIDEO, one)
    pkt = parse_video(one)
    assert (pkt.timestamp_offset_nano, pkt.packet_type, pkt.nalus) == (777, 1, [b"\x65"])
    assert classify(VIDEO, one) == (KIND_KEYFRAME, None)
    assert single_track(VIDEO, msg, 9) is None


# -- the reader against the construct declarations of the same bytes ------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255))
def test_reader_agrees_with_first_byte_declarations(b0, b1):
    """read_tag_header's fields are the ones VideoTagHeader / ExVideoTagHeader / AVCVideoPacket
    and AudioTagHeader / ExAudioTagHeader / AACAudioData declare."""
    payload = bytes((b0, b1)) + b"hvc1\x00\x00\x00"
    try:
        h = read_tag_header(VIDEO, payload)
    except CodecError:
        h = None
    if h is not None:
        if b0 & 0x80:
            ex = fvideo.ExVideoTagHeader.parse(payload)
            assert (h.enhanced, h.frame_type) == (True, int(ex.frame_type))
            if int(ex.packet_type) not in (6, 7):
                assert h.packet_type == int(ex.packet_type)
        else:
            legacy = fvideo.VideoTagHeader.parse(payload)
            assert (h.enhanced, h.frame_type, h.codec_id) == (False, int(legacy.frame_type),
                                                            int(legacy.codec_id))
            if h.codec_id in (7, 12, 13) and h.command is None:
                avc = fvideo.AVCVideoPacket.parse(payload[1:])
                assert h.packet_type == int(avc.avc_packet_type)
    try:
        a = read_tag_header(AUDIO, payload)
    except CodecError:
        return
    if a.enhanced:
        ex = faudio.ExAudioTagHeader.parse(payload)
        assert int(ex.sound_format) == 9 and a.packet_type == int(ex.packet_type)
    else:
        legacy = faudio.AudioTagHeader.parse(payload)
        assert (a.codec_id, a.sound_rate, a.sound_size, a.sound_type) == (
            int(legacy.sound_format), int(legacy.sound_rate), int(legacy.sound_size),
            int(legacy.sound_type))
        if a.codec_id == 10:
            assert a.packet_type == int(faac.AACAudioData.parse(payload[1:]).aac_packet_type)


@settings(max_examples=200, deadline=None)
@given(video_messages())
def test_iter_tracks_agrees_with_multitrack_declarations(case):
    """The Multitrack header and per-track headers as MultitrackHeader / TrackHeader read them."""
    msg = case[0]
    h = read_tag_header(VIDEO, msg)
    if h.multitrack_type is None:
        return
    mt = fvideo.MultitrackHeader.parse(msg[h.mod_ex_end:])
    assert (int(mt.multitrack_type), int(mt.packet_type)) == (h.multitrack_type, h.packet_type)
    pos = h.mod_ex_end + 1 + (4 if h.multitrack_type != MANY_TRACKS_MANY_CODECS else 0)
    if h.fourcc is not None:
        assert fvideo.VideoFourCC.parse(msg[pos - 4:pos]) == h.fourcc.decode()
    for track_id, fourcc, start, end in iter_tracks(h, msg):
        th = fvideo.TrackHeader.parse(msg[pos:], multitrack_type=h.multitrack_type)
        assert th.track_id == track_id
        if th.fourcc is not None:
            assert th.fourcc == fourcc.decode()
        if th.size is not None:
            assert th.size == end - start
        pos = end
