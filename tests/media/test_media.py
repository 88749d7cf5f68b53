"""Tests for grtmp.media: codec parsing on payloads from real encoders (PyAV/FFmpeg), crafted
Enhanced RTMP messages (multitrack, ModEx, commands), hot-path helpers and garbage input.

The helpers at the top (encode_video, encode_audio, flv_tags) are shared with test_flv.py and
test_inspect.py.
"""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.errors import CodecError
from grtmp.formats.audio import AudioTagHeader
from grtmp.formats.flv import FlvTag
from grtmp.formats.video import ExVideoTagHeader, VideoTagHeader
from grtmp.media import (
    AudioPacketType,
    AvMultitrackType,
    BitReader,
    FrameType,
    VideoPacketType,
    is_sequence_header,
    is_video_keyframe,
    parse_aac,
    parse_audio,
    parse_audio_specific_config,
    parse_h264,
    parse_h264_sps,
    parse_video,
    split_nal_units,
    split_obus,
    video_frame_type,
)
from grtmp.media.flv import FLVReader

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from tests.helpers.media import (  # noqa: E402
    FPS,
    FRAMES,
    HEIGHT,
    WIDTH,
    encode_audio,
    encode_video,
    have,
)


def flv_tags(data: bytes, tag_type: int | None = None) -> list[tuple[int, int, bytes]]:
    """(type, timestamp, payload) of every tag, read with grtmp's FLVReader."""
    reader = FLVReader(io.BytesIO(data))
    tags = [(t.tag_type, t.timestamp, t.payload) for t in reader]
    assert not reader.truncated
    return [t for t in tags if tag_type is None or t[0] == tag_type]


# Encoders per codec, first available wins (None: skip).
VIDEO_ENCODERS = {
    "avc": ["libx264"],
    "hevc": ["libx265"],
    "av1": ["libsvtav1", "libaom-av1"],
    "vp9": ["libvpx-vp9"],
}
AUDIO_CASES = [
    # (encoder, rate, layout, codec, fourcc)
    ("aac", 48000, "stereo", "aac", None),
    ("aac", 22050, "mono", "aac", None),
    ("libopus", 48000, "stereo", "opus", "Opus"),
    ("flac", 44100, "stereo", "flac", "fLaC"),
    ("ac3", 48000, "5.1", "ac3", "ac-3"),
    ("ac3", 44100, "stereo", "ac3", "ac-3"),
    ("eac3", 48000, "stereo", "eac3", "ec-3"),
    ("libmp3lame", 44100, "mono", "mp3", None),
    ("libmp3lame", 22050, "stereo", "mp3", None),
]


def _encoder_for(codec: str) -> str | None:
    return next((e for e in VIDEO_ENCODERS[codec] if have(e)), None)


@pytest.fixture(scope="module")
def video_files() -> dict[str, bytes]:
    out = {}
    for codec in VIDEO_ENCODERS:
        enc = _encoder_for(codec)
        if enc:
            opts = None  # x264 defaults: High profile with B-frames (composition times)
            if enc == "libx265":
                opts = {"preset": "ultrafast", "x265-params": "log-level=none"}
            out[codec] = encode_video(enc, options=opts)
    return out


@pytest.fixture(scope="module")
def audio_files() -> dict[tuple[str, int, str], bytes]:
    return {
        (enc, rate, layout): encode_audio(enc, rate, layout)
        for enc, rate, layout, _, _ in AUDIO_CASES
        if have(enc)
    }


def _video(video_files: dict[str, bytes], codec: str) -> list[tuple[int, int, bytes]]:
    if codec not in video_files:
        pytest.skip(f"no encoder for {codec}")
    return flv_tags(video_files[codec], 9)


# --------------------------------------------------------------------------------------------
# Video from real encoders
# --------------------------------------------------------------------------------------------


