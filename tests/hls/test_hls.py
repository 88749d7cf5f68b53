"""grtmp.hls: codec strings and frame durations, the RTMP source adapter, the segmenter's cuts
and memory bound, the LL-HLS playlist, blocking reload and resource lookup."""

from __future__ import annotations

import re
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.errors import CodecError
from grtmp.formats.av1 import AV1CodecConfigurationRecord
from grtmp.formats.hevc import HEVCDecoderConfigurationRecord
from grtmp.hls import (
    NOT_READY,
    BadRequest,
    DeliveryDirectives,
    HLSConfig,
    HLSStream,
    MediaSource,
    Sample,
    Segmenter,
    TrackConfig,
    TracksChanged,
    parse_delivery_directives,
)
from grtmp.hls.codecs import (
    aac_codec_string,
    aac_frame_length,
    av1_codec_string,
    avc_codec_string,
    hevc_codec_string,
    opus_packet_samples,
    strip_temporal_delimiters,
)
from grtmp.hls.inspect import parse_mp4
from grtmp.hls.playlist import advance_part_limit, get_resource, has_part, reload_ready
from grtmp.hls.source import MediaSample
from grtmp.media import parse_av1_config
from tests.helpers.hls import AAC, ASC, AVCC, OPUS, VIDEO, encode_flv, flv_messages, publish, uris

# --------------------------------------------------------------------------------------------
# Helpers: a synthetic stream (25 fps video, key frame every `gop`, AAC 48 kHz)
# --------------------------------------------------------------------------------------------


def feed_synthetic(seg: Segmenter, seconds: float, *, gop: int = 25, video: bool = True,
                   audio: bool = True, start: float = 0.0, key_every: int | None = None) -> int:
    """Push samples in decode-time order; return parts published."""
    events = []
    if video:
        first = round(start * 25)
        for i in range(first, first + round(seconds * 25)):
            key = (i % gop == 0) if key_every is None else (i % key_every == 0)
            events.append((i / 25, "video", Sample(i * 3600, 3600, bytes([i % 256]) * 10,
                                                   keyframe=key, cts=3600 if i % 3 else 0)))
    if audio:
        first = round(start * 48000 / 1024)
        for i in range(first, first + round(seconds * 48000 / 1024)):
            events.append((i * 1024 / 48000, "audio", Sample(i * 1024, 1024, b"a" * 6)))
    events.sort(key=lambda e: (e[0], e[1]))
    return sum(seg.add_sample(kind, s) for _, kind, s in events)


def make(config: HLSConfig | None = None, *, video: bool = True, audio: bool = True,
         clock=lambda: 1_700_000_000.0) -> Segmenter:
    seg = Segmenter(config or HLSConfig(), clock=clock)
    seg.set_tracks([t for t, on in ((VIDEO, video), (AAC, audio)) if on])
    return seg


def parts_of(playlist: str) -> list[tuple[float, str, bool]]:
    out = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PART:"):
            d = float(re.search(r"DURATION=([\d.]+)", line).group(1))
            uri = re.search(r'URI="([^"]+)"', line).group(1)
            out.append((d, uri, "INDEPENDENT=YES" in line))
    return out


def tag(playlist: str, name: str) -> str | None:
    for line in playlist.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return None


# --------------------------------------------------------------------------------------------
# Codec strings and durations
# --------------------------------------------------------------------------------------------


def test_avc_codec_string() -> None:
    assert avc_codec_string(AVCC) == "avc1.42c00b"
    assert avc_codec_string(bytes.fromhex("0164001f")) == "avc1.64001f"
    with pytest.raises(CodecError):
        avc_codec_string(b"\x01")


def _hvcc(profile: int, compat: int, tier: bool, level: int, constraints: bytes) -> bytes:
    return HEVCDecoderConfigurationRecord.build({
        "configuration_version": 1,
        "profile": {"general_profile_space": 0, "general_tier_flag": tier,
                    "general_profile_idc": profile},
        "general_profile_compatibility_flags": compat,
        "general_constraint_indicator_flags": constraints,
        "general_level_idc": level,
        "bits": {"reserved1": 15, "min_spatial_segmentation_idc": 0, "reserved2": 63,
                 "parallelism_type": 0, "reserved3": 63, "chroma_format_idc": 1,
                 "reserved4": 31, "bit_depth_luma_minus8": 0, "reserved5": 31,
                 "bit_depth_chroma_minus8": 0, "avg_frame_rate": 0, "constant_frame_rate": 0,
                 "num_temporal_layers": 1, "temporal_id_nested": True,
                 "length_size_minus_one": 3},
        "num_of_arrays": 0, "arrays": [],
    })


