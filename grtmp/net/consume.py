"""Python code as a player: iterate a stream's packets through a bounded ``gevent.queue``."""

from __future__ import annotations

from collections.abc import Iterator

from gevent.queue import Empty, Full, Queue

from grtmp.live.packet import Packet
from grtmp.live.player import PlayerPolicy
from grtmp.live.stream import Stream
from grtmp.wire.message import AUDIO, VIDEO

__all__ = ["Consumer", "consume_stream"]

_END = object()


class Consumer:
    """A player that queues packets for Python code (the seed's channel API).

    Same policy as any player: a full queue drops video until a keyframe; a consumer that
    falls ``max_lag_seconds`` behind is ended (its iterator stops).
    """

    def __init__(self, stream: Stream, *, queue_size: int | None = None, audio: bool = True,
                 video: bool = True):
        self.stream = stream
        self.policy = PlayerPolicy(stream, audio=audio, video=video)
        self.queue: Queue = Queue(maxsize=queue_size or stream.config.queue_size)
        self.closed = False

    def catch_up(self, packets: list[Packet]) -> None:
        for packet in packets:
            try:
                self.queue.put_nowait(packet)
            except Full:
                break

    def offer(self, packet: Packet) -> None:
        if self.closed:
            return
        p = self.policy.admit(packet, self.queue.qsize(), self.queue.maxsize)
        if p is None:
            if self.policy.lagged_out:
                self.close()
            return
        for item in (*self.policy.resend, p):
            try:
                self.queue.put_nowait(item)
            except Full:
                self.policy.overflow(item)
                if self.policy.lagged_out:
                    self.close()
                return
            self.policy.written_ts = item.timestamp
        self.policy.resend = []

    def notify(self, published: bool) -> None:
        """Nothing to tell Python code; the packets just resume after a republish."""

    def close(self) -> None:
        """Stop: the iterator ends after what is queued."""
        if not self.closed:
            self.closed = True
            self.stream.unsubscribe(self)
            try:
                self.queue.put_nowait(_END)
            except Full:
                pass

    def packets(self, timeout: float | None = None) -> Iterator[Packet]:
        """Queued packets until the consumer is closed or ``timeout`` passes without one."""
        while True:
            try:
                item = self.queue.get(timeout=timeout)
            except Empty:
                return
            if item is _END:
                return
            yield item


def consume_stream(stream: Stream, *, audio: bool = True, video: bool = True,
                   data: bool = True, queue_size: int | None = None,
                   timeout: float | None = None) -> Iterator[Packet]:
    """Iterate the packets of ``stream`` from Python code (seed API).

    Starts with the catch-up packets (metadata, sequence headers, GOP), then live packets. The
    iterator ends when ``timeout`` seconds pass without a packet; closing it unsubscribes.
    """
    consumer = Consumer(stream, queue_size=queue_size, audio=audio, video=video)
    stream.subscribe(consumer)
    try:
        for packet in consumer.packets(timeout=timeout):
            t = packet.type_id
            if (audio if t == AUDIO else video if t == VIDEO else data):
                yield packet
    finally:
        consumer.close()