def test_h264_sequence_header_and_frames(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "avc")
    seq = parse_h264(tags[0][2])
    assert seq.is_sequence_header and seq.keyframe
    cfg = seq.config
    assert cfg is not None and cfg.nal_length_size == 4
    assert len(cfg.sps) == 1 and len(cfg.pps) == 1
    assert cfg.sps[0][0] & 0x1F == 7 and cfg.pps[0][0] & 0x1F == 8
    sps = cfg.sps_info
    assert (sps.width, sps.height) == (WIDTH, HEIGHT)
    assert sps.profile_idc == cfg.profile == 100  # x264 default: High
    assert sps.level_idc == cfg.level
    assert sps.frame_rate == pytest.approx(FPS)
    assert (sps.chroma_format_idc, sps.bit_depth_luma) == (1, 8)

    frames = [parse_h264(p) for _, _, p in tags[1:]]
    end = frames.pop()  # FFmpeg ends the stream with an AVC end-of-sequence packet
    assert end.packet_type == VideoPacketType.SEQUENCE_END and not end.nalus
    assert len(frames) == FRAMES
    assert frames[0].keyframe and 5 in [n[0] & 0x1F for n in frames[0].nalus]
    assert not any(f.keyframe for f in frames[1:])
    for f in frames:
        assert f.nalus and b"".join(len(n).to_bytes(4, "big") + n for n in f.nalus) == f.data
    # B-frames: composition times are not all zero, and match PyAV's pts - dts.
    demux = av.open(io.BytesIO(video_files["avc"]), format="flv")
    cts = [int((p.pts - p.dts) * p.time_base * 1000) for p in demux.demux(video=0) if p.size]
    assert [f.composition_time for f in frames] == cts


@pytest.mark.parametrize(
    ("enc", "pix_fmt", "size", "chroma", "depth", "profile"),
    [
        ("libx264", "yuv444p", (71, 39), 3, 8, 244),  # High 4:4:4: crop unit 1
        ("libx264", "yuv422p", (70, 39), 2, 8, 122),  # High 4:2:2: vertical crop unit 1
        ("libx264", "yuv420p10le", (70, 38), 1, 10, 110),  # High 10
        ("libx265", "yuv444p", (71, 39), 3, 8, 4),  # RExt
        ("libx265", "yuv420p10le", (70, 38), 1, 10, 2),  # Main 10
    ],
)
def test_sps_chroma_formats_and_bit_depths(enc: str, pix_fmt: str, size: tuple[int, int],
                                           chroma: int, depth: int, profile: int) -> None:
    if not have(enc):
        pytest.skip(f"{enc} not available")
    w, h = size
    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        s = out.add_stream(enc, rate=FPS)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if enc == "libx265":
            s.options = {"x265-params": "log-level=none"}
        for i in range(2):
            img = np.full((h, w, 3), i * 40, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    seq = parse_video(flv_tags(buf.getvalue(), 9)[0][2])
    info = seq.config.sps_info
    assert (info.width, info.height) == size
    assert (info.chroma_format_idc, info.bit_depth_luma, info.profile_idc) == (chroma, depth,
                                                                               profile)


def test_h264_legacy_header_fields(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "avc")
    pkt = parse_video(tags[0][2])
    assert not pkt.enhanced and pkt.codec_id == 7 and pkt.codec == "avc"
    assert pkt.width == WIDTH and pkt.height == HEIGHT


def test_hevc_enhanced(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "hevc")
    seq = parse_video(tags[0][2])
    assert seq.enhanced and seq.fourcc == "hvc1" and seq.codec == "hevc"
    assert seq.is_sequence_header and seq.packet_type == VideoPacketType.SEQUENCE_START
    cfg = seq.config
    assert len(cfg.vps) == len(cfg.sps) == len(cfg.pps) == 1
    assert (cfg.vps[0][0] >> 1) & 0x3F == 32 and (cfg.sps[0][0] >> 1) & 0x3F == 33
    assert (cfg.width, cfg.height) == (WIDTH, HEIGHT)
    assert cfg.sps_info.profile_idc == cfg.profile_idc == 1  # Main
    assert cfg.sps_info.level_idc == cfg.level_idc
    assert cfg.bit_depth_luma == 8 and cfg.nal_length_size == 4
    coded = [parse_video(p) for _, _, p in tags[1:]]
    meta = [c for c in coded if c.packet_type == VideoPacketType.METADATA]
    assert meta and meta[0].tracks[0].metadata[0] == "colorInfo"
    frames = [c for c in coded if c.packet_type in (1, 3)]
    assert len(frames) == FRAMES
    assert frames[0].keyframe and not any(f.keyframe for f in frames[1:])
    assert all(f.nalus for f in frames)
    assert (frames[0].nalus[0][0] >> 1) & 0x3F in (19, 20, 21)  # IDR/CRA
    # The frame type of a hot-path test agrees.
    assert [is_video_keyframe(p) for _, _, p in tags[1:] if parse_video(p).packet_type in (1, 3)
            ] == [f.keyframe for f in frames]


def test_av1_enhanced(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "av1")
    seq = parse_video(tags[0][2])
    assert seq.fourcc == "av01" and seq.is_sequence_header
    cfg = seq.config
    assert (cfg.width, cfg.height) == (WIDTH, HEIGHT)
    assert cfg.bit_depth == 8 and cfg.seq_profile == 0
    assert cfg.sequence_header.seq_profile == cfg.seq_profile
    frames = [parse_video(p) for _, _, p in tags[1:]]
    frames = [f for f in frames if f.packet_type in (1, 3)]
    assert len(frames) >= 1 and frames[0].keyframe
    assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)  # in-band sequence header
    obu_types = [t for t, _ in split_obus(frames[0].data)]
    assert 6 in obu_types or 3 in obu_types  # OBU_FRAME or OBU_FRAME_HEADER