def test_hevc_codec_string() -> None:
    # ISO/IEC 14496-15 E.3 examples: Main profile level 3.1 and Main 10 level 4.1 high tier
    assert hevc_codec_string(_hvcc(1, 0x60000000, False, 93, b"\xb0" + bytes(5))) == \
        "hvc1.1.6.L93.B0"
    assert hevc_codec_string(_hvcc(2, 0x20000000, True, 123, b"\xb0" + bytes(5))) == \
        "hvc1.2.4.H123.B0"
    assert hevc_codec_string(_hvcc(1, 0x60000000, False, 93, bytes(6))) == "hvc1.1.6.L93"
    with pytest.raises(CodecError):
        hevc_codec_string(b"\x01\x02")


def test_av1_codec_string() -> None:
    rec = AV1CodecConfigurationRecord.build({"bits": {
        "marker": True, "version": 1, "seq_profile": 0, "seq_level_idx_0": 8,
        "seq_tier_0": False, "high_bitdepth": False, "twelve_bit": False, "monochrome": False,
        "chroma_subsampling_x": True, "chroma_subsampling_y": True,
        "chroma_sample_position": 0, "reserved": 0, "initial_presentation_delay_present": False,
        "initial_presentation_delay_minus_one": 0}, "config_obus": b""})
    assert av1_codec_string(parse_av1_config(rec)) == "av01.0.08M.08"


def test_aac_codec_string_and_frame_length() -> None:
    assert aac_codec_string(ASC) == "mp4a.40.2"
    assert aac_frame_length(ASC) == 1024
    assert aac_frame_length(bytes([0x11, 0x94])) == 960  # frameLengthFlag set
    assert aac_codec_string(bytes([0x2B, 0x92, 0x08, 0x00])) == "mp4a.40.5"  # HE-AAC


@pytest.mark.parametrize(("toc", "samples"), [
    (bytes([0xFC]), 960),  # CELT 20 ms, code 0
    (bytes([0xF8 | 1]), 1920),  # CELT 20 ms, two frames
    (bytes([0x78]), 960),  # hybrid 20 ms
    (bytes([0x18]), 2880),  # SILK 60 ms
    (bytes([0x80 | 3, 0x06]), 6 * 120),  # CELT 2.5 ms x 6 (code 3)
])
def test_opus_durations(toc: bytes, samples: int) -> None:
    assert opus_packet_samples(toc + b"\x00" * 4) == samples


def test_opus_bad_packets() -> None:
    for bad in (b"", bytes([0x03]), bytes([0x1B, 0x03]), bytes([0x03, 0x00])):
        with pytest.raises(CodecError):
            opus_packet_samples(bad)


def test_strip_temporal_delimiters() -> None:
    td = b"\x12\x00"
    frame = b"\x32\x03abc"  # OBU_FRAME with size 3
    assert strip_temporal_delimiters(td + frame) == frame
    assert strip_temporal_delimiters(frame) == frame
    assert strip_temporal_delimiters(td + frame + b"\x30xyz") == frame + b"\x30xyz"
    with pytest.raises(CodecError):
        strip_temporal_delimiters(b"\x32\x09ab")


# --------------------------------------------------------------------------------------------
# The source adapter, on real encodes
# --------------------------------------------------------------------------------------------

_CODEC_STRINGS = {
    ("libx264", "aac"): (r"avc1\.42c0[0-9a-f]{2}", "mp4a.40.2"),
    ("libx265", "aac"): (r"hvc1\.1\.6\.L\d+\.90", "mp4a.40.2"),
    ("libsvtav1", "libopus"): (r"av01\.0\.\d\dM\.08", "opus"),
}


@pytest.mark.parametrize(("vcodec", "acodec"), list(_CODEC_STRINGS))
def test_source_configs_and_samples(vcodec: str, acodec: str) -> None:
    messages = flv_messages(encode_flv(vcodec, acodec, seconds=1.0))
    src = MediaSource()
    events = [e for m in messages for e in src.feed(*m)] + src.flush()
    changes = [e for e in events if isinstance(e, TracksChanged)]
    assert len(changes) == 1
    v, a = changes[0].video, changes[0].audio
    vre, astr = _CODEC_STRINGS[(vcodec, acodec)]
    assert re.fullmatch(vre, v.codec_string), v.codec_string
    assert a.codec_string == astr
    assert (v.width, v.height, v.timescale) == (160, 120, 90000)
    assert (a.timescale, a.channels) == (48000, 2)
    video = [e.sample for e in events if isinstance(e, MediaSample) and e.kind == "video"]
    audio = [e.sample for e in events if isinstance(e, MediaSample) and e.kind == "audio"]
    assert len(video) == 25 and video[0].keyframe
    assert all(s.duration == 3600 for s in video)  # 40 ms at 90 kHz, from the next dts
    frame = 1024 if acodec == "aac" else 960
    assert all(s.duration == frame for s in audio)
    assert [s.dts for s in audio] == [audio[0].dts + i * frame for i in range(len(audio))]
    if vcodec == "libsvtav1":
        assert not any(s.data.startswith(b"\x12\x00") for s in video)  # no temporal delimiter


