"""The Redis stream directory (``--cluster redis://HOST:PORT/DB --cluster-secret S``).

How Redis is called without ever blocking the gevent hub: redis-py runs on the hub's thread
over **gevent sockets** (:class:`CooperativeConnection` creates ``gevent.socket`` sockets
whether or not the process is monkey-patched), with the pure-Python RESP parser and no
redis-py retries. Waiting for Redis is then a cooperative switch like any other socket wait,
so other greenlets keep running while Redis is slow (``DEBUG SLEEP``), and a call can be
abandoned at a deadline (``gevent.Timeout``; redis-py drops that connection).

Why not gevent's threadpool: its calls cannot be cancelled, so a slow Redis would keep pool
threads busy past every deadline and queue later lookups behind them; and in the
monkey-patched ``grtmp-server`` a redis-py connection pool shared across native threads would
mix sockets and locks bound to different hubs. One thread, cooperative sockets, no such
hazards. (The hiredis parser is avoided because it polls with ``select.poll``.)

Writes are one Lua compare-and-set (:data:`CAS_SCRIPT`): the node reads the entry, verifies
it with the secret, decides (:func:`grtmp.cluster.policy.decide`), then writes only if the
key still holds exactly the bytes it read. Redis compares bytes only, so the secret never
leaves the node, and a node refreshes or withdraws an entry only while it is still its own.
Every write sets ``PX ttl`` (at most 10 s).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import gevent
import gevent.socket
import redis
from redis._parsers import _RESP2Parser
from redis.backoff import NoBackoff
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection, parse_url
from redis.retry import Retry

from grtmp.cluster.directory import MAX_TTL, StoreDirectory, TakenOver
from grtmp.cluster.entry import DirectoryUnavailable
from grtmp.cluster.policy import Backoff

log = logging.getLogger("grtmp.cluster")

#: KEYS[1] = key; ARGV = [expect ("0": absent, "1": ARGV[2]), expected, new, ttl ms].
#: Returns {1} when written, else {0, current} (or {0} when the key is absent).
CAS_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
local match
if ARGV[1] == '0' then match = (cur == false) else match = (cur == ARGV[2]) end
if match then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return {1}
end
if cur == false then return {0} end
return {0, cur}
"""


class CooperativeConnection(Connection):
    """A redis-py TCP connection over a ``gevent.socket`` socket (never blocks the hub)."""

    def _connect(self) -> Any:
        err: OSError | None = None
        for family, socktype, proto, _, address in gevent.socket.getaddrinfo(
                self.host, self.port, self.socket_type, socket.SOCK_STREAM):
            sock = gevent.socket.socket(family, socktype, proto)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.socket_keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    for k, v in self.socket_keepalive_options.items():
                        sock.setsockopt(socket.IPPROTO_TCP, k, v)
                sock.settimeout(self.socket_connect_timeout)
                sock.connect(address)
                sock.settimeout(self.socket_timeout)
                return sock
            except OSError as exc:
                err = exc
                sock.close()
        raise err or OSError(f"no address for {self.host}:{self.port}")


class CooperativeUnixConnection(UnixDomainSocketConnection):
    """A redis-py unix-socket connection over a ``gevent.socket`` socket."""

    def _connect(self) -> Any:
        sock = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.socket_connect_timeout)
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.socket_timeout)
        return sock


def cooperative_pool(url: str, *, timeout: float = 1.0,
                     max_connections: int = 64) -> redis.ConnectionPool:
    """A redis-py pool for ``redis://HOST:PORT/DB`` or ``unix:///PATH?db=N`` whose
    connections never block the gevent hub; socket timeouts default to ``timeout``."""
    options = parse_url(url)
    if options.get("connection_class") is SSLConnection:
        raise ValueError("rediss:// is not supported yet; use redis:// or unix://")
    unix = options.pop("connection_class", None) is UnixDomainSocketConnection
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout, "socket_connect_timeout": timeout,
        "health_check_interval": 0,
        # RESP2: no HELLO or maintenance-notification handshake on each new connection.
        "protocol": 2,
    }
    kwargs.update(options)  # the URL's own options (db, password, timeouts) win
    return redis.ConnectionPool(
        connection_class=CooperativeUnixConnection if unix else CooperativeConnection,
        parser_class=_RESP2Parser, retry=Retry(NoBackoff(), 0),
        max_connections=max_connections, **kwargs)


class RedisStore:
    """The :class:`~grtmp.cluster.directory.Store` over Redis (GET, Lua compare-and-set, PING).

    Every call is bounded by its ``timeout``; any Redis or socket error, or the deadline,
    raises :class:`~grtmp.cluster.entry.DirectoryUnavailable`.
    """

    def __init__(self, url: str, *, timeout: float = 1.0, max_connections: int = 64) -> None:
        self.pool = cooperative_pool(url, timeout=timeout, max_connections=max_connections)
        self.redis = redis.Redis(connection_pool=self.pool)
        self._cas = self.redis.register_script(CAS_SCRIPT)

    def _call(self, timeout: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        deadline = gevent.Timeout(timeout)
        deadline.start()
        try:
            return fn(*args, **kwargs)
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            raise DirectoryUnavailable(f"redis did not answer within {timeout:g} s") from None
        except (redis.RedisError, OSError) as exc:
            raise DirectoryUnavailable(f"redis: {exc}") from exc
        finally:
            deadline.close()

    def get(self, k: str, timeout: float) -> bytes | None:
        return self._call(timeout, self.redis.get, k)

    def cas(self, k: str, expected: bytes | None, new: bytes, ttl: float,
            timeout: float) -> tuple[bool, bytes | None]:
        args = ["0", b""] if expected is None else ["1", expected]
        reply = self._call(timeout, self._cas, keys=[k],
                           args=[*args, new, max(1, int(ttl * 1000))])
        if reply[0] == 1:
            return True, None
        return False, (reply[1] if len(reply) > 1 else None)

    def ping(self, timeout: float) -> None:
        self._call(timeout, self.redis.ping)

    def close(self) -> None:
        self.pool.disconnect()


class RedisDirectory(StoreDirectory):
    """The cluster-wide directory in Redis: ``RedisDirectory(url, secret, node_id)``.

    ``url`` is ``redis://HOST:PORT/DB`` (``--cluster``), ``secret`` the cluster secret
    (``--cluster-secret``), ``node_id`` this node's unique name. See
    :class:`~grtmp.cluster.directory.StoreDirectory` for ``ttl`` (at most 10 s),
    ``op_timeout``, ``lookup_timeout``, ``backoff`` and ``on_taken_over``. A short secret is
    accepted with a warning: anyone who guesses it can redirect streams.
    """

    def __init__(self, url: str, secret: bytes | str, node_id: str, *, ttl: float = MAX_TTL,
                 prefix: str = "grtmp", op_timeout: float = 1.0, lookup_timeout: float = 0.5,
                 backoff: Backoff | None = None, skew: float = 5.0, max_lookups: int = 64,
                 max_connections: int = 64, on_taken_over: TakenOver | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        if len(secret) < 16:
            log.warning("the cluster secret is shorter than 16 bytes")
        store = RedisStore(url, timeout=op_timeout, max_connections=max_connections)
        extra: dict[str, Any] = {} if clock is None else {"clock": clock}
        super().__init__(store, secret, node_id, ttl=ttl, prefix=prefix,
                         op_timeout=op_timeout, lookup_timeout=lookup_timeout,
                         backoff=backoff, skew=skew, max_lookups=max_lookups,
                         on_taken_over=on_taken_over, **extra)
        self.url = url
