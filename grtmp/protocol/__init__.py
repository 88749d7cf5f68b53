"""RTMP sessions as pure state machines: :class:`ServerSession` and :class:`ClientSession`.

A session takes the messages the peer sent (read by the blocking chunk reader of the I/O layer)
and returns typed events (:mod:`grtmp.protocol.events`); decisions are methods that queue the
replies; :meth:`data_to_send` hands out the bytes to write. No sockets, no gevent.
"""

from grtmp.protocol.client import ClientSession
from grtmp.protocol.server import ServerSession
from grtmp.protocol.state import ConnState, StreamState
from grtmp.protocol.status import Status

__all__ = ["ClientSession", "ConnState", "ServerSession", "Status", "StreamState"]
