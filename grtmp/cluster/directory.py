"""The stream directory: which node (or worker) publishes ``(app, name)``, and where to pull it.

:class:`Directory` is the interface the server uses:

- on publish start: ``reg = directory.register(app, name, url, takeover=rule)`` (raises
  :class:`~grtmp.cluster.entry.TakeoverRefused` when the rule keeps another node's
  publisher); ``reg.touch()`` now and then while media flows (for ``idle:SECONDS``);
- on publish stop: ``reg.close()``;
- on play of a stream that is not local: ``directory.lookup(app, name)`` returns the owner's
  :class:`~grtmp.cluster.entry.Entry` (pull ``entry.url`` once), ``None`` (not live
  anywhere) or raises :class:`~grtmp.cluster.entry.DirectoryUnavailable` at once when the
  store is known to be down (answer ``NetStream.Play.StreamNotFound``);
- on takeover elsewhere: ``directory.on_taken_over(reg, owner)`` is called (in its own
  greenlet) when another node took the name over; drop that publisher.

:class:`StoreDirectory` implements it over a store offering only ``get`` and an atomic
compare-and-set (Redis: :mod:`grtmp.cluster.redisdir`; files: :mod:`grtmp.cluster.localdir`).
One background greenlet refreshes every registration each TTL/3 and, when the store is down,
reconnects with backoff and then registers every live local stream again. Every decision
about what to write is :func:`grtmp.cluster.policy.decide`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

import gevent
from gevent.event import Event
from gevent.lock import BoundedSemaphore, Semaphore
from gevent.pool import Group

from grtmp.cluster.entry import (
    DirectoryError,
    DirectoryUnavailable,
    Entry,
    EntryError,
    TakeoverRefused,
    decode,
    encode,
    key,
)
from grtmp.cluster.policy import ALWAYS, Backoff, Lost, Refused, Takeover, Write, decide

log = logging.getLogger("grtmp.cluster")

#: The issue's bound on the liveness TTL (SRS's 300 s is a known failure mode).
MAX_TTL = 10.0

TakenOver = Callable[["Registration", Entry | None], None]

_LIVE = ("pending", "active")


class Registration:
    """One local publisher of ``(app, name)`` as known to a directory.

    ``state`` is ``pending`` (not written to the store yet: the store is down, or the write
    is in progress), ``active`` (written, refreshed), ``lost`` (another node took the name
    over), ``replaced`` (a newer local registration of the same name), or ``closed``.
    """

    def __init__(self, directory: Directory, app: str, name: str, url: str,
                 takeover: Takeover, started: float) -> None:
        self.directory = directory
        self.app = app
        self.name = name
        self.url = url
        self.takeover = takeover
        self.started = started
        #: Last publisher activity (Unix seconds), reported to the store on each refresh.
        self.active = started
        #: Epoch written to the store (None while pending).
        self.epoch: int | None = None
        self._state = "pending"
        self._value: bytes | None = None  # the stored value we wrote last
        self._lock = Semaphore()  # one store update of this registration at a time

    @property
    def state(self) -> str:
        return self._state

    @property
    def live(self) -> bool:
        """Whether this registration still stands for a local publisher."""
        return self.state in _LIVE

    def touch(self, when: float | None = None) -> None:
        """Mark publisher activity (cheap: no I/O; sent with the next refresh)."""
        self.active = time.time() if when is None else when

    def close(self) -> None:
        """Unregister (publish stopped). Idempotent."""
        self.directory.unregister(self)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.app!r}/{self.name!r} {self.state}"
                f" epoch={self.epoch}>")


class Directory(ABC):
    """Where live streams are: register local publishers, look up remote ones."""

    node_id: str
    #: Called as ``on_taken_over(registration, owner)`` in a new greenlet when another node
    #: (or worker) took the name over; ``owner`` is its entry, or None if it already left.
    on_taken_over: TakenOver | None = None

    @abstractmethod
    def register(self, app: str, name: str, url: str, *, takeover: Takeover = ALWAYS,
                 started: float | None = None) -> Registration:
        """Announce that ``(app, name)`` is published here and can be pulled from ``url``."""

    @abstractmethod
    def unregister(self, registration: Registration) -> None:
        """Withdraw a registration (publish stopped); a no-op if it is no longer ours."""

    @abstractmethod
    def lookup(self, app: str, name: str) -> Entry | None:
        """The live owner of ``(app, name)`` elsewhere, or None; may raise DirectoryUnavailable."""

    @property
    @abstractmethod
    def available(self) -> bool:
        """False while the store is known to be unreachable (lookups fail at once)."""

    @abstractmethod
    def close(self, unregister: bool = True) -> None:
        """Stop background work; withdraw every registration first when ``unregister``."""

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store(Protocol):
    """What :class:`StoreDirectory` needs from a store. Failures raise DirectoryUnavailable."""

    def get(self, k: str, timeout: float) -> bytes | None: ...

    def cas(self, k: str, expected: bytes | None, new: bytes, ttl: float,
            timeout: float) -> tuple[bool, bytes | None]:
        """Set ``k`` to ``new`` for ``ttl`` seconds if it holds ``expected`` (None: absent).

        Returns ``(True, None)`` when written, else ``(False, current value)``.
        """
        ...

    def ping(self, timeout: float) -> None: ...

    def close(self) -> None: ...


class StoreDirectory(Directory):
    """A :class:`Directory` over a :class:`Store`, with signed entries and a refresher.

    ``ttl`` (at most 10 s) is the lifetime of an entry that is not refreshed: a node that dies
    is forgotten within ``ttl``. Registrations are refreshed every ``ttl / 3``. Store calls of
    ``register``/``unregister``/refresh are bounded by ``op_timeout``, of ``lookup`` by
    ``lookup_timeout``; any failure marks the store down (lookups then raise at once) until
    the refresher reaches it again, retrying with :class:`~grtmp.cluster.policy.Backoff`.
    """

    def __init__(self, store: Store, secret: bytes | str, node_id: str, *,
                 ttl: float = MAX_TTL, prefix: str = "grtmp", op_timeout: float = 1.0,
                 lookup_timeout: float = 0.5, backoff: Backoff | None = None,
                 skew: float = 5.0, max_lookups: int = 64,
                 on_taken_over: TakenOver | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 < ttl <= MAX_TTL:
            raise ValueError(f"ttl must be in (0, {MAX_TTL}] seconds")
        if not node_id or not isinstance(node_id, str):
            raise ValueError("node_id must be a non-empty string")
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not self.secret:
            raise ValueError("the directory secret must not be empty")
        self.node_id = node_id
        self.ttl = ttl
        self.prefix = prefix
        self.op_timeout = op_timeout
        self.lookup_timeout = lookup_timeout
        self.skew = skew
        self.on_taken_over = on_taken_over
        self._store = store
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._regs: dict[str, Registration] = {}
        self._lookups = BoundedSemaphore(max_lookups)
        self._up = True
        self._closed = False
        self._wake = Event()
        self._callbacks = Group()
        self._runner = gevent.spawn(self._run)

    # -- public API ---------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self._up and not self._closed

    def registrations(self) -> list[Registration]:
        """The live local registrations."""
        return list(self._regs.values())

    def register(self, app: str, name: str, url: str, *, takeover: Takeover = ALWAYS,
                 started: float | None = None) -> Registration:
        """Register a local publisher; returns at once if the store is down (``pending``).

        Waits at most ``op_timeout`` for the store. Raises TakeoverRefused when ``takeover``
        protects another node's live publisher, EntryError for an invalid app/name/url,
        DirectoryError once closed. A registration still pending when the store comes back
        is written then; if the rule refuses it at that point, ``on_taken_over`` fires.
        """
        if self._closed:
            raise DirectoryError("directory closed")
        now = self._clock()
        reg = Registration(self, app, name, url, takeover, now if started is None else started)
        self._entry(reg, 0, now)  # validates app, name, url (EntryError)
        k = self._key(reg)
        old = self._regs.get(k)
        if old is not None:
            old._state = "replaced"
        self._regs[k] = reg
        if self._up:
            try:
                self._apply(reg, first=True)
            except DirectoryUnavailable as exc:
                self._mark_down(exc)
            except BaseException:
                # Refused, or the caller was killed or timed out mid-call: no publisher
                # stands behind this registration, so forget it (a write that landed
                # expires within ttl, never refreshed).
                reg._state = "closed"
                if self._regs.get(k) is reg:
                    del self._regs[k]
                raise
        return reg

    def unregister(self, registration: Registration) -> None:
        """Withdraw ``registration``: leave a tombstone if the store still holds our entry."""
        reg = registration
        k = self._key(reg)
        if self._regs.get(k) is reg:
            del self._regs[k]
        was = reg._state
        if was in _LIVE:
            reg._state = "closed"
        if was != "active" or not self.available:
            return  # never written, lost, or store down: the entry expires within ttl
        if not reg._lock.acquire(timeout=self.op_timeout):
            return
        try:
            now = self._clock()
            assert reg.epoch is not None
            tomb = encode(self._entry(reg, reg.epoch, now, live=False), self.secret, self.prefix)
            raw = self._store.get(k, self.op_timeout)
            for _ in range(3):
                cur = self._verify(k, raw, now)
                if cur is None or cur.node != self.node_id or cur.epoch != reg.epoch:
                    return  # expired, or another registration's: not ours to withdraw
                ok, raw = self._store.cas(k, raw, tomb, self.ttl, self.op_timeout)
                if ok:
                    return
        except DirectoryUnavailable as exc:
            self._mark_down(exc)
        finally:
            reg._lock.release()

    def lookup(self, app: str, name: str) -> Entry | None:
        """The live entry of ``(app, name)`` owned by another node, or None.

        Raises DirectoryUnavailable at once when the store is known to be down, or after at
        most ``lookup_timeout`` when it does not answer (and marks it down).
        """
        if self._closed:
            raise DirectoryUnavailable("directory closed")
        k = key(self.prefix, app, name)
        if not self._up:
            raise DirectoryUnavailable("directory store unreachable")
        if not self._lookups.acquire(timeout=0):
            raise DirectoryUnavailable("too many directory lookups in flight")
        try:
            raw = self._store.get(k, self.lookup_timeout)
        except DirectoryUnavailable as exc:
            self._mark_down(exc)
            raise
        finally:
            self._lookups.release()
        entry = self._verify(k, raw, self._clock())
        if entry is None or not entry.live or entry.node == self.node_id:
            # Our own entry: the stream is local (or was, in an earlier run of this node);
            # never send a play to pull from ourselves.
            return None
        return entry

    def close(self, unregister: bool = True) -> None:
        if self._closed:
            return
        if unregister:
            for reg in list(self._regs.values()):
                self.unregister(reg)
        self._closed = True
        self._wake.set()
        self._runner.join(timeout=self.op_timeout + 1)
        self._runner.kill(block=True, timeout=1)
        self._callbacks.join(timeout=1)
        self._callbacks.kill(block=True, timeout=1)
        self._store.close()

    # -- internals ----------------------------------------------------------------------
    def _key(self, reg: Registration) -> str:
        return key(self.prefix, reg.app, reg.name)

    def _entry(self, reg: Registration, epoch: int, now: float, live: bool = True) -> Entry:
        return Entry(app=reg.app, name=reg.name, node=self.node_id, url=reg.url,
                     started=reg.started, epoch=epoch, expires=now + self.ttl,
                     active=min(reg.active, now), live=live)

    def _verify(self, k: str, raw: bytes | None, now: float) -> Entry | None:
        if raw is None:
            return None
        try:
            return decode(self.prefix, k, raw, self.secret, now=now, skew=self.skew)
        except EntryError as exc:
            log.warning("ignoring directory entry %r: %s", k, exc)
            return None

    def _apply(self, reg: Registration, first: bool = False) -> None:
        """Write or refresh ``reg`` in the store, or learn that it was taken over."""
        if not reg._lock.acquire(timeout=self.op_timeout):
            return  # another call is writing it; the next refresh catches up
        try:
            k = self._key(reg)
            now = self._clock()
            raw: bytes | None
            if reg.epoch is not None and reg._state == "active":
                # Fast path: one round trip while the store still holds what we wrote.
                new = encode(self._entry(reg, reg.epoch, now), self.secret, self.prefix)
                ok, raw = self._store.cas(k, reg._value, new, self.ttl, self.op_timeout)
                if ok:
                    reg._value = new
                    return
            else:
                raw = self._store.get(k, self.op_timeout)
            for _ in range(3):
                if not reg.live:
                    return
                decision = decide(self.node_id, reg.epoch, reg.takeover,
                                  self._verify(k, raw, now), now)
                if isinstance(decision, Refused):
                    if first:
                        raise TakeoverRefused(
                            f"{reg.app}/{reg.name} is live on {decision.owner.node}",
                            decision.owner)
                    self._lose(reg, decision.owner)
                    return
                if isinstance(decision, Lost):
                    self._lose(reg, decision.owner)
                    return
                assert isinstance(decision, Write)
                new = encode(self._entry(reg, decision.epoch, now), self.secret, self.prefix)
                ok, raw = self._store.cas(k, raw, new, self.ttl, self.op_timeout)
                if ok:
                    if reg.live:
                        reg.epoch = decision.epoch
                        reg._value = new
                        reg._state = "active"
                    return
            log.warning("directory entry %r changed three times during one update", k)
        finally:
            reg._lock.release()

    def _lose(self, reg: Registration, owner: Entry | None) -> None:
        if not reg.live:
            return
        reg._state = "lost"
        k = self._key(reg)
        if self._regs.get(k) is reg:
            del self._regs[k]
        log.info("stream %r/%r taken over by %s", reg.app, reg.name,
                 owner.node if owner else "a publisher that already left")
        if self.on_taken_over is not None:
            self._callbacks.spawn(self._fire, self.on_taken_over, reg, owner)

    @staticmethod
    def _fire(callback: TakenOver, reg: Registration, owner: Entry | None) -> None:
        try:
            callback(reg, owner)
        except Exception:
            log.exception("on_taken_over callback failed for %r/%r", reg.app, reg.name)

    def _mark_down(self, exc: BaseException) -> None:
        if self._up and not self._closed:
            log.warning("stream directory unavailable: %s", exc)
            self._up = False
            self._wake.set()

    def _run(self) -> None:
        """The one background greenlet: refresh every TTL/3; reconnect with backoff."""
        interval = self.ttl / 3
        deadline = time.monotonic() + interval
        while not self._closed:
            if self._up:
                self._wake.wait(timeout=max(0.0, deadline - time.monotonic()))
                self._wake.clear()
                if self._closed or not self._up:
                    continue
                if time.monotonic() < deadline:
                    continue
                deadline = time.monotonic() + interval
                self._refresh_all()
            else:
                self._wake.wait(timeout=self._backoff.next())
                self._wake.clear()
                if self._closed:
                    break
                try:
                    self._store.ping(self.op_timeout)
                except DirectoryUnavailable as exc:
                    log.debug("stream directory still unavailable: %s", exc)
                    continue
                log.info("stream directory reachable again after %d attempts; "
                         "registering %d streams", self._backoff.attempts, len(self._regs))
                self._backoff.reset()
                self._up = True
                deadline = time.monotonic() + interval
                self._refresh_all()

    def _refresh_all(self) -> None:
        for reg in list(self._regs.values()):
            if self._closed or not self._up:
                return
            try:
                self._apply(reg)
            except DirectoryUnavailable as exc:
                self._mark_down(exc)
                return
            except DirectoryError as exc:  # pragma: no cover - defensive
                log.warning("refreshing %r/%r failed: %s", reg.app, reg.name, exc)


class CompositeDirectory(Directory):
    """Workers of one machine register locally and, with ``--cluster``, in Redis too.

    The rule: ``register`` writes both (the cluster may refuse by the takeover rule, then the
    local registration is withdrawn); ``lookup`` asks the local directory first (a sibling
    worker: the cheapest pull) and then the cluster; losing the name in either directory
    loses it in both and fires ``on_taken_over`` once.
    """

    def __init__(self, local: Directory, cluster: Directory, *,
                 on_taken_over: TakenOver | None = None) -> None:
        self.local = local
        self.cluster = cluster
        self.node_id = cluster.node_id
        self.on_taken_over = on_taken_over
        self._parents: dict[int, CompositeRegistration] = {}
        self._callbacks = Group()
        local.on_taken_over = self._child_lost
        cluster.on_taken_over = self._child_lost

    @property
    def available(self) -> bool:
        return self.local.available and self.cluster.available

    def register(self, app: str, name: str, url: str, *, takeover: Takeover = ALWAYS,
                 started: float | None = None) -> CompositeRegistration:
        started = time.time() if started is None else started
        lreg = self.local.register(app, name, url, takeover=takeover, started=started)
        try:
            creg = self.cluster.register(app, name, url, takeover=takeover, started=started)
        except BaseException:
            lreg.close()
            raise
        reg = CompositeRegistration(self, lreg, creg)
        self._parents[id(lreg)] = self._parents[id(creg)] = reg
        return reg

    def unregister(self, registration: Registration) -> None:
        assert isinstance(registration, CompositeRegistration)
        if registration._state in _LIVE:
            registration._state = "closed"
        self._forget(registration)
        registration.local.close()
        registration.cluster.close()

    def lookup(self, app: str, name: str) -> Entry | None:
        entry = self.local.lookup(app, name)
        return entry if entry is not None else self.cluster.lookup(app, name)

    def close(self, unregister: bool = True) -> None:
        self.local.close(unregister)
        self.cluster.close(unregister)
        self._callbacks.join(timeout=1)
        self._callbacks.kill(block=True, timeout=1)

    def _forget(self, reg: CompositeRegistration) -> None:
        self._parents.pop(id(reg.local), None)
        self._parents.pop(id(reg.cluster), None)

    def _child_lost(self, child: Registration, owner: Entry | None) -> None:
        reg = self._parents.get(id(child))
        if reg is None or reg._state not in _LIVE:
            return
        reg._state = "lost"
        self._forget(reg)
        (reg.cluster if child is reg.local else reg.local).close()
        if self.on_taken_over is not None:
            StoreDirectory._fire(self.on_taken_over, reg, owner)


class CompositeRegistration(Registration):
    """A registration in both directories of a :class:`CompositeDirectory`."""

    def __init__(self, directory: CompositeDirectory, local: Registration,
                 cluster: Registration) -> None:
        super().__init__(directory, local.app, local.name, local.url, local.takeover,
                         local.started)
        self.local = local
        self.cluster = cluster
        self.epoch = cluster.epoch
        self._state = "active" if cluster.state == "active" else "pending"

    @property
    def state(self) -> str:
        if self._state in _LIVE:
            return "active" if self.cluster.state == "active" else "pending"
        return self._state

    def touch(self, when: float | None = None) -> None:
        self.local.touch(when)
        self.cluster.touch(when)
