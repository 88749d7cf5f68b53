"""ISO base media file format (ISO/IEC 14496-12) boxes for fragmented MP4 / CMAF, declared with
construct: the init segment (``ftyp`` + ``moov``), media fragments (``moof`` + ``mdat``) and the
sample entries grtmp writes for HLS: ``avc1``/``hvc1`` (14496-15), ``av01`` (AV1-ISOBMFF),
``mp4a`` + ``esds`` (14496-14) and ``Opus`` + ``dOps`` (Opus in ISOBMFF).

One declaration, :data:`Box`, reads and writes any box: a 32-bit size (or 1 and a 64-bit
``largesize``, or 0 for "to the end"), a four-character type, then the body declared for that
type in :data:`BOX_BODIES` (unknown types keep their body as raw bytes, and any body may be given
as ``bytes`` when building). Building computes the size, switching to ``largesize`` only when the
box does not fit 32 bits. Parsed boxes are ``Container(type, size, offset, body)``; container
boxes have ``body.children``.

Flags of full boxes are ``FlagsEnum`` (``tfhd``, ``trun``, ``tkhd``, ``url ``), per-sample fields
of ``trun`` are present or not according to its flags (``this._.flags``), handler types are an
``Enum`` and brands readable strings, so ``Box.parse`` prints names. The media-fragment hot path
(:func:`grtmp.hls.fmp4.build_fragment`) uses ``struct``; a hypothesis test proves it equals these
declarations.
"""

from __future__ import annotations

import io
from typing import Any

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Construct,
    ConstructError,
    Container,
    Default,
    Enum,
    Flag,
    GreedyBytes,
    GreedyRange,
    IfThenElse,
    Int8ub,
    Int16sb,
    Int16ub,
    Int24ub,
    Int32sb,
    Int32ub,
    Int64ub,
    LazyBound,
    Prefixed,
    Rebuild,
    SizeofError,
    Struct,
    Switch,
    len_,
    this,
)
from construct.core import stream_read, stream_read_entire, stream_tell, stream_write

from grtmp.formats.av1 import AV1CodecConfigurationRecord
from grtmp.formats.avc import AVCDecoderConfigurationRecord
from grtmp.formats.hevc import HEVCDecoderConfigurationRecord
from grtmp.formats.mp4_fields import (
    SAMPLE_FLAGS_NON_SYNC,
    SAMPLE_FLAGS_SYNC,
    UNITY_MATRIX,
    FourCC,
    HandlerType,
    Language,
    SampleFlags,
    TfhdFlags,
    TkhdFlags,
    TrunFlags,
    UrlFlags,
    Utf8Name,
    VmhdFlags,
    full_box,
    optional,
    versioned,
)

__all__ = [
    "Box",
    "BOX_BODIES",
    "CONTAINER_BOXES",
    "SAMPLE_ENTRY_TYPES",
    "HandlerType",
    "TfhdFlags",
    "TrunFlags",
    "TkhdFlags",
    "SampleFlags",
    "SAMPLE_FLAGS_SYNC",
    "SAMPLE_FLAGS_NON_SYNC",
    "UNITY_MATRIX",
    "FileType",
    "MovieHeader",
    "TrackHeader",
    "MediaHeader",
    "HandlerReference",
    "VisualSampleEntry",
    "AudioSampleEntry",
    "ESDescriptorBox",
    "Descriptor",
    "DescriptorTag",
    "OpusSpecificBox",
    "TrackExtends",
    "MovieFragmentHeader",
    "TrackFragmentHeader",
    "TrackFragmentDecodeTime",
    "TrackRun",
    "MediaData",
    "full_box",
]

#: ftyp / styp (4.3, 8.16.2): brands as readable strings.
FileType = Struct(
    "major_brand" / FourCC,
    "minor_version" / Int32ub,
    "compatible_brands" / GreedyRange(FourCC),
)

#: Body of a container box: nothing but child boxes.
Children = Struct("children" / GreedyRange(LazyBound(lambda: Box)))

