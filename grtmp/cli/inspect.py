"""grtmp-inspect: print the tags of an FLV file with their codec details, or the boxes of an
fMP4 file (HLS init segment, segment or part).

``grtmp-inspect FILE.flv`` prints a table (index, type, timestamp, size, codec, details such as
frame type, composition time, NAL unit types, and the parsed codec configuration: profile,
level, picture size, frame rate, sample rate, channels); ``--json`` prints the same as JSON.

An MP4 file is recognised by its first box (``ftyp``, ``styp``, ``moov``, ``moof``...) and shown
as a box tree by :func:`grtmp.hls.inspect.describe_mp4`.

The work is done by :func:`inspect_source`, which takes any iterable of
``(type_id, timestamp, payload)``, so a live ``rtmp://`` source can be plugged in later.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from grtmp.amf import amf0
from grtmp.errors import AMFError, CodecError, FormatError
from grtmp.media import (
    AudioPacket,
    AudioPacketType,
    FrameType,
    VideoPacket,
    VideoPacketType,
    parse_audio,
    parse_video,
)
from grtmp.media.flv import FLVReader

__all__ = ["inspect_source", "inspect_file", "inspect_mp4_file", "format_table", "to_jsonable",
           "main"]

TYPE_NAMES = {8: "audio", 9: "video", 18: "script"}

FRAME_TYPE_NAMES = {
    FrameType.KEY: "key",
    FrameType.INTER: "inter",
    FrameType.DISPOSABLE_INTER: "disposable",
    FrameType.GENERATED_KEY: "generated-key",
    FrameType.COMMAND: "command",
}

VIDEO_PACKET_NAMES = {
    VideoPacketType.SEQUENCE_START: "SequenceStart",
    VideoPacketType.CODED_FRAMES: "CodedFrames",
    VideoPacketType.SEQUENCE_END: "SequenceEnd",
    VideoPacketType.CODED_FRAMES_X: "CodedFramesX",
    VideoPacketType.METADATA: "Metadata",
    VideoPacketType.MPEG2TS_SEQUENCE_START: "MPEG2TSSequenceStart",
}

AUDIO_PACKET_NAMES = {
    AudioPacketType.SEQUENCE_START: "SequenceStart",
    AudioPacketType.CODED_FRAMES: "CodedFrames",
    AudioPacketType.SEQUENCE_END: "SequenceEnd",
    AudioPacketType.MULTICHANNEL_CONFIG: "MultichannelConfig",
}

#: Longest byte string shown in full; longer ones are cut and their size given.
MAX_HEX_BYTES = 64


def to_jsonable(value: Any) -> Any:
    """Convert parse results (dataclasses, bytes, AMF values) to JSON-compatible values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for prop in ("width", "height", "sample_rate", "channels"):
            if prop not in out and hasattr(type(value), prop):
                out[prop] = to_jsonable(getattr(value, prop))
        return out
    if isinstance(value, bytes | bytearray | memoryview):
        b = bytes(value)
        if len(b) > MAX_HEX_BYTES:
            return f"{b[:MAX_HEX_BYTES].hex()}... ({len(b)} bytes)"
        return b.hex()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


def _nal_types(codec: str, nalus: list[bytes]) -> list[int]:
    if codec == "hevc":
        return [(n[0] >> 1) & 0x3F for n in nalus if n]
    if codec == "avc":
        return [n[0] & 0x1F for n in nalus if n]
    return []


def _video_info(pkt: VideoPacket) -> dict[str, Any]:
    info: dict[str, Any] = {"enhanced": pkt.enhanced}
    if pkt.packet_type != VideoPacketType.METADATA:  # frame type is ignored for Metadata
        info["frame_type"] = FRAME_TYPE_NAMES.get(pkt.frame_type, str(pkt.frame_type))
    info["packet_type"] = VIDEO_PACKET_NAMES.get(pkt.packet_type, str(pkt.packet_type))
    if pkt.codec_id is not None:
        info["codec_id"] = pkt.codec_id
    if pkt.command is not None:
        info["command"] = pkt.command
    if pkt.timestamp_offset_nano is not None:
        info["timestamp_offset_nano"] = pkt.timestamp_offset_nano
    if pkt.multitrack_type is not None:
        info["multitrack_type"] = pkt.multitrack_type
    tracks = []
    for t in pkt.tracks:
        tr: dict[str, Any] = {"track_id": t.track_id, "codec": t.codec}
        if t.fourcc:
            tr["fourcc"] = t.fourcc
        if t.composition_time:
            tr["composition_time"] = t.composition_time
        if t.nalus is not None:
            tr["nal_unit_types"] = _nal_types(t.codec, t.nalus)
        if t.width:
            tr["width"], tr["height"] = t.width, t.height
        if t.config is not None:
            tr["config"] = to_jsonable(t.config)
        if t.sequence_header is not None:
            tr["sequence_header"] = to_jsonable(t.sequence_header)
        if t.metadata is not None:
            tr["metadata"] = to_jsonable(t.metadata)
        tracks.append(tr)
    info["tracks"] = tracks
    return info


