"""FLV files: a writer for recording and a streaming reader, on the :mod:`grtmp.formats.flv`
layouts.

The writer reserves ``duration`` and ``filesize`` in the onMetaData tag when it writes it, and
:meth:`FLVWriter.close` seeks back and patches them, so a cleanly stopped recording is always a
complete file whose metadata is right. The reader streams tags one at a time, raises
:class:`~grtmp.errors.FormatError` on a file that is not FLV, and stops cleanly on a truncated
last tag (the usual state of a recording that was killed), reporting it in
:attr:`FLVReader.truncated`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from construct import ConstructError

from grtmp.amf import amf0
from grtmp.errors import AMFError, FormatError
from grtmp.formats.flv import (
    FLV_HEADER_SIZE,
    FLV_TAG_HEADER_SIZE,
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvHeader,
    FlvTagHeader,
    PreviousTagSize,
)

__all__ = ["FLVWriter", "FLVReader", "FlvTagRecord", "tag_header", "TAG_AUDIO", "TAG_VIDEO",
           "TAG_SCRIPT"]

#: Largest tag payload the 24-bit DataSize field can describe.
MAX_TAG_SIZE = (1 << 24) - 1

_RESERVED_KEYS = ("duration", "filesize")


@dataclass(frozen=True)
class FlvTagRecord:
    """One tag read from an FLV file."""

    tag_type: int
    timestamp: int
    stream_id: int
    payload: bytes
    offset: int = 0
    filter: bool = False

    @property
    def type(self) -> int:
        """Alias of :attr:`tag_type` (8 audio, 9 video, 18 script data)."""
        return self.tag_type


#: The tag header as two UI32: type << 24 | data size, then the 24 low timestamp bits << 8 |
#: the upper 8 bits; stream id 0 follows. The recorder writes one per message, so this is the
#: struct path of :data:`FlvTagHeader` (tests/media/test_flv.py proves they agree).
_TAG_HEADER = struct.Struct(">II")
_STREAM_ID_0 = b"\x00\x00\x00"
#: The reader parses one header per tag: the compiled declaration.
_TAG_HEADER_PARSER = FlvTagHeader.compile()


def tag_header(tag_type: int, timestamp: int, size: int) -> bytes:
    """The 11-byte FLV tag header (E.4.1) for a payload of ``size`` bytes, stream id 0; the
    timestamp (milliseconds, taken mod 2**32) is written as 24 low bits then the upper 8."""
    ts = timestamp & 0xFFFFFFFF
    return _TAG_HEADER.pack(tag_type << 24 | size, (ts & 0xFFFFFF) << 8 | ts >> 24) + _STREAM_ID_0


class FLVWriter:
    """Write an FLV file: header, onMetaData, then every tag; :meth:`close` patches duration
    and file size into onMetaData (when the file object is seekable).

    Timestamps are milliseconds, written as 24 low bits plus the 8-bit extension (so 32-bit
    RTMP timestamps survive). Duration is from the first timestamp to the end of the last
    audio/video frame, the last frame lasting as long as the one before it of the same type.
    """

    def __init__(self, fileobj: IO[bytes], *, has_audio: bool = True,
                 has_video: bool = True) -> None:
        self._f = fileobj
        self._owns = False
        self._closed = False
        self._meta_written = False
        self._patch_offsets: dict[str, int] = {}
        self._first_ts: int | None = None
        self._last_ts = 0
        self._ends: dict[int, tuple[int, int]] = {}  # tag type -> (previous, last) timestamp
        self._size = 0
        self.tags_written = 0
        header = FlvHeader.build(
            {
                "version": 1,
                "flags": {"reserved1": 0, "has_audio": has_audio, "reserved2": 0,
                          "has_video": has_video},
                "data_offset": FLV_HEADER_SIZE,
            }
        )
        self._write(header + PreviousTagSize.build(0))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, has_audio: bool = True,
             has_video: bool = True) -> FLVWriter:
        """Create (truncate) ``path`` and return a writer that closes the file on close()."""
        f = open(path, "wb")  # noqa: SIM115 - owned by the writer
        w = cls(f, has_audio=has_audio, has_video=has_video)
        w._owns = True
        return w

    def __enter__(self) -> FLVWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._size += len(data)

    def write_metadata(self, meta: dict[str, Any]) -> None:
        """Write the onMetaData script tag (once, before any other tag). ``duration`` and
        ``filesize`` are reserved as numbers and patched on close."""
        if self._closed:
            raise FormatError("FLVWriter is closed")
        if self._meta_written:
            raise FormatError("onMetaData already written")
        if self.tags_written:
            raise FormatError("onMetaData must come before media tags")
        values: dict[str, Any] = {k: 0.0 for k in _RESERVED_KEYS}
        values.update({k: v for k, v in meta.items() if k not in _RESERVED_KEYS})
        try:
            payload = amf0.encode("onMetaData", amf0.ECMAArray(values))
        except AMFError as exc:
            raise FormatError(f"metadata not encodable: {exc}") from None
        tag_start = self._size + FLV_TAG_HEADER_SIZE
        for key in _RESERVED_KEYS:
            # ECMA array entry: UI16 key length, key, number marker 0x00, 8-byte double
            needle = struct.pack(">H", len(key)) + key.encode() + b"\x00"
            idx = payload.find(needle)
            if idx >= 0:
                self._patch_offsets[key] = tag_start + idx + len(needle)
        self._meta_written = True
        self._write_tag(TAG_SCRIPT, 0, payload)

    def write_tag(self, tag_type: int, timestamp: int, payload: bytes) -> None:
        """Append one tag (8 audio, 9 video, 18 script data) with a millisecond timestamp."""
        if self._closed:
            raise FormatError("FLVWriter is closed")
        if tag_type not in (TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT):
            raise FormatError(f"bad FLV tag type {tag_type}")
        if not self._meta_written:
            self.write_metadata({})
        if self._first_ts is None:
            self._first_ts = timestamp
        self._last_ts = max(self._last_ts, timestamp)
        if tag_type != TAG_SCRIPT:
            prev = self._ends.get(tag_type)
            self._ends[tag_type] = (prev[1] if prev else timestamp, timestamp)
        self._write_tag(tag_type, timestamp, payload)
        self.tags_written += 1

    def _write_tag(self, tag_type: int, timestamp: int, payload: bytes) -> None:
        if len(payload) > MAX_TAG_SIZE:
            raise FormatError(f"tag payload of {len(payload)} bytes exceeds 24-bit size")
        header = tag_header(tag_type, timestamp, len(payload))
        self._write(header + bytes(payload) + PreviousTagSize.build(FLV_TAG_HEADER_SIZE
                                                                    + len(payload)))

    @property
    def duration(self) -> float:
        """Seconds from the first tag to the end of the last audio/video frame."""
        if self._first_ts is None:
            return 0.0
        end = self._last_ts
        for prev, last in self._ends.values():
            end = max(end, last + max(0, last - prev))
        return max(0, end - self._first_ts) / 1000.0

    def close(self) -> None:
        """Patch duration and file size into onMetaData, flush, and close an owned file."""
        if self._closed:
            return
        try:
            if not self._meta_written:
                self.write_metadata({})
            self._closed = True
            seekable = getattr(self._f, "seekable", lambda: False)()
            if seekable and self._patch_offsets:
                end = self._f.tell()
                values = {"duration": self.duration, "filesize": float(self._size)}
                for key, off in self._patch_offsets.items():
                    self._f.seek(off)
                    self._f.write(struct.pack(">d", values[key]))
                self._f.seek(end)
            self._f.flush()
        finally:
            self._closed = True
            if self._owns:
                self._f.close()


class FLVReader:
    """Iterate the tags of an FLV file as :class:`FlvTagRecord` objects.

    ``header`` is the parsed FLV header. A tag cut short by the end of the file ends the
    iteration; :attr:`truncated` is then True and :attr:`truncated_at` is its file offset.
    """

    def __init__(self, fileobj: IO[bytes], *, max_tag_size: int = MAX_TAG_SIZE) -> None:
        self._f = fileobj
        self.max_tag_size = max_tag_size
        self.truncated = False
        self.truncated_at: int | None = None
        self.tags_read = 0
        head = self._read(FLV_HEADER_SIZE)
        if len(head) < FLV_HEADER_SIZE:
            raise FormatError("file too short for an FLV header")
        try:
            self.header = FlvHeader.parse(head)
        except ConstructError:
            raise FormatError("not an FLV file (bad signature)") from None
        if self.header.data_offset < FLV_HEADER_SIZE or self.header.data_offset > 1 << 20:
            raise FormatError(f"bad FLV DataOffset {self.header.data_offset}")
        skip = self.header.data_offset - FLV_HEADER_SIZE
        if skip and len(self._read(skip)) < skip:
            raise FormatError("file ends inside the FLV header")
        self._pos = self.header.data_offset
        first = self._read(4)
        self._pos += len(first)
        if len(first) < 4:  # not even PreviousTagSize0
            self.truncated = True
            self.truncated_at = self.header.data_offset
            self._done = True
        else:
            self._done = False

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FLVReader:
        """Open ``path`` for reading (call :meth:`close` or use ``with``)."""
        f = open(path, "rb")  # noqa: SIM115 - owned by the reader
        try:
            r = cls(f)
        except BaseException:
            f.close()
            raise
        r._owned = f
        return r

    def close(self) -> None:
        """Close a file opened with :meth:`open`."""
        owned = getattr(self, "_owned", None)
        if owned is not None:
            owned.close()

    def __enter__(self) -> FLVReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, n: int) -> bytes:
        chunks = []
        while n > 0:
            b = self._f.read(n)
            if not b:
                break
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def __iter__(self) -> Iterator[FlvTagRecord]:
        while not self._done:
            rec = self.read_tag()
            if rec is None:
                return
            yield rec

    def read_tag(self) -> FlvTagRecord | None:
        """Read the next tag, or None at the end of the file (or at a truncated tag)."""
        if self._done:
            return None
        start = self._pos
        raw = self._read(FLV_TAG_HEADER_SIZE)
        if len(raw) < FLV_TAG_HEADER_SIZE:
            return self._stop(start, partial=bool(raw))
        h = _TAG_HEADER_PARSER.parse(raw)
        tag_type = int(h.type.tag_type)  # an Enum field: a name for audio, video, script
        if tag_type not in (TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT) or h.type.reserved:
            raise FormatError(f"bad FLV tag type {tag_type} at offset {start}")
        if h.data_size > self.max_tag_size:
            raise FormatError(f"FLV tag of {h.data_size} bytes at offset {start} exceeds limit")
        payload = self._read(h.data_size)
        if len(payload) < h.data_size:
            return self._stop(start, partial=True)
        trailer = self._read(4)
        self._pos = start + FLV_TAG_HEADER_SIZE + h.data_size + len(trailer)
        if len(trailer) < 4:
            # Tag complete but PreviousTagSize missing: keep the tag, note the truncation.
            self._done = True
            self.truncated = True
            self.truncated_at = start + FLV_TAG_HEADER_SIZE + h.data_size
        self.tags_read += 1
        return FlvTagRecord(
            tag_type=tag_type,
            timestamp=h.timestamp,
            stream_id=h.stream_id,
            payload=payload,
            offset=start,
            filter=h.type.filter,
        )

    def _stop(self, offset: int, *, partial: bool) -> None:
        self._done = True
        if partial:
            self.truncated = True
            self.truncated_at = offset
        return None