#: mvhd (8.2.2).
MovieHeader = full_box(
    Int24ub,
    versioned("creation_time"),
    versioned("modification_time"),
    "timescale" / Int32ub,
    versioned("duration"),
    "rate" / Default(Int32sb, 0x00010000),
    "volume" / Default(Int16sb, 0x0100),
    "reserved" / Default(Bytes(10), bytes(10)),
    "matrix" / Default(Array(9, Int32sb), UNITY_MATRIX),
    "pre_defined" / Default(Bytes(24), bytes(24)),
    "next_track_id" / Int32ub,
)

#: tkhd (8.3.2); width and height are 16.16 fixed point.
TrackHeader = full_box(
    TkhdFlags,
    versioned("creation_time"),
    versioned("modification_time"),
    "track_id" / Int32ub,
    "reserved1" / Default(Int32ub, 0),
    versioned("duration"),
    "reserved2" / Default(Bytes(8), bytes(8)),
    "layer" / Default(Int16sb, 0),
    "alternate_group" / Default(Int16sb, 0),
    "volume" / Default(Int16sb, 0),
    "reserved3" / Default(Int16ub, 0),
    "matrix" / Default(Array(9, Int32sb), UNITY_MATRIX),
    "width" / Default(Int32ub, 0),
    "height" / Default(Int32ub, 0),
)

#: mdhd (8.4.2).
MediaHeader = full_box(
    Int24ub,
    versioned("creation_time"),
    versioned("modification_time"),
    "timescale" / Int32ub,
    versioned("duration"),
    "language" / Default(Language(Int16ub), "und"),
    "pre_defined" / Default(Int16ub, 0),
)

#: hdlr (8.4.3).
HandlerReference = full_box(
    Int24ub,
    "pre_defined" / Default(Int32ub, 0),
    "handler_type" / HandlerType,
    "reserved" / Default(Bytes(12), bytes(12)),
    "name" / Utf8Name(GreedyBytes),
)

VideoMediaHeader = full_box(
    VmhdFlags,
    "graphicsmode" / Default(Int16ub, 0),
    "opcolor" / Default(Array(3, Int16ub), [0, 0, 0]),
)

SoundMediaHeader = full_box(
    Int24ub,
    "balance" / Default(Int16sb, 0),
    "reserved" / Default(Int16ub, 0),
)

#: dref (8.7.2): a count, then that many boxes ('url ' / 'urn ').
DataReference = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, LazyBound(lambda: Box)),
)

#: 'url ' (8.7.2): self_contained means "the media is in this file" (no location).
DataEntryUrl = full_box(UrlFlags, "location" / GreedyBytes)

#: stsd (8.5.2): a count, then the sample entries (boxes typed avc1, mp4a, ...).
SampleDescription = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, LazyBound(lambda: Box)),
)

TimeToSample = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, Struct("sample_count" / Int32ub,
                                               "sample_delta" / Int32ub)),
)

SampleToChunk = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, Struct("first_chunk" / Int32ub,
                                               "samples_per_chunk" / Int32ub,
                                               "sample_description_index" / Int32ub)),
)

SampleSize = full_box(
    Int24ub,
    "sample_size" / Default(Int32ub, 0),
    "sample_count" / Rebuild(Int32ub, len_(this.entry_sizes)),
    "entry_sizes" / optional(this.sample_size == 0, Array(this.sample_count, Int32ub)),
)

ChunkOffset = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, Int32ub),
)

EditList = full_box(
    Int24ub,
    "entry_count" / Rebuild(Int32ub, len_(this.entries)),
    "entries" / Array(this.entry_count, Struct(
        "segment_duration" / IfThenElse(this._.version == 1, Int64ub, Int32ub),
        "media_time" / IfThenElse(this._.version == 1, Int64ub, Int32sb),
        "media_rate_integer" / Int16sb,
        "media_rate_fraction" / Int16sb,
    )),
)

#: VisualSampleEntry (8.5.2.2 / 12.1.3): avc1, avc3, hvc1, hev1, av01; children carry the codec
#: configuration (avcC, hvcC, av1C) and optional btrt/pasp/colr.
VisualSampleEntry = Struct(
    "reserved" / Default(Bytes(6), bytes(6)),
    "data_reference_index" / Default(Int16ub, 1),
    "pre_defined1" / Default(Int16ub, 0),
    "reserved1" / Default(Int16ub, 0),
    "pre_defined2" / Default(Bytes(12), bytes(12)),
    "width" / Int16ub,
    "height" / Int16ub,
    "horizresolution" / Default(Int32ub, 0x00480000),
    "vertresolution" / Default(Int32ub, 0x00480000),
    "reserved2" / Default(Int32ub, 0),
    "frame_count" / Default(Int16ub, 1),
    "compressorname" / Default(Bytes(32), bytes(32)),
    "depth" / Default(Int16ub, 0x0018),
    "pre_defined3" / Default(Int16sb, -1),
    "children" / GreedyRange(LazyBound(lambda: Box)),
)

