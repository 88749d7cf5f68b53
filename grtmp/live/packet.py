"""One message of a live stream, chunked once per (chunk size, message stream id) and shared by
every player that needs those bytes ("chunk once, send many")."""

from __future__ import annotations

from typing import Any

from grtmp.errors import CodecError
from grtmp.media.multitrack import single_track
from grtmp.media.tag import KIND_OTHER, classify
from grtmp.wire.chunk import chunk_message
from grtmp.wire.message import AUDIO, CSID_AUDIO, CSID_DATA, CSID_VIDEO, VIDEO, Message

__all__ = ["Packet"]

_CSID_FOR_TYPE = {AUDIO: CSID_AUDIO, VIDEO: CSID_VIDEO}
_UNSET: Any = object()


class Packet:
    """A message of a stream: type, timestamp (the stream's, rebased), payload and its kind
    (:mod:`grtmp.media.tag`). ``multitrack`` marks an Enhanced RTMP multitrack message."""

    __slots__ = ("type_id", "timestamp", "payload", "kind", "multitrack", "_chunks", "_single",
                 "_cs", "_sid", "_data")

    def __init__(self, type_id: int, timestamp: int, payload: bytes, kind: int = KIND_OTHER,
                 multitrack: bool = False):
        self.type_id = type_id
        self.timestamp = timestamp
        self.payload = payload
        self.kind = kind
        self.multitrack = multitrack
        self._chunks: dict[Any, bytes] = {}
        self._single: Any = _UNSET
        # The first (chunk size, stream id) asked, without a dict: nearly every player of a
        # stream asks the same one (FFmpeg and OBS play on stream 1; chunk size 4096).
        self._cs = -1
        self._sid = -1
        self._data = b""

    def chunked(self, chunk_size: int, stream_id: int) -> bytes:
        """The wire bytes of this message for a connection with that chunk size and stream id.

        Raises :class:`~grtmp.errors.LimitExceeded` for a payload no message can carry.
        """
        if chunk_size == self._cs and stream_id == self._sid:
            return self._data
        key = (chunk_size, stream_id)
        data = self._chunks.get(key)
        if data is None:
            msg = Message(self.type_id, self.timestamp, stream_id, self.payload)
            data = chunk_message(msg, _CSID_FOR_TYPE.get(self.type_id, CSID_DATA), chunk_size)
            self._chunks[key] = data
            if self._cs < 0:
                self._cs, self._sid, self._data = chunk_size, stream_id, data
        return data

    def encoded(self, key: Any, build: Any) -> bytes:
        """``build(self)``, computed once per ``key`` and shared by every player that asks
        for the same bytes (an FLV tag, a WebSocket frame: :mod:`grtmp.web.flv`)."""
        data = self._chunks.get(key)
        if data is None:
            data = self._chunks[key] = build(self)
        return data

    def default_track(self) -> Packet | None:
        """For a multitrack message: its track 0 as a single-track packet (None if absent)."""
        if self._single is _UNSET:
            try:
                data = single_track(self.type_id, self.payload, 0)
            except CodecError:
                data = None
            self._single = None if data is None else \
                Packet(self.type_id, self.timestamp, data, classify(self.type_id, data)[0])
        return self._single

    def __repr__(self) -> str:
        return f"Packet(type={self.type_id}, ts={self.timestamp}, len={len(self.payload)})"
