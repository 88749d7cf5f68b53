"""FFmpeg's own RTMP client, driven through PyAV, as a subprocess for the integration tests.

``python avclient.py publish URL [options]`` encodes a synthetic stream (libx264 + aac by
default) in real time and publishes it; ``python avclient.py play URL [options]`` plays a stream
and prints one JSON line with what it decoded. Running each peer in its own process keeps the
tests honest: FFmpeg talks TCP to the server like any other client.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from fractions import Fraction

import av
import numpy as np


def _picture(i: int, width: int, height: int, noise: bool = False) -> np.ndarray:
    """A deterministic picture for frame ``i`` (moving bars, so every frame differs).

    ``noise`` gives incompressible pictures: a high bit rate from a small encode.
    """
    if noise:
        return np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8)
    y = np.arange(height, dtype=np.uint16)[:, None]
    x = np.arange(width, dtype=np.uint16)[None, :]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = ((x + i * 4) % 256).astype(np.uint8)
    img[..., 1] = ((y + i * 2) % 256).astype(np.uint8)
    img[..., 2] = ((x + y + i * 8) % 256).astype(np.uint8)
    return img


def _nal_units(data: bytes) -> list[bytes]:
    """NAL units of an H.264 access unit, 4-byte length-prefixed (FLV) or Annex B (x264)."""
    units, pos = [], 0
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        units.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    if pos == len(data):
        return units
    return [part.rstrip(b"\x00") for part in data.split(b"\x00\x00\x01") if part.strip(b"\x00")]


def frame_hash(data: bytes) -> str:
    """A hash of the coded picture itself (slice NAL units), whatever the framing."""
    h = hashlib.sha1()
    for nal in _nal_units(data):
        if nal and (nal[0] & 0x1F) in (1, 5):
            h.update(nal)
    return h.hexdigest()


_FAST_OPTIONS = {
    "libx264": {"preset": "ultrafast", "tune": "zerolatency"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error"},
    "libsvtav1": {"preset": "12"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}


def _with_filler(pkt: av.Packet, stream, size: int) -> av.Packet:
    """The same access unit plus a filler-data NAL unit (type 12) of ``size`` bytes.

    Decoders skip filler data, so this raises the bit rate without changing the pictures.
    """
    big = av.Packet(bytes(pkt) + b"\x00\x00\x00\x01\x0c" + b"\xff" * size + b"\x80")
    big.pts, big.dts, big.time_base = pkt.pts, pkt.dts, pkt.time_base
    big.is_keyframe = pkt.is_keyframe
    big.stream = stream
    return big


def publish(args: argparse.Namespace) -> dict:
    out = av.open(args.url, "w", format="flv", options={"rw_timeout": "10000000"})
    vs = out.add_stream(args.vcodec, rate=args.fps)
    vs.width, vs.height = args.width, args.height
    vs.pix_fmt = "yuv420p"
    vs.options = {"g": str(args.gop), "bf": "0"}
    vs.options.update(_FAST_OPTIONS.get(args.vcodec, {}))
    vs.time_base = Fraction(1, args.fps)
    streams = [vs]
    a_s = None
    rate = 48000 if args.acodec in ("libopus", "opus") else 44100
    frame_size = 960 if rate == 48000 else 1024
    if args.audio:
        a_s = out.add_stream(args.acodec, rate=rate)
        a_s.layout = "stereo"
        streams.append(a_s)
    start = time.monotonic()
    sent_video = 0
    audio_pts = 0
    hashes = []
    for i in range(args.frames):
        picture = _picture(i, args.width, args.height, args.noise)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i
        for pkt in vs.encode(frame):
            if args.filler:
                pkt = _with_filler(pkt, vs, args.filler)
            out.mux(pkt)
            hashes.append(frame_hash(bytes(pkt)))
            sent_video += 1
        if a_s is not None:
            # Audio up to the time of this video frame, in 1024-sample AAC frames.
            while audio_pts < (i + 1) * rate // args.fps:
                samples = np.zeros((2, frame_size), dtype=np.float32)
                samples[:, :] = np.sin(np.arange(audio_pts, audio_pts + frame_size) / 20.0) * 0.2
                fmt = a_s.codec_context.format.name
                if fmt.startswith("s16"):
                    samples = (samples * 32767).astype(np.int16)
                elif fmt.startswith("s32"):
                    samples = (samples * 2147483647).astype(np.int32)
                if not fmt.endswith("p"):  # packed: one plane, channels interleaved
                    samples = samples.T.reshape(1, -1)
                af = av.AudioFrame.from_ndarray(samples, format=fmt, layout="stereo")
                af.sample_rate = rate
                af.pts = audio_pts
                audio_pts += frame_size
                for pkt in a_s.encode(af):
                    out.mux(pkt)
        if args.realtime:
            due = start + (i + 1) / args.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    for s in streams:
        for pkt in s.encode(None):
            out.mux(pkt)
            if s is vs:
                hashes.append(frame_hash(bytes(pkt)))
                sent_video += 1
    if args.linger:
        time.sleep(args.linger)
    out.close()
    return {"video_packets": sent_video, "hashes": hashes}


def play(args: argparse.Namespace) -> dict:
    opts = {"rw_timeout": str(int(args.timeout * 1_000_000))}
    inp = av.open(args.url, "r", options=opts, timeout=args.timeout)
    result: dict = {"video_frames": 0, "audio_frames": 0, "width": None, "height": None,
                    "first_video_keyframe": None, "first_decode_error": None,
                    "video_packets": 0, "hashes": [], "dts": [], "codecs": []}
    result["codecs"] = [s.codec_context.name for s in inp.streams]
    video = [s for s in inp.streams if s.type == "video"]
    audio = [s for s in inp.streams if s.type == "audio"]
    deadline = time.monotonic() + args.timeout
    try:
        for pkt in inp.demux(*(video + audio)):
            if time.monotonic() > deadline:
                break
            if pkt.size == 0:
                continue
            if pkt.stream.type == "video":
                if result["first_video_keyframe"] is None:
                    result["first_video_keyframe"] = bool(pkt.is_keyframe)
                result["video_packets"] += 1
                result["hashes"].append(frame_hash(bytes(pkt)))
                result["dts"].append(pkt.dts)
                try:
                    for f in pkt.decode():
                        result["video_frames"] += 1
                        result["width"], result["height"] = f.width, f.height
                except av.FFmpegError as exc:
                    if result["first_decode_error"] is None:
                        result["first_decode_error"] = str(exc)
            elif pkt.stream.type == "audio":
                result["audio_packets"] = result.get("audio_packets", 0) + 1
                try:
                    result["audio_frames"] += len(pkt.decode())
                except av.FFmpegError:
                    pass
            if args.slow:
                time.sleep(args.slow)
            if args.max_frames and result["video_packets"] >= args.max_frames:
                break
    except av.FFmpegError as exc:
        result["error"] = str(exc)
    inp.close()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["publish", "play"])
    p.add_argument("url")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=25)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--vcodec", default="libx264")
    p.add_argument("--acodec", default="aac")
    p.add_argument("--noise", action="store_true")
    p.add_argument("--filler", type=int, default=0, help="filler NAL bytes per video frame")
    p.add_argument("--no-audio", dest="audio", action="store_false")
    p.add_argument("--no-realtime", dest="realtime", action="store_false")
    p.add_argument("--linger", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--slow", type=float, default=0.0)
    args = p.parse_args(argv)
    # FFmpeg's own error lines (e.g. "Server error: ...") go to stderr for the tests to read.
    import logging

    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    av.logging.set_level(av.logging.ERROR)
    try:
        result = publish(args) if args.mode == "publish" else play(args)
    except av.FFmpegError as exc:
        result = {"error": str(exc)}
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