def test_vp9_enhanced(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "vp9")
    seq = parse_video(tags[0][2])
    assert seq.fourcc == "vp09" and seq.is_sequence_header
    assert seq.config.profile == 0 and seq.config.bit_depth == 8
    frames = [parse_video(p) for _, _, p in tags[1:]]
    frames = [f for f in frames if f.packet_type in (1, 3)]
    assert frames[0].keyframe
    assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
    assert all(f.width is None for f in frames[1:] if not f.keyframe)


# --------------------------------------------------------------------------------------------
# Audio from real encoders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("enc", "rate", "layout", "codec", "fourcc"), AUDIO_CASES)
def test_audio_codecs(audio_files: dict, enc: str, rate: int, layout: str, codec: str,
                      fourcc: str | None) -> None:
    if (enc, rate, layout) not in audio_files:
        pytest.skip(f"{enc} not available")
    channels = len(av.AudioLayout(layout).channels)
    tags = flv_tags(audio_files[(enc, rate, layout)], 8)
    pkts = [parse_audio(p) for _, _, p in tags]
    assert {p.codec for p in pkts} == {codec}
    assert {p.fourcc for p in pkts} == {fourcc}
    assert {p.enhanced for p in pkts} == {fourcc is not None}
    frames = [p for p in pkts if p.packet_type == AudioPacketType.CODED_FRAMES]
    assert frames
    seqs = [p for p in pkts if p.is_sequence_header]
    assert [is_sequence_header(8, p) for _, _, p in tags] == [p.is_sequence_header for p in pkts]
    if codec in ("aac", "opus", "flac"):
        # FFmpeg re-sends the FLAC STREAMINFO (with the sample count) at the end.
        assert len(seqs) == (2 if codec == "flac" else 1) and pkts[0].is_sequence_header
        assert seqs[0].sample_rate == rate
        assert seqs[0].channels == channels
    else:  # AC-3, E-AC-3, MP3 carry rate and channels in every frame header
        for f in frames:
            assert (f.sample_rate, f.channels) == (rate, channels)
    multichannel = [p for p in pkts if p.packet_type == AudioPacketType.MULTICHANNEL_CONFIG]
    for m in multichannel:
        assert m.config.channels == channels


