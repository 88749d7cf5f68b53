"""Live streams, pure: the hub that names them, each stream's GOP cache and timestamps, the
packet chunked once for every player, and the slow-player policy.

No sockets and no gevent here. A player is anything with ``offer(packet)``,
``notify(published)`` and ``catch_up(packets)`` (:class:`~grtmp.live.player.Player`); the
gevent shell's outbox (:mod:`grtmp.net.outbox`) is the one that writes to sockets.
"""

from grtmp.live.hub import StreamHub
from grtmp.live.packet import Packet
from grtmp.live.player import Player, PlayerPolicy
from grtmp.live.stream import Stream

__all__ = ["Packet", "Player", "PlayerPolicy", "Stream", "StreamHub"]
