"""Streams, the hub that names them, and the fan-out from one publisher to many players.

A publisher puts each message once (:meth:`Stream.feed`). Every subscriber has its own bounded
``gevent.queue.Queue``; the publisher never blocks on it. The slow-subscriber policy lives here
and nowhere else: a full queue makes that subscriber drop frames until the next keyframe (audio
is kept where it fits) and a subscriber that stays behind for too long is disconnected.

Each message is chunked once per (chunk size, message stream id) pair and the same bytes go to
every subscriber that shares that pair (:class:`Packet`). A subscriber with nothing waiting is
written to directly with one non-blocking send (``Subscriber.direct``); only a backlog wakes
its writer greenlet, which then sends everything queued with one write.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import gevent
from gevent.queue import Empty, Full, Queue

from grtmp.config import ServerConfig
from grtmp.errors import CodecError, RTMPError
from grtmp.media import parse_audio, parse_video
from grtmp.media.multitrack import is_multitrack, single_track
from grtmp.media.tag import KIND_HEADER, KIND_KEYFRAME, KIND_OTHER, classify
from grtmp.wire.chunk import BufferBudget, chunk_message
from grtmp.wire.message import AUDIO, CSID_AUDIO, CSID_DATA, CSID_VIDEO, VIDEO, Message

log = logging.getLogger("grtmp.stream")

__all__ = [
    "Packet",
    "Stream",
    "StreamHub",
    "Subscriber",
    "consume_stream",
    "classify",
]

_CSID_FOR_TYPE = {AUDIO: CSID_AUDIO, VIDEO: CSID_VIDEO}

_UNSET: Any = object()


class Packet:
    """One message of a stream, chunked lazily once per (chunk size, stream id) and shared."""

    __slots__ = ("type_id", "timestamp", "payload", "kind", "multitrack", "_chunks", "_single")

    def __init__(self, type_id: int, timestamp: int, payload: bytes, kind: int = KIND_OTHER,
                 multitrack: bool = False):
        self.type_id = type_id
        self.timestamp = timestamp
        self.payload = payload
        self.kind = kind
        self.multitrack = multitrack
        self._chunks: dict[tuple[int, int], bytes] = {}
        self._single: Any = _UNSET

    def chunked(self, chunk_size: int, stream_id: int) -> bytes:
        """The wire bytes of this message for a connection with that chunk size and stream id."""
        key = (chunk_size, stream_id)
        data = self._chunks.get(key)
        if data is None:
            msg = Message(self.type_id, self.timestamp, stream_id, self.payload)
            data = chunk_message(msg, _CSID_FOR_TYPE.get(self.type_id, CSID_DATA), chunk_size)
            self._chunks[key] = data
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


class Event:
    """A per-subscriber item in the queue (a status to send), kept in order with media."""

    __slots__ = ("send",)

    def __init__(self, send: Callable[[], None]):
        self.send = send


class _Remainder:
    """The unsent end of a message written directly; the connection lock is still held."""

    __slots__ = ("data",)

    def __init__(self, data: Any):
        self.data = data


_STOP = object()


class Subscriber:
    """One consumer of a stream: a bounded queue plus the drop policy state.

    ``sink`` is called with the bytes to write (a session's locked ``sendall``). Without a sink
    the subscriber is a Python consumer: iterate :meth:`packets`.
    """

    def __init__(self, stream: Stream, *, queue_size: int, stream_id: int = 1,
                 chunk_size: int = 4096, sink: Callable[[bytes], None] | None = None,
                 on_lag: Callable[[Subscriber], None] | None = None,
                 on_notify: Callable[[Subscriber, str], None] | None = None,
                 direct: Callable[[bytes], Any] | None = None,
                 finish: Callable[[Any], None] | None = None,
                 audio: bool = True, video: bool = True, name: str = ""):
        self.stream = stream
        self.queue: Queue = Queue(maxsize=queue_size)
        self.stream_id = stream_id
        self.chunk_size = chunk_size
        self.sink = sink
        self.on_lag = on_lag
        self.on_notify = on_notify
        #: ``direct(data)`` tries a non-blocking write: returns None (all sent), ``data``
        #: itself (nothing sent) or the unsent rest, keeping the connection lock held until
        #: ``finish(rest)`` sends it and releases the lock.
        self.direct = direct
        self.finish = finish
        #: The writer greenlet holds items it has not written yet.
        self.busy = False
        self.audio = audio
        self.video = video
        #: The peer declared Enhanced RTMP capsEx Multitrack: it gets every track.
        self.multitrack = False
        self.paused = False
        self.name = name
        #: Query-string parameters of the play request (for hooks).
        self.params: dict[str, str] = {}
        #: Dropping frames until a keyframe (queue was full, or just unpaused).
        self.need_keyframe = False
        #: The queue overflowed and we have not caught up since.
        self.lagging = False
        #: A sequence header was dropped while lagging (resent before the next keyframe).
        self.missed_header = False
        #: Stream timestamp of the last packet written out to the peer.
        self.written_ts: int | None = None
        self.dropped = 0
        self.initial: list[Any] = []
        #: Events that found the queue full; sent right after what is queued.
        self.late: deque[Any] = deque()
        self.closed = False
        self._writer: gevent.Greenlet | None = None

    # -- called by the publisher's greenlet (must never block) ---------------------------
    def adapt(self, packet: Packet) -> Packet | None:
        """The packet as this subscriber may see it (track 0 only without Multitrack)."""
        if packet.multitrack and not self.multitrack:
            return packet.default_track()
        return packet

    def offer(self, packet: Packet) -> None:
        """Queue a packet, or drop it by policy; never blocks."""
        if self.paused or self.closed:
            return
        if packet.multitrack and not self.multitrack:
            single = packet.default_track()
            if single is None:
                return
            packet = single
        t = packet.type_id
        kind = packet.kind
        if t == VIDEO:
            if not self.video:
                return
            if self.need_keyframe and kind != KIND_HEADER:
                if kind != KIND_KEYFRAME or (
                        self.lagging and self.queue.qsize() * 2 > self.queue.maxsize):
                    if self.lagging:
                        self._lag(packet)
                    return
                self.need_keyframe = False
                self.lagging = False
                if self.missed_header:
                    # A sequence header was dropped while full: resend the current ones
                    # so the keyframe decodes with the right configuration.
                    self.missed_header = False
                    for header in self.stream.headers.values():
                        adapted = self.adapt(header)
                        if adapted is not None:
                            self.queue.put_nowait(adapted)
        elif t == AUDIO and not self.audio:
            return
        direct = self.direct
        if direct is not None and not self.busy and not self.initial and not self.late \
                and not self.queue.qsize():
            # Nothing is waiting for this player: write now from the publisher's greenlet
            # (a non-blocking send) instead of waking the writer greenlet for every message.
            try:
                data = packet.chunked(self.chunk_size, self.stream_id)
            except RTMPError as exc:  # a packet that cannot be sent: skip it, keep the player
                log.warning("%s: skipping a packet: %s", self.name, exc)
                return
            rest = direct(data)
            if rest is not data:
                self.written_ts = packet.timestamp
                if rest is not None:  # partly sent: the writer finishes it before anything
                    self.queue.put_nowait(_Remainder(rest))
                return
        try:
            if self.late:  # an event waits behind a full queue: nothing may pass it
                raise Full
            self.queue.put_nowait(packet)
        except Full:
            # Behind: skip video until a keyframe finds room again.
            self.need_keyframe = True
            self.lagging = True
            if kind == KIND_HEADER:
                self.missed_header = True
            self._lag(packet)

    def _lag(self, packet: Packet) -> None:
        """Count a dropped packet; disconnect when the data written lags too far behind."""
        self.dropped += 1
        if self.written_ts is None:
            self.written_ts = packet.timestamp
        elif ((packet.timestamp - self.written_ts) & 0xFFFFFFFF) > \
                self.stream.max_lag_ms and not self.closed:
            self.closed = True
            if self.on_lag is not None:
                self.on_lag(self)

    def notify(self, what: str) -> None:
        """Queue the status a player gets when its stream is (un)published, in order."""
        if self.on_notify is not None:
            on_notify = self.on_notify
            self.offer_event(Event(lambda: on_notify(self, what)))
        if what == "publish":
            self.need_keyframe = True

    def offer_event(self, event: Any) -> None:
        """Queue a per-subscriber event (status message); bypasses the bound when full."""
        if self.closed:
            return
        if self.late:
            self.late.append(event)
            return
        try:
            self.queue.put_nowait(event)
        except Full:
            # Keep it after the media already queued: the writer sends ``late`` after it.
            self.late.append(event)

    # -- writer side ---------------------------------------------------------------------
    def start_writer(self) -> gevent.Greenlet:
        """Run the greenlet that drains the queue into ``sink``, one write per batch."""
        self._writer = gevent.spawn(self._write_loop)
        return self._writer

    def _write_loop(self) -> None:
        q = self.queue
        sink = self.sink
        assert sink is not None
        out: list[bytes] = []
        last_ts: list[int] = []

        def flush() -> None:
            if out:
                data = b"".join(out) if len(out) > 1 else out[0]
                out.clear()
                sink(data)
                if last_ts:
                    self.written_ts = last_ts[0]
                    last_ts.clear()

        try:
            while True:
                if self.initial:
                    items, self.initial = self.initial, []
                elif self.late and not q.qsize():
                    # Everything queued before these events has been written.
                    self.late.popleft().send()
                    continue
                else:
                    items = [q.get()]
                n = q.qsize()
                while n:
                    n -= 1
                    items.append(q.get_nowait())
                self.busy = True
                for item in items:
                    if item.__class__ is Packet:
                        try:
                            out.append(item.chunked(self.chunk_size, self.stream_id))
                        except RTMPError as exc:  # one bad packet never ends the writer
                            log.warning("%s: skipping a packet: %s", self.name, exc)
                            continue
                        last_ts[:] = (item.timestamp,)
                    elif item is _STOP:
                        flush()
                        return
                    elif item.__class__ is _Remainder:
                        flush()
                        assert self.finish is not None
                        self.finish(item.data)
                    else:  # Event: keep its order relative to the media around it
                        flush()
                        item.send()
                flush()
                self.busy = False
        except (OSError, RTMPError):
            self.closed = True

    def stop(self, flush: bool = True, timeout: float = 5.0) -> None:
        """Stop the writer greenlet, after what is queued when ``flush``."""
        self.closed = True
        w = self._writer
        if w is None or w.dead:
            return
        if flush:
            try:
                self.queue.put(_STOP, timeout=timeout)
            except Full:
                w.kill(block=False)
                return
            w.join(timeout)
        if not w.dead:
            w.kill(block=False)

    def packets(self, timeout: float | None = None) -> Iterator[Packet]:
        """Iterate queued packets (Python consumers). Ends when the stream ends."""
        for item in self.initial:
            if isinstance(item, Packet):
                yield item
        self.initial = []
        while True:
            try:
                item = self.queue.get(timeout=timeout)
            except Empty:
                return
            if item is _STOP:
                return
            if isinstance(item, Packet):
                yield item


class Stream:
    """A named live stream: its publisher, its subscribers and what late joiners need.

    Attributes kept from the seed API: ``metadata`` (onMetaData object), ``aac_config`` (the AAC
    sequence header payload), ``avc_config`` with ``sps``/``pps`` (lists of NAL units).
    """

    def __init__(self, app: str, name: str, config: ServerConfig | None = None):
        self.app = app
        self.name = name
        self.config = config or ServerConfig()
        self.publisher: Any = None
        self.subscribers: list[Subscriber] = []
        self.metadata: dict[str, Any] | None = None
        self.metadata_packet: Packet | None = None
        self.headers: dict[Any, Packet] = {}
        self.gop: list[Packet] = []
        self._gop_bytes = 0
        self._gop_open = False
        self.max_lag_ms = int(self.config.max_lag_seconds * 1000)
        # Timestamp normalisation: out = epoch + (ts - base), monotonic across republish.
        self._base: int | None = None
        self._epoch = 0
        self.last_timestamp = 0
        #: Highest timestamp sent so far (32-bit serial arithmetic).
        self.max_timestamp = 0
        self.messages_in = 0
        self.bytes_in = 0
        #: Anything with ``write(packet)`` and ``close()`` (see :mod:`grtmp.record`).
        self.recorder: Any = None
        # First coded frames of this publish, for codec detection when there is no header.
        self._first_frame: dict[int, bytes] = {}

    # -- seed-compatible attributes ------------------------------------------------------
    @property
    def aac_config(self) -> bytes | None:
        p = self.headers.get((AUDIO, 10))
        return p.payload if p is not None else None

    @property
    def avc_config(self) -> bytes | None:
        p = self.headers.get((VIDEO, 7))
        return p.payload if p is not None else None

    @property
    def sps(self) -> list[bytes]:
        return _avc_parameter_sets(self.avc_config)[0]

    @property
    def pps(self) -> list[bytes]:
        return _avc_parameter_sets(self.avc_config)[1]

    def audio_channel(self, *, timeout: float | None = None) -> Iterator[Packet]:
        """The seed API's audio channel: iterate this stream's audio packets."""
        return consume_stream(self, video=False, timeout=timeout, data=False)

    def video_channel(self, *, timeout: float | None = None) -> Iterator[Packet]:
        """The seed API's video channel: iterate this stream's video packets."""
        return consume_stream(self, audio=False, timeout=timeout, data=False)

    def codecs(self) -> dict[str, Any]:
        """What the publisher really sends, read from its packets (never from onMetaData).

        ``{"video": "h264", "width": 1280, "height": 720, "audio": "aac",
        "sample_rate": 48000, "channels": 2}``, with the keys that are known so far.
        """
        info: dict[str, Any] = {}
        sources: list[tuple[int, bytes]] = [(p.type_id, p.payload) for p in self.headers.values()]
        sources += list(self._first_frame.items())
        for type_id, payload in sources:
            try:
                if type_id == VIDEO and "width" not in info:
                    v = parse_video(payload)
                    if v.codec:
                        info.setdefault("video", v.codec)
                    if v.width:
                        info["width"], info["height"] = v.width, v.height
                elif type_id == AUDIO and "sample_rate" not in info:
                    a = parse_audio(payload)
                    if a.codec:
                        info.setdefault("audio", a.codec)
                    if a.sample_rate:
                        info["sample_rate"] = a.sample_rate
                    if a.channels:
                        info.setdefault("channels", a.channels)
            except CodecError:
                continue
        return info

    @property
    def is_live(self) -> bool:
        return self.publisher is not None

    def __repr__(self) -> str:
        return f"Stream({self.app!r}, {self.name!r}, live={self.is_live}, " \
               f"subscribers={len(self.subscribers)})"

    # -- publisher side -----------------------------------------------------------------
    def start_publishing(self, publisher: Any) -> None:
        """Attach a publisher; the next message starts right after the last one sent."""
        self.publisher = publisher
        for sub in self.subscribers:
            sub.notify("publish")
        self._base = None
        self.headers.clear()
        self.gop.clear()
        self._gop_bytes = 0
        self._gop_open = False
        self.metadata = None
        self.metadata_packet = None
        self._first_frame = {}

    def stop_publishing(self) -> None:
        """Detach the publisher; subscribers stay attached for a republish."""
        self.publisher = None
        self.stop_recording()
        for sub in self.subscribers:
            sub.notify("unpublish")
        self._epoch = (self.max_timestamp + 1) & 0xFFFFFFFF if self.messages_in else 0
        self.gop.clear()
        self._gop_bytes = 0
        self._gop_open = False

    def _rebase(self, ts: int) -> int:
        if self._base is None:
            self._base = ts
            out = self._epoch
        else:
            delta = (ts - self._base) & 0xFFFFFFFF
            if delta >= 0x80000000:  # slightly earlier than the first message: clamp
                delta = 0
            out = (self._epoch + delta) & 0xFFFFFFFF
        self.last_timestamp = out
        if ((out - self.max_timestamp) & 0xFFFFFFFF) < 0x80000000:
            self.max_timestamp = out
        return out

    def set_metadata(self, metadata: dict[str, Any], payload: bytes) -> None:
        """Store onMetaData (already re-encoded without @setDataFrame) and forward it."""
        self.metadata = metadata
        packet = Packet(18, self.last_timestamp, payload)
        self.metadata_packet = packet
        for sub in self.subscribers:
            sub.offer(packet)
        if self.recorder is not None:
            self.recorder.write(packet)

    def feed(self, type_id: int, timestamp: int, payload: bytes) -> Packet:
        """Deliver one media or data message from the publisher to every subscriber."""
        self.messages_in += 1
        self.bytes_in += len(payload)
        ts = self._rebase(timestamp)
        kind, key = classify(type_id, payload)
        packet = Packet(type_id, ts, payload, kind, is_multitrack(type_id, payload))
        if kind == KIND_HEADER:
            self.headers[key] = packet
        else:
            if type_id not in self._first_frame and (type_id == VIDEO or type_id == AUDIO):
                self._first_frame[type_id] = payload
            if self.config.gop_cache and (type_id == VIDEO or type_id == AUDIO):
                self._cache(packet)
        for sub in self.subscribers:
            sub.offer(packet)
        if self.recorder is not None:
            self.recorder.write(packet)
        return packet

    def _cache(self, packet: Packet) -> None:
        if packet.kind == KIND_KEYFRAME:
            self.gop = [packet]
            self._gop_bytes = len(packet.payload)
            self._gop_open = True
            return
        if not self._gop_open:
            return
        cfg = self.config
        if len(self.gop) >= cfg.gop_cache_max_messages or \
                self._gop_bytes + len(packet.payload) > cfg.gop_cache_max_bytes:
            # The GOP outgrew the cache: stop caching until the next keyframe.
            self.gop = []
            self._gop_bytes = 0
            self._gop_open = False
            return
        self.gop.append(packet)
        self._gop_bytes += len(packet.payload)

    def start_recording(self, recorder: Any) -> None:
        """Record from now on: ``recorder.write(packet)`` gets metadata, headers, then media."""
        self.stop_recording()
        self.recorder = recorder
        if self.metadata_packet is not None:
            recorder.write(self.metadata_packet)
        for packet in self.headers.values():
            recorder.write(packet)

    def stop_recording(self) -> None:
        """Finish the recording, if any (the file is finalised)."""
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()

    # -- subscriber side ----------------------------------------------------------------
    def catch_up(self) -> list[Packet]:
        """What a late joiner gets first: metadata, sequence headers, then the GOP."""
        out: list[Packet] = []
        if self.metadata_packet is not None:
            out.append(self.metadata_packet)
        out.extend(self.headers.values())
        out.extend(self.gop)
        return out

    def subscribe(self, subscriber: Subscriber) -> None:
        """Attach a subscriber; it gets the catch-up packets before anything new."""
        if self.publisher is not None:
            for packet in self.catch_up():
                adapted = subscriber.adapt(packet)
                if adapted is not None:
                    subscriber.initial.append(adapted)
            subscriber.need_keyframe = not self.gop
        else:
            subscriber.need_keyframe = True
        self.subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        try:
            self.subscribers.remove(subscriber)
        except ValueError:
            pass

    @property
    def idle(self) -> bool:
        return self.publisher is None and not self.subscribers


def _avc_parameter_sets(record: bytes | None) -> tuple[list[bytes], list[bytes]]:
    """SPS and PPS NAL units of an FLV AVC sequence header (5-byte tag header + record)."""
    if not record or len(record) < 11:
        return [], []
    data = memoryview(record)[5:]
    try:
        pos = 5
        sps: list[bytes] = []
        pps: list[bytes] = []
        n = data[pos] & 0x1F
        pos += 1
        for _ in range(n):
            ln = int.from_bytes(data[pos:pos + 2], "big")
            sps.append(bytes(data[pos + 2:pos + 2 + ln]))
            pos += 2 + ln
        n = data[pos]
        pos += 1
        for _ in range(n):
            ln = int.from_bytes(data[pos:pos + 2], "big")
            pps.append(bytes(data[pos + 2:pos + 2 + ln]))
            pos += 2 + ln
        return sps, pps
    except IndexError:
        return [], []


class StreamHub:
    """All streams of a server, keyed by (app, name)."""

    def __init__(self, config: ServerConfig | None = None):
        self.config = config or ServerConfig()
        self.streams: dict[tuple[str, str], Stream] = {}
        #: Partly received message bytes, all connections of this hub together.
        self.buffer_budget = BufferBudget(self.config.max_buffered_total)

    def get(self, app: str, name: str) -> Stream | None:
        return self.streams.get((app, name))

    def get_or_create(self, app: str, name: str) -> Stream:
        key = (app, name)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream(app, name, self.config)
        return stream

    def discard_if_idle(self, stream: Stream) -> None:
        if stream.idle and self.streams.get((stream.app, stream.name)) is stream:
            del self.streams[(stream.app, stream.name)]

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self.streams.values()))

    def __len__(self) -> int:
        return len(self.streams)


def consume_stream(stream: Stream, *, audio: bool = True, video: bool = True,
                   data: bool = True, queue_size: int | None = None,
                   timeout: float | None = None) -> Iterator[Packet]:
    """Iterate the packets of ``stream`` from Python code (seed API).

    Starts with the catch-up packets (metadata, sequence headers, GOP), then live packets. The
    iterator ends when ``timeout`` seconds pass without a packet; closing it unsubscribes.
    """
    sub = Subscriber(stream, queue_size=queue_size or stream.config.queue_size,
                     audio=audio, video=video, name="python")
    stream.subscribe(sub)
    try:
        for packet in sub.packets(timeout=timeout):
            t = packet.type_id
            if (audio if t == AUDIO else video if t == VIDEO else data):
                yield packet
    finally:
        sub.closed = True
        stream.unsubscribe(sub)
