"""A directory node in its own process, for the cross-process tests.

``node.py redis URL NODE_ID APP NAME PULL_URL [TTL]`` or ``node.py local DIR ...``: registers
``APP/NAME`` and prints JSON events on stdout (``registered``, ``taken_over``), then keeps
refreshing until its stdin closes, when it unregisters, prints ``closed`` and exits.
"""

from __future__ import annotations

import json
import sys

import gevent
import gevent.os

from grtmp.cluster.localdir import LocalDirectory
from grtmp.cluster.redisdir import RedisDirectory
from tests.helpers import SECRET


def say(**event: object) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main() -> None:
    kind, target, node_id, app, name, url = sys.argv[1:7]
    ttl = float(sys.argv[7]) if len(sys.argv) > 7 else 10.0

    def taken_over(reg, owner) -> None:
        say(event="taken_over", state=reg.state, owner=owner.node if owner else None)

    if kind == "redis":
        directory = RedisDirectory(target, SECRET, node_id, ttl=ttl, on_taken_over=taken_over)
    else:
        directory = LocalDirectory(target, node_id, ttl=ttl, on_taken_over=taken_over)
    reg = directory.register(app, name, url)
    say(event="registered", state=reg.state, epoch=reg.epoch)
    while gevent.os.tp_read(sys.stdin.fileno(), 1024):
        pass
    directory.close()
    say(event="closed")


if __name__ == "__main__":
    main()
