"""Test media for the HLS tests: real encodes (PyAV/FFmpeg) muxed to FLV in memory, the FLV
read back as RTMP-like messages, an HLS stream written to a directory, and an FFmpeg-side
summary (packet and decoded-frame hashes, timestamps) of any input PyAV can open."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from grtmp.hls import HLSStream
from grtmp.hls.codecs import strip_temporal_delimiters
from grtmp.hls.fmp4 import TrackConfig
from grtmp.media.flv import FLVReader

W, H = 160, 120

# Track configurations for the muxer tests (an H.264 160x120 avcC, AAC-LC and Opus stereo).
AVCC = bytes.fromhex("0142c00bffe100176742c00bda0a11f961000003000100000300320f142aa0"
                     "01000468ce0fc8")
ASC = bytes.fromhex("1190")  # AAC-LC 48 kHz stereo
OPUS_HEAD = b"OpusHead" + bytes([1, 2]) + (312).to_bytes(2, "little") + (48000).to_bytes(
    4, "little") + b"\x00\x00\x00"

VIDEO = TrackConfig(kind="video", codec="avc", codec_string="avc1.42c00b", timescale=90000,
                    config=AVCC, width=160, height=120)
AAC = TrackConfig(kind="audio", codec="aac", codec_string="mp4a.40.2", timescale=48000,
                  config=ASC, sample_rate=48000, channels=2)
OPUS = TrackConfig(kind="audio", codec="opus", codec_string="opus", timescale=48000,
                   config=OPUS_HEAD, sample_rate=48000, channels=2)


def _picture(i: int) -> np.ndarray:
    """A frame that differs from every other: moving gradient plus a frame-number block."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = (x * 2 + i * 5) % 256
    img[..., 1] = (y * 2 + i * 3) % 256
    img[..., 2] = (x + y + i * 7) % 256
    img[(i % 8) * 12:(i % 8) * 12 + 12, :16] = 255
    return img


def encode_flv(vcodec: str | None, acodec: str | None, *, seconds: float = 3.0, fps: int = 25,
               gop: int = 25, bframes: int = 0, rate: int = 48000) -> bytes:
    """An FLV file (bytes) from FFmpeg's FLV muxer: ``vcodec`` video (libx264, libx265,
    libsvtav1) and/or ``acodec`` audio (aac, libopus). HEVC/AV1/Opus come out as Enhanced
    RTMP tags (FFmpeg 8)."""
    buf = io.BytesIO()
    out = av.open(buf, "w", format="flv")
    vs = a = None
    if vcodec:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        if vcodec == "libx264":
            vs.options = {"g": str(gop), "bf": str(bframes), "preset": "ultrafast"}
        elif vcodec == "libx265":
            vs.options = {"g": str(gop), "preset": "ultrafast",
                          "x265-params": f"log-level=error:bframes={bframes}"}
        else:
            vs.options = {"g": str(gop), "preset": "12", "svtav1-params": "lp=1"}
    if acodec:
        a = out.add_stream(acodec, rate=rate)
        a.layout = "stereo"
    frames = int(seconds * fps)
    apts = 0
    t = np.arange(960) / rate
    for i in range(frames):
        if vs is not None:
            f = av.VideoFrame.from_ndarray(_picture(i), format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        while a is not None and apts < (i + 1) * rate // fps:
            freq = 220 + 20 * (apts // 9600)
            tone = (np.sin(2 * np.pi * freq * (t + apts / rate)) * 8000).astype(np.int16)
            af = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16",
                                            layout="stereo")
            af.sample_rate = rate
            af.pts = apts
            apts += 960
            for p in a.encode(af):
                out.mux(p)
    for s in (vs, a):
        if s is not None:
            for p in s.encode(None):
                out.mux(p)
    out.close()
    return buf.getvalue()


def flv_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type_id, timestamp, payload) of every tag, as an RTMP publisher would send them."""
    return [(t.tag_type, t.timestamp, t.payload) for t in FLVReader(io.BytesIO(data))]


def publish(hls: HLSStream, messages: list[tuple[int, int, bytes]], *, end: bool = True) -> int:
    """Feed every message; return the parts published."""
    n = sum(hls.feed(*m) for m in messages)
    if end:
        n += hls.end()
    return n


def uris(playlist: str) -> list[str]:
    """Every resource a playlist names (EXT-X-MAP, EXT-X-PART, segments; not the hint)."""
    out = []
    for line in playlist.splitlines():
        if line.startswith(("#EXT-X-MAP:", "#EXT-X-PART:")):
            out.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            out.append(line)
    return out


def write_hls(hls: HLSStream, directory: Path, name: str = "index.m3u8") -> Path:
    """Write the playlist and every resource it names (atomically: temp file + rename)."""
    playlist = hls.playlist()
    for uri in uris(playlist):
        data = hls.get_resource(uri)
        assert isinstance(data, bytes), uri
        path = directory / uri
        if not path.exists():
            path.write_bytes(data)
    tmp = directory / (name + ".tmp")
    tmp.write_text(playlist)
    os.replace(tmp, directory / name)
    return directory / name


def parts_playlist(hls: HLSStream, directory: Path) -> Path:
    """A classic playlist whose "segments" are the stream's parts, in order (every part must
    be listed: use a large ``part_window``), to play the parts with FFmpeg."""
    playlist = hls.playlist()
    write_hls(hls, directory)
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:1",
             "#EXT-X-MEDIA-SEQUENCE:0"]
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            lines.append(line)
        elif line.startswith("#EXT-X-PART:"):
            attrs = dict(a.split("=", 1) for a in line.split(":", 1)[1].split(","))
            lines += [f"#EXTINF:{attrs['DURATION']},", attrs["URI"].strip('"')]
    lines.append("#EXT-X-ENDLIST")
    path = directory / "parts.m3u8"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class StreamSummary:
    codec: str
    width: int | None
    height: int | None
    packets: list[tuple[Fraction, Fraction, str, bool]] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    @property
    def packet_hashes(self) -> list[str]:
        return [p[2] for p in self.packets]

    @property
    def pts(self) -> list[Fraction]:
        return [p[0] for p in self.packets]

    @property
    def dts(self) -> list[Fraction]:
        return [p[1] for p in self.packets]


def summarize(path: str | Path, *, strip_av1_td: bool = False,
              options: dict[str, str] | None = None) -> dict[str, StreamSummary]:
    """Open ``path`` with FFmpeg (PyAV) and summarize each stream: per packet (pts, dts in
    seconds, md5 of the data, key flag) and the md5 of every decoded frame's samples."""
    out: dict[str, StreamSummary] = {}
    with av.open(str(path), options=options or {}) as c:
        for s in c.streams:
            cc = s.codec_context
            out[s.type] = StreamSummary(cc.name, getattr(cc, "width", None),
                                        getattr(cc, "height", None))
        for pkt in c.demux():
            if pkt.size == 0:
                continue
            st = out[pkt.stream.type]
            data = bytes(pkt)
            if strip_av1_td and st.codec in ("libdav1d", "av1", "libaom-av1"):
                data = strip_temporal_delimiters(data)
            tb = pkt.stream.time_base
            st.packets.append((pkt.pts * tb, pkt.dts * tb, hashlib.md5(data).hexdigest(),
                               pkt.is_keyframe))
            for frame in pkt.decode():
                st.frames.append(hashlib.md5(frame.to_ndarray().tobytes()).hexdigest())
    return out
