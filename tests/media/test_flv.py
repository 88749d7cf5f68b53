"""Tests for grtmp.media.flv: reading FFmpeg-made FLV files, writing FLV files FFmpeg decodes,
onMetaData patching on close, extended timestamps, truncation and bad files."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.amf import amf0
from grtmp.errors import FormatError
from grtmp.formats.flv import FlvFile, FlvHeader, FlvTag, FlvTagHeader
from grtmp.media import is_sequence_header
from grtmp.media.flv import FLVReader, FlvTagRecord, FLVWriter, tag_header
from tests.helpers.media import FRAMES, encode_audio, encode_video, have

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def h264_flv() -> bytes:
    return encode_video("libx264")


@pytest.fixture(scope="module")
def av_flv() -> bytes:
    """Video plus audio in one file (AAC + H.264), muxed by FFmpeg."""
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i in range(FRAMES):
            img = np.full((48, 64, 3), i * 20, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        for i in range(4):
            samples = np.zeros((1, 1024), np.float32)
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, i * 1024
            for p in a.encode(af):
                out.mux(p)
        for s in (v, a):
            for p in s.encode():
                out.mux(p)
    return buf.getvalue()


def _meta(data: bytes) -> dict:
    first = next(iter(FLVReader(io.BytesIO(data))))
    assert first.tag_type == 18
    name, meta = amf0.decode_all(first.payload)
    assert name == "onMetaData"
    return dict(meta)


def _decode_count(data: bytes, kind: str) -> int:
    with av.open(io.BytesIO(data), format="flv") as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return sum(1 for _ in c.decode(stream))


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


def test_reader_on_ffmpeg_file(av_flv: bytes) -> None:
    reader = FLVReader(io.BytesIO(av_flv))
    assert reader.header.version == 1
    assert reader.header.flags.has_audio and reader.header.flags.has_video
    tags = list(reader)
    assert not reader.truncated and reader.tags_read == len(tags)
    assert tags[0].type == 18 and tags[0].offset == 13
    # Same packets and timestamps as FFmpeg's own demuxer sees (it hides sequence headers and
    # the empty end-of-sequence packet).
    with av.open(io.BytesIO(av_flv), format="flv") as c:
        ref = [(9 if p.stream.type == "video" else 8, int(p.dts * p.time_base * 1000), bytes(p))
               for p in c.demux() if p.size]
    media = [t for t in tags if t.type in (8, 9)]
    coded = [t for t in media if not is_sequence_header(t.type, t.payload)
             and t.payload[:2] != b"\x17\x02"]
    for kind in (8, 9):
        assert [ts for k, ts, _ in ref if k == kind] == [t.timestamp for t in coded
                                                          if t.type == kind]
        # FFmpeg's packet data is the tag payload minus the FLV audio/video header.
        skip = 2 if kind == 8 else 5
        assert [d for k, _, d in ref if k == kind] == [t.payload[skip:] for t in coded
                                                        if t.type == kind]
    assert sum(1 for t in media if t.type == 9) >= FRAMES
    # Every record agrees with the construct declaration (the user's view).
    f = FlvFile.parse(av_flv)
    assert [(int(t.tag.header.type.tag_type), t.tag.header.timestamp, t.tag.data)
            for t in f.tags] == [(t.type, t.timestamp, t.payload) for t in tags]
    assert {t.tag.header.type.tag_type for t in f.tags} == {"SCRIPT", "AUDIO", "VIDEO"}
    for t in f.tags:
        assert t.previous_tag_size == 11 + t.tag.header.data_size


def test_reader_truncated_everywhere(h264_flv: bytes) -> None:
    full = list(FLVReader(io.BytesIO(h264_flv)))
    ends = {}
    pos = 13
    for t in full:
        pos += 11 + len(t.payload) + 4
        ends[pos] = t
    for cut in range(9, len(h264_flv)):
        reader = FLVReader(io.BytesIO(h264_flv[:cut]))
        got = list(reader)
        assert got == full[: len(got)]
        complete_end = 13 + sum(11 + len(t.payload) + 4 for t in got)
        if cut in ends or cut == 13:
            assert not reader.truncated
            assert complete_end == cut
        else:
            assert reader.truncated
            assert reader.truncated_at is not None and reader.truncated_at <= cut


def test_reader_rejects_bad_files(h264_flv: bytes) -> None:
    with pytest.raises(FormatError):
        FLVReader(io.BytesIO(b"FLV\x01"))
    with pytest.raises(FormatError):
        FLVReader(io.BytesIO(b"MP4\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
    with pytest.raises(FormatError):
        FLVReader(io.BytesIO(b"FLV\x01\x05\x00\x00\x00\x02\x00\x00\x00\x00"))  # DataOffset 2
    bad = bytearray(h264_flv)
    bad[13] = 7  # first tag type 7 is not audio/video/script
    with pytest.raises(FormatError):
        list(FLVReader(io.BytesIO(bytes(bad))))
    with pytest.raises(FormatError):
        list(FLVReader(io.BytesIO(h264_flv), max_tag_size=10))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_reader_garbage_after_header(tail: bytes) -> None:
    data = FlvHeader.build({"version": 1, "flags": {"reserved1": 0, "has_audio": True,
                                                     "reserved2": 0, "has_video": True},
                            "data_offset": 9}) + tail
    try:
        reader = FLVReader(io.BytesIO(data))
        for rec in reader:
            assert isinstance(rec, FlvTagRecord)
    except FormatError:
        pass


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


def test_writer_round_trip_decodes(av_flv: bytes) -> None:
    src = [t for t in FLVReader(io.BytesIO(av_flv)) if t.type in (8, 9)]
    out = io.BytesIO()
    w = FLVWriter(out)
    w.write_metadata({"width": 64.0, "height": 48.0, "encoder": "grtmp-test",
                      "duration": 99.0})
    for t in src:
        w.write_tag(t.type, t.timestamp, t.payload)
    w.close()
    assert w.closed
    data = out.getvalue()
    # Tag for tag the same media, and FFmpeg decodes the same number of frames.
    back = list(FLVReader(io.BytesIO(data)))
    assert [(t.type, t.timestamp, t.payload) for t in back[1:]] == [
        (t.type, t.timestamp, t.payload) for t in src]
    assert _decode_count(data, "video") == _decode_count(av_flv, "video") == FRAMES
    assert _decode_count(data, "audio") == _decode_count(av_flv, "audio")
    meta = _meta(data)
    assert meta["filesize"] == float(len(data))
    # Duration: first tag to the end of the last frame (last interval repeated).
    video_ts = [t.timestamp for t in src if t.type == 9]
    audio_ts = [t.timestamp for t in src if t.type == 8]
    ends = [ts[-1] + (ts[-1] - ts[-2]) for ts in (video_ts, audio_ts)]
    assert meta["duration"] == pytest.approx((max(ends) - src[0].timestamp) / 1000)
    assert meta["width"] == 64.0 and meta["encoder"] == "grtmp-test"
    # PyAV reads the patched duration too.
    with av.open(io.BytesIO(data), format="flv") as c:
        assert c.metadata.get("encoder") == "grtmp-test"


def test_writer_header_flags_and_open(tmp_path, h264_flv: bytes) -> None:
    path = tmp_path / "rec.flv"
    with FLVWriter.open(path, has_audio=False) as w:
        for t in FLVReader(io.BytesIO(h264_flv)):
            if t.type == 9:
                w.write_tag(9, t.timestamp, t.payload)
    data = path.read_bytes()
    hdr = FlvHeader.parse(data)
    assert not hdr.flags.has_audio and hdr.flags.has_video
    assert _meta(data)["filesize"] == len(data)
    assert _decode_count(data, "video") == FRAMES
    with FLVReader.open(path) as r:
        assert sum(1 for t in r if t.type == 9) == FRAMES + 2  # + seq header + end of sequence


def test_writer_extended_timestamps_and_exact_bytes() -> None:
    out = io.BytesIO()
    w = FLVWriter(out, has_audio=True, has_video=False)
    w.write_tag(8, 0x00FFFFFF, b"\xaf\x01\x00")
    w.write_tag(8, 0x12345678, b"\xaf\x01\x01")
    w.close()
    data = out.getvalue()
    tags = list(FLVReader(io.BytesIO(data)))
    assert [t.timestamp for t in tags[1:]] == [0x00FFFFFF, 0x12345678]
    # Byte-exact layout of the last tag: 24 low bits then the extension byte, stream id 0.
    last = data[-(11 + 3 + 4):]
    assert last == (b"\x08\x00\x00\x03" + b"\x34\x56\x78\x12" + b"\x00\x00\x00" + b"\xaf\x01\x01"
                    + struct.pack(">I", 14))
    assert FlvTag.parse(last).header.timestamp == 0x12345678  # the 24 + 8-bit Adapter
    # The last frame lasts as long as the interval before it: 2 * (last - first).
    assert _meta(data)["duration"] == pytest.approx(2 * (0x12345678 - 0xFFFFFF) / 1000)


def test_writer_empty_and_misuse() -> None:
    out = io.BytesIO()
    w = FLVWriter(out)
    w.close()
    w.close()  # idempotent
    data = out.getvalue()
    tags = list(FLVReader(io.BytesIO(data)))
    assert len(tags) == 1 and _meta(data) == {"duration": 0.0, "filesize": float(len(data))}
    w = FLVWriter(io.BytesIO())
    w.write_tag(9, 0, b"\x17\x02\x00\x00\x00")
    with pytest.raises(FormatError):
        w.write_metadata({})  # after media
    with pytest.raises(FormatError):
        w.write_tag(7, 0, b"")
    with pytest.raises(FormatError):
        w.write_tag(9, 0, bytes(1 << 24))
    w.close()
    with pytest.raises(FormatError):
        w.write_tag(9, 0, b"\x17")


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable sink (like a pipe or socket file)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.buf += b
        return len(b)


def test_writer_non_seekable_sink(h264_flv: bytes) -> None:
    sink = _Pipe()
    w = FLVWriter(sink)
    for t in FLVReader(io.BytesIO(h264_flv)):
        if t.type == 9:
            w.write_tag(9, t.timestamp, t.payload)
    w.close()
    data = bytes(sink.buf)
    assert _meta(data)["duration"] == 0.0  # could not be patched, still a valid file
    assert _decode_count(data, "video") == FRAMES


@pytest.mark.skipif(not have("libx265"), reason="libx265 not available")
def test_writer_enhanced_rtmp_hevc_decodes() -> None:
    src = encode_video("libx265", options={"x265-params": "log-level=none"})
    out = io.BytesIO()
    with FLVWriter(out, has_audio=False) as w:
        for t in FLVReader(io.BytesIO(src)):
            if t.type == 9:
                w.write_tag(9, t.timestamp, t.payload)
    assert _decode_count(out.getvalue(), "video") == FRAMES


@pytest.mark.skipif(not have("libopus"), reason="libopus not available")
def test_writer_enhanced_rtmp_opus_decodes() -> None:
    src = encode_audio("libopus")
    out = io.BytesIO()
    with FLVWriter(out, has_video=False) as w:
        for t in FLVReader(io.BytesIO(src)):
            if t.type == 8:
                w.write_tag(8, t.timestamp, t.payload)
    # FFmpeg 8.1 cannot decode its own Opus-in-FLV (it feeds the MultichannelConfig packet to
    # the decoder), so compare what its demuxer extracts from both files instead.
    def packets(data: bytes) -> list[bytes]:
        with av.open(io.BytesIO(data), format="flv") as c:
            assert c.streams.audio[0].codec_context.name == "opus"
            return [bytes(p) for p in c.demux(audio=0) if p.size]

    assert packets(out.getvalue()) == packets(src) != []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([8, 9, 18]), st.integers(0, 2**32 - 1), st.integers(0, 2**24 - 1))
def test_tag_header_struct_path_agrees_with_declaration(tag_type, timestamp, size) -> None:
    """The writer packs tag headers with struct (one per recorded message); the construct
    declaration (and its compiled form, which the reader uses) reads the same fields."""
    fast = tag_header(tag_type, timestamp, size)
    value = {"type": {"reserved": 0, "filter": False, "tag_type": tag_type},
             "data_size": size, "timestamp": timestamp, "stream_id": 0}
    assert fast == FlvTagHeader.build(value) == FlvTagHeader.compile().build(value)
    for parsed in (FlvTagHeader.parse(fast), FlvTagHeader.compile().parse(fast)):
        assert (int(parsed.type.tag_type), parsed.timestamp, parsed.data_size) == (
            tag_type, timestamp, size)
    # The timestamp's bytes: the lower 24 bits big endian, then the upper 8 bits.
    assert fast[4:8] == (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes((timestamp >> 24,))
