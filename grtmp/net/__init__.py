"""The gevent shell: the server, one greenlet per connection, player outboxes, the client.

Everything that touches sockets or greenlets lives here; the protocol decisions are made by the
pure :mod:`grtmp.protocol` sessions and the stream fan-out by the pure :mod:`grtmp.live`.
"""

from grtmp.net.client import Client
from grtmp.net.connection import Conn
from grtmp.net.consume import consume_stream
from grtmp.net.server import Server

__all__ = ["Client", "Conn", "Server", "consume_stream"]
