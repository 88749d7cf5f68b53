"""Scale-out: the stream directory (which node, or which worker, publishes a stream).

Import the pieces from their modules: :mod:`grtmp.cluster.entry` and
:mod:`grtmp.cluster.policy` are pure (no gevent, no I/O) and importing this package must keep
them importable without gevent, so nothing is imported here.

- :mod:`grtmp.cluster.entry`: a directory entry, its key, its signed encoding.
- :mod:`grtmp.cluster.policy`: the takeover rule, the register/refresh decisions, backoff.
- :mod:`grtmp.cluster.directory`: the :class:`~grtmp.cluster.directory.Directory` interface,
  :class:`~grtmp.cluster.directory.Registration` and
  :class:`~grtmp.cluster.directory.CompositeDirectory`.
- :mod:`grtmp.cluster.redisdir`: :class:`~grtmp.cluster.redisdir.RedisDirectory` (``--cluster``).
- :mod:`grtmp.cluster.localdir`: :class:`~grtmp.cluster.localdir.LocalDirectory`
  (``--workers``).
"""