def test_source_waits_for_both_sequence_headers_then_probes() -> None:
    messages = flv_messages(encode_flv("libx264", "aac", seconds=2.0))
    video_only = [m for m in messages if m[0] != 8]
    src = MediaSource(probe_ms=500)
    events = []
    for m in video_only:
        events += src.feed(*m)
        if events:
            break
    # no audio header: the tracks are announced once 500 ms of media has gone by
    assert isinstance(events[0], TracksChanged) and events[0].audio is None
    assert m[1] >= 500
    src2 = MediaSource(expect_audio=False)
    first = []
    for m in video_only:
        first = src2.feed(*m)
        if first:
            break
    assert m[1] == 0 and isinstance(first[0], TracksChanged)  # told not to wait


def test_source_metadata_says_which_tracks() -> None:
    from grtmp.amf import amf0

    meta = amf0.encode("@setDataFrame", "onMetaData", {"audiocodecid": 10.0})
    src = MediaSource()
    src.feed(18, 0, meta)
    assert (src.expect_video, src.expect_audio) == (False, True)
    asc = bytes([0xAF, 0x00]) + ASC
    events = src.feed(8, 0, asc)
    assert isinstance(events[0], TracksChanged) and events[0].video is None


def test_source_config_change_and_repeat() -> None:
    messages = flv_messages(encode_flv("libx264", "aac", seconds=1.0))
    seq = next(m for m in messages if m[0] == 9)
    src = MediaSource()
    events = [e for m in messages for e in src.feed(*m)]
    assert sum(isinstance(e, TracksChanged) for e in events) == 1
    assert src.feed(9, 2000, seq[2]) == []  # the same header again: nothing changes
    other = bytearray(seq[2])
    other[-1] ^= 1  # another PPS: a real change
    events = src.feed(9, 2000, bytes(other))
    assert isinstance(events[-1], TracksChanged)
    assert isinstance(events[0], MediaSample) and events[0].kind == "video"  # held frame out


def _aac_msg(ts: int) -> tuple[int, int, bytes]:
    return (8, ts, bytes([0xAF, 0x01]) + b"\x21\x00" * 4)