def _audio_info(pkt: AudioPacket) -> dict[str, Any]:
    if pkt.silence:
        return {"silence": True, "tracks": []}
    info: dict[str, Any] = {
        "enhanced": pkt.enhanced,
        "sound_format": pkt.sound_format,
        "packet_type": AUDIO_PACKET_NAMES.get(pkt.packet_type, str(pkt.packet_type)),
    }
    if not pkt.enhanced:
        info.update(sound_rate=pkt.sound_rate, sound_size=pkt.sound_size,
                    sound_type=pkt.sound_type)
    if pkt.timestamp_offset_nano is not None:
        info["timestamp_offset_nano"] = pkt.timestamp_offset_nano
    if pkt.multitrack_type is not None:
        info["multitrack_type"] = pkt.multitrack_type
    tracks = []
    for t in pkt.tracks:
        tr: dict[str, Any] = {"track_id": t.track_id, "codec": t.codec}
        if t.fourcc:
            tr["fourcc"] = t.fourcc
        rate = t.sample_rate
        if rate is None and len(pkt.tracks) == 1:
            rate, ch = pkt.sample_rate, pkt.channels
        else:
            ch = t.channels
        if rate:
            tr["sample_rate"], tr["channels"] = rate, ch
        if t.config is not None:
            tr["config"] = to_jsonable(t.config)
        tracks.append(tr)
    info["tracks"] = tracks
    return info


def _script_info(payload: bytes) -> dict[str, Any]:
    values = amf0.decode_all(payload)
    info: dict[str, Any] = {"values": to_jsonable(values)}
    if values and isinstance(values[0], str):
        info["name"] = values[0]
    return info


