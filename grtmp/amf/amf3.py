"""AMF3 encoder and decoder (Adobe "Action Message Format -- AMF 3", 2013).

Used by RTMP message types 15/16/17 through the AMF0 avmplus switch (0x11), and directly.
Byte layouts are declared in :mod:`grtmp.formats.amf` (``U29``, ``AMF3UTF8``...); this module
reads them with ``struct`` and slicing. Python types map as follows:

=====================  ===========================================================
AMF3                   Python
=====================  ===========================================================
undefined / null       :data:`grtmp.amf.values.UNDEFINED` / ``None``
false / true           ``bool``
integer (0x04)         ``int`` (ints in [-2**28, 2**28-1] encode as integer)
double (0x05)          ``float`` (other ints encode as double)
string (0x06)          ``str``
XMLDocument (0x07)     :class:`grtmp.amf.values.XMLDocument`
date (0x08)            ``datetime`` (aware, UTC)
array (0x09)           ``list`` (dense only) or :class:`grtmp.amf.values.ECMAArray` (string keys
                       for the associative part, int keys 0..n-1 for the dense part)
object (0x0A)          ``dict`` (anonymous dynamic object) or :class:`ASObject` (class name,
                       sealed member names, dynamic flag); any :class:`TypedObject` encodes
XML (0x0B)             :class:`XML`
ByteArray (0x0C)       :class:`ByteArray` (``bytes`` encodes too)
Vector.<int/uint/      :class:`VectorInt`, :class:`VectorUInt`, :class:`VectorDouble`,
Number/Object>         :class:`VectorObject` (``fixed`` flag, ``type_name``)
Dictionary (0x11)      :class:`Dictionary` (``weak_keys`` flag; keys must be hashable)
=====================  ===========================================================

Each top-level value (each :meth:`Encoder.encode` / :meth:`Decoder.decode` call) has its own
string, object and traits reference tables, as one avmplus-switched value in an RTMP message
does. Externalizable classes are rejected with AMFError except
``flex.messaging.io.ArrayCollection`` and ``flex.messaging.io.ObjectProxy``.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

from grtmp.amf.amf3_decode import Decoder, decode, decode_all
from grtmp.amf.values import (
    AMF3_ONLY_TYPES,
    ARRAY_COLLECTION,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    OBJECT_PROXY,
    UNDEFINED,
    XML,
    ArrayCollection,
    ASObject,
    ByteArray,
    Dictionary,
    ECMAArray,
    ObjectProxy,
    TypedObject,
    Undefined,
    Vector,
    VectorDouble,
    VectorInt,
    VectorObject,
    VectorUInt,
    XMLDocument,
    datetime_to_ms,
    utf8,
)
from grtmp.errors import AMFError
from grtmp.formats.amf import AMF3_INT_MAX, AMF3_INT_MIN, U29_MAX

__all__ = [
    "ByteArray",
    "XML",
    "XMLDocument",
    "ASObject",
    "TypedObject",
    "ECMAArray",
    "VectorInt",
    "VectorUInt",
    "VectorDouble",
    "VectorObject",
    "Dictionary",
    "ArrayCollection",
    "ObjectProxy",
    "Encoder",
    "Decoder",
    "encode",
    "decode",
    "decode_all",
    "encode_u29",
    "AMF3_ONLY_TYPES",
]

_DOUBLE = struct.Struct(">d")

_VECTOR_CODES = {
    VectorInt: (0x0D, "i", 4),
    VectorUInt: (0x0E, "I", 4),
    VectorDouble: (0x0F, "d", 8),
}


def encode_u29(value: int) -> bytes:
    """The U29 encoding of ``value`` (0 <= value < 2**29)."""
    if value < 0x80:
        if value < 0:
            raise AMFError(f"U29 out of range: {value}")
        return bytes((value,))
    if value < 0x4000:
        return bytes(((value >> 7) | 0x80, value & 0x7F))
    if value < 0x200000:
        return bytes(((value >> 14) | 0x80, ((value >> 7) & 0x7F) | 0x80, value & 0x7F))
    if value <= U29_MAX:
        return bytes(
            (
                (value >> 22) | 0x80,
                ((value >> 15) & 0x7F) | 0x80,
                ((value >> 8) & 0x7F) | 0x80,
                value & 0xFF,
            )
        )
    raise AMFError(f"U29 out of range: {value}")


_U29_SMALL = [bytes((i,)) for i in range(0x80)]


class Encoder:
    """Encode Python values as AMF3, with string, object and traits references.

    ``use_references=False`` writes every object in full (no object references; cycles then
    fail with AMFError at ``max_depth``, and a value that shares sub-objects many times costs
    time in proportion to its expanded size, up to ``max_size``). Strings and traits are always
    referenced. ``max_size`` bounds the bytes of one encoded value (None: no bound).
    """

    def __init__(
        self,
        *,
        use_references: bool = True,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> None:
        self.use_references = use_references
        self.max_depth = max_depth
        self.max_size = max_size
        self._reset()

    def _reset(self) -> None:
        self._strings: dict[str, int] = {}
        self._objects: dict[int, int] = {}
        self._keep: list[Any] = []  # keeps ids unique while the encode runs
        self._traits: dict[tuple, int] = {}

    def encode(self, value: Any) -> bytes:
        """Return the AMF3 encoding of one value (fresh reference tables)."""
        self._reset()
        buf = bytearray()
        try:
            self._write(buf, value, 0)
        except RecursionError as exc:
            raise AMFError("value nested too deeply") from exc
        finally:
            self._reset()
        self._check_size(buf)
        return bytes(buf)

    def _check_size(self, buf: bytearray) -> None:
        if self.max_size is not None and len(buf) > self.max_size:
            raise AMFError(f"encoded AMF3 value larger than {self.max_size} bytes")

    # -- pieces ------------------------------------------------------------------------------

    @staticmethod
    def _u29(buf: bytearray, value: int) -> None:
        buf += _U29_SMALL[value] if 0 <= value < 0x80 else encode_u29(value)

    def _string(self, buf: bytearray, value: str) -> None:
        """UTF-8-vr: an inline string, or a reference to one written before."""
        if not value:
            buf.append(0x01)
            return
        index = self._strings.get(value)
        if index is not None:
            self._u29(buf, index << 1)
            return
        data = utf8(value)
        if len(data) > U29_MAX >> 1:
            raise AMFError("AMF3 string longer than 2**28 - 1 bytes")
        self._strings[value] = len(self._strings)
        self._u29(buf, (len(data) << 1) | 1)
        buf += data

    def _reference(self, buf: bytearray, value: Any) -> bool:
        """Write U29O-ref if ``value`` was written before; else add it to the table."""
        key = id(value)
        if self.use_references:
            index = self._objects.get(key)
            if index is not None:
                self._u29(buf, index << 1)
                return True
        self._objects[key] = len(self._keep)
        self._keep.append(value)
        return False

    def _enter(self, depth: int, buf: bytearray) -> None:
        if depth >= self.max_depth:
            raise AMFError(f"value nested deeper than {self.max_depth}")
        self._check_size(buf)

    def _key(self, key: Any) -> str:
        if isinstance(key, str):
            if not key:
                raise AMFError("AMF3 dynamic member and array keys cannot be empty")
            return key
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key)
        raise AMFError(f"AMF3 object keys must be str, not {type(key).__name__}")

    def _traits_header(
        self, buf: bytearray, class_name: str, sealed: tuple[str, ...], dynamic: bool
    ) -> None:
        key = (class_name, sealed, dynamic)
        index = self._traits.get(key)
        if index is not None:
            self._u29(buf, (index << 2) | 0x01)
            return
        self._traits[key] = len(self._traits)
        self._u29(buf, (len(sealed) << 4) | (0x08 if dynamic else 0) | 0x03)
        self._string(buf, class_name)
        for name in sealed:
            self._string(buf, name)

    def _object(self, buf: bytearray, value: dict, depth: int) -> None:
        if isinstance(value, ASObject):
            class_name, sealed, dynamic = value.class_name, value.sealed, value.dynamic
        elif isinstance(value, TypedObject):
            class_name, sealed, dynamic = value.class_name, (), True
        else:
            class_name, sealed, dynamic = "", (), True
        self._traits_header(buf, class_name, sealed, dynamic)
        for name in sealed:
            self._write(buf, value.get(name, UNDEFINED), depth + 1)
        if dynamic:
            sealed_set = set(sealed)
            for key, item in value.items():
                if key in sealed_set:
                    continue
                self._string(buf, self._key(key))
                self._write(buf, item, depth + 1)
            buf.append(0x01)
        elif len(value) > len(sealed) or any(k not in value for k in sealed):
            extra = [k for k in value if k not in sealed]
            if extra:
                raise AMFError(f"sealed object has members not in its traits: {extra!r}")

    def _array(self, buf: bytearray, value: Any, depth: int) -> None:
        if isinstance(value, dict):  # ECMAArray: int keys 0..n-1 dense, the rest associative
            dense = 0
            while dense in value:
                dense += 1
            self._u29(buf, (dense << 1) | 1)
            for key, item in value.items():
                if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < dense:
                    continue
                self._string(buf, self._key(key))
                self._write(buf, item, depth + 1)
            buf.append(0x01)
            for i in range(dense):
                self._write(buf, value[i], depth + 1)
        else:
            if len(value) > U29_MAX >> 1:
                raise AMFError("AMF3 array too long")
            self._u29(buf, (len(value) << 1) | 1)
            buf.append(0x01)
            for item in value:
                self._write(buf, item, depth + 1)

    # -- dispatch ----------------------------------------------------------------------------

    def _write(self, buf: bytearray, value: Any, depth: int) -> None:
        if value is None:
            buf.append(0x01)
        elif value is True:
            buf.append(0x03)
        elif value is False:
            buf.append(0x02)
        elif isinstance(value, int):
            if AMF3_INT_MIN <= value <= AMF3_INT_MAX:
                buf.append(0x04)
                self._u29(buf, value & U29_MAX)
            else:
                buf.append(0x05)
                try:
                    buf += _DOUBLE.pack(value)
                except (OverflowError, struct.error) as exc:
                    raise AMFError(f"integer out of range for a double: {value!r}") from exc
        elif isinstance(value, float):
            buf.append(0x05)
            buf += _DOUBLE.pack(value)
        elif isinstance(value, str):
            if isinstance(value, XML | XMLDocument):
                buf.append(0x0B if isinstance(value, XML) else 0x07)
                if self._reference(buf, value):
                    return
                data = utf8(value)
                if len(data) > U29_MAX >> 1:
                    raise AMFError("AMF3 XML longer than 2**28 - 1 bytes")
                self._u29(buf, (len(data) << 1) | 1)
                buf += data
            else:
                buf.append(0x06)
                self._string(buf, value)
        elif isinstance(value, Undefined):
            buf.append(0x00)
        elif isinstance(value, datetime):
            buf.append(0x08)
            if self._reference(buf, value):
                return
            buf.append(0x01)
            try:
                buf += _DOUBLE.pack(datetime_to_ms(value))
            except (OverflowError, struct.error) as exc:
                raise AMFError(f"date out of range: {value!r}") from exc
        elif isinstance(value, bytes | bytearray | memoryview):
            buf.append(0x0C)
            if self._reference(buf, value):
                return
            data = bytes(value)
            if len(data) > U29_MAX >> 1:
                raise AMFError("AMF3 ByteArray longer than 2**28 - 1 bytes")
            self._u29(buf, (len(data) << 1) | 1)
            buf += data
        elif isinstance(value, Vector):
            self._vector(buf, value, depth)
        elif isinstance(value, Dictionary):
            self._enter(depth, buf)
            buf.append(0x11)
            if self._reference(buf, value):
                return
            self._u29(buf, (len(value) << 1) | 1)
            buf.append(0x01 if value.weak_keys else 0x00)
            for key, item in value.items():
                self._write(buf, key, depth + 1)
                self._write(buf, item, depth + 1)
        elif isinstance(value, ArrayCollection | ObjectProxy):
            self._enter(depth, buf)
            buf.append(0x0A)
            if self._reference(buf, value):
                return
            name = ARRAY_COLLECTION if isinstance(value, ArrayCollection) else OBJECT_PROXY
            key = (name, (), False, "ext")
            index = self._traits.get(key)
            if index is not None:
                self._u29(buf, (index << 2) | 0x01)
            else:
                self._traits[key] = len(self._traits)
                buf.append(0x07)
                self._string(buf, name)
            inner = list(value) if isinstance(value, list) else dict(value)
            self._write(buf, inner, depth + 1)
        elif isinstance(value, ECMAArray | list | tuple):
            self._enter(depth, buf)
            buf.append(0x09)
            if self._reference(buf, value):
                return
            self._array(buf, value, depth)
        elif isinstance(value, dict):
            self._enter(depth, buf)
            buf.append(0x0A)
            if self._reference(buf, value):
                return
            self._object(buf, value, depth)
        else:
            raise AMFError(f"cannot encode {type(value).__name__} as AMF3")

    def _vector(self, buf: bytearray, value: Vector, depth: int) -> None:
        self._enter(depth, buf)
        if isinstance(value, VectorObject):
            buf.append(0x10)
        else:
            buf.append(_vector_code(value)[0])
        if self._reference(buf, value):
            return
        if len(value) > U29_MAX >> 1:
            raise AMFError("AMF3 vector too long")
        self._u29(buf, (len(value) << 1) | 1)
        buf.append(0x01 if value.fixed else 0x00)
        if isinstance(value, VectorObject):
            self._string(buf, value.type_name)
            for item in value:
                self._write(buf, item, depth + 1)
            return
        _code, fmt, _size = _vector_code(value)
        try:
            buf += struct.pack(f">{len(value)}{fmt}", *value)
        except struct.error as exc:
            raise AMFError(f"{type(value).__name__} item out of range: {exc}") from exc


def _vector_code(value: Vector) -> tuple[int, str, int]:
    for cls, code in _VECTOR_CODES.items():
        if isinstance(value, cls):
            return code
    raise AMFError(f"cannot encode {type(value).__name__} as AMF3")


def encode(*values: Any) -> bytes:
    """Encode values one after the other, each with its own reference tables."""
    encoder = Encoder()
    return b"".join(encoder.encode(v) for v in values)

