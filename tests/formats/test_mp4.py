"""grtmp.formats.mp4: ISO BMFF box declarations; the struct fragment writer agrees with them;
they read what FFmpeg's MP4 muxer writes; the inspector and grtmp-inspect show fMP4."""

from __future__ import annotations

import io
import json

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.cli.inspect import main as inspect_main
from grtmp.errors import FormatError
from grtmp.formats.mp4 import (
    SAMPLE_FLAGS_NON_SYNC,
    SAMPLE_FLAGS_SYNC,
    Box,
    Boxes,
    Descriptor,
    OpusSpecificBox,
)
from grtmp.hls.fmp4 import (
    Sample,
    TrackConfig,
    TrackRun,
    build_fragment,
    build_fragment_declared,
    build_init_segment,
)
from grtmp.hls.inspect import describe_mp4, format_mp4_tree, is_mp4, parse_mp4

# avcC of a 160x120 libx264 ultrafast stream (Constrained Baseline, level 1.1)
from tests.helpers.hls import AAC, ASC, OPUS, VIDEO  # noqa: E402


def _children(box):
    return {c.type: c for c in box.body.children}


# --------------------------------------------------------------------------------------------
# Layouts against the spec's bytes
# --------------------------------------------------------------------------------------------


def test_ftyp_bytes_and_brands_readable() -> None:
    data = Box.build({"type": "ftyp", "body": {"major_brand": "iso6", "minor_version": 0,
                                               "compatible_brands": ["iso6", "mp41"]}})
    assert data == bytes.fromhex("00000018" "66747970" "69736f36" "00000000"
                                 "69736f36" "6d703431")
    box = Box.parse(data)
    assert (box.type, box.size, box.body.major_brand) == ("ftyp", 24, "iso6")
    assert list(box.body.compatible_brands) == ["iso6", "mp41"]


def test_full_box_flags_are_named_and_trun_fields_follow_them() -> None:
    trun = {"type": "trun", "body": {
        "version": 1,
        "flags": {"data_offset_present": True, "sample_duration_present": True,
                  "sample_size_present": True, "sample_composition_time_offsets_present": True},
        "data_offset": 100,
        "samples": [{"duration": 3000, "size": 7, "composition_time_offset": -3000}],
    }}
    data = Box.build(trun)
    # size, 'trun', version 1, flags 0x000B01, count 1, offset 100, dur, size, cts (signed)
    assert data == bytes.fromhex("00000020" "7472756e" "01000b01" "00000001" "00000064"
                                 "00000bb8" "00000007" "fffff448")
    parsed = Box.parse(data).body
    assert parsed.flags.sample_composition_time_offsets_present
    assert not parsed.flags.sample_flags_present
    assert parsed.samples[0].flags is None and parsed.samples[0].composition_time_offset == -3000
    # version 0: the same bits are an unsigned offset
    v0 = data[:8] + b"\x00" + data[9:]
    assert Box.parse(v0).body.samples[0].composition_time_offset == 0xFFFFF448


def test_sample_flags_named() -> None:
    tfhd = Box.parse(Box.build({"type": "tfhd", "body": {
        "flags": {"default_base_is_moof": True, "default_sample_flags_present": True},
        "track_id": 2, "default_sample_flags": SAMPLE_FLAGS_NON_SYNC}}))
    f = tfhd.body.default_sample_flags
    assert f.sample_depends_on == 1 and f.sample_is_non_sync_sample is True
    assert tfhd.body.flags.default_base_is_moof and tfhd.body.base_data_offset is None


def test_tfdt_version_1_is_64_bit() -> None:
    data = Box.build({"type": "tfdt", "body": {"version": 1, "flags": 0,
                                               "base_media_decode_time": 1 << 40}})
    assert data == bytes.fromhex("00000014" "74666474" "01000000" "0000010000000000")
    assert Box.parse(data).body.base_media_decode_time == 1 << 40


def test_mdhd_language_and_hdlr_type() -> None:
    mdhd = Box.build({"type": "mdhd", "body": {"version": 0, "flags": 0, "creation_time": 0,
                                               "modification_time": 0, "timescale": 90000,
                                               "duration": 0}})
    assert mdhd[-4:-2] == bytes.fromhex("55c4")  # 'und' packed (ISO 639-2/T)
    assert Box.parse(mdhd).body.language == "und"
    hdlr = Box.parse(Box.build({"type": "hdlr", "body": {
        "flags": 0, "handler_type": "soun", "name": "SoundHandler"}}))
    assert hdlr.body.handler_type == "soun" and hdlr.body.name == "SoundHandler"


