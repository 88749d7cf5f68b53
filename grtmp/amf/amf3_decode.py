"""AMF3 decoder (Adobe "Action Message Format -- AMF 3", 2013): bytes to Python values.

The mapping of AMF3 types to Python types is documented in :mod:`grtmp.amf.amf3`, which
re-exports :class:`Decoder`, :func:`decode` and :func:`decode_all` from here.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

from grtmp.amf.values import (
    ARRAY_COLLECTION,
    DECODE_ERRORS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EXPANSION,
    OBJECT_PROXY,
    UNDEFINED,
    XML,
    ArrayCollection,
    ASObject,
    ByteArray,
    Dictionary,
    ECMAArray,
    ObjectProxy,
    Vector,
    VectorDouble,
    VectorInt,
    VectorObject,
    VectorUInt,
    XMLDocument,
    ms_to_datetime,
)
from grtmp.errors import AMFError

__all__ = ["Decoder", "decode", "decode_all"]

_DOUBLE = struct.Struct(">d")


class Decoder:
    """Decode AMF3 values from ``data`` starting at ``offset``.

    ``max_depth`` bounds nesting of arrays, objects, vectors and dictionaries; every count and
    length is checked against the bytes left before anything is allocated; reference indices
    are validated. ``max_expansion`` bounds the bytes that string and object references add
    over every value this decoder reads (see :data:`grtmp.amf.values.DEFAULT_MAX_EXPANSION`).
    """

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        offset: int = 0,
        max_expansion: int = DEFAULT_MAX_EXPANSION,
    ) -> None:
        self._data = data if isinstance(data, bytes) else bytes(data)
        self._pos = offset
        self.max_depth = max_depth
        self.max_expansion = max_expansion
        #: Bytes added so far by references (expanded size of what they point to).
        self.expanded = 0
        self._strings: list[str] = []
        self._objects: list[Any] = []
        #: Expanded size of each entry of ``_objects`` (0 while it is still being read).
        self._costs: list[int] = []
        self._traits: list[tuple[str, tuple[str, ...], bool, bool]] = []

    @property
    def remaining(self) -> int:
        """Bytes not yet decoded."""
        return len(self._data) - self._pos

    @property
    def position(self) -> int:
        """Offset of the next byte to decode."""
        return self._pos

    def decode(self) -> Any:
        """Decode the next value (fresh reference tables); AMFError on bad input."""
        if self._pos >= len(self._data):
            raise AMFError("no AMF3 value left to decode")
        start = self._pos
        self._strings, self._objects, self._traits, self._costs = [], [], [], []
        try:
            return self._read_value(0)
        except AMFError:
            raise
        except DECODE_ERRORS as exc:
            raise AMFError(
                f"malformed AMF3 value at offset {start}: {type(exc).__name__}: {exc}"
            ) from exc

    def decode_all(self) -> list[Any]:
        """Decode every value left in the buffer."""
        values = []
        while self._pos < len(self._data):
            values.append(self.decode())
        return values

    # -- helpers -------------------------------------------------------------------------------

    def _u29(self) -> int:
        data = self._data
        pos = self._pos
        b = data[pos]
        if b < 0x80:
            self._pos = pos + 1
            return b
        value = b & 0x7F
        b = data[pos + 1]
        if b < 0x80:
            self._pos = pos + 2
            return (value << 7) | b
        value = (value << 7) | (b & 0x7F)
        b = data[pos + 2]
        if b < 0x80:
            self._pos = pos + 3
            return (value << 7) | b
        value = (value << 7) | (b & 0x7F)
        self._pos = pos + 4
        return (value << 8) | data[pos + 3]

    def _take(self, n: int) -> bytes:
        pos = self._pos
        end = pos + n
        if end > len(self._data):
            raise AMFError(f"truncated AMF3 data: need {n} bytes at offset {pos}")
        self._pos = end
        return self._data[pos:end]

    def _check_count(self, count: int, item_size: int, what: str) -> None:
        if count * item_size > len(self._data) - self._pos:
            raise AMFError(f"AMF3 {what} claims {count} items, only {self.remaining} bytes left")

    def _object_ref(self, header: int) -> Any:
        index = header >> 1
        if index >= len(self._objects):
            raise AMFError(f"AMF3 object reference {index} out of range")
        self._expand(self._costs[index])
        return self._objects[index]

    def _expand(self, cost: int) -> None:
        """Count ``cost`` bytes added by a reference; AMFError past ``max_expansion``."""
        self.expanded += cost
        if self.expanded > self.max_expansion:
            raise AMFError(
                f"AMF references expand past {self.max_expansion} bytes (reference graph)"
            )

    def _add_object(self, value: Any, start: int, expanded: int) -> int:
        """Enter ``value`` in the object table; returns its index for :meth:`_done`."""
        self._objects.append(value)
        self._costs.append((self._pos - start) if expanded < 0 else 0)
        return len(self._objects) - 1

    def _done(self, index: int, start: int, expanded: int) -> None:
        """Record the expanded size of a finished object: its bytes plus what refs added."""
        self._costs[index] = (self._pos - start) + (self.expanded - expanded)

    def _readutf8(self, n: int) -> str:
        try:
            return self._take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AMFError(f"invalid UTF-8 in AMF3 string: {exc}") from exc

    def _read_string(self) -> str:
        header = self._u29()
        if not header & 1:
            index = header >> 1
            if index >= len(self._strings):
                raise AMFError(f"AMF3 string reference {index} out of range")
            value = self._strings[index]
            self._expand(len(value))
            return value
        n = header >> 1
        if n == 0:
            return ""  # the empty string is never sent by reference (AMF3 1.3.2)
        value = self._readutf8(n)
        self._strings.append(value)
        return value

    def _enter(self, depth: int) -> None:
        if depth >= self.max_depth:
            raise AMFError(f"AMF3 value nested deeper than {self.max_depth}")

    def _read_value(self, depth: int) -> Any:
        marker = self._data[self._pos]
        self._pos += 1
        reader = _AMF3_READERS.get(marker)
        if reader is None:
            raise AMFError(f"unknown AMF3 marker 0x{marker:02x} at offset {self._pos - 1}")
        return reader(self, depth)

    # -- readers -----------------------------------------------------------------------------

    def _read_integer(self, depth: int) -> int:
        value = self._u29()
        return value - (1 << 29) if value & (1 << 28) else value

    def _read_double(self, depth: int) -> float:
        (value,) = _DOUBLE.unpack_from(self._data, self._pos)
        self._pos += 8
        return value

    def _read_xml_text(self, cls: type) -> Any:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        start = self._pos
        value = cls(self._readutf8(header >> 1))
        self._add_object(value, start, -1)
        return value

    def _read_xml_doc(self, depth: int) -> XMLDocument:
        return self._read_xml_text(XMLDocument)

    def _read_xml(self, depth: int) -> XML:
        return self._read_xml_text(XML)

    def _read_date(self, depth: int) -> datetime:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        (ms,) = _DOUBLE.unpack_from(self._data, self._pos)
        self._pos += 8
        value = ms_to_datetime(ms)
        self._add_object(value, self._pos - 8, -1)
        return value

    def _read_byte_array(self, depth: int) -> ByteArray:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        start = self._pos
        value = ByteArray(self._take(header >> 1))
        self._add_object(value, start, -1)
        return value

    def _read_array(self, depth: int) -> list | ECMAArray:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        self._enter(depth)
        start, expanded = self._pos, self.expanded
        count = header >> 1
        key = self._read_string()
        self._check_count(count, 1, "array")
        if not key:
            items: list = []
            index = self._add_object(items, start, expanded)
            for _ in range(count):
                items.append(self._read_value(depth + 1))
            self._done(index, start, expanded)
            return items
        mixed = ECMAArray()
        index = self._add_object(mixed, start, expanded)
        while key:
            mixed[key] = self._read_value(depth + 1)
            key = self._read_string()
        self._check_count(count, 1, "array")
        for i in range(count):
            mixed[i] = self._read_value(depth + 1)
        self._done(index, start, expanded)
        return mixed

    def _read_traits(self, header: int) -> tuple[str, tuple[str, ...], bool, bool]:
        if header & 0x02 == 0:  # U29O-traits-ref
            index = header >> 2
            if index >= len(self._traits):
                raise AMFError(f"AMF3 traits reference {index} out of range")
            return self._traits[index]
        if header & 0x04:  # U29O-traits-ext
            traits = (self._read_string(), (), False, True)
        else:
            count = header >> 4
            dynamic = bool(header & 0x08)
            class_name = self._read_string()
            self._check_count(count, 1, "sealed traits")
            sealed = tuple(self._read_string() for _ in range(count))
            traits = (class_name, sealed, dynamic, False)
        self._traits.append(traits)
        return traits

    def _read_object(self, depth: int) -> Any:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        self._enter(depth)
        start, expanded = self._pos, self.expanded
        class_name, sealed, dynamic, externalizable = self._read_traits(header)
        if externalizable:
            return self._read_externalizable(class_name, depth, start, expanded)
        if not class_name and not sealed and dynamic:
            obj: dict = {}
        else:
            obj = ASObject(class_name, sealed=sealed, dynamic=dynamic)
        index = self._add_object(obj, start, expanded)
        for name in sealed:
            obj[name] = self._read_value(depth + 1)
        if dynamic:
            key = self._read_string()
            while key:
                obj[key] = self._read_value(depth + 1)
                key = self._read_string()
        self._done(index, start, expanded)
        return obj

    def _read_externalizable(self, class_name: str, depth: int, start: int,
                             expanded: int) -> Any:
        if class_name == ARRAY_COLLECTION:
            collection = ArrayCollection()
            index = self._add_object(collection, start, expanded)
            source = self._read_value(depth + 1)
            if not isinstance(source, list):
                raise AMFError("ArrayCollection source is not an array")
            collection.extend(source)
            self._done(index, start, expanded)
            return collection
        if class_name == OBJECT_PROXY:
            proxy = ObjectProxy()
            index = self._add_object(proxy, start, expanded)
            source = self._read_value(depth + 1)
            if not isinstance(source, dict):
                raise AMFError("ObjectProxy source is not an object")
            proxy.update(source)
            self._done(index, start, expanded)
            return proxy
        raise AMFError(f"unknown externalizable AMF3 class {class_name!r}")

    def _read_vector_number(self, depth: int) -> Vector:
        marker = self._data[self._pos - 1]
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        count = header >> 1
        fixed = self._take(1)[0] != 0
        cls, fmt, size = {
            0x0D: (VectorInt, "i", 4),
            0x0E: (VectorUInt, "I", 4),
            0x0F: (VectorDouble, "d", 8),
        }[marker]
        self._check_count(count, size, "vector")
        values = struct.unpack_from(f">{count}{fmt}", self._data, self._pos)
        self._pos += count * size
        vector = cls(values, fixed=fixed)
        self._add_object(vector, self._pos - count * size, -1)
        return vector

    def _read_vector_object(self, depth: int) -> VectorObject:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        self._enter(depth)
        start, expanded = self._pos, self.expanded
        count = header >> 1
        fixed = self._take(1)[0] != 0
        type_name = self._read_string()
        self._check_count(count, 1, "vector")
        vector = VectorObject(type_name=type_name, fixed=fixed)
        index = self._add_object(vector, start, expanded)
        for _ in range(count):
            vector.append(self._read_value(depth + 1))
        self._done(index, start, expanded)
        return vector

    def _read_dictionary(self, depth: int) -> Dictionary:
        header = self._u29()
        if not header & 1:
            return self._object_ref(header)
        self._enter(depth)
        start, expanded = self._pos, self.expanded
        count = header >> 1
        weak = self._take(1)[0] != 0
        self._check_count(count, 2, "dictionary")
        result = Dictionary(weak_keys=weak)
        index = self._add_object(result, start, expanded)
        for _ in range(count):
            key = self._read_value(depth + 1)
            value = self._read_value(depth + 1)
            try:
                result[key] = value
            except TypeError as exc:
                raise AMFError(f"unhashable AMF3 Dictionary key {type(key).__name__}") from exc
        self._done(index, start, expanded)
        return result


def _constant(value: Any) -> Any:
    return lambda decoder, depth: value


_AMF3_READERS: dict[int, Any] = {
    0x00: _constant(UNDEFINED),
    0x01: _constant(None),
    0x02: _constant(False),
    0x03: _constant(True),
    0x04: Decoder._read_integer,
    0x05: Decoder._read_double,
    0x06: lambda decoder, depth: decoder._read_string(),
    0x07: Decoder._read_xml_doc,
    0x08: Decoder._read_date,
    0x09: Decoder._read_array,
    0x0A: Decoder._read_object,
    0x0B: Decoder._read_xml,
    0x0C: Decoder._read_byte_array,
    0x0D: Decoder._read_vector_number,
    0x0E: Decoder._read_vector_number,
    0x0F: Decoder._read_vector_number,
    0x10: Decoder._read_vector_object,
    0x11: Decoder._read_dictionary,
}


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode the first AMF3 value of ``data``."""
    return Decoder(data).decode()


def decode_all(data: bytes | bytearray | memoryview) -> list[Any]:
    """Decode every AMF3 value in ``data``."""
    return Decoder(data).decode_all()
