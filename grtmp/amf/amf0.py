"""AMF0 encoder and decoder (Adobe "Action Message Format -- AMF 0", 2007).

Pure: bytes in, Python values out. The byte layouts are declared in :mod:`grtmp.formats.amf`;
this module reads them with ``struct`` and slicing because commands and metadata pass through
it for every connection. Python types map as follows:

=====================  ===========================================================
AMF0                   Python
=====================  ===========================================================
number (0x00)          ``float`` (``int`` encodes as number too; decodes as float)
boolean (0x01)         ``bool``
string / long string   ``str`` (more than 65535 UTF-8 bytes encodes as long string)
object (0x03)          ``dict`` (string keys)
null (0x05)            ``None``
undefined (0x06)       :data:`UNDEFINED`
reference (0x07)       the same Python object as the one referenced
ECMA array (0x08)      :class:`ECMAArray`
strict array (0x0A)    ``list`` (``tuple`` encodes too)
date (0x0B)            ``datetime`` (aware, UTC; a naive datetime is taken as UTC)
unsupported (0x0D)     :data:`Unsupported`
XML document (0x0F)    :class:`XMLDocument`
typed object (0x10)    :class:`TypedObject`
avmplus (0x11)         one AMF3 value (:mod:`grtmp.amf.amf3`); AMF3-only types encode so
=====================  ===========================================================

Movieclip (0x04) and recordset (0x0E) are reserved by the spec and rejected. Every decoding
failure raises :class:`grtmp.errors.AMFError`; nesting depth is bounded and every length is
checked against the bytes left before anything is allocated.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

from grtmp.amf import amf3
from grtmp.amf.values import (
    AMF3_ONLY_TYPES,
    DECODE_ERRORS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EXPANSION,
    DEFAULT_MAX_SIZE,
    UNDEFINED,
    UNSUPPORTED,
    ECMAArray,
    TypedObject,
    Undefined,
    Unsupported,
    UnsupportedType,
    XMLDocument,
    datetime_to_ms,
    utf8,
)
from grtmp.amf.values import ms_to_datetime as _ms_to_datetime
from grtmp.errors import AMFError

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")

__all__ = [
    "Undefined",
    "UNDEFINED",
    "UnsupportedType",
    "Unsupported",
    "UNSUPPORTED",
    "TypedObject",
    "ECMAArray",
    "XMLDocument",
    "Encoder",
    "Decoder",
    "encode",
    "decode",
    "decode_all",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_EXPANSION",
]

class Encoder:
    """Encode Python values as AMF0.

    ``use_references``: emit reference markers (0x07) for a dict/list/typed object met again
    (and so allow cycles); the table lives as long as the encoder, like a decoder's table lives
    as long as the message. Default off: every value is written in full, which is what RTMP
    peers expect. ``avmplus``: write every value as 0x11 followed by AMF3. ``max_size`` bounds
    the bytes of one encoded value (None: no bound); ``max_depth`` bounds nesting.
    """

    def __init__(
        self,
        *,
        use_references: bool = False,
        avmplus: bool = False,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> None:
        self._amf3_only = AMF3_ONLY_TYPES
        self.use_references = use_references
        self.avmplus = avmplus
        self.max_depth = max_depth
        self.max_size = max_size
        self._refs: dict[int, int] = {}
        self._keep: list[Any] = []
        self._spans: dict[int, tuple[int, int]] = {}

    def encode(self, value: Any) -> bytes:
        """Return the AMF0 encoding of one value; AMFError for values AMF0 cannot express."""
        buf = bytearray()
        try:
            self._write(buf, value, 0)
        except RecursionError as exc:
            raise AMFError("value nested too deeply") from exc
        finally:
            self._spans.clear()
        self._check_size(buf)
        return bytes(buf)

    def _check_size(self, buf: bytearray) -> None:
        if self.max_size is not None and len(buf) > self.max_size:
            raise AMFError(f"encoded AMF0 value larger than {self.max_size} bytes")

    def _write_amf3(self, buf: bytearray, value: Any, depth: int) -> None:
        buf.append(0x11)
        max_size = None if self.max_size is None else self.max_size - len(buf)
        buf += amf3.Encoder(max_depth=self.max_depth - depth, max_size=max_size).encode(value)

    def _reference(self, buf: bytearray, value: Any) -> bool:
        """Write a reference for ``value`` if seen before; else remember it. True if written."""
        key = id(value)
        index = self._refs.get(key)
        if index is not None:
            buf.append(0x07)
            buf += _U16.pack(index)
            return True
        index = len(self._keep)
        self._keep.append(value)
        if index <= 0xFFFF:
            self._refs[key] = index
        return False

    def _write_key(self, buf: bytearray, key: Any) -> None:
        if isinstance(key, str):
            data = utf8(key)
        elif isinstance(key, int) and not isinstance(key, bool):
            data = str(key).encode()
        else:
            raise AMFError(f"AMF0 object keys must be str, not {type(key).__name__}")
        if len(data) > 0xFFFF:
            raise AMFError("AMF0 object key longer than 65535 bytes")
        buf += _U16.pack(len(data))
        buf += data

    def _write_props(self, buf: bytearray, value: dict, depth: int) -> None:
        for key, item in value.items():
            self._write_key(buf, key)
            self._write(buf, item, depth + 1)
        buf += b"\x00\x00\x09"

    def _write(self, buf: bytearray, value: Any, depth: int) -> None:
        if self.avmplus:
            self._write_amf3(buf, value, depth)
            return
        if value is None:
            buf.append(0x05)
        elif value is True:
            buf += b"\x01\x01"
        elif value is False:
            buf += b"\x01\x00"
        elif isinstance(value, float | int) and not isinstance(value, bool):
            buf.append(0x00)
            try:
                buf += _DOUBLE.pack(value)
            except (OverflowError, struct.error) as exc:
                raise AMFError(f"number out of range for a double: {value!r}") from exc
        elif isinstance(value, str):
            if isinstance(value, self._amf3_only):
                self._write_amf3(buf, value, depth)
                return
            data = utf8(value)
            if isinstance(value, XMLDocument):
                buf.append(0x0F)
                buf += _U32.pack(len(data))
            elif len(data) <= 0xFFFF:
                buf.append(0x02)
                buf += _U16.pack(len(data))
            elif len(data) <= 0xFFFFFFFF:
                buf.append(0x0C)
                buf += _U32.pack(len(data))
            else:
                raise AMFError("string longer than 4 GiB")
            buf += data
        elif isinstance(value, Undefined):
            buf.append(0x06)
        elif isinstance(value, UnsupportedType):
            buf.append(0x0D)
        elif isinstance(value, datetime):
            buf.append(0x0B)
            try:
                buf += _DATE.pack(datetime_to_ms(value), 0)
            except (OverflowError, struct.error) as exc:
                raise AMFError(f"date out of range: {value!r}") from exc
        elif isinstance(value, self._amf3_only):
            self._write_amf3(buf, value, depth)
        elif isinstance(value, dict | list | tuple):
            if depth >= self.max_depth:
                raise AMFError(f"value nested deeper than {self.max_depth}")
            self._check_size(buf)
            if self.use_references:
                if self._reference(buf, value):
                    return
                self._write_container(buf, value, depth)
                return
            # Without references a container met again is written again. Copy the bytes of
            # its first encoding (AMF0 has no other tables, so they are the same), which keeps a
            # shared-subobject value from costing exponential time before max_size stops it.
            key = id(value)
            span = self._spans.get(key)
            if span is not None:
                if span[1] < 0:
                    raise AMFError("value contains a cycle; encode with use_references=True")
                buf += buf[span[0] : span[1]]
                self._check_size(buf)
                return
            start = len(buf)
            self._spans[key] = (start, -1)
            self._write_container(buf, value, depth)
            self._spans[key] = (start, len(buf))
        else:
            raise AMFError(f"cannot encode {type(value).__name__} as AMF0")

    def _write_container(self, buf: bytearray, value: Any, depth: int) -> None:
        """Write a dict/list/tuple body after its marker (depth already checked)."""
        if isinstance(value, ECMAArray):
            buf.append(0x08)
            buf += _U32.pack(len(value))
            self._write_props(buf, value, depth)
        elif isinstance(value, TypedObject) and value.class_name:
            buf.append(0x10)
            self._write_key(buf, value.class_name)
            self._write_props(buf, value, depth)
        elif isinstance(value, dict):
            buf.append(0x03)
            self._write_props(buf, value, depth)
        else:
            buf.append(0x0A)
            buf += _U32.pack(len(value))
            for item in value:
                self._write(buf, item, depth + 1)


def encode(*values: Any) -> bytes:
    """Encode values one after the other (as in a command or data message body)."""
    encoder = Encoder()
    return b"".join(encoder.encode(v) for v in values)


class Decoder:
    """Decode AMF0 values from one buffer (one message body).

    The reference table (0x07) spans every value read by this decoder. ``max_depth`` bounds
    nesting of objects and arrays; hostile lengths fail with AMFError before allocation.
    ``max_expansion`` bounds what references add (see :data:`DEFAULT_MAX_EXPANSION`): each
    reference counts the encoded size of the value it points to, and the total over every value
    this decoder reads (AMF3 values behind the avmplus switch included) may not exceed it.
    """

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_expansion: int = DEFAULT_MAX_EXPANSION,
    ) -> None:
        self._data = bytes(data)
        self._pos = 0
        self.max_depth = max_depth
        self.max_expansion = max_expansion
        self._refs: list[Any] = []
        #: Expanded size of each referenceable value (0 while it is still being read).
        self._costs: list[int] = []
        #: Bytes added so far by references (expanded size of what they point to).
        self.expanded = 0

    @property
    def remaining(self) -> int:
        """Bytes not yet decoded."""
        return len(self._data) - self._pos

    @property
    def position(self) -> int:
        """Offset of the next byte to decode."""
        return self._pos

    def decode(self) -> Any:
        """Decode the next value; AMFError on malformed or truncated input."""
        if self._pos >= len(self._data):
            raise AMFError("no AMF0 value left to decode")
        start = self._pos
        try:
            return self._read_value(0)
        except AMFError:
            raise
        except DECODE_ERRORS as exc:
            raise AMFError(
                f"malformed AMF0 value at offset {start}: {type(exc).__name__}: {exc}"
            ) from exc

    def decode_all(self) -> list[Any]:
        """Decode every value left in the buffer."""
        values = []
        while self._pos < len(self._data):
            values.append(self.decode())
        return values

    # -- helpers --------------------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        pos = self._pos
        end = pos + n
        if end > len(self._data):
            raise AMFError(f"truncated AMF0 data: need {n} bytes at offset {pos}")
        self._pos = end
        return self._data[pos:end]

    def _readutf8(self, n: int) -> str:
        try:
            return self._take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AMFError(f"invalid UTF-8 in AMF0 string: {exc}") from exc

    def _read_value(self, depth: int) -> Any:
        marker = self._data[self._pos]
        self._pos += 1
        reader = _AMF0_READERS.get(marker)
        if reader is None:
            if marker == 0x09:
                raise AMFError(f"unexpected object-end marker at offset {self._pos - 1}")
            raise AMFError(f"unsupported AMF0 marker 0x{marker:02x} at offset {self._pos - 1}")
        return reader(self, depth)

    def _enter(self, depth: int) -> None:
        if depth >= self.max_depth:
            raise AMFError(f"AMF0 value nested deeper than {self.max_depth}")

    def _read_props(self, target: dict, depth: int, lenient_end: bool = False) -> None:
        data = self._data
        while True:
            if lenient_end and self._pos == len(data):
                return  # some encoders end an ECMA array at the end of the message
            (n,) = _U16.unpack_from(data, self._pos)
            self._pos += 2
            if n == 0 and self._pos < len(data) and data[self._pos] == 0x09:
                self._pos += 1
                return
            key = self._readutf8(n)
            target[key] = self._read_value(depth + 1)

    # -- readers, one per marker -----------------------------------------------------------

    def _read_number(self, depth: int) -> float:
        (value,) = _DOUBLE.unpack_from(self._data, self._pos)
        self._pos += 8
        return value

    def _read_boolean(self, depth: int) -> bool:
        value = self._data[self._pos] != 0
        self._pos += 1
        return value

    def _read_string(self, depth: int) -> str:
        (n,) = _U16.unpack_from(self._data, self._pos)
        self._pos += 2
        return self._readutf8(n)

    def _read_long_string(self, depth: int) -> str:
        (n,) = _U32.unpack_from(self._data, self._pos)
        self._pos += 4
        return self._readutf8(n)

    def _read_xml(self, depth: int) -> XMLDocument:
        return XMLDocument(self._read_long_string(depth))

    def _read_null(self, depth: int) -> None:
        return None

    def _read_undefined(self, depth: int) -> Undefined:
        return UNDEFINED

    def _read_unsupported(self, depth: int) -> UnsupportedType:
        return Unsupported

    def _referenceable(self, value: Any) -> tuple[int, int, int]:
        """Enter ``value`` in the reference table; returns what :meth:`_done` needs."""
        self._refs.append(value)
        self._costs.append(0)
        return len(self._costs) - 1, self._pos - 1, self.expanded

    def _done(self, mark: tuple[int, int, int]) -> None:
        """Record the expanded size of a finished value: its bytes plus what refs added."""
        index, start, expanded = mark
        self._costs[index] = (self._pos - start) + (self.expanded - expanded)

    def _read_object(self, depth: int) -> dict:
        self._enter(depth)
        value: dict = {}
        mark = self._referenceable(value)
        self._read_props(value, depth)
        self._done(mark)
        return value

    def _read_typed_object(self, depth: int) -> TypedObject:
        self._enter(depth)
        start = self._pos - 1
        class_name = self._read_string(depth)
        value = TypedObject(class_name)
        mark = self._referenceable(value)
        self._read_props(value, depth)
        self._done((mark[0], start, mark[2]))
        return value

    def _read_ecma_array(self, depth: int) -> ECMAArray:
        self._enter(depth)
        start = self._pos - 1
        self._pos += 4  # associative-count: a hint only, never trusted for allocation
        if self._pos > len(self._data):
            raise AMFError("truncated ECMA array")
        value = ECMAArray()
        mark = self._referenceable(value)
        self._read_props(value, depth, lenient_end=True)
        self._done((mark[0], start, mark[2]))
        return value

    def _read_strict_array(self, depth: int) -> list:
        self._enter(depth)
        start = self._pos - 1
        (count,) = _U32.unpack_from(self._data, self._pos)
        self._pos += 4
        if count > self.remaining:  # every element takes at least one byte
            raise AMFError(f"strict array claims {count} elements, {self.remaining} bytes left")
        value: list = []
        mark = self._referenceable(value)
        for _ in range(count):
            value.append(self._read_value(depth + 1))
        self._done((mark[0], start, mark[2]))
        return value

    def _read_date(self, depth: int) -> datetime:
        ms, _time_zone = _DATE.unpack_from(self._data, self._pos)  # time-zone: reserved
        self._pos += 10
        return _ms_to_datetime(ms)

    def _read_reference(self, depth: int) -> Any:
        (index,) = _U16.unpack_from(self._data, self._pos)
        self._pos += 2
        if index >= len(self._refs):
            raise AMFError(f"AMF0 reference {index} out of range ({len(self._refs)} objects)")
        self.add_expansion(self._costs[index])
        return self._refs[index]

    def add_expansion(self, cost: int) -> None:
        """Count ``cost`` bytes added by a reference; AMFError past ``max_expansion``."""
        self.expanded += cost
        if self.expanded > self.max_expansion:
            raise AMFError(
                f"AMF references expand past {self.max_expansion} bytes (reference graph)"
            )

    def _read_avmplus(self, depth: int) -> Any:
        from grtmp.amf import amf3

        decoder = amf3.Decoder(self._data, max_depth=self.max_depth - depth, offset=self._pos,
                               max_expansion=self.max_expansion - self.expanded)
        value = decoder.decode()
        self._pos = decoder.position
        self.add_expansion(decoder.expanded)
        return value


# marker -> reader, one per marker (movieclip 0x04, object-end 0x09 and recordset 0x0E have none)
_AMF0_READERS: dict[int, Any] = {
    0x00: Decoder._read_number,
    0x01: Decoder._read_boolean,
    0x02: Decoder._read_string,
    0x03: Decoder._read_object,
    0x05: Decoder._read_null,
    0x06: Decoder._read_undefined,
    0x07: Decoder._read_reference,
    0x08: Decoder._read_ecma_array,
    0x0A: Decoder._read_strict_array,
    0x0B: Decoder._read_date,
    0x0C: Decoder._read_long_string,
    0x0D: Decoder._read_unsupported,
    0x0F: Decoder._read_xml,
    0x10: Decoder._read_typed_object,
    0x11: Decoder._read_avmplus,
}


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode the first AMF0 value of ``data``."""
    return Decoder(data).decode()


def decode_all(data: bytes | bytearray | memoryview) -> list[Any]:
    """Decode every AMF0 value in ``data``."""
    return Decoder(data).decode_all()