#: AudioSampleEntry (8.5.2.2 / 12.2.3), version 0: mp4a, Opus; samplerate is 16.16.
AudioSampleEntry = Struct(
    "reserved" / Default(Bytes(6), bytes(6)),
    "data_reference_index" / Default(Int16ub, 1),
    "entry_version" / Default(Int16ub, 0),
    "reserved1" / Default(Bytes(6), bytes(6)),
    "channelcount" / Int16ub,
    "samplesize" / Default(Int16ub, 16),
    "pre_defined" / Default(Int16ub, 0),
    "reserved2" / Default(Int16ub, 0),
    "samplerate" / Int32ub,
    "children" / GreedyRange(LazyBound(lambda: Box)),
)


class _DescriptorLength(Construct):  # type: ignore[misc]
    """The expandable size of an MPEG-4 descriptor (14496-1 8.3.3): 7 bits per byte, high bit
    "more follows", at most 4 bytes. Built in the 4-byte form FFmpeg and Apple write."""

    def _parse(self, stream: Any, context: Any, path: Any) -> int:
        value = 0
        for _ in range(4):
            b = stream_read(stream, 1, path)[0]
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value
        raise ConstructError("descriptor length longer than 4 bytes", path=path)

    def _build(self, obj: int, stream: Any, context: Any, path: Any) -> int:
        if not 0 <= obj < 1 << 28:
            raise ConstructError(f"descriptor length {obj} out of range", path=path)
        stream_write(stream, bytes([0x80 | (obj >> 21) & 0x7F, 0x80 | (obj >> 14) & 0x7F,
                                    0x80 | (obj >> 7) & 0x7F, obj & 0x7F]), 4, path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("variable size", path=path)


#: Descriptor tags used in esds (14496-1 7.2.2.1).
DescriptorTag = Enum(Int8ub, ES=3, DecoderConfig=4, DecoderSpecificInfo=5, SLConfig=6)

#: objectTypeIndication (14496-1 table 5): 0x40 is MPEG-4 Audio (AAC).
ObjectType = Enum(Int8ub, mpeg4_audio=0x40, mpeg2_aac_lc=0x67, mp3=0x6B, opus=0xAD)

ESDescriptorBody = Struct(
    "es_id" / Default(Int16ub, 0),
    "flags" / BitStruct(
        "stream_dependence" / Default(Flag, False),
        "url" / Default(Flag, False),
        "ocr_stream" / Default(Flag, False),
        "stream_priority" / Default(BitsInteger(5), 0),
    ),
    "depends_on_es_id" / optional(this.flags.stream_dependence, Int16ub),
    "url" / optional(this.flags.url, Prefixed(Int8ub, GreedyBytes)),
    "ocr_es_id" / optional(this.flags.ocr_stream, Int16ub),
    "descriptors" / GreedyRange(LazyBound(lambda: Descriptor)),
)

DecoderConfigBody = Struct(
    "object_type_indication" / ObjectType,
    "stream" / BitStruct(
        "stream_type" / Enum(BitsInteger(6), visual=4, audio=5),
        "up_stream" / Default(Flag, False),
        "reserved" / Default(BitsInteger(1), 1),
    ),
    "buffer_size_db" / Default(Int24ub, 0),
    "max_bitrate" / Default(Int32ub, 0),
    "avg_bitrate" / Default(Int32ub, 0),
    "descriptors" / GreedyRange(LazyBound(lambda: Descriptor)),
)

#: An MPEG-4 descriptor: tag, expandable length, body by tag (DecoderSpecificInfo is the
#: AudioSpecificConfig, kept as bytes).
Descriptor = Struct(
    "tag" / DescriptorTag,
    "body" / Prefixed(_DescriptorLength(), Switch(this.tag, {
        "ES": ESDescriptorBody,
        "DecoderConfig": DecoderConfigBody,
        "SLConfig": Struct("predefined" / Default(Int8ub, 2), "rest" / GreedyBytes),
    }, default=GreedyBytes)),
)

#: esds (14496-14 5.6): FullBox + ES_Descriptor.
ESDescriptorBox = full_box(Int24ub, "descriptor" / Descriptor)

#: dOps, the OpusSpecificBox (Opus in ISOBMFF 4.3.2): OpusHead fields, big endian.
OpusSpecificBox = Struct(
    "version" / Default(Int8ub, 0),
    "output_channel_count" / Int8ub,
    "pre_skip" / Int16ub,
    "input_sample_rate" / Int32ub,
    "output_gain" / Default(Int16sb, 0),
    "channel_mapping_family" / Default(Int8ub, 0),
    "mapping" / optional(this.channel_mapping_family != 0, Struct(
        "stream_count" / Int8ub,
        "coupled_count" / Int8ub,
        "channel_mapping" / Bytes(this._.output_channel_count),
    )),
)

BitRate = Struct("buffer_size_db" / Int32ub, "max_bitrate" / Int32ub, "avg_bitrate" / Int32ub)
PixelAspectRatio = Struct("h_spacing" / Int32ub, "v_spacing" / Int32ub)

MovieExtendsHeader = full_box(Int24ub, versioned("fragment_duration"))

#: trex (8.8.3): per-track defaults for fragments.
TrackExtends = full_box(
    Int24ub,
    "track_id" / Int32ub,
    "default_sample_description_index" / Default(Int32ub, 1),
    "default_sample_duration" / Default(Int32ub, 0),
    "default_sample_size" / Default(Int32ub, 0),
    "default_sample_flags" / Default(SampleFlags, 0),
)

#: mfhd (8.8.5).
MovieFragmentHeader = full_box(Int24ub, "sequence_number" / Int32ub)

#: tfhd (8.8.7): optional fields present according to its flags.
TrackFragmentHeader = full_box(
    TfhdFlags,
    "track_id" / Int32ub,
    "base_data_offset" / optional(this.flags.base_data_offset_present, Int64ub),
    "sample_description_index" / optional(this.flags.sample_description_index_present, Int32ub),
    "default_sample_duration" / optional(this.flags.default_sample_duration_present, Int32ub),
    "default_sample_size" / optional(this.flags.default_sample_size_present, Int32ub),
    "default_sample_flags" / optional(this.flags.default_sample_flags_present, SampleFlags),
)

#: tfdt (8.8.12): version 1 carries a 64-bit baseMediaDecodeTime.
TrackFragmentDecodeTime = full_box(Int24ub, versioned("base_media_decode_time"))

#: One trun sample record; each field is present when its trun flag is set. Composition time
#: offsets are unsigned in version 0 and signed in version 1.
TrunSample = Struct(
    "duration" / optional(this._.flags.sample_duration_present, Int32ub),
    "size" / optional(this._.flags.sample_size_present, Int32ub),
    "flags" / optional(this._.flags.sample_flags_present, SampleFlags),
    "composition_time_offset" / optional(this._.flags.sample_composition_time_offsets_present,
                                   IfThenElse(this._.version == 1, Int32sb, Int32ub)),
)

#: trun (8.8.8).
TrackRun = full_box(
    TrunFlags,
    "sample_count" / Rebuild(Int32ub, len_(this.samples)),
    "data_offset" / optional(this.flags.data_offset_present, Int32sb),
    "first_sample_flags" / optional(this.flags.first_sample_flags_present, SampleFlags),
    "samples" / Array(this.sample_count, TrunSample),
)

#: mdat: the sample bytes.
MediaData = Struct("data" / GreedyBytes)

#: Boxes that hold only other boxes.
CONTAINER_BOXES = ("moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf",
                   "edts", "mfra")

#: Sample entry box types and their entry layout.
SAMPLE_ENTRY_TYPES = {
    "avc1": VisualSampleEntry,
    "avc3": VisualSampleEntry,
    "hvc1": VisualSampleEntry,
    "hev1": VisualSampleEntry,
    "av01": VisualSampleEntry,
    "vp09": VisualSampleEntry,
    "mp4a": AudioSampleEntry,
    "Opus": AudioSampleEntry,
}

#: Box type -> body declaration. Types not listed keep their body as raw bytes.
BOX_BODIES: dict[str, Construct] = {
    **{t: Children for t in CONTAINER_BOXES},
    **SAMPLE_ENTRY_TYPES,
    "ftyp": FileType,
    "styp": FileType,
    "mvhd": MovieHeader,
    "tkhd": TrackHeader,
    "mdhd": MediaHeader,
    "hdlr": HandlerReference,
    "vmhd": VideoMediaHeader,
    "smhd": SoundMediaHeader,
    "dref": DataReference,
    "url ": DataEntryUrl,
    "stsd": SampleDescription,
    "stts": TimeToSample,
    "stsc": SampleToChunk,
    "stsz": SampleSize,
    "stco": ChunkOffset,
    "elst": EditList,
    "avcC": AVCDecoderConfigurationRecord,
    "hvcC": HEVCDecoderConfigurationRecord,
    "av1C": AV1CodecConfigurationRecord,
    "esds": ESDescriptorBox,
    "dOps": OpusSpecificBox,
    "btrt": BitRate,
    "pasp": PixelAspectRatio,
    "mehd": MovieExtendsHeader,
    "trex": TrackExtends,
    "mfhd": MovieFragmentHeader,
    "tfhd": TrackFragmentHeader,
    "tfdt": TrackFragmentDecodeTime,
    "trun": TrackRun,
    "mdat": MediaData,
}


class _BoxConstruct(Construct):  # type: ignore[misc]
    """A box (14496-12 4.2): size, type, optional largesize, then the body of that type.

    Parsing returns ``Container(type, size, offset, header_size, body)`` (offset is where the box
    starts in the bytes it was parsed from: the file for top-level boxes, the parent's body for
    children; size is the whole box); the body is parsed by :data:`BOX_BODIES` from exactly the
    box's bytes, and bytes a body declaration leaves unread are kept in ``trailing``. Building
    takes ``{"type": ..., "body": ...}`` (a ``bytes`` body is written as is) and computes the size.
    """

    def _parse(self, stream: Any, context: Any, path: Any) -> Container:
        offset = stream_tell(stream, path)
        head = stream_read(stream, 8, path)
        size = int.from_bytes(head[:4], "big")
        btype = head[4:8].decode("latin-1")
        header = 8
        if size == 1:
            size = int.from_bytes(stream_read(stream, 8, path), "big")
            header = 16
        if size == 0:  # the box extends to the end of the file
            payload = stream_read_entire(stream, path)
            size = header + len(payload)
        else:
            if size < header:
                raise ConstructError(f"box {btype!r} size {size} smaller than its header",
                                     path=path)
            payload = stream_read(stream, size - header, path)
        body_con = BOX_BODIES.get(btype)
        trailing = b""
        if body_con is None:
            body: Any = payload
        else:
            sub = io.BytesIO(payload)
            body = body_con._parsereport(sub, context, f"{path} -> {btype}")
            trailing = payload[sub.tell():]
        box = Container(type=btype, size=size, offset=offset, header_size=header, body=body)
        if trailing:
            box.trailing = trailing
        return box

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        btype = obj["type"]
        body = obj.get("body", b"")
        if isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body)
        else:
            con = BOX_BODIES.get(btype, GreedyBytes)
            buf = io.BytesIO()
            con._build(body, buf, context, f"{path} -> {btype}")
            data = buf.getvalue()
        data += bytes(obj.get("trailing", b""))
        code = btype.encode("latin-1")
        if len(code) != 4:
            raise ConstructError(f"box type {btype!r} is not four characters", path=path)
        size = 8 + len(data)
        if size <= 0xFFFFFFFF:
            head = size.to_bytes(4, "big") + code
        else:
            head = b"\x00\x00\x00\x01" + code + (size + 8).to_bytes(8, "big")
        stream_write(stream, head + data, len(head) + len(data), path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("a box's size depends on its body", path=path)


#: Any ISO BMFF box (see the module docstring).
Box = _BoxConstruct()

#: A sequence of boxes (a whole init segment, a media segment, a part).
Boxes = GreedyRange(Box)