def test_largesize_and_size_zero_boxes() -> None:
    # size 1 + 64-bit largesize (14496-12 4.2)
    large = b"\x00\x00\x00\x01free" + (16 + 3).to_bytes(8, "big") + b"abc"
    box = Box.parse(large)
    assert (box.type, box.size, box.header_size, box.body) == ("free", 19, 16, b"abc")
    # size 0: to the end of the file
    box = Box.parse(b"\x00\x00\x00\x00mdat" + b"xyz")
    assert (box.size, box.body.data) == (11, b"xyz")
    with pytest.raises(Exception, match="smaller than its header"):
        Box.parse(b"\x00\x00\x00\x05free")


def test_esds_descriptor_lengths() -> None:
    """Descriptor sizes are 1-4 bytes of 7 bits ("expandable"); we write the 4-byte form."""
    short = bytes([5, 2]) + ASC
    assert Descriptor.parse(short).body == ASC
    built = Descriptor.build({"tag": "DecoderSpecificInfo", "body": ASC})
    assert built == bytes([5, 0x80, 0x80, 0x80, 2]) + ASC
    assert Descriptor.parse(built).body == ASC


def test_dops_is_big_endian_opus_head() -> None:
    data = OpusSpecificBox.build({"output_channel_count": 2, "pre_skip": 312,
                                  "input_sample_rate": 48000})
    assert data == bytes.fromhex("00" "02" "0138" "0000bb80" "0000" "00")


# --------------------------------------------------------------------------------------------
# Init segments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tracks", [[VIDEO, AAC], [VIDEO], [AAC], [OPUS], [VIDEO, OPUS]])
def test_init_segment_round_trip(tracks: list[TrackConfig]) -> None:
    data = build_init_segment(tracks)
    boxes = parse_mp4(data)
    assert [b.type for b in boxes] == ["ftyp", "moov"]
    assert Boxes.build(boxes) == data  # parse -> build gives the same bytes
    moov = boxes[1]
    traks = [c for c in moov.body.children if c.type == "trak"]
    assert len(traks) == len(tracks)
    for i, (trak, track) in enumerate(zip(traks, tracks), 1):
        tkhd = _children(trak)["tkhd"].body
        assert tkhd.track_id == i and tkhd.flags.track_enabled
        mdia = _children(trak)["mdia"]
        assert _children(mdia)["mdhd"].body.timescale == track.timescale
        stbl = _children(_children(mdia)["minf"])["stbl"]
        entry = _children(stbl)["stsd"].body.entries[0]
        config = entry.body.children[0]
        if track.codec == "avc":
            assert (entry.type, entry.body.width, entry.body.height) == ("avc1", 160, 120)
            assert config.type == "avcC" and config.body.avc_profile_indication == 66
        elif track.codec == "aac":
            assert entry.type == "mp4a" and entry.body.samplerate >> 16 == 48000
            es = config.body.descriptor.body
            dec = es.descriptors[0].body
            assert dec.object_type_indication == "mpeg4_audio"
            assert dec.descriptors[0].body == ASC
        else:
            assert entry.type == "Opus" and config.type == "dOps"
            assert (config.body.pre_skip, config.body.output_channel_count) == (312, 2)
    mvex = _children(moov)["mvex"]
    assert [t.body.track_id for t in mvex.body.children] == list(range(1, len(tracks) + 1))


# --------------------------------------------------------------------------------------------
# Fragments: struct hot path == construct declarations
# --------------------------------------------------------------------------------------------

_samples = st.lists(
    st.builds(Sample, dts=st.just(0), duration=st.integers(0, 2**32 - 1),
              data=st.binary(max_size=40), keyframe=st.booleans(),
              cts=st.integers(-(2**31), 2**31 - 1)),
    min_size=1, max_size=12)


@st.composite
def _runs(draw):
    runs = []
    kinds = draw(st.sampled_from([["video"], ["audio"], ["video", "audio"]]))
    for track_id, kind in enumerate(kinds, 1):
        samples = draw(_samples)
        samples[0].dts = draw(st.integers(0, 2**64 - 1))
        if kind == "audio":
            for s in samples:
                s.cts, s.keyframe = 0, True
        runs.append(TrackRun(track_id, kind, samples))
    return runs


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 2**32 - 1), runs=_runs())
def test_struct_fragment_equals_declaration(seq: int, runs: list[TrackRun]) -> None:
    fast = build_fragment(seq, runs)
    assert fast == build_fragment_declared(seq, runs)
    moof, mdat = parse_mp4(fast)
    assert moof.body.children[0].body.sequence_number == seq
    payload = b"".join(s.data for r in runs for s in r.samples)
    assert mdat.body.data == payload
    for traf, run in zip(moof.body.children[1:], runs):
        tfhd, tfdt, trun = traf.body.children
        assert tfhd.body.track_id == run.track_id and tfhd.body.flags.default_base_is_moof
        assert tfdt.body.base_media_decode_time == run.samples[0].dts
        offset = trun.body.data_offset
        for s, rec in zip(run.samples, trun.body.samples):
            assert (rec.duration, rec.size) == (s.duration, len(s.data))
            assert fast[offset:offset + len(s.data)] == s.data  # data_offset from the moof
            offset += len(s.data)
            if run.kind == "video":
                assert rec.composition_time_offset == s.cts
                assert rec.flags.sample_is_non_sync_sample is (not s.keyframe)
            else:
                assert rec.flags is None
        if run.kind == "audio":
            assert tfhd.body.default_sample_flags.sample_depends_on == 2


