"""The smallest grtmp server: a hand-written accept loop, one greenlet per connection.

Run: python examples/simple_server.py [port [host]]; then
  ffmpeg -re -i input.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/test
  ffplay rtmp://127.0.0.1:1935/live/test
"""

from __future__ import annotations

import logging
import sys

from gevent.server import StreamServer

from grtmp import Conn, StreamHub

hub = StreamHub()  # the streams every connection publishes to and plays from


def handle(sock, address) -> None:
    """Serve one connection to its end (errors are logged and close only this connection)."""
    Conn(sock, address, hub=hub).serve()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 1935
    host = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
    server = StreamServer((host, port), handle)
    server.start()
    logging.info("listening on %s:%d", host, server.server_port)
    server.serve_forever()
