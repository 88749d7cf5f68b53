"""The slow-player policy, in one place: what a player gets, drops and when it is cut off.

A player's queue is bounded. :meth:`PlayerPolicy.admit` decides, for each packet of the
stream, whether this player gets it: video waits for a keyframe after a drop, a pause or a
``receiveVideo(true)``; a full queue (:meth:`PlayerPolicy.overflow`) starts dropping video
until a keyframe finds room again (audio is kept where it fits), and a player whose written
data falls more than ``max_lag_seconds`` of stream time behind is disconnected. Multitrack
messages go whole only to players that declared Enhanced RTMP capsEx Multitrack; the others
get track 0.

Pure state; the gevent outbox (:mod:`grtmp.net.outbox`) owns the queue and the socket and asks
this object what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from grtmp.live.packet import Packet
from grtmp.media.tag import KIND_HEADER, KIND_KEYFRAME
from grtmp.wire.message import AUDIO, VIDEO

if TYPE_CHECKING:
    from grtmp.live.stream import Stream

__all__ = ["Player", "PlayerPolicy"]


class Player(Protocol):
    """What a :class:`~grtmp.live.stream.Stream` needs of a consumer (RTMP, HTTP-FLV, HLS,
    Python code). None of these may block the publisher's greenlet."""

    policy: PlayerPolicy

    def catch_up(self, packets: list[Packet]) -> None:
        """Packets a late joiner gets first (metadata, sequence headers, the GOP)."""

    def offer(self, packet: Packet) -> None:
        """One live packet; deliver it or drop it by ``policy``."""

    def notify(self, published: bool) -> None:
        """The stream was (un)published: tell the player in order with its media."""


class PlayerPolicy:
    """Per-player delivery state for one stream (see the module docstring)."""

    __slots__ = ("stream", "max_lag_ms", "multitrack", "audio", "video", "paused",
                 "need_keyframe", "lagging", "missed_header", "written_ts", "dropped",
                 "lagged_out", "resend")

    def __init__(self, stream: Stream, *, multitrack: bool = False, audio: bool = True,
                 video: bool = True):
        self.stream = stream
        self.max_lag_ms = int(stream.config.max_lag_seconds * 1000)
        #: The peer declared Enhanced RTMP capsEx Multitrack: it gets every track.
        self.multitrack = multitrack
        self.audio = audio
        self.video = video
        self.paused = False
        #: Dropping video until a keyframe (queue was full, just joined, or unpaused).
        self.need_keyframe = False
        #: The queue overflowed and we have not caught up since.
        self.lagging = False
        #: A sequence header was dropped while lagging (resent before the next keyframe).
        self.missed_header = False
        #: Stream timestamp of the last packet written out to the peer.
        self.written_ts: int | None = None
        self.dropped = 0
        #: Set once the player fell too far behind; the outbox disconnects it.
        self.lagged_out = False
        #: Sequence headers to deliver before the packet :meth:`admit` just returned.
        self.resend: list[Packet] = []

    def adapt(self, packet: Packet) -> Packet | None:
        """The packet as this player may see it (track 0 only without Multitrack)."""
        if packet.multitrack and not self.multitrack:
            return packet.default_track()
        return packet

    def admit(self, packet: Packet, queued: int, capacity: int) -> Packet | None:
        """The packet to deliver to this player now, or None to drop it.

        ``queued``/``capacity`` describe the player's queue. When a keyframe ends a drop
        during which a sequence header was lost, the current headers are put in ``resend``
        first, so the keyframe decodes with the right configuration.
        """
        if self.paused or self.lagged_out:
            return None
        if packet.multitrack and not self.multitrack:
            single = packet.default_track()
            if single is None:
                return None
            packet = single
        t = packet.type_id
        if t == VIDEO:
            if not self.video:
                return None
            kind = packet.kind
            if self.need_keyframe and kind != KIND_HEADER:
                if kind != KIND_KEYFRAME or (self.lagging and queued * 2 > capacity):
                    if self.lagging:
                        self.lag(packet)
                    return None
                self.need_keyframe = False
                self.lagging = False
                if self.missed_header:
                    self.missed_header = False
                    for header in self.stream.headers.values():
                        adapted = self.adapt(header)
                        if adapted is not None:
                            self.resend.append(adapted)
        elif t == AUDIO and not self.audio:
            return None
        return packet

    def overflow(self, packet: Packet) -> None:
        """The queue was full for ``packet``: skip video until a keyframe finds room again."""
        self.need_keyframe = True
        self.lagging = True
        if packet.kind == KIND_HEADER:
            self.missed_header = True
        self.lag(packet)

    def overflow_batch(self, count: int, timestamp: int) -> None:
        """A gathered batch of ``count`` packets found the queue full: all of it is dropped
        (it may have held a sequence header, so the current ones are resent at the next
        keyframe)."""
        self.need_keyframe = True
        self.lagging = True
        self.missed_header = True
        self.dropped += count - 1
        self.lag(Packet(0, timestamp, b""))

    def lag(self, packet: Packet) -> None:
        """Count a dropped packet; mark ``lagged_out`` when the data written lags too far."""
        self.dropped += 1
        if self.written_ts is None:
            self.written_ts = packet.timestamp
        elif ((packet.timestamp - self.written_ts) & 0xFFFFFFFF) > self.max_lag_ms:
            self.lagged_out = True

    def set_paused(self, paused: bool) -> None:
        """Pause or resume; a resumed player waits for a keyframe."""
        if not paused and self.paused:
            self.need_keyframe = True
        self.paused = paused

    def select(self, audio: bool | None = None, video: bool | None = None) -> None:
        """``receiveAudio``/``receiveVideo``: video turned back on waits for a keyframe."""
        if audio is not None:
            self.audio = audio
        if video is not None:
            if video and not self.video:
                self.need_keyframe = True
            self.video = video
