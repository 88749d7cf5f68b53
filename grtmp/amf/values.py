"""AMF value types and limits shared by AMF0 and AMF3.

Python types for the AMF values that have no exact builtin (``undefined``, ECMA arrays, typed
objects, XML, AMF3 byte arrays, vectors and dictionaries), the date conversion both formats use,
and the default bounds of the decoders and encoders. Pure; imports nothing of grtmp but errors.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from grtmp.errors import AMFError

__all__ = [
    "Undefined", "UNDEFINED", "UnsupportedType", "Unsupported", "UNSUPPORTED", "TypedObject",
    "ECMAArray", "XMLDocument", "ByteArray", "XML", "ASObject", "Vector", "VectorInt",
    "VectorUInt", "VectorDouble", "VectorObject", "Dictionary", "ArrayCollection",
    "ObjectProxy", "AMF3_ONLY_TYPES", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_EXPANSION", "DECODE_ERRORS", "datetime_to_ms", "ms_to_datetime", "utf8",
    "ARRAY_COLLECTION", "OBJECT_PROXY",
]

DEFAULT_MAX_DEPTH = 64
#: Default bound on one encoded value: the largest RTMP message (24-bit length). It stops a
#: decoded value that shares sub-objects (AMF0/AMF3 references) from expanding exponentially
#: when encoded again without references.
DEFAULT_MAX_SIZE = 0xFFFFFF
#: Default bound on what references may add to a decoded message: the bytes the referenced
#: values would take if written out again in full. A reference returns the same Python object,
#: so 11 bytes per level can build a graph of 2**N nodes in O(N) time; anything that walks it
#: (``str()``, a log line, re-encoding) would take 2**N. Real peers barely use references.
DEFAULT_MAX_EXPANSION = 1 << 20

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

# Errors a malformed input can provoke in the fast path; converted to AMFError at the boundary.
DECODE_ERRORS = (
    IndexError,
    struct.error,
    UnicodeDecodeError,
    ValueError,
    OverflowError,
    RecursionError,
    TypeError,
    KeyError,
)


class Undefined:
    """The ActionScript ``undefined`` value; use the singleton :data:`UNDEFINED`."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "Undefined"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined()


class UnsupportedType:
    """The AMF0 ``unsupported`` marker (0x0D); use the singleton :data:`Unsupported`."""

    _instance: UnsupportedType | None = None

    def __new__(cls) -> UnsupportedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "Unsupported"

    def __reduce__(self) -> str:
        return "Unsupported"


Unsupported = UnsupportedType()
UNSUPPORTED = Unsupported


class TypedObject(dict):
    """An object with a registered class name (AMF0 typed-object, AMF3 traits class name).

    Compares equal to another TypedObject only when the class names match too.
    """

    def __init__(self, class_name: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_name = class_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_name!r}, {dict.__repr__(self)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypedObject) and other.class_name != self.class_name:
            return False
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class ECMAArray(dict):
    """A dict that encodes as an AMF0 ECMA array (``onMetaData`` uses one); a plain dict
    encodes as an anonymous object."""

    def __repr__(self) -> str:
        return f"ECMAArray({dict.__repr__(self)})"


class XMLDocument(str):
    """An XML document string (AMF0 0x0F, AMF3 0x07)."""

    __slots__ = ()


def datetime_to_ms(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) / _MS


def ms_to_datetime(ms: float) -> datetime:
    """Milliseconds since the epoch to an aware UTC datetime; AMFError when impossible."""
    if not math.isfinite(ms):
        raise AMFError(f"invalid date value {ms!r}")
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError as exc:
        raise AMFError(f"date out of range: {ms!r} ms") from exc


def utf8(value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AMFError(f"string is not encodable as UTF-8: {exc}") from exc


ARRAY_COLLECTION = "flex.messaging.io.ArrayCollection"
OBJECT_PROXY = "flex.messaging.io.ObjectProxy"


class ByteArray(bytes):
    """An AMF3 ByteArray (0x0C)."""

    def __repr__(self) -> str:
        return f"ByteArray({bytes.__repr__(self)})"


class XML(str):
    """An E4X XML value (AMF3 0x0B); :class:`XMLDocument` is the legacy flash.xml type (0x07)."""

    __slots__ = ()


class ASObject(TypedObject):
    """An AMF3 object with its traits: class name (may be empty), sealed member names (written
    first, in order) and whether other keys are dynamic members."""

    def __init__(
        self,
        class_name: str = "",
        *args: Any,
        sealed: tuple[str, ...] | list[str] = (),
        dynamic: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(class_name, *args, **kwargs)
        self.sealed = tuple(sealed)
        self.dynamic = dynamic

    def __repr__(self) -> str:
        return (
            f"ASObject({self.class_name!r}, {dict.__repr__(self)}, sealed={self.sealed!r}, "
            f"dynamic={self.dynamic!r})"
        )


class Vector(list):
    """Base of the Vector types: a list with the ``fixed`` (fixed-length) flag."""

    def __init__(self, iterable: Any = (), *, fixed: bool = False) -> None:
        super().__init__(iterable)
        self.fixed = fixed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list.__repr__(self)}, fixed={self.fixed!r})"


class VectorInt(Vector):
    """Vector.<int> (0x0D): signed 32-bit integers."""


class VectorUInt(Vector):
    """Vector.<uint> (0x0E): unsigned 32-bit integers."""


class VectorDouble(Vector):
    """Vector.<Number> (0x0F): doubles."""


class VectorObject(Vector):
    """Vector.<T> (0x10) of any AMF3 values; ``type_name`` is T's class name ("" for *)."""

    def __init__(self, iterable: Any = (), *, type_name: str = "", fixed: bool = False) -> None:
        super().__init__(iterable, fixed=fixed)
        self.type_name = type_name

    def __repr__(self) -> str:
        return (
            f"VectorObject({list.__repr__(self)}, type_name={self.type_name!r}, "
            f"fixed={self.fixed!r})"
        )


class Dictionary(dict):
    """flash.utils.Dictionary (0x11): any AMF3 value as key; ``weak_keys`` as sent."""

    def __init__(self, *args: Any, weak_keys: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.weak_keys = weak_keys

    def __repr__(self) -> str:
        return f"Dictionary({dict.__repr__(self)}, weak_keys={self.weak_keys!r})"


class ArrayCollection(list):
    """flex.messaging.io.ArrayCollection: an externalizable wrapper of one array."""


class ObjectProxy(dict):
    """flex.messaging.io.ObjectProxy: an externalizable wrapper of one object."""


#: Types that only AMF3 can express; the AMF0 encoder writes them after an avmplus switch.
AMF3_ONLY_TYPES: tuple[type, ...] = (
    ByteArray,
    XML,
    Vector,
    Dictionary,
    ArrayCollection,
    ObjectProxy,
    ASObject,
)
