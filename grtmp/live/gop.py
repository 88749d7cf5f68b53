"""The GOP cache: the frames since the last keyframe, so a late joiner starts at once."""

from __future__ import annotations

from collections.abc import Iterator

from grtmp.live.packet import Packet
from grtmp.media.tag import KIND_KEYFRAME

__all__ = ["GopCache"]


class GopCache:
    """Audio and video packets from the last video keyframe on, bounded in messages and bytes.

    Past either bound the cache empties and stops caching until the next keyframe (a GOP that
    long is not worth replaying; nginx-rtmp and SRS bound theirs the same way).
    """

    __slots__ = ("max_messages", "max_bytes", "packets", "bytes", "open")

    def __init__(self, max_messages: int, max_bytes: int):
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.packets: list[Packet] = []
        self.bytes = 0
        #: A keyframe started the current GOP and it still fits.
        self.open = False

    def __len__(self) -> int:
        return len(self.packets)

    def __iter__(self) -> Iterator[Packet]:
        return iter(self.packets)

    def add(self, packet: Packet) -> None:
        if packet.kind == KIND_KEYFRAME:
            self.packets = [packet]
            self.bytes = len(packet.payload)
            self.open = True
            return
        if not self.open:
            return
        if len(self.packets) >= self.max_messages or \
                self.bytes + len(packet.payload) > self.max_bytes:
            self.clear()
            return
        self.packets.append(packet)
        self.bytes += len(packet.payload)

    def clear(self) -> None:
        self.packets = []
        self.bytes = 0
        self.open = False