def test_source_audio_timeline_and_gaps() -> None:
    src = MediaSource(expect_video=False)
    src.feed(8, 0, bytes([0xAF, 0x00]) + ASC)
    samples = []
    # 21.33 ms frames with millisecond timestamps: exact sample counts, no jitter
    for i in range(20):
        samples += [e.sample for e in src.feed(*_aac_msg(i * 1024 * 1000 // 48000))
                    if isinstance(e, MediaSample)]
    samples += [e.sample for e in src.feed(*_aac_msg(2000)) if isinstance(e, MediaSample)]
    dts = [s.dts for s in samples]
    assert dts[:20] == [i * 1024 for i in range(20)]
    assert dts[20] == 96000  # a real gap (> 100 ms) is kept
    # a frame far behind the timeline overlaps what was sent: dropped
    assert src.feed(*_aac_msg(1900)) == [] and src.dropped == 1


def test_source_timestamp_wrap_and_jumps() -> None:
    src = MediaSource(expect_audio=False)
    messages = flv_messages(encode_flv("libx264", None, seconds=2.0))
    base = (1 << 32) - 1000  # wraps after one second
    out = []
    for t, ts, p in messages:
        out += src.feed(t, (ts + base) & 0xFFFFFFFF, p)
    out += src.flush()
    dts = [e.sample.dts for e in out if isinstance(e, MediaSample)]
    assert len(dts) == 50
    assert {b - a for a, b in zip(dts, dts[1:])} == {3600}
    # a clock restart (back to 0) continues the timeline
    src2 = MediaSource(expect_audio=False)
    out = []
    for t, ts, p in messages[:30]:
        out += src2.feed(t, ts + 100_000, p)
    for t, ts, p in messages[30:]:
        out += src2.feed(t, ts, p)
    out += src2.flush()
    dts = [e.sample.dts for e in out if isinstance(e, MediaSample)]
    assert dts == sorted(dts) and max(b - a for a, b in zip(dts, dts[1:])) <= 3600 * 2


def test_source_drops_until_keyframe_and_ignores_other_codecs() -> None:
    messages = flv_messages(encode_flv("libx264", None, seconds=2.0, gop=25))
    seq = next(m for m in messages if m[0] == 9)
    frames = [m for m in messages if m[0] == 9 and m is not seq]
    src = MediaSource(expect_audio=False)
    out = src.feed(*seq)
    for m in frames[5:]:  # starts mid-GOP
        out += src.feed(*m)
    video = [e.sample for e in out if isinstance(e, MediaSample)]
    assert video[0].keyframe and video[0].dts == 25 * 3600
    assert src.dropped == 20
    # MP3 audio is not muxed; it is ignored, not an error
    assert src.feed(8, 0, bytes([0x2F]) + b"\xff\xfb\x90\x00" + bytes(100)) == []


def test_hls_stream_skips_bad_messages() -> None:
    hls = HLSStream(HLSConfig(), name="bad", expect_audio=False)
    assert hls.feed(9, 0, b"\x17\x00\x00\x00\x00\x01") == 0  # truncated avcC
    assert hls.feed(9, 0, b"\x17\x01") == 0
    assert hls.errors == 2
    messages = flv_messages(encode_flv("libx264", None, seconds=3.0))
    assert publish(hls, messages) > 0 and hls.ready


# --------------------------------------------------------------------------------------------
# Segmenter cuts
# --------------------------------------------------------------------------------------------


def test_segments_cut_on_keyframes_after_target_and_parts_bounded() -> None:
    seg = make(HLSConfig(segment_duration=2.0, part_duration=0.5, max_segments=20))
    feed_synthetic(seg, 11.0, gop=15)  # key frames every 0.6 s
    seg.finish()
    durations = [s.duration for s in seg.segments]
    # each segment ends at the first key frame at or after 2 s: 2.4 s (4 GOPs of 0.6 s)
    assert durations[:-1] == pytest.approx([2.4] * (len(durations) - 1))
    for s in seg.segments:
        assert s.parts[0].independent  # every segment starts with a key frame
        assert all(p.duration <= 0.5 + 1e-9 for p in s.parts)
        assert all(p.duration >= 0.85 * 0.5 for p in s.parts[:-1] if not p.independent)
        assert s.data == b"".join(s.part_bytes(p) for p in s.parts)
        first = parse_mp4(s.part_bytes(s.parts[0]))
        assert first[0].body.children[1].body.children[1].body.base_media_decode_time == round(
            s.start * 90000)
    assert seg.target_duration == 2
    assert sum(s.duration for s in seg.segments) == pytest.approx(11.0, abs=0.05)


def test_long_gop_raises_target_duration() -> None:
    seg = make(HLSConfig(segment_duration=2.0))
    feed_synthetic(seg, 9.0, gop=75)  # 3 s GOPs
    assert [round(s.duration, 3) for s in seg.segments] == [3.0, 3.0]
    assert seg.target_duration == 3


def test_stream_without_keyframes_still_cuts_segments() -> None:
    seg = make(HLSConfig(segment_duration=2.0, max_segment_duration=4.0))
    feed_synthetic(seg, 13.0, key_every=10_000)
    assert [round(s.duration, 3) for s in seg.segments] == [4.0, 4.0, 4.0]
    assert not seg.segments[1].parts[0].independent


def test_audio_only_cut_by_time_all_independent() -> None:
    seg = make(HLSConfig(segment_duration=1.0, part_duration=0.25), video=False)
    feed_synthetic(seg, 5.0, video=False)
    assert len(seg.segments) == 4
    for s in seg.segments:
        assert 1.0 <= s.duration < 1.0 + 1024 / 48000 + 1e-9
        assert all(p.independent for p in s.parts)
        assert all(p.duration <= 0.25 for p in s.parts)


def test_video_only() -> None:
    seg = make(audio=False)
    feed_synthetic(seg, 7.0, audio=False)
    assert [round(s.duration, 3) for s in seg.segments] == [2.0, 2.0, 2.0]
    moof = parse_mp4(seg.segments[0].part_bytes(seg.segments[0].parts[0]))[0]
    assert len(moof.body.children) == 2  # mfhd + one traf


def test_audio_waits_for_video_part_boundaries() -> None:
    """Audio samples go to the part their decode time falls in."""
    seg = make(HLSConfig(part_duration=0.5))
    feed_synthetic(seg, 4.5)
    for s in seg.segments:
        t = s.start
        for p in s.parts:
            moof = parse_mp4(s.part_bytes(p))[0]
            trafs = {tr.body.children[0].body.track_id: tr for tr in moof.body.children[1:]}
            v0 = trafs[1].body.children[1].body.base_media_decode_time / 90000
            a0 = trafs[2].body.children[1].body.base_media_decode_time / 48000
            assert v0 == pytest.approx(t)
            assert t - 1024 / 48000 < a0 < t + 1024 / 48000
            t += p.duration


def test_stalled_audio_does_not_stall_parts() -> None:
    seg = make(HLSConfig(max_interleave=1.0))
    feed_synthetic(seg, 1.0)
    n = feed_synthetic(seg, 5.0, audio=False, start=1.0)  # the audio stops
    assert n >= 10 and len(seg.segments) >= 2


def test_stalled_video_cuts_parts_on_audio() -> None:
    seg = make(HLSConfig(max_interleave=0.5, max_segment_duration=4.0))
    feed_synthetic(seg, 1.0)
    before = seg.parts_published
    n = feed_synthetic(seg, 6.0, video=False, start=1.0)  # the video stops
    assert n >= 10 and seg.parts_published == before + n
    assert len(seg.segments) >= 1  # forced at max_segment_duration


def _samples_in(data: bytes) -> dict[int, list[tuple[int, int, bytes, int]]]:
    """(dts, duration, bytes, cts) per track id, read back from fragments with the
    declarations: decode times rebuilt from tfdt and the trun durations."""
    out: dict[int, list[tuple[int, int, bytes, int]]] = {}
    boxes = parse_mp4(data)
    for moof, mdat in zip(boxes[::2], boxes[1::2]):
        assert (moof.type, mdat.type) == ("moof", "mdat")
        for traf in moof.body.children[1:]:
            tfhd, tfdt, trun = traf.body.children
            t = tfdt.body.base_media_decode_time
            pos = trun.body.data_offset
            for rec in trun.body.samples:
                body = data[moof.offset + pos:moof.offset + pos + rec.size]
                out.setdefault(tfhd.body.track_id, []).append(
                    (t, rec.duration, body, rec.composition_time_offset or 0))
                t += rec.duration
                pos += rec.size
    return out


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(st.tuples(st.integers(1800, 5400), st.booleans()), min_size=1,
                    max_size=200),
    audio=st.booleans(),
    video=st.booleans(),
    part=st.sampled_from([0.2, 1 / 3, 0.5]),
)
def test_segmenter_keeps_every_sample_in_order(frames, audio, video, part) -> None:
    """Whatever the frame timing and key frames: every sample comes out once, in order, with
    its decode time, duration, bytes and composition offset; parts respect the part target;
    segments start with a key frame unless forced."""
    if not audio and not video:
        video = True
    seg = make(HLSConfig(segment_duration=1.0, part_duration=part, max_segments=1000,
                         max_segment_duration=3.0), video=video, audio=audio)
    events = []
    t = 0
    sent_v, sent_a = [], []
    for i, (duration, key) in enumerate(frames):
        if video:
            smp = Sample(t, duration, i.to_bytes(2, "big") * 3, keyframe=key or i == 0,
                         cts=(i % 3) * 1800 - 1800)
            sent_v.append(smp)
            events.append((t / 90000, 0, smp))
        t += duration
    n_audio = t * 48000 // 90000 // 1024 if video else len(frames)
    for j in range(n_audio if audio else 0):
        smp = Sample(j * 1024, 1024, b"A" + j.to_bytes(3, "big"))
        sent_a.append(smp)
        events.append((j * 1024 / 48000, 1, smp))
    events.sort(key=lambda e: (e[0], e[1]))
    for _, kind, smp in events:
        seg.add_sample("video" if kind == 0 else "audio", smp)
    seg.finish()
    data = b"".join(s.data for s in seg.segments)
    got = _samples_in(data)
    ids = {}
    if video:
        ids[1] = sent_v
    if audio and sent_a:
        ids[2 if video else 1] = sent_a
    assert set(got) == set(ids)
    for tid, sent in ids.items():
        assert got[tid] == [(s.dts, s.duration, s.data, s.cts) for s in sent]
    for s in seg.segments:
        assert s.data == b"".join(s.part_bytes(p) for p in s.parts)
        for p in s.parts[:-1]:
            assert p.duration <= part + 1e-6 or p.duration <= 5400 / 90000 + 1e-6
        if video and s.msn > 0 and s.duration < 3.0 - 1e-6:
            assert s.parts[0].independent
    numbers = [p.number for s in seg.segments for p in s.parts]
    assert numbers == list(range(len(numbers)))


def _held_bytes(seg: Segmenter) -> int:
    segs = list(seg.segments) + ([seg.current] if seg.current else [])
    return sum(s.size for s in segs) + sum(len(p.data or b"") for s in segs for p in s.parts)


def test_memory_bound_after_many_segments() -> None:
    cfg = HLSConfig(segment_duration=1.0, max_segments=5, retain_segments=10)
    seg = make(cfg)
    feed_synthetic(seg, 100.0)
    held_100 = _held_bytes(seg)
    feed_synthetic(seg, 100.0, start=100.0)
    assert len(seg.segments) == 15 and seg.segments[-1].msn == 198
    assert len(seg.listed_segments) == 5
    # complete segments hold their parts' bytes once (parts are slices of them)
    assert all(p.data is None for s in seg.segments for p in s.parts)
    assert len(seg.init_segments()) == 1
    # twice the stream, the same memory (within a segment)
    assert abs(_held_bytes(seg) - held_100) <= seg.segments[-1].size
    # 15 segments and the open one
    assert _held_bytes(seg) <= 16 * max(s.size for s in seg.segments)
    # the oldest retained segment's parts are still served
    oldest = seg.segments[0]
    assert get_resource(seg, f"part{oldest.parts[-1].number}.m4s") == oldest.data[
        oldest.parts[-1].offset:]


def test_discontinuity_on_config_change() -> None:
    seg = make(HLSConfig(max_segments=3, retain_segments=0))
    feed_synthetic(seg, 4.5)
    other = TrackConfig(kind="video", codec="avc", codec_string="avc1.640028", timescale=90000,
                        config=AVCC[:-1] + b"\xc9", width=320, height=240)
    seg.set_tracks([other, AAC])
    feed_synthetic(seg, 4.5, start=4.5)
    pl = _render(seg)
    assert pl.count("#EXT-X-DISCONTINUITY\n") == 1
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', pl)
    assert maps == ["init0.mp4", "init1.mp4"]
    lines = pl.splitlines()
    assert lines.index('#EXT-X-MAP:URI="init1.mp4"') == lines.index("#EXT-X-DISCONTINUITY") + 1
    assert tag(pl, "#EXT-X-DISCONTINUITY-SEQUENCE") == "0"
    feed_synthetic(seg, 8.0, start=9.0)  # the discontinuity leaves the window
    pl = _render(seg)
    assert "#EXT-X-DISCONTINUITY\n" not in pl
    assert tag(pl, "#EXT-X-DISCONTINUITY-SEQUENCE") == "1"
    assert list(seg.init_segments()) == [1]


def test_end_without_endlist_continues_after_discontinuity() -> None:
    seg = make()
    feed_synthetic(seg, 4.0)
    seg.finish(endlist=False)
    assert not seg.ended and "#EXT-X-PRELOAD-HINT" in _render(seg)
    last = seg.last_msn
    seg.set_tracks([VIDEO, AAC])
    feed_synthetic(seg, 4.0, start=4.0)
    assert seg.segments[-1].msn > last
    assert any(s.discontinuity for s in seg.segments)


# --------------------------------------------------------------------------------------------
# Playlist
# --------------------------------------------------------------------------------------------


def _render(seg: Segmenter) -> str:
    from grtmp.hls.playlist import render_media_playlist

    return render_media_playlist(seg)


def test_media_playlist_tags() -> None:
    seg = make(HLSConfig(segment_duration=2.0, part_duration=0.5, max_segments=4))
    feed_synthetic(seg, 13.3)
    pl = _render(seg)
    lines = pl.splitlines()
    assert lines[0] == "#EXTM3U" and tag(pl, "#EXT-X-VERSION") == "6"
    assert tag(pl, "#EXT-X-TARGETDURATION") == "2"
    ctrl = tag(pl, "#EXT-X-SERVER-CONTROL")
    assert "CAN-BLOCK-RELOAD=YES" in ctrl
    hold = float(re.search(r"PART-HOLD-BACK=([\d.]+)", ctrl).group(1))
    target = float(tag(pl, "#EXT-X-PART-INF").split("=")[1])
    assert target == pytest.approx(0.5) and hold >= 3 * target
    assert tag(pl, "#EXT-X-MEDIA-SEQUENCE") == str(seg.listed_segments[0].msn) == "2"
    assert pl.count("#EXTINF:") == 4
    assert lines.count('#EXT-X-MAP:URI="init0.mp4"') == 1
    assert pl.count("#EXT-X-PROGRAM-DATE-TIME:") == 5  # 4 segments + the open one
    # parts only near the live edge (3 target durations), and the open segment's parts
    parts = parts_of(pl)
    per_segment = [len(parts_of(chunk)) for chunk in pl.split("#EXTINF:")]
    # segments 2..5 listed (12 s fed, 1.3 s open): segment 2 ends 7.3 s before the edge
    assert per_segment[0] == 0 and all(n > 0 for n in per_segment[1:])
    assert per_segment[-1] == len(seg.current.parts)
    assert parts[-1][1] == f"part{seg.next_part_number - 1}.m4s"
    assert all(d <= target + 1e-9 for d, _, _ in parts)
    # every EXT-X-PART precedes its segment's EXTINF, the hint comes last
    assert lines[-1] == f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part{seg.next_part_number}.m4s"'
    assert "#EXT-X-ENDLIST" not in pl
    # the program date time follows the media timeline
    dates = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(.*)", pl)
    assert dates[0] == "2023-11-14T22:13:24.000Z"  # clock 1.7e9 + segment 2 start (4 s)
    seg.finish()
    pl = _render(seg)
    assert pl.endswith("#EXT-X-ENDLIST\n") and "PRELOAD-HINT" not in pl


def test_multivariant_playlist() -> None:
    hls = HLSStream(HLSConfig())
    assert hls.multivariant_playlist() is None
    publish(hls, flv_messages(encode_flv("libx264", "aac", seconds=5.0)))
    mv = hls.multivariant_playlist("index.m3u8")
    inf = tag(mv, "#EXT-X-STREAM-INF")
    assert re.search(r'CODECS="avc1\.42c0[0-9a-f]{2},mp4a\.40\.2"', inf)
    assert "RESOLUTION=160x120" in inf
    bw = int(re.search(r"BANDWIDTH=(\d+)", inf).group(1))
    avg = int(re.search(r"AVERAGE-BANDWIDTH=(\d+)", inf).group(1))
    assert 0 < avg <= bw
    assert mv.splitlines()[-1] == "index.m3u8"


def test_playlist_cached_per_change() -> None:
    hls = HLSStream(HLSConfig(), expect_audio=False)
    messages = flv_messages(encode_flv("libx264", None, seconds=3.0))
    publish(hls, messages, end=False)
    a = hls.playlist()
    assert hls.playlist() is a
    hls.end()
    assert hls.playlist() is not a and hls.playlist().endswith("#EXT-X-ENDLIST\n")


# --------------------------------------------------------------------------------------------
# Delivery directives and blocking reload
# --------------------------------------------------------------------------------------------


def test_parse_delivery_directives() -> None:
    assert parse_delivery_directives("") == DeliveryDirectives()
    assert parse_delivery_directives("_HLS_msn=12&_HLS_part=3&x=1") == DeliveryDirectives(12, 3)
    assert parse_delivery_directives({"_HLS_msn": "5"}) == DeliveryDirectives(5, None)
    assert parse_delivery_directives("_HLS_skip=YES").skip == "YES"
    assert parse_delivery_directives(f"_HLS_msn={2**64 - 1}").msn == 2**64 - 1


@pytest.mark.parametrize("query", [
    "_HLS_part=1",  # part without msn
    "_HLS_msn=-1", "_HLS_msn=1.5", "_HLS_msn=abc", "_HLS_msn=", "_HLS_msn=+1",
    "_HLS_msn=%201", "_HLS_msn=1&_HLS_part=x", f"_HLS_msn={2**64}",
    "_HLS_msn=1&_HLS_msn=2", "_HLS_msn=１",  # fullwidth digit
])
def test_bad_delivery_directives(query: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_delivery_directives(query)
    assert info.value.status == 400


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_directive_parsing_only_bad_request(query: str) -> None:
    try:
        d = parse_delivery_directives(query)
    except BadRequest:
        return
    assert d.msn is None or 0 <= d.msn < 2**64


def test_blocking_reload_predicate() -> None:
    seg = make(HLSConfig(part_duration=0.5))
    nothing = DeliveryDirectives()
    assert not reload_ready(seg, nothing)  # no segment yet: wait
    feed_synthetic(seg, 2.8)
    assert reload_ready(seg, nothing)
    last, open_msn = seg.last_msn, seg.open_msn
    assert (last, open_msn) == (0, 1)
    n_open = len(seg.current.parts)
    assert reload_ready(seg, DeliveryDirectives(open_msn, n_open - 1))
    assert not reload_ready(seg, DeliveryDirectives(open_msn, n_open))  # the next part: wait
    assert not reload_ready(seg, DeliveryDirectives(open_msn))  # the open segment: wait
    assert not reload_ready(seg, DeliveryDirectives(open_msn + 1, 0))
    with pytest.raises(BadRequest):
        reload_ready(seg, DeliveryDirectives(last + 3))  # more than two segments ahead
    limit = advance_part_limit(0.5)
    assert limit == 6
    assert not reload_ready(seg, DeliveryDirectives(open_msn, n_open + limit - 1))
    with pytest.raises(BadRequest):
        reload_ready(seg, DeliveryDirectives(open_msn, n_open + limit))
    # part index past a complete segment's last part = part 0 of the next segment
    n0 = len(seg.segments[0].parts)
    assert has_part(seg, 0, n0) is True  # part 0 of segment 1 exists
    assert has_part(seg, 0, n0 - 1) is True
    feed_synthetic(seg, 0.6, start=2.8)
    assert reload_ready(seg, DeliveryDirectives(open_msn, n_open))
    # ended: the directives are ignored
    seg.finish()
    assert reload_ready(seg, DeliveryDirectives(seg.last_msn + 2, 5))


def test_blocking_reload_for_evicted_and_rolled_over_segments() -> None:
    seg = make(HLSConfig(segment_duration=1.0, max_segments=3, retain_segments=0))
    feed_synthetic(seg, 10.2)
    first = seg.segments[0].msn
    assert first > 2
    assert reload_ready(seg, DeliveryDirectives(0, 0))  # gone: answered at once
    s = seg.segments[-1]
    # the part after the last of a complete segment is part 0 of the next one: not there yet
    assert seg.current is None  # 10.0-10.2 s is less than a part
    assert not has_part(seg, s.msn, len(s.parts))
    assert not reload_ready(seg, DeliveryDirectives(s.msn, len(s.parts)))
    feed_synthetic(seg, 0.4, start=10.2)
    assert seg.current is not None and len(seg.current.parts) == 1
    assert has_part(seg, s.msn, len(s.parts))
    assert reload_ready(seg, DeliveryDirectives(s.msn, len(s.parts) + 5))  # rolls over too
    assert advance_part_limit(2.0) == 3 and advance_part_limit(1 / 3) == 9


def test_advance_limit_before_first_segment() -> None:
    seg = make()
    with pytest.raises(BadRequest):
        reload_ready(seg, DeliveryDirectives(2))
    assert not reload_ready(seg, DeliveryDirectives(1))


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


def test_get_resource() -> None:
    hls = HLSStream(HLSConfig(prefix="x7"), expect_audio=False)
    publish(hls, flv_messages(encode_flv("libx264", None, seconds=5.0)), end=False)
    pl = hls.playlist()
    for uri in uris(pl):
        assert uri.startswith("x7")
        assert isinstance(hls.get_resource(uri), bytes)
    nxt = hls.segmenter.next_part_number
    assert hls.get_resource(f"x7part{nxt}.m4s") is NOT_READY
    assert not NOT_READY
    assert hls.get_resource(f"x7part{nxt + 1}.m4s") is None
    assert hls.get_resource(f"part{nxt - 1}.m4s") is None  # wrong prefix
    for bad in ("x7seg1.mp4", "x7init0.m4s", "x7seg01.m4s", "x7seg-1.m4s", "x7seg.m4s",
                "x7index.m3u8", "x7seg99.m4s", "x7init5.mp4", "../x7seg0.m4s"):
        assert hls.get_resource(bad) is None, bad
    seg = hls.segmenter.segments[0]
    assert hls.get_resource("x7seg0.m4s") == b"".join(
        hls.get_resource(f"x7part{p.number}.m4s") for p in seg.parts)
    assert hls.content_type("index.m3u8") == "application/vnd.apple.mpegurl"
    assert hls.content_type("x7seg0.m4s") == "video/mp4"
    hls.end()
    assert hls.get_resource(f"x7part{hls.segmenter.next_part_number}.m4s") is None


def test_audio_only_content_type() -> None:
    hls = HLSStream(HLSConfig(), expect_video=False)
    hls.feed(8, 0, bytes([0xAF, 0x00]) + ASC)
    assert hls.content_type("seg0.m4s") == "audio/mp4"


def test_config_validation() -> None:
    for bad in ({"segment_duration": 0}, {"part_duration": 3.0}, {"max_segments": 2},
                {"retain_segments": -1}, {"max_segment_duration": 1.0},
                {"prefix": "a/b"}, {"prefix": "x.y"}):
        with pytest.raises(ValueError):
            HLSConfig(**bad)


def test_opus_without_header_gets_a_default() -> None:
    src = MediaSource(expect_video=False)
    toc = bytes([0xFC])  # CELT 20 ms stereo
    msg = bytes([0x91]) + b"Opus" + toc + b"\x00" * 10
    events = src.feed(8, 0, msg)
    assert isinstance(events[0], TracksChanged) and events[0].audio.channels == 2
    assert events[1].sample.duration == 960


def test_hls_package_is_pure() -> None:
    """grtmp.hls imports no gevent (the web layer adds the I/O)."""
    import subprocess

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'gevent':\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import grtmp.hls, grtmp.hls.inspect, grtmp.formats.mp4\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_struct_pack_sanity() -> None:
    assert struct.calcsize(">IIIi") == 16  # video trun record
    assert OPUS.timescale == 48000


_HEADS = [b"\x17\x00", b"\x17\x01\x00\x00\x00\x00\x00\x00\x02\x65",
          b"\x27\x01\x00\x00\x00\x00\x00\x00\x01", b"\x17\x01", b"\x27\x01",
          b"\x90hvc1", b"\x93hvc1", b"\x91av01", b"\x90av01", b"\xaf\x00", b"\xaf\x01",
          b"\x90Opus", b"\x91Opus", b"\x90mp4a",
          b"\x91mp4a", b"\x9fOpus", b"\x95\x00Opus", b""]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([8, 9, 18]), st.integers(0, 2**32 - 1),
                          st.sampled_from(_HEADS), st.binary(max_size=40)), max_size=30))
