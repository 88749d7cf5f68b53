"""Fragmented MP4 muxing (ISO/IEC 14496-12 8.8, "movie fragments"): the init segment of a set of
tracks, and one fragment (``moof`` + ``mdat``) of samples. Pure: bytes in, bytes out.

* :func:`build_init_segment` builds ``ftyp`` + ``moov`` (one ``trak`` per track, empty sample
  tables, ``mvex``/``trex``) from the construct declarations in :mod:`grtmp.formats.mp4`. It runs
  once per stream and codec configuration.
* :func:`build_fragment` builds a fragment with ``struct``: it runs for every HLS part, so it is
  the hot path. :func:`fragment_boxes` describes the same fragment as box declarations, and a
  hypothesis test proves ``Boxes.build(fragment_boxes(...)) == build_fragment(...)``.

Fragment layout: ``tfhd`` has default-base-is-moof (CMAF), ``tfdt`` is version 1 (64-bit decode
time), and ``trun`` carries a data offset and, per sample, the duration and size; video also
carries sample flags (sync or not) and signed composition offsets (version 1), audio takes its
flags (every frame a sync sample) from ``tfhd``'s default. Each track's samples are contiguous in
``mdat``, in track order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from construct import ConstructError

from grtmp.errors import CodecError
from grtmp.formats.audio import OpusHead
from grtmp.formats.mp4 import (
    SAMPLE_FLAGS_NON_SYNC,
    SAMPLE_FLAGS_SYNC,
    Box,
    Boxes,
)

__all__ = [
    "TrackConfig",
    "Sample",
    "TrackRun",
    "build_init_segment",
    "build_fragment",
    "fragment_boxes",
    "init_segment_boxes",
    "VIDEO_TIMESCALE",
]

#: Video timescale (ticks per second), as MPEG-TS and most HLS packagers use.
VIDEO_TIMESCALE = 90000

_SAMPLE_ENTRY = {"avc": "avc1", "hevc": "hvc1", "av1": "av01", "aac": "mp4a", "opus": "Opus"}
_CONFIG_BOX = {"avc": "avcC", "hevc": "hvcC", "av1": "av1C"}


@dataclass(frozen=True)
class TrackConfig:
    """One track of an fMP4 stream: what the init segment and the HLS ``CODECS`` need.

    ``config`` is the codec configuration as RTMP carries it: the avcC / hvcC / av1C record,
    the AudioSpecificConfig, or the OpusHead (RFC 7845 5.1, little endian; converted to ``dOps``
    when the init segment is built). ``timescale`` is 90000 for video, the sample rate for AAC
    and 48000 for Opus.
    """

    kind: Literal["video", "audio"]
    codec: str
    codec_string: str
    timescale: int
    config: bytes
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0
    frame_rate: float | None = None

    def __post_init__(self) -> None:
        if self.codec not in _SAMPLE_ENTRY:
            raise CodecError(f"codec {self.codec!r} cannot be muxed to fMP4")
        if self.kind not in ("video", "audio") or self.timescale <= 0:
            raise CodecError(f"bad track kind/timescale {self.kind!r}/{self.timescale}")


@dataclass(slots=True)
class Sample:
    """One coded frame: decode time and duration in the track's timescale, the composition
    offset (pts - dts), key frame flag, and the bytes stored in ``mdat`` (AVC/HEVC:
    length-prefixed NAL units; AV1: OBUs; AAC: a raw access unit; Opus: a packet)."""

    dts: int
    duration: int
    data: bytes
    keyframe: bool = True
    cts: int = 0


@dataclass(frozen=True)
class TrackRun:
    """The samples of one track in one fragment; ``samples[0].dts`` is the ``tfdt`` time."""

    track_id: int
    kind: Literal["video", "audio"]
    samples: Sequence[Sample]


# --------------------------------------------------------------------------------------------
# Init segment (construct)
# --------------------------------------------------------------------------------------------


def _esds(track: TrackConfig, track_id: int) -> dict[str, Any]:
    """esds for AAC: ES_Descriptor > DecoderConfigDescriptor (MPEG-4 audio) >
    DecoderSpecificInfo (the AudioSpecificConfig), and SLConfigDescriptor predefined 2."""
    dec_config = {
        "object_type_indication": "mpeg4_audio",
        "stream": {"stream_type": "audio"},
        "descriptors": [{"tag": "DecoderSpecificInfo", "body": track.config}],
    }
    es = {
        "es_id": track_id,
        "flags": {},
        "descriptors": [
            {"tag": "DecoderConfig", "body": dec_config},
            {"tag": "SLConfig", "body": {"rest": b""}},
        ],
    }
    return {"type": "esds", "body": {"flags": 0, "descriptor": {"tag": "ES", "body": es}}}


def _dops(track: TrackConfig) -> dict[str, Any]:
    """dOps from the OpusHead RTMP carries (Opus in ISOBMFF 4.3.2: same fields, big endian)."""
    try:
        head = OpusHead.parse(track.config)
    except (ConstructError, ValueError) as exc:
        raise CodecError(f"bad OpusHead: {exc}") from None
    mapping = None
    if head.channel_mapping_family != 0:
        mapping = {
            "stream_count": head.mapping.stream_count,
            "coupled_count": head.mapping.coupled_count,
            "channel_mapping": bytes(head.mapping.channel_mapping),
        }
    return {"type": "dOps", "body": {
        "output_channel_count": head.output_channel_count,
        "pre_skip": head.pre_skip,
        "input_sample_rate": head.input_sample_rate,
        "output_gain": head.output_gain,
        "channel_mapping_family": head.channel_mapping_family,
        "mapping": mapping,
    }}


def _sample_entry(track: TrackConfig, track_id: int) -> dict[str, Any]:
    entry_type = _SAMPLE_ENTRY[track.codec]
    if track.kind == "video":
        return {"type": entry_type, "body": {
            "width": track.width,
            "height": track.height,
            "children": [{"type": _CONFIG_BOX[track.codec], "body": track.config}],
        }}
    if track.codec == "aac":
        child = _esds(track, track_id)
        rate = track.sample_rate
    else:
        child = _dops(track)
        rate = 48000
    return {"type": entry_type, "body": {
        "channelcount": track.channels or 2,
        # 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0
        "samplerate": rate << 16 if rate < 65536 else 0,
        "children": [child],
    }}


def _trak(track: TrackConfig, track_id: int) -> dict[str, Any]:
    video = track.kind == "video"
    times = {"creation_time": 0, "modification_time": 0, "duration": 0}
    tkhd = {
        "version": 0,
        "flags": {"track_enabled": True, "track_in_movie": True},
        "track_id": track_id,
        **times,
        "alternate_group": 0 if video else 1,
        "volume": 0 if video else 0x0100,
        "width": (track.width << 16) if video else 0,
        "height": (track.height << 16) if video else 0,
    }
    mdhd = {"version": 0, "flags": 0, "timescale": track.timescale, **times}
    hdlr = {"flags": 0, "handler_type": "vide" if video else "soun",
            "name": "VideoHandler" if video else "SoundHandler"}
    media_header = ({"type": "vmhd", "body": {"flags": {"no_lean_ahead": True}}} if video
                    else {"type": "smhd", "body": {"flags": 0}})
    dinf = {"type": "dinf", "body": {"children": [
        {"type": "dref", "body": {"flags": 0, "entries": [
            {"type": "url ", "body": {"flags": {"self_contained": True}, "location": b""}},
        ]}},
    ]}}
    empty = {"flags": 0, "entries": []}
    stbl = {"type": "stbl", "body": {"children": [
        {"type": "stsd", "body": {"flags": 0, "entries": [_sample_entry(track, track_id)]}},
        {"type": "stts", "body": empty},
        {"type": "stsc", "body": empty},
        {"type": "stsz", "body": {"flags": 0, "sample_size": 0, "entry_sizes": []}},
        {"type": "stco", "body": empty},
    ]}}
    return {"type": "trak", "body": {"children": [
        {"type": "tkhd", "body": tkhd},
        {"type": "mdia", "body": {"children": [
            {"type": "mdhd", "body": mdhd},
            {"type": "hdlr", "body": hdlr},
            {"type": "minf", "body": {"children": [media_header, dinf, stbl]}},
        ]}},
    ]}}


def init_segment_boxes(tracks: Sequence[TrackConfig]) -> list[dict[str, Any]]:
    """The init segment as box declarations: ``ftyp`` (iso6) and ``moov`` with one ``trak``
    per track (track ids 1..n in order) and ``mvex``."""
    if not tracks:
        raise CodecError("an init segment needs at least one track")
    ftyp = {"type": "ftyp", "body": {"major_brand": "iso6", "minor_version": 0,
                                     "compatible_brands": ["iso6", "mp41"]}}
    mvhd = {"type": "mvhd", "body": {
        "version": 0, "flags": 0, "creation_time": 0, "modification_time": 0,
        "timescale": 1000, "duration": 0, "next_track_id": len(tracks) + 1,
    }}
    traks = [_trak(t, i + 1) for i, t in enumerate(tracks)]
    mvex = {"type": "mvex", "body": {"children": [
        {"type": "trex", "body": {"flags": 0, "track_id": i + 1}} for i in range(len(tracks))
    ]}}
    moov = {"type": "moov", "body": {"children": [mvhd, *traks, mvex]}}
    return [ftyp, moov]


def build_init_segment(tracks: Sequence[TrackConfig]) -> bytes:
    """Bytes of the init segment (``ftyp`` + ``moov``) for ``tracks`` (track ids 1..n)."""
    try:
        return b"".join(Box.build(b) for b in init_segment_boxes(tracks))
    except (ConstructError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot build init segment: {exc}") from None


# --------------------------------------------------------------------------------------------
# Media fragments (struct hot path)
# --------------------------------------------------------------------------------------------

_BOX_HEADER = struct.Struct(">I4s")
_MFHD = struct.Struct(">I4sII")  # size, 'mfhd', version+flags, sequence_number
_TFHD = struct.Struct(">I4sII")  # size, 'tfhd', version+flags, track_id
_TFHD_DEFAULT_FLAGS = struct.Struct(">I4sIII")  # ... + default_sample_flags
_TFDT1 = struct.Struct(">I4sIQ")  # size, 'tfdt', version 1 + flags, base_media_decode_time
_TRUN_HEAD = struct.Struct(">I4sIIi")  # size, 'trun', version+flags, sample_count, data_offset

_TFHD_BASE_IS_MOOF = 0x020000
_TFHD_DEFAULT_SAMPLE_FLAGS = 0x000020
#: trun flags: data offset, duration, size (+ flags and composition offsets for video).
_TRUN_AUDIO = 0x000301
_TRUN_VIDEO = 0x000F01


def _traf_layout(run: TrackRun) -> tuple[int, int, int]:
    """(traf size, trun size, per-sample record size) of one track run."""
    per = 16 if run.kind == "video" else 8
    tfhd = 16 if run.kind == "video" else 20
    trun = 20 + per * len(run.samples)
    return 8 + tfhd + 20 + trun, trun, per


def build_fragment(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """Bytes of one movie fragment: ``moof`` (``mfhd``, one ``traf`` per run) + ``mdat``.

    ``runs`` with no samples are left out. Raises :class:`CodecError` if nothing remains or a
    value does not fit its field.
    """
    runs = [r for r in runs if r.samples]
    if not runs:
        raise CodecError("a fragment needs at least one sample")
    layouts = [_traf_layout(r) for r in runs]
    moof_size = 8 + 16 + sum(lay[0] for lay in layouts)
    out = [_BOX_HEADER.pack(moof_size, b"moof"), _MFHD.pack(16, b"mfhd", 0, sequence_number)]
    data_start = moof_size + 8
    payload: list[bytes] = []
    try:
        for run, (traf_size, trun_size, _per) in zip(runs, layouts):
            samples = run.samples
            out.append(_BOX_HEADER.pack(traf_size, b"traf"))
            if run.kind == "video":
                out.append(_TFHD.pack(16, b"tfhd", _TFHD_BASE_IS_MOOF, run.track_id))
                flags = _TRUN_VIDEO | 0x01000000  # version 1: signed composition offsets
                fields = []
                for s in samples:
                    fields += (s.duration, len(s.data),
                               SAMPLE_FLAGS_SYNC if s.keyframe else SAMPLE_FLAGS_NON_SYNC, s.cts)
                body = struct.pack(">" + "IIIi" * len(samples), *fields)
            else:
                out.append(_TFHD_DEFAULT_FLAGS.pack(
                    20, b"tfhd", _TFHD_BASE_IS_MOOF | _TFHD_DEFAULT_SAMPLE_FLAGS, run.track_id,
                    SAMPLE_FLAGS_SYNC))
                flags = _TRUN_AUDIO
                fields = []
                for s in samples:
                    fields += (s.duration, len(s.data))
                body = struct.pack(">" + "II" * len(samples), *fields)
            out.append(_TFDT1.pack(20, b"tfdt", 0x01000000, samples[0].dts))
            out.append(_TRUN_HEAD.pack(trun_size, b"trun", flags, len(samples), data_start))
            out.append(body)
            for s in samples:
                payload.append(s.data)
                data_start += len(s.data)
        mdat_size = data_start - moof_size
        out.append(_BOX_HEADER.pack(mdat_size, b"mdat"))
    except struct.error as exc:
        raise CodecError(f"fragment field out of range: {exc}") from None
    out += payload
    return b"".join(out)


def fragment_boxes(sequence_number: int, runs: Sequence[TrackRun]) -> list[dict[str, Any]]:
    """The fragment :func:`build_fragment` writes, as box declarations (``moof``, ``mdat``);
    the reference the struct hot path is tested against."""
    runs = [r for r in runs if r.samples]

    def moof(offsets: list[int]) -> dict[str, Any]:
        trafs = []
        for run, offset in zip(runs, offsets):
            video = run.kind == "video"
            tfhd = {"flags": {"default_base_is_moof": True,
                              "default_sample_flags_present": not video},
                    "track_id": run.track_id,
                    "default_sample_flags": None if video else SAMPLE_FLAGS_SYNC}
            trun_flags = {"data_offset_present": True, "sample_duration_present": True,
                          "sample_size_present": True, "sample_flags_present": video,
                          "sample_composition_time_offsets_present": video}
            samples = [{
                "duration": s.duration,
                "size": len(s.data),
                "flags": (SAMPLE_FLAGS_SYNC if s.keyframe else SAMPLE_FLAGS_NON_SYNC)
                if video else None,
                "composition_time_offset": s.cts if video else None,
            } for s in run.samples]
            trafs.append({"type": "traf", "body": {"children": [
                {"type": "tfhd", "body": tfhd},
                {"type": "tfdt", "body": {"version": 1, "flags": 0,
                                          "base_media_decode_time": run.samples[0].dts}},
                {"type": "trun", "body": {"version": 1 if video else 0, "flags": trun_flags,
                                          "data_offset": offset, "samples": samples}},
            ]}})
        return {"type": "moof", "body": {"children": [
            {"type": "mfhd", "body": {"flags": 0, "sequence_number": sequence_number}},
            *trafs,
        ]}}

    moof_size = len(Box.build(moof([0] * len(runs))))
    offsets, pos = [], moof_size + 8
    for run in runs:
        offsets.append(pos)
        pos += sum(len(s.data) for s in run.samples)
    mdat = {"type": "mdat", "body": {"data": b"".join(s.data for r in runs for s in r.samples)}}
    return [moof(offsets), mdat]


def build_fragment_declared(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """:func:`build_fragment` through the construct declarations (slow; for tests)."""
    return Boxes.build(fragment_boxes(sequence_number, runs))