def test_aac_seed_api(audio_files: dict) -> None:
    if ("aac", 22050, "mono") not in audio_files:
        pytest.skip("aac not available")
    tags = flv_tags(audio_files[("aac", 22050, "mono")], 8)
    seq = parse_aac(tags[0][2])
    assert seq.is_sequence_header
    assert (seq.config.object_type, seq.config.sample_rate, seq.config.channels) == (2, 22050, 1)
    raw = parse_aac(tags[1][2])
    assert not raw.is_sequence_header and raw.config is None
    assert raw.data == tags[1][2][2:]
    with pytest.raises(CodecError):
        parse_aac(b"\x2f\xff\xfb\x94\x64")  # MP3 is not AAC


# --------------------------------------------------------------------------------------------
# Byte-exact vectors
# --------------------------------------------------------------------------------------------


def test_audio_specific_config_vectors() -> None:
    c = parse_audio_specific_config(bytes.fromhex("1210"))  # LC, 44100, stereo
    assert (c.object_type, c.sample_rate, c.channels) == (2, 44100, 2)
    c = parse_audio_specific_config(bytes.fromhex("1390"))  # LC, index 7, stereo
    assert c.sampling_frequency_index == 7 and c.sample_rate == 22050 and c.channels == 2
    # Explicit 24-bit frequency (index 15): AOT 2, rate 12345, 1 channel.
    bits = (2 << 35) | (15 << 31) | (12345 << 7) | (1 << 3)
    c = parse_audio_specific_config(bits.to_bytes(5, "big"))
    assert (c.sample_rate, c.channels) == (12345, 1)
    # Escaped object type: 31 + 6 bits (AOT 42 = USAC).
    bits = (31 << 19) | (10 << 13) | (4 << 9) | (2 << 5)
    assert parse_audio_specific_config(bits.to_bytes(3, "big")).object_type == 42
    with pytest.raises(CodecError):
        parse_audio_specific_config(b"\x17\x80")  # index 13 reserved


def test_h264_sps_vector() -> None:
    # Baseline 1920x1080 SPS (crop bottom 8), level 4.0, from a common camera stream.
    sps = bytes.fromhex("6742c028d900780227e584000003000400000300c83c60c920")
    info = parse_h264_sps(sps)
    assert (info.profile_idc, info.level_idc) == (66, 40)
    assert (info.width, info.height) == (1920, 1080)


def test_exp_golomb_reader() -> None:
    # ue: 1 -> 0, 010 -> 1, 011 -> 2, 1 -> 0; se: 010 -> +1, 011 -> -1
    r = BitReader(bytes([0b10100111, 0b01001100]))
    assert [r.ue(), r.ue(), r.ue(), r.ue(), r.se(), r.se()] == [0, 1, 2, 0, 1, -1]
    with pytest.raises(CodecError):
        BitReader(b"\x00\x00\x00\x00\x00").ue()
    with pytest.raises(CodecError):
        BitReader(b"\x01").u(9)


def test_split_nal_units() -> None:
    assert split_nal_units(b"\x00\x00\x00\x01\x09\x00\x00\x00\x02\x06\x05") == [b"\x09",
                                                                               b"\x06\x05"]
    assert split_nal_units(b"\x00\x02ab", 2) == [b"ab"]
    with pytest.raises(CodecError):
        split_nal_units(b"\x00\x00\x00\x05ab")


# --------------------------------------------------------------------------------------------
# Crafted Enhanced RTMP messages (multitrack, ModEx, command) around real payloads
# --------------------------------------------------------------------------------------------


def _ex_video(frame_type: int, packet_type: int) -> int:
    return 0x80 | (frame_type << 4) | packet_type


def test_video_multitrack_many_tracks(video_files: dict[str, bytes]) -> None:
    tags = _video(video_files, "avc")
    avcc = tags[0][2][5:]  # legacy header stripped: the avcC record
    body = b""
    for track_id in (0, 1):
        body += bytes([track_id]) + len(avcc).to_bytes(3, "big") + avcc
    msg = bytes([_ex_video(FrameType.KEY, VideoPacketType.MULTITRACK),
                 (AvMultitrackType.MANY_TRACKS << 4) | VideoPacketType.SEQUENCE_START])
    msg += b"avc1" + body
    pkt = parse_video(msg)
    assert pkt.multitrack_type == AvMultitrackType.MANY_TRACKS
    assert [t.track_id for t in pkt.tracks] == [0, 1]
    assert all((t.width, t.height) == (WIDTH, HEIGHT) for t in pkt.tracks)
    assert pkt.is_sequence_header and is_sequence_header(9, msg)
    assert not is_video_keyframe(msg)