def test_sync_flags_values() -> None:
    assert SAMPLE_FLAGS_SYNC == 0x02000000 and SAMPLE_FLAGS_NON_SYNC == 0x01010000


# --------------------------------------------------------------------------------------------
# Reading what FFmpeg writes
# --------------------------------------------------------------------------------------------


def test_declarations_read_ffmpeg_fragmented_mp4() -> None:
    import numpy as np

    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4",
                  options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    vs = out.add_stream("libx264", rate=25)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    vs.options = {"g": "10", "bf": "0"}
    a = out.add_stream("aac", rate=48000)
    a.layout = "stereo"
    for i in range(30):
        f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
        f.pts = i
        for p in vs.encode(f):
            out.mux(p)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 3840), np.int16), format="s16",
                                        layout="stereo")
        af.sample_rate, af.pts = 48000, i * 1920
        for p in a.encode(af):
            out.mux(p)
    for s in (vs, a):
        for p in s.encode(None):
            out.mux(p)
    out.close()
    data = buf.getvalue()
    boxes = parse_mp4(data)
    types = [b.type for b in boxes]
    assert types[:2] == ["ftyp", "moov"] and "moof" in types and "mdat" in types
    # every byte accounted for, nothing left unparsed inside known boxes
    assert sum(b.size for b in boxes) == len(data)
    tree = describe_mp4(data, strict=True)
    text = format_mp4_tree(tree)
    for name in ("avc1", "avcC", "mp4a", "esds", "trex", "tfhd", "tfdt", "trun"):
        assert name in text
    video_samples = 0
    for moof in (b for b in boxes if b.type == "moof"):
        for traf in moof.body.children[1:]:
            tfhd, *rest = traf.body.children
            trun = next(c for c in rest if c.type == "trun")
            if tfhd.body.track_id == 1:
                video_samples += trun.body.sample_count
    assert video_samples == 30


# --------------------------------------------------------------------------------------------
# Inspection and garbage
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_gives_format_error_only(data: bytes) -> None:
    try:
        parse_mp4(data)
    except FormatError:
        pass
    tree = describe_mp4(data)  # lenient: never raises
    assert isinstance(tree, list)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupted_init_segment_never_crashes(data) -> None:
    init = bytearray(build_init_segment([VIDEO, AAC]))
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(init) - 1))
        init[pos] = data.draw(st.integers(0, 255))
    try:
        describe_mp4(bytes(init), strict=True)
    except FormatError:
        pass


def test_describe_offsets_are_absolute() -> None:
    data = build_init_segment([VIDEO, AAC])
    tree = describe_mp4(data, strict=True)

    def walk(nodes):
        for n in nodes:
            assert data[n["offset"] + 4:n["offset"] + 8].decode("latin-1") == n["type"]
            assert int.from_bytes(data[n["offset"]:n["offset"] + 4], "big") == n["size"]
            walk(n.get("children", []))

    walk(tree)
    assert describe_mp4(data[:100])[-1]["error"].startswith("bad box at offset 24")
    with pytest.raises(FormatError):
        describe_mp4(data[:100], strict=True)


def test_is_mp4() -> None:
    assert is_mp4(build_init_segment([AAC])[:8])
    assert not is_mp4(b"FLV\x01\x05\x00\x00\x00\x09")
    assert not is_mp4(b"\x00\x00")


def test_grtmp_inspect_shows_fmp4(tmp_path, capsys) -> None:
    init = tmp_path / "init0.mp4"
    init.write_bytes(build_init_segment([VIDEO, AAC]))
    part = tmp_path / "part0.m4s"
    part.write_bytes(build_fragment(7, [TrackRun(1, "video", [Sample(900, 3600, b"abc")])]))
    assert inspect_main([str(init)]) == 0
    text = capsys.readouterr().out
    assert "MP4, 2 top-level boxes" in text and "avcC" in text and "handler_type=vide" in text
    assert inspect_main([str(part), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    moof = result["boxes"][0]
    assert moof["type"] == "moof"
    assert moof["children"][0]["fields"]["sequence_number"] == 7
    tfdt = moof["children"][1]["children"][1]
    assert tfdt["fields"]["base_media_decode_time"] == 900
    trun = moof["children"][1]["children"][2]
    assert "sample_composition_time_offsets_present" in trun["fields"]["flags"]