def inspect_source(
    source: Iterable[tuple[int, int, bytes]], *, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Describe each ``(type_id, timestamp, payload)`` message as a JSON-ready dict.

    A payload that cannot be parsed gets an ``error`` entry instead of stopping the listing.
    """
    for index, (type_id, timestamp, payload) in enumerate(source):
        if limit is not None and index >= limit:
            return
        row: dict[str, Any] = {
            "index": index,
            "type": TYPE_NAMES.get(type_id, str(type_id)),
            "type_id": type_id,
            "timestamp": timestamp,
            "size": len(payload),
        }
        try:
            if type_id == 9:
                row.update(_video_info(parse_video(payload)))
            elif type_id == 8:
                row.update(_audio_info(parse_audio(payload)))
            elif type_id in (18, 15):
                row.update(_script_info(payload))
        except (CodecError, AMFError) as exc:
            row["error"] = str(exc)
        yield row


def inspect_file(path: str, *, limit: int | None = None) -> dict[str, Any]:
    """Inspect an FLV file: its header, its tags (see :func:`inspect_source`), truncation."""
    with FLVReader.open(path) as reader:
        header = {
            "version": reader.header.version,
            "has_audio": reader.header.flags.has_audio,
            "has_video": reader.header.flags.has_video,
            "data_offset": reader.header.data_offset,
        }
        source = ((t.tag_type, t.timestamp, t.payload) for t in reader)
        tags = list(inspect_source(source, limit=limit))
        return {
            "file": path,
            "header": header,
            "tags": tags,
            "truncated": reader.truncated,
            "truncated_at": reader.truncated_at,
        }


def inspect_mp4_file(path: str) -> dict[str, Any] | None:
    """The box tree of an fMP4 file, or None if ``path`` does not start with an MP4 box."""
    from grtmp.hls.inspect import describe_mp4, is_mp4

    with open(path, "rb") as f:
        if not is_mp4(f.read(8)):
            return None
        f.seek(0)
        data = f.read()
    return {"file": path, "format": "mp4", "boxes": describe_mp4(data)}


def inspect_rtmp(url: str, *, limit: int | None = None,
                 timeout: float = 10.0) -> dict[str, Any]:
    """Play ``rtmp://host/app/name`` and inspect what arrives (metadata, headers, frames).

    Stops after ``limit`` messages (default 50), or when nothing arrives for ``timeout`` s.
    """
    from grtmp.errors import ConnectionClosed
    from grtmp.net.client import Client

    limit = 50 if limit is None else limit
    client = Client(url, timeout=timeout)
    messages: list[tuple[int, int, bytes]] = []
    try:
        client.connect()
        client.play()
        media = client.media()
        while len(messages) < limit:
            try:
                msg = next(media)
            except (ConnectionClosed, TimeoutError, OSError, StopIteration):
                break
            messages.append((msg.type_id, msg.timestamp, msg.payload))
    finally:
        client.close()
    return {"url": url, "tags": list(inspect_source(messages, limit=limit)),
            "statuses": [to_jsonable(s) for s in client.statuses]}


def _summary(row: dict[str, Any]) -> tuple[str, str]:
    """(codec column, details column) for the table."""
    if "error" in row:
        return "?", f"error: {row['error']}"
    if row["type"] == "script":
        name = row.get("name", "")
        vals = row.get("values", [])
        body = vals[1] if len(vals) > 1 else {}
        if isinstance(body, dict):
            keys = ", ".join(f"{k}={v}" for k, v in list(body.items())[:12])
            return "amf0", f"{name} {{{keys}}}"
        return "amf0", name
    if row.get("silence"):
        return "-", "silence"
    if "command" in row:
        return "-", f"{row['frame_type']} command={row['command']}"
    tracks = row.get("tracks", [])
    codecs = ",".join(sorted({t["codec"] for t in tracks})) or "-"
    parts = []
    if "frame_type" in row:
        parts.append(row["frame_type"])
    parts.append(row.get("packet_type", ""))
    for t in tracks:
        bits = []
        if len(tracks) > 1:
            bits.append(f"track={t['track_id']}")
        if t.get("composition_time"):
            bits.append(f"cts={t['composition_time']}")
        if "nal_unit_types" in t:
            bits.append("nal=" + ",".join(map(str, t["nal_unit_types"])))
        cfg = t.get("config") or {}
        sps = cfg.get("sps_info") or t.get("sequence_header") or cfg.get("sequence_header")
        if isinstance(sps, dict):
            prof = sps.get("profile_idc", sps.get("seq_profile"))
            lvl = sps.get("level_idc", sps.get("seq_level_idx"))
            bits.append(f"profile={prof} level={lvl}")
            if sps.get("frame_rate"):
                bits.append(f"fps={sps['frame_rate']:g}")
        if t.get("width"):
            bits.append(f"{t['width']}x{t['height']}")
        if "sps" in cfg:
            bits.append(f"sps={len(cfg['sps'])} pps={len(cfg['pps'])}")
        if "vps" in cfg:
            bits.append(f"vps={len(cfg['vps'])}")
        if t.get("sample_rate"):
            bits.append(f"{t['sample_rate']}Hz ch={t['channels']}")
        if "channel_order" in cfg:
            bits.append(f"ch={cfg['channels']} order={cfg['channel_order']}")
        if "object_type" in cfg:
            bits.append(f"aot={cfg['object_type']}")
        if "metadata" in t:
            bits.append(f"metadata={json.dumps(t['metadata'])[:80]}")
        parts.append(" ".join(bits))
    return codecs, " ".join(p for p in parts if p)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render inspection rows as a fixed-width text table."""
    head = ("#", "type", "timestamp", "size", "codec", "details")
    lines = [head]
    for r in rows:
        codec, details = _summary(r)
        lines.append((str(r["index"]), r["type"], str(r["timestamp"]), str(r["size"]), codec,
                      details))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    out = []
    for line in lines:
        cells = [line[i].rjust(widths[i]) if i in (0, 2, 3) else line[i].ljust(widths[i])
                 for i in range(5)]
        out.append("  ".join(cells + [line[5]]).rstrip())
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``grtmp-inspect``."""
    ap = argparse.ArgumentParser(prog="grtmp-inspect",
                                 description="Print the tags and codec details of an FLV file.")
    ap.add_argument("file", help="FLV file or rtmp://host/app/name to inspect")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="rtmp://: stop when nothing arrives for this many seconds")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="show at most N tags")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        ap.error("--limit must be >= 0")
    if args.file.startswith(("rtmp://", "rtmps://")):
        return _main_rtmp(args)
    try:
        mp4 = inspect_mp4_file(args.file)
        if mp4 is not None:
            return _print_mp4(mp4, args.json)
        result = inspect_file(args.file, limit=args.limit)
    except OSError as exc:
        print(f"grtmp-inspect: {exc}", file=sys.stderr)
        return 1
    except FormatError as exc:
        print(f"grtmp-inspect: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        h = result["header"]
        print(f"{args.file}: FLV version {h['version']}, audio={h['has_audio']}, "
              f"video={h['has_video']}, {len(result['tags'])} tags shown")
        print(format_table(result["tags"]))
        if result["truncated"]:
            print(f"(file truncated at offset {result['truncated_at']})")
    return 0


def _print_mp4(result: dict[str, Any], as_json: bool) -> int:
    from grtmp.hls.inspect import format_mp4_tree

    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['file']}: MP4, {len(result['boxes'])} top-level boxes")
        print(format_mp4_tree(result["boxes"]))
    return 0


def _main_rtmp(args: argparse.Namespace) -> int:
    from grtmp.errors import RTMPError

    try:
        result = inspect_rtmp(args.file, limit=args.limit, timeout=args.timeout)
    except (OSError, RTMPError, ValueError) as exc:
        print(f"grtmp-inspect: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.file}: {len(result['tags'])} messages shown")
        print(format_table(result["tags"]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