def test_video_multitrack_many_codecs_and_coded_frames(video_files: dict[str, bytes]) -> None:
    avc = _video(video_files, "avc")
    frame = avc[1][2]  # legacy keyframe: 0x17 0x01 cts(3) nalus
    cts_and_nalus = frame[2:]
    tracks = [(b"avc1", 0, cts_and_nalus), (b"vp09", 2, b"")]
    if "hevc" in video_files:
        hevc = [p for _, _, p in flv_tags(video_files["hevc"], 9)]
        hframe = next(p for p in hevc if p[0] & 0x0F == 1 and (p[0] >> 4) & 7 == 1)
        tracks[1] = (b"hvc1", 2, hframe[5:])
    body = b"".join(fc + bytes([tid]) + len(d).to_bytes(3, "big") + d for fc, tid, d in tracks)
    msg = bytes([_ex_video(FrameType.KEY, VideoPacketType.MULTITRACK),
                 (AvMultitrackType.MANY_TRACKS_MANY_CODECS << 4) | VideoPacketType.CODED_FRAMES])
    pkt = parse_video(msg + body)
    assert [t.fourcc for t in pkt.tracks] == [fc.decode() for fc, _, _ in tracks]
    assert [t.track_id for t in pkt.tracks] == [0, 2]
    assert pkt.tracks[0].nalus == parse_h264(frame).nalus
    assert pkt.tracks[0].composition_time == parse_h264(frame).composition_time
    assert is_video_keyframe(msg + body) and not is_sequence_header(9, msg + body)


def test_video_one_track_multitrack_and_modex(video_files: dict[str, bytes]) -> None:
    avc = _video(video_files, "avc")
    frame = avc[2][2]  # inter frame
    mod_ex = bytes([2]) + (123456).to_bytes(3, "big")
    mod_ex += bytes([(0 << 4) | VideoPacketType.MULTITRACK])  # TimestampOffsetNano
    msg = bytes([_ex_video(FrameType.INTER, VideoPacketType.MOD_EX)]) + mod_ex
    msg += bytes([(AvMultitrackType.ONE_TRACK << 4) | VideoPacketType.CODED_FRAMES_X])
    msg += b"avc1" + bytes([5]) + frame[5:]
    pkt = parse_video(msg)
    assert pkt.timestamp_offset_nano == 123456
    assert pkt.multitrack_type == AvMultitrackType.ONE_TRACK
    assert pkt.packet_type == VideoPacketType.CODED_FRAMES_X
    assert pkt.tracks[0].track_id == 5 and pkt.composition_time == 0
    assert pkt.nalus == parse_h264(frame).nalus
    assert not is_video_keyframe(msg) and not is_sequence_header(9, msg)


def test_video_modex_sequence_start_and_long_modex(video_files: dict[str, bytes]) -> None:
    avcc = _video(video_files, "avc")[0][2][5:]
    long_data = bytes(300)  # UI8 255 -> UI16 size escape
    mod_ex = b"\xff" + (len(long_data) - 1).to_bytes(2, "big") + long_data
    mod_ex += bytes([(5 << 4) | VideoPacketType.SEQUENCE_START])  # unknown ModEx type 5: ignored
    msg = bytes([_ex_video(FrameType.KEY, VideoPacketType.MOD_EX)]) + mod_ex + b"avc1" + avcc
    pkt = parse_video(msg)
    assert pkt.is_sequence_header and pkt.timestamp_offset_nano is None
    assert pkt.width == WIDTH
    assert is_sequence_header(9, msg)


