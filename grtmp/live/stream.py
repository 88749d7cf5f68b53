"""A live stream: its publisher, its players, and what a late joiner needs first.

The publisher's greenlet calls :meth:`Stream.feed` once per message; the packet is classified
once (:func:`grtmp.media.tag.classify`), cached (sequence headers, the GOP) and offered to
every player, which never blocks. Timestamps are rebased so they stay monotonic for players
that stay attached across a republish.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from grtmp.config import ServerConfig
from grtmp.errors import CodecError
from grtmp.live.gop import GopCache
from grtmp.live.packet import Packet
from grtmp.media import parse_audio, parse_avc_config, parse_video
from grtmp.media.multitrack import is_multitrack
from grtmp.media.tag import KIND_HEADER, KIND_KEYFRAME, classify
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO

if TYPE_CHECKING:
    from grtmp.live.player import Player

__all__ = ["Stream"]


class Stream:
    """A named live stream (``app``, ``name``).

    Attributes kept from the seed API: ``metadata`` (the onMetaData object), ``aac_config`` (the
    AAC sequence header payload), ``avc_config`` with ``sps``/``pps`` (lists of NAL units).
    ``players`` are the attached consumers; ``publisher`` is whoever publishes (None between
    publishes, while players wait).
    """

    def __init__(self, app: str, name: str, config: ServerConfig | None = None):
        self.app = app
        self.name = name
        self.config = config or ServerConfig()
        self.publisher: Any = None
        self.players: list[Player] = []
        self.metadata: dict[str, Any] | None = None
        self.metadata_packet: Packet | None = None
        self.headers: dict[Any, Packet] = {}
        self.gop = GopCache(self.config.gop_cache_max_messages, self.config.gop_cache_max_bytes)
        # Timestamp normalisation: out = epoch + (ts - base), monotonic across republish.
        self._base: int | None = None
        self._epoch = 0
        self.last_timestamp = 0
        #: Highest timestamp sent so far (32-bit serial arithmetic).
        self.max_timestamp = 0
        self.messages_in = 0
        self.bytes_in = 0
        #: For operators: video frames and keyframes received, the last keyframe interval
        #: (stream time, ms), when the current publish started (Unix time), and what players
        #: that have left were sent and dropped (the ones attached are read from them).
        self.video_frames = 0
        self.keyframes = 0
        self.keyframe_interval_ms: int | None = None
        self._keyframe_ts: int | None = None
        self.published_at: float | None = None
        self.bytes_out = 0
        self.dropped = 0
        #: When the publisher last sent something (monotonic seconds): takeover ``idle:S``.
        self.last_feed = time.monotonic()
        #: Anything with ``write(packet)`` and ``close()`` (see :mod:`grtmp.live.record`).
        self.recorder: Any = None
        # First coded frames of this publish, for codec detection when there is no header.
        self._first_frame: dict[int, bytes] = {}

    # -- seed-compatible attributes ------------------------------------------------------------
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
        """The seed API's audio channel: iterate this stream's audio packets (needs gevent)."""
        from grtmp.net.consume import consume_stream  # the shell: gevent queues

        return consume_stream(self, video=False, timeout=timeout, data=False)

    def video_channel(self, *, timeout: float | None = None) -> Iterator[Packet]:
        """The seed API's video channel: iterate this stream's video packets (needs gevent)."""
        from grtmp.net.consume import consume_stream

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

    def viewers(self) -> int:
        """Viewers of every protocol: each player counts one, except internal consumers
        (``internal = True``: a push relay counts none; the one LL-HLS muxer of a stream
        counts the HLS viewers it serves, its ``viewer_count()``)."""
        n = 0
        for p in self.players:
            if not getattr(p, "internal", False):
                n += 1
            else:
                count = getattr(p, "viewer_count", None)
                if count is not None:
                    n += count()
        return n

    @property
    def is_live(self) -> bool:
        return self.publisher is not None

    @property
    def idle(self) -> bool:
        return self.publisher is None and not self.players

    def __repr__(self) -> str:
        return f"Stream({self.app!r}, {self.name!r}, live={self.is_live}, " \
               f"players={len(self.players)})"

    # -- publisher side -------------------------------------------------------------------------
    def start_publishing(self, publisher: Any) -> None:
        """Attach a publisher; the next message starts right after the last one sent."""
        self.publisher = publisher
        self.published_at = time.time()
        self._keyframe_ts = self.keyframe_interval_ms = None
        self.last_feed = time.monotonic()
        self._base = None
        self.headers.clear()
        self.gop.clear()
        self.metadata = None
        self.metadata_packet = None
        self._first_frame = {}
        for player in self.players:
            player.policy.need_keyframe = True
            player.notify(True)

    def hand_over(self, publisher: Any) -> None:
        """A new publisher replaces the current one (a takeover): the players stay, without
        Unpublish/PublishNotify (FFmpeg and librtmp players end on UnpublishNotify); they
        skip to the new publisher's first keyframe, and timestamps continue after the
        highest one sent. A recording goes on in the same file."""
        self._epoch = (self.max_timestamp + 1) & 0xFFFFFFFF if self.messages_in else 0
        self.publisher = publisher
        self.last_feed = time.monotonic()
        self.published_at = time.time()
        self._keyframe_ts = self.keyframe_interval_ms = None
        self._base = None
        self.headers.clear()
        self.gop.clear()
        self.metadata = None
        self.metadata_packet = None
        self._first_frame = {}
        for player in self.players:
            player.policy.need_keyframe = True

    def stop_publishing(self) -> None:
        """Detach the publisher; players stay attached for a republish."""
        self.publisher = None
        self.published_at = None
        self.stop_recording()
        for player in self.players:
            player.notify(False)
        self._epoch = (self.max_timestamp + 1) & 0xFFFFFFFF if self.messages_in else 0
        self.gop.clear()

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
        """Store onMetaData (an AMF0 body without @setDataFrame) and forward it."""
        self.metadata = metadata
        packet = Packet(DATA_AMF0, self.last_timestamp, payload)
        self.metadata_packet = packet
        for player in self.players:
            player.offer(packet)
        if self.recorder is not None:
            self.recorder.write(packet)

    def feed(self, type_id: int, timestamp: int, payload: bytes) -> Packet:
        """Deliver one media or data message from the publisher to every player."""
        self.last_feed = time.monotonic()
        self.messages_in += 1
        self.bytes_in += len(payload)
        ts = self._rebase(timestamp)
        kind, key = classify(type_id, payload)
        packet = Packet(type_id, ts, payload, kind, is_multitrack(type_id, payload))
        if kind == KIND_HEADER:
            self.headers[key] = packet
        elif type_id == VIDEO or type_id == AUDIO:
            if type_id == VIDEO:
                self.video_frames += 1
                if kind == KIND_KEYFRAME:
                    self._keyframe(ts)
            if type_id not in self._first_frame:
                self._first_frame[type_id] = payload
            if self.config.gop_cache:
                self.gop.add(packet)
        for player in self.players:
            player.offer(packet)
        if self.recorder is not None:
            self.recorder.write(packet)
        return packet

    def _keyframe(self, ts: int) -> None:
        self.keyframes += 1
        if self._keyframe_ts is not None:
            delta = (ts - self._keyframe_ts) & 0xFFFFFFFF
            if delta < 0x80000000:
                self.keyframe_interval_ms = delta
        self._keyframe_ts = ts

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

    # -- player side ----------------------------------------------------------------------------
    def catch_up(self) -> list[Packet]:
        """What a late joiner gets first: metadata, sequence headers, then the GOP."""
        out: list[Packet] = []
        if self.metadata_packet is not None:
            out.append(self.metadata_packet)
        out.extend(self.headers.values())
        out.extend(self.gop.packets)
        return out

    def subscribe(self, player: Player) -> None:
        """Attach a player; it gets the catch-up packets before anything new."""
        policy = player.policy
        if self.publisher is not None:
            packets = []
            for packet in self.catch_up():
                adapted = policy.adapt(packet)
                if adapted is not None:
                    packets.append(adapted)
            policy.need_keyframe = not self.gop.packets
            player.catch_up(packets)
        else:
            policy.need_keyframe = True
        self.players.append(player)

    def unsubscribe(self, player: Player) -> None:
        try:
            self.players.remove(player)
        except ValueError:
            return
        self.dropped += player.policy.dropped


def _avc_parameter_sets(record: bytes | None) -> tuple[list[bytes], list[bytes]]:
    """SPS and PPS NAL units of an FLV AVC sequence header (5-byte tag header + avcC)."""
    if not record or len(record) < 6:
        return [], []
    try:
        config = parse_avc_config(record[5:])
    except CodecError:
        return [], []
    return config.sps, config.pps