def test_garbage_messages_never_break_the_stream(messages) -> None:
    """Whatever a publisher sends, feed() only counts errors; the stream stays usable."""
    hls = HLSStream(HLSConfig(), probe_ms=0)
    hls.feed(9, 0, b"\x17\x00\x00\x00\x00" + AVCC)
    hls.feed(8, 0, b"\xaf\x00" + ASC)
    for type_id, ts, head, body in messages:
        hls.feed(type_id, ts, head + body)
    hls.end()
    hls.playlist()
    assert hls.errors <= len(messages)


def test_video_arriving_late_after_a_stall_keeps_every_sample() -> None:
    """Audio sent 2 s ahead of video (more than max_interleave): parts are cut on the audio,
    the late video joins later parts; no part goes back in time and nothing is lost."""
    seg = make(HLSConfig(max_interleave=0.5, max_segments=100))
    feed_synthetic(seg, 1.0)
    feed_synthetic(seg, 2.0, video=False, start=1.0)  # audio runs ahead...
    feed_synthetic(seg, 2.0, audio=False, start=1.0)  # ...then the late video
    feed_synthetic(seg, 3.0, start=3.0)
    seg.finish()
    parts = [p for s in seg.segments for p in s.parts]
    assert all(p.duration >= 0 for p in parts)
    got = _samples_in(b"".join(s.data for s in seg.segments))
    assert [x[0] for x in got[1]] == [i * 3600 for i in range(150)]
    assert [x[0] for x in got[2]] == [i * 1024 for i in range(len(got[2]))]