def test_video_command_frames() -> None:
    legacy = parse_video(b"\x57\x01")
    assert legacy.command == 1 and not legacy.tracks and not legacy.is_sequence_header
    ex = parse_video(bytes([_ex_video(FrameType.COMMAND, VideoPacketType.CODED_FRAMES), 0]))
    assert ex.command == 0
    assert video_frame_type(b"\x57\x01") == FrameType.COMMAND
    assert not is_video_keyframe(b"\x57\x01") and not is_sequence_header(9, b"\x57\x00")


def test_audio_multitrack_and_modex() -> None:
    asc = bytes.fromhex("1190")  # LC 48 kHz stereo
    opus = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 16000, 0, 0)
    body = b"mp4a" + b"\x00" + len(asc).to_bytes(3, "big") + asc
    body += b"Opus" + b"\x01" + len(opus).to_bytes(3, "big") + opus
    msg = bytes([0x90 | AudioPacketType.MULTITRACK,
                 (AvMultitrackType.MANY_TRACKS_MANY_CODECS << 4) | AudioPacketType.SEQUENCE_START])
    pkt = parse_audio(msg + body)
    assert [t.codec for t in pkt.tracks] == ["aac", "opus"]
    assert [(t.sample_rate, t.channels) for t in pkt.tracks] == [(48000, 2), (16000, 1)]
    assert pkt.is_sequence_header and is_sequence_header(8, msg + body)

    mod_ex = bytes([2]) + (999_999).to_bytes(3, "big") + bytes([AudioPacketType.CODED_FRAMES])
    msg = bytes([0x90 | AudioPacketType.MOD_EX]) + mod_ex + b"mp4a" + b"\x21\x10"
    pkt = parse_audio(msg)
    assert pkt.timestamp_offset_nano == 999_999 and pkt.codec == "aac"
    assert pkt.data == b"\x21\x10" and not is_sequence_header(8, msg)

    mc = bytes([0x90 | AudioPacketType.MULTICHANNEL_CONFIG]) + b"Opus" + bytes([2, 3, 0, 1, 2])
    pkt = parse_audio(mc)
    assert pkt.config.channel_order == 2 and pkt.config.channel_mapping == b"\x00\x01\x02"


def test_audio_legacy_and_silence() -> None:
    pkt = parse_audio(b"")
    assert pkt.silence and not pkt.tracks
    pkt = parse_audio(b"\x72\x00\x01")  # G.711 A-law, 8 kHz nominal rate bits=0, mono
    assert pkt.codec == "g711a" and pkt.sample_rate == 5512 and pkt.channels == 1
    hdr = AudioTagHeader.parse(b"\xaf")
    assert hdr.sound_format == "AAC" and int(hdr.sound_format) == 10  # symbolic names
    assert (hdr.sound_rate, hdr.sound_size, hdr.sound_type) == ("KHZ_44", "BITS_16", "STEREO")


def test_unknown_fourcc_and_packet_types() -> None:
    with pytest.raises(CodecError):
        parse_video(b"\x90xxxx")
    with pytest.raises(CodecError):
        parse_audio(b"\x90abcd")
    with pytest.raises(CodecError):
        parse_video(bytes([0x80 | 0x10 | 9]) + b"avc1")  # reserved packet type 9
    with pytest.raises(CodecError):
        parse_video(b"")


# --------------------------------------------------------------------------------------------
# Hypothesis: garbage raises only CodecError; fast paths agree with the full parsers
# --------------------------------------------------------------------------------------------

VIDEO_PREFIXES = [b"", b"\x17\x00\x00\x00\x00\x01", b"\x17\x01\x00\x00\x00",
                  b"\x1c\x00\x00\x00\x00",
                  b"\x1d\x00\x00\x00\x00\x81", b"\x90hvc1\x01", b"\x90av01\x81", b"\x90vp09\x01",
                  b"\x91vp09\x82", b"\x91vp08", b"\x91av01", b"\x91avc1", b"\x94hvc1\x02\x00",
                  b"\x96\x00hvc1", b"\x96\x10avc1\x00", b"\x96\x20", b"\x97\x02", b"\x97\xff",
                  b"\x90avc1\x01\x64\x00\x0a\xff\xe1\x00"]
