"""Describe fMP4 bytes (init segments, media segments, parts) box by box, using the construct
declarations of :mod:`grtmp.formats.mp4`; what ``grtmp-inspect`` shows for an MP4 file.

:func:`describe_mp4` returns a tree of JSON-ready dicts: ``type``, absolute ``offset``, ``size``,
the box's parsed ``fields`` (flags as the list of those set, enums by name, long byte strings
cut), and ``children`` for boxes that hold boxes (containers, ``stsd``, ``dref``, sample
entries). :func:`format_mp4_tree` renders it as indented text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from construct import ConstructError, Container, ListContainer

from grtmp.errors import FormatError
from grtmp.formats.mp4 import Box

__all__ = ["parse_mp4", "describe_mp4", "format_mp4_tree", "is_mp4", "MP4_FIRST_BOXES"]

#: Box types an fMP4 file or segment starts with.
MP4_FIRST_BOXES = frozenset({"ftyp", "styp", "moov", "moof", "sidx", "emsg", "prft", "free"})

#: Longest byte string shown in full.
MAX_HEX_BYTES = 32
#: trun samples listed (the count is always given).
MAX_SAMPLES_SHOWN = 64
#: Top-level boxes parsed at most.
MAX_BOXES = 100_000

_BOX_LIST_KEYS = ("children", "entries")


def is_mp4(head: bytes) -> bool:
    """Whether ``head`` (the first 8+ bytes of a file) starts with an fMP4 box."""
    if len(head) < 8:
        return False
    size = int.from_bytes(head[:4], "big")
    return head[4:8].decode("latin-1") in MP4_FIRST_BOXES and (size == 1 or size >= 8)


def parse_mp4(data: bytes) -> list[Container]:
    """Parse every top-level box of ``data``; :class:`FormatError` on a malformed one."""
    boxes, error = _parse_all(data)
    if error is not None:
        raise FormatError(error)
    return boxes


def _parse_all(data: bytes) -> tuple[list[Container], str | None]:
    stream = io.BytesIO(data)
    boxes: list[Container] = []
    while stream.tell() < len(data):
        pos = stream.tell()
        if len(boxes) >= MAX_BOXES:
            return boxes, f"more than {MAX_BOXES} boxes"
        try:
            boxes.append(Box.parse_stream(stream))
        except (ConstructError, RecursionError, ValueError, OverflowError, UnicodeError,
                IndexError, KeyError, TypeError) as exc:
            return boxes, f"bad box at offset {pos}: {str(exc).splitlines()[0][:200]}"
    return boxes, None


def _value(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        b = bytes(v)
        if len(b) <= MAX_HEX_BYTES:
            return b.hex()
        return f"{b[:MAX_HEX_BYTES].hex()}... ({len(b)} bytes)"
    if isinstance(v, Container):
        items = {k: x for k, x in v.items() if not k.startswith("_")}
        if items and all(isinstance(x, bool) for x in items.values()):
            return [k for k, x in items.items() if x]  # FlagsEnum: the flags that are set
        return {k: _value(x) for k, x in items.items()}
    if isinstance(v, list | tuple | ListContainer):
        return [_value(x) for x in v]
    if isinstance(v, str):
        return str(v)  # EnumIntegerString and friends -> plain str
    if isinstance(v, bool | int | float) or v is None:
        return v
    return repr(v)


def _describe(box: Container, offset: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": str(box.type), "offset": offset, "size": box.size}
    body = box.body
    payload_start = offset + box.header_size
    if isinstance(body, bytes | bytearray):
        if box.type != "mdat":
            node["fields"] = {"data": _value(body)}
        return node
    fields: dict[str, Any] = {}
    children: list[dict[str, Any]] = []
    for key, value in body.items():
        if key.startswith("_"):
            continue
        if key in _BOX_LIST_KEYS and isinstance(value, list) and all(
                isinstance(c, Container) and "header_size" in c for c in value):
            children += [_describe(c, payload_start + c.offset) for c in value]
        elif box.type == "mdat" and key == "data":
            continue
        elif key == "samples" and box.type == "trun" and len(value) > MAX_SAMPLES_SHOWN:
            fields[key] = _value(value[:MAX_SAMPLES_SHOWN])
            fields["samples_shown"] = MAX_SAMPLES_SHOWN
        else:
            fields[key] = _value(value)
    if fields:
        node["fields"] = fields
    if "trailing" in box:
        node["trailing"] = _value(box.trailing)
    if children:
        node["children"] = children
    return node


def describe_mp4(data: bytes, *, strict: bool = False) -> list[dict[str, Any]]:
    """The box tree of ``data`` (see the module docstring). A malformed box ends the list with
    ``{"offset": ..., "error": ...}``, or with ``strict`` raises :class:`FormatError`."""
    boxes, error = _parse_all(bytes(data))
    if error is not None and strict:
        raise FormatError(error)
    out = [_describe(b, b.offset) for b in boxes]
    if error is not None:
        pos = boxes[-1].offset + boxes[-1].size if boxes else 0
        out.append({"offset": pos, "error": error})
    return out


def _summary(fields: dict[str, Any]) -> str:
    bits = []
    for k, v in fields.items():
        if v is None:
            continue
        if k in ("reserved", "pre_defined", "matrix", "samples") or k.startswith(
                ("reserved", "pre_defined")):
            if k == "samples":
                bits.append(f"samples={len(v)}")
            continue
        if isinstance(v, list):
            if all(isinstance(x, str) for x in v):
                bits.append(f"{k}={','.join(v) or '-'}")
            else:
                bits.append(f"{k}=[{len(v)}]")
        elif isinstance(v, dict):
            inner = " ".join(f"{ik}={iv}" for ik, iv in v.items()
                             if isinstance(iv, int | str) and not ik.startswith("reserved"))
            bits.append(f"{k}{{{inner}}}")
        else:
            bits.append(f"{k}={v}")
    return " ".join(bits)


def format_mp4_tree(tree: Sequence[dict[str, Any]], indent: int = 0) -> str:
    """Indented text of a :func:`describe_mp4` tree, one box a line."""
    lines = []
    for node in tree:
        pad = "  " * indent
        if "error" in node:
            lines.append(f"{pad}error at offset {node['offset']}: {node['error']}")
            continue
        line = f"{pad}{node['type']}  @{node['offset']} size={node['size']}"
        if node.get("fields"):
            line += "  " + _summary(node["fields"])
        lines.append(line.rstrip())
        if node.get("children"):
            lines.append(format_mp4_tree(node["children"], indent + 1))
    return "\n".join(lines)
