"""The directory of the worker processes of one ``grtmp-server --workers N``.

Why files: the workers share one machine, so the simplest store every process can read
without a broker is a directory of small files under a private runtime dir (mode 0700). Each
key is one file holding ``PID DEADLINE\\n`` + the signed entry; it is replaced atomically
(write a temporary file, ``os.replace``), so a reader sees the old or the new entry, never
half of one. Compare-and-set takes an exclusive ``flock`` on the directory's lock file,
tried without blocking and retried cooperatively, so a worker never blocks the hub on
another. Liveness is double: ``DEADLINE`` (``CLOCK_MONOTONIC``, shared by the processes of a
Linux machine) gives the TTL, and the writer's PID makes a crashed worker's streams
disappear at once. A directory served by the parent over a unix socket would need a server
in the parent and a protocol; files need neither and survive the parent's restart of a
worker.

The same entry format, HMAC included, is used as in Redis (one code path; the secret is a
random file in the runtime dir created by :func:`prepare_runtime_dir`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent

from grtmp.cluster.directory import MAX_TTL, StoreDirectory, TakenOver
from grtmp.cluster.entry import MAX_VALUE, DirectoryUnavailable

SECRET_FILE = "secret"
LOCK_FILE = "lock"
_counter = itertools.count()


def prepare_runtime_dir(path: str | None = None) -> str:
    """Create (mode 0700) the runtime dir shared by the workers, with a random secret.

    Called once by the parent before it starts the workers; with ``path=None`` a new
    temporary directory is made. Returns the path to give to each worker's
    :class:`LocalDirectory`. The parent removes it when it exits.
    """
    if path is None:
        path = tempfile.mkdtemp(prefix="grtmp-workers-")
    else:
        os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    _load_or_create_secret(path)
    return path


def _load_or_create_secret(path: str) -> bytes:
    file = os.path.join(path, SECRET_FILE)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    with open(file, "rb") as f:
        secret = f.read()
    if len(secret) != 32:
        raise DirectoryUnavailable(f"bad directory secret file {file!r}")
    return secret


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux ``/proc``, else kill 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


class FileStore:
    """The :class:`~grtmp.cluster.directory.Store` over a directory of files (see above)."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not os.path.isdir(path):
            raise DirectoryUnavailable(f"runtime dir {path!r} does not exist")
        self.path = path
        self._clock = clock
        self._lock_fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)

    def _file(self, k: str) -> str:
        return os.path.join(self.path, hashlib.sha256(k.encode()).hexdigest()[:32] + ".entry")

    def _read(self, file: str) -> bytes | None:
        try:
            with open(file, "rb") as f:
                data = f.read(MAX_VALUE + 64)
        except FileNotFoundError:
            return None
        head, nl, value = data.partition(b"\n")
        try:
            pid_text, deadline_text = head.split(b" ")
            pid, deadline = int(pid_text), float(deadline_text)
        except ValueError:
            return value or None  # not ours: let verification reject it (and log it)
        if self._clock() > deadline or not pid_alive(pid):
            return None
        return value

    @contextlib.contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        """The exclusive lock, acquired without ever blocking the hub (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise DirectoryUnavailable(f"runtime dir lock: {exc}") from exc
                if time.monotonic() > deadline:
                    raise DirectoryUnavailable("runtime dir lock busy") from None
                gevent.sleep(0.001)
        try:
            # No greenlet switch from here to the unlock: the section is atomic in-process
            # too (flock on one shared descriptor would not exclude our own greenlets).
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def get(self, k: str, timeout: float) -> bytes | None:
        try:
            return self._read(self._file(k))
        except OSError as exc:
            raise DirectoryUnavailable(f"runtime dir: {exc}") from exc

    def cas(self, k: str, expected: bytes | None, new: bytes, ttl: float,
            timeout: float) -> tuple[bool, bytes | None]:
        file = self._file(k)
        try:
            with self._locked(timeout):
                current = self._read(file)
                if current != expected:
                    return False, current
                tmp = f"{file}.{os.getpid()}.{next(_counter)}.tmp"
                with open(tmp, "wb") as f:
                    f.write(b"%d %.6f\n" % (os.getpid(), self._clock() + ttl) + new)
                os.replace(tmp, file)
                return True, None
        except OSError as exc:
            raise DirectoryUnavailable(f"runtime dir: {exc}") from exc

    def ping(self, timeout: float) -> None:
        if not os.path.isdir(self.path):
            raise DirectoryUnavailable(f"runtime dir {self.path!r} is gone")

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class LocalDirectory(StoreDirectory):
    """The directory shared by the worker processes of one machine.

    ``LocalDirectory(path, node_id)``: ``path`` from :func:`prepare_runtime_dir` (made by the
    parent), ``node_id`` this worker's unique name (for example ``worker-3``). Same interface
    and semantics as :class:`~grtmp.cluster.redisdir.RedisDirectory`, with the store on
    local files; a worker that dies is forgotten at once (its PID is gone).
    """

    def __init__(self, path: str, node_id: str, *, ttl: float = MAX_TTL,
                 prefix: str = "grtmp", op_timeout: float = 1.0,
                 on_taken_over: TakenOver | None = None, **kwargs: Any) -> None:
        secret = _load_or_create_secret(path)
        super().__init__(FileStore(path), secret, node_id, ttl=ttl, prefix=prefix,
                         op_timeout=op_timeout, lookup_timeout=op_timeout,
                         on_taken_over=on_taken_over, **kwargs)
        self.path = path