AUDIO_PREFIXES = [b"", b"\xaf\x00", b"\xaf\x01", b"\x90mp4a", b"\x90OpusHead", b"\x90fLaC",
                  b"\x91ac-3\x0b\x77", b"\x91ec-3\x0b\x77", b"\x2f\xff", b"\x94Opus",
                  b"\x95\x10mp4a",
                  b"\x95\x20", b"\x97\x02", b"\x97\xff"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VIDEO_PREFIXES), st.binary(max_size=80))
def test_parse_video_garbage(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    try:
        pkt = parse_video(data)
    except CodecError:
        return
    assert video_frame_type(data) == pkt.frame_type
    assert is_sequence_header(9, data) == pkt.is_sequence_header
    assert is_video_keyframe(data) == (
        pkt.frame_type == FrameType.KEY and pkt.command is None
        and pkt.packet_type in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(AUDIO_PREFIXES), st.binary(max_size=80))
def test_parse_audio_garbage(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    try:
        pkt = parse_audio(data)
    except CodecError:
        return
    assert is_sequence_header(8, data) == pkt.is_sequence_header


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_sps_and_config_garbage(data: bytes) -> None:
    for fn in (parse_h264_sps, parse_audio_specific_config, parse_h264, parse_aac):
        try:
            fn(data)
        except CodecError:
            pass
    try:
        parse_h264_sps(b"\x67" + data)
    except CodecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255))
def test_first_byte_construct_agrees_with_fast_path(b0: int) -> None:
    payload = bytes([b0, 0])
    legacy = VideoTagHeader.parse(payload[:1])
    ex = ExVideoTagHeader.parse(payload[:1])
    assert video_frame_type(payload) == int(legacy.frame_type) == int(ex.frame_type)
    assert legacy.is_ex_header == bool(b0 & 0x80)
    if b0 & 0x80 and (b0 & 0x0F) <= 7:
        assert ex.packet_type == VideoPacketType(b0 & 0x0F).name


def test_construct_declarations_match_parser() -> None:
    """The ModEx / multitrack declarations read the same fields parse_video walks."""
    from grtmp.formats.video import ModExEntry, MultitrackHeader, TrackHeader

    mod_ex = b"\x02" + (777).to_bytes(3, "big") + bytes([VideoPacketType.MULTITRACK])
    entry = ModExEntry.parse(mod_ex)
    assert entry.size_minus_one + 1 == 3 and entry.next.packet_type == "MULTITRACK"
    assert entry.next.mod_ex_type == "TIMESTAMP_OFFSET_NANO"
    assert int.from_bytes(entry.data, "big") == 777
    mt = bytes([(AvMultitrackType.MANY_TRACKS_MANY_CODECS << 4) | VideoPacketType.SEQUENCE_END])
    track = b"vp09" + b"\x03" + b"\x00\x00\x00"
    msg = bytes([_ex_video(FrameType.KEY, VideoPacketType.MOD_EX)]) + mod_ex + mt + track
    pkt = parse_video(msg)
    hdr = MultitrackHeader.parse(mt)
    th = TrackHeader.parse(track, multitrack_type=int(hdr.multitrack_type))
    assert (pkt.multitrack_type, pkt.packet_type) == (int(hdr.multitrack_type),
                                                      int(hdr.packet_type))
    assert (pkt.fourcc, pkt.tracks[0].track_id, 0) == (th.fourcc, th.track_id, th.size)
    assert pkt.timestamp_offset_nano == 777


def test_flvtag_construct_view(video_files: dict[str, bytes]) -> None:
    data = video_files.get("avc") or next(iter(video_files.values()))
    tag = FlvTag.parse(data[13:])
    assert tag.header.type.tag_type == "SCRIPT" and int(tag.header.type.tag_type) == 18
    assert tag.data.startswith(b"\x02\x00\x0aonMetaData")
