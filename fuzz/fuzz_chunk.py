"""Fuzz the chunk reader: bytes in, messages out until ConnectionClosed.

The first byte picks the options: bit 0 reads through an ``io.BufferedReader`` (the reader then
uses ``peek`` for fmt 3 extended timestamps, as with a socket file) instead of a bare
``BytesIO`` (read-ahead with push-back); bit 1 sets small limits (``max_message_size`` 512,
4 chunk streams, ``max_buffered`` 600: the LimitExceeded paths); bit 2 parses each message the
way the session does (control, command, data, aggregate, media), so a chunk stream reaches every
parser behind it; bit 3 is a differential check: the same bytes read from a bare ``BytesIO``, a
``BufferedReader`` and a ``BufferedReader`` over a source that trickles 1-7 bytes per read (as a
socket does) must give the same messages and end the same way.
Run: ``python -m fuzz.fuzz_chunk fuzz/corpus/chunk``.
"""

from __future__ import annotations

import io
from typing import Any

from grtmp.amf.command import decode_command, decode_data
from grtmp.errors import ConnectionClosed, RTMPError
from grtmp.media import parse_audio, parse_video
from grtmp.media.multitrack import is_multitrack, split_tracks
from grtmp.media.tag import classify
from grtmp.wire import control
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.message import (
    AGGREGATE,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    DATA_AMF0,
    DATA_AMF3,
    VIDEO,
    Message,
)

from ._harness import main

_CONTROL_TYPES = frozenset((1, 2, 3, 4, 5, 6))


def dispatch(msg: Message) -> None:
    """Parse one message as the server would; only typed errors may come out."""
    t = msg.type_id
    if t in _CONTROL_TYPES:
        control.parse_control(msg)
    elif t in (COMMAND_AMF0, COMMAND_AMF3):
        decode_command(msg.payload, amf3=t == COMMAND_AMF3)
    elif t in (DATA_AMF0, DATA_AMF3):
        decode_data(msg.payload, amf3=t == DATA_AMF3)
    elif t == AGGREGATE:
        for sub in control.split_aggregate(msg):
            if sub.type_id != AGGREGATE:
                dispatch(sub)
    elif t in (AUDIO, VIDEO):
        classify(t, msg.payload)
        if is_multitrack(t, msg.payload):
            split_tracks(t, msg.payload)
        (parse_video if t == VIDEO else parse_audio)(msg.payload)


class Trickle(io.RawIOBase):
    """A raw stream that returns at most a few bytes per read, like a socket under load."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        self._step = self._step % 7 + 1
        return n


def _reader(stream: Any, max_message_size: int) -> ChunkReader:
    small = max_message_size <= 512
    return ChunkReader(stream, max_message_size=max_message_size,
                       max_chunk_streams=4 if small else 16,
                       max_buffered=600 if small else None)


def messages(data: bytes, mode: str, max_message_size: int) -> tuple[list[Message], str]:
    """All messages read from ``data`` in reader ``mode``, and how reading ended."""
    if mode == "bytesio":
        stream: Any = io.BytesIO(data)
    elif mode == "buffered":
        stream = io.BufferedReader(io.BytesIO(data), buffer_size=64)
    else:
        stream = io.BufferedReader(Trickle(data, 3), buffer_size=64)
    reader = _reader(stream, max_message_size)
    out: list[Message] = []
    while True:
        try:
            out.append(reader.read_message())
        except RTMPError as exc:
            return out, f"{type(exc).__name__}: {exc}"


def read_all(data: bytes, *, peek: bool, max_message_size: int, parse: bool) -> int:
    """Read messages from ``data`` until EOF; returns how many were complete."""
    raw = io.BytesIO(data)
    stream = io.BufferedReader(raw, buffer_size=64) if peek else raw
    reader = _reader(stream, max_message_size)
    count = 0
    while True:
        before = reader.bytes_read
        try:
            msg = reader.read_message()
        except ConnectionClosed:
            return count
        # Progress guard: every message consumes at least its one-byte basic header.
        assert reader.bytes_read > before, "read_message returned without consuming input"
        count += 1
        if parse:
            try:
                dispatch(msg)
            except RTMPError:
                pass


def test_one_input(data: bytes) -> None:
    """atheris entry point: any exception but RTMPError is a finding."""
    opts = data[0] if data else 0
    if opts & 8:
        size = 512 if opts & 2 else 1 << 16
        results = [messages(data[1:], mode, size) for mode in ("bytesio", "buffered", "trickle")]
        assert results[0] == results[1] == results[2], "reader modes disagree"
        return
    try:
        read_all(data[1:], peek=bool(opts & 1),
                 max_message_size=512 if opts & 2 else 1 << 16, parse=bool(opts & 4))
    except RTMPError:
        pass


if __name__ == "__main__":
    main(test_one_input)
