"""A stream directory entry: its key, its compact encoding and its HMAC signature (pure).

An entry says that ``(app, name)`` is live on node ``node`` and can be pulled from ``url`` (the
owner's internal RTMP URL). It is stored under :func:`key` as ``SIG "." PAYLOAD`` where

- ``PAYLOAD`` is the compact JSON array
  ``[1, node, url, started_ms, epoch, expires_ms, active_ms, live]`` (UTF-8), and
- ``SIG`` is base64url (no padding) of ``HMAC-SHA256(secret, DOMAIN + key + "\\n" + PAYLOAD)``.

The key is inside the MAC, so a valid value copied to another key does not verify: a client
that can write to the store but lacks the secret can delete entries (denial of service, which
write access allows anyway) but cannot make a node pull a stream from a URL of its choosing.
The signed ``expires`` bounds how long a captured value can be replayed. ``live = 0`` marks a
tombstone: the owner unpublished; it keeps the epoch visible for one TTL so an old owner that
was taken over learns it even if the new owner already left.

Verification failures raise :class:`EntryError`; the directory logs them and treats the entry
as absent. Nothing here imports gevent or does I/O; time is passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote, unquote

from grtmp.errors import RTMPError

#: Version of the payload layout (first element of the JSON array).
VERSION = 1
#: Domain separation for the MAC, so the secret cannot be abused to sign anything else.
DOMAIN = b"grtmp-directory-v1\n"
#: Bounds on what we accept from the store (the store is not trusted).
MAX_VALUE = 4096
MAX_FIELD = 1024
MAX_MS = 2**53
_SIG_LEN = 43  # base64url of 32 bytes, no padding


class DirectoryError(RTMPError):
    """Root of the stream-directory errors."""


class EntryError(DirectoryError):
    """A stored entry is unsigned, wrongly signed, malformed or expired: treat it as absent."""


class DirectoryUnavailable(DirectoryError):
    """The directory's store cannot be reached now (down, slow, or closed).

    A play of a non-local stream answers ``NetStream.Play.StreamNotFound`` at once.
    """


class TakeoverRefused(DirectoryError):
    """The takeover rule forbids publishing a name that is live on another node."""

    def __init__(self, message: str, owner: Entry) -> None:
        super().__init__(message)
        self.owner = owner


@dataclass(frozen=True)
class Entry:
    """Who publishes ``(app, name)``: owner node, internal URL, start time and epoch.

    Times are Unix seconds (wall clock, shared across machines). ``epoch`` grows with every
    (re)registration of the name by a new publisher, cluster-wide: the later owner has the
    larger epoch. ``active`` is the owner's last reported publisher activity (for the
    ``idle:SECONDS`` takeover rule).
    """

    app: str
    name: str
    node: str
    url: str
    started: float
    epoch: int
    expires: float
    active: float
    live: bool = True

    def __post_init__(self) -> None:
        _check_text("app", self.app, allow_empty=True)
        _check_text("name", self.name, allow_empty=False)
        _check_text("node", self.node, allow_empty=False)
        _check_text("url", self.url, allow_empty=False)
        if not self.url.startswith(("rtmp://", "rtmps://")):
            raise EntryError(f"url is not rtmp:// or rtmps://: {self.url!r}")
        for field in ("started", "expires", "active"):
            v = getattr(self, field)
            if not 0 <= v * 1000 < MAX_MS:
                raise EntryError(f"{field} out of range: {v!r}")
        if not 0 <= self.epoch < MAX_MS:
            raise EntryError(f"epoch out of range: {self.epoch!r}")

    def expired(self, now: float, skew: float = 0.0) -> bool:
        """Whether the signed expiry (plus the allowed clock ``skew``) has passed."""
        return now > self.expires + skew


def _check_text(what: str, value: object, *, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise EntryError(f"{what} is not a string")
    if not value and not allow_empty:
        raise EntryError(f"{what} is empty")
    if len(value) > MAX_FIELD:
        raise EntryError(f"{what} longer than {MAX_FIELD}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EntryError(f"{what} is not valid Unicode") from None


def key(prefix: str, app: str, name: str) -> str:
    """The store key of ``(app, name)``: ``PREFIX:stream:APP/NAME``, both parts %-escaped.

    ``quote(..., safe="")`` escapes ``/``, ``:``, ``%``, whitespace, control characters and
    non-ASCII, so the key is ASCII and ``app``/``name`` cannot collide (``a/b`` + ``c`` vs
    ``a`` + ``b/c``) or break the key space.
    """
    _check_text("app", app, allow_empty=True)
    _check_text("name", name, allow_empty=False)
    return f"{prefix}:stream:{quote(app, safe='')}/{quote(name, safe='')}"


def parse_key(prefix: str, k: str) -> tuple[str, str]:
    """Inverse of :func:`key`; raises :class:`EntryError` for a key outside ``prefix``."""
    head = f"{prefix}:stream:"
    if not k.startswith(head) or k.count("/", len(head)) != 1:
        raise EntryError(f"not a stream key: {k!r}")
    app, _, name = k[len(head):].partition("/")
    try:
        return unquote(app, errors="strict"), unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise EntryError(f"stream key is not UTF-8: {k!r}") from None


def _mac(secret: bytes, k: str, payload: bytes) -> bytes:
    return hmac.new(secret, DOMAIN + k.encode("ascii") + b"\n" + payload, hashlib.sha256).digest()


def _ms(t: float) -> int:
    return int(round(t * 1000))


def encode(entry: Entry, secret: bytes, prefix: str) -> bytes:
    """The signed stored value of ``entry`` (see the module docstring for the layout)."""
    k = key(prefix, entry.app, entry.name)
    payload = json.dumps(
        [VERSION, entry.node, entry.url, _ms(entry.started), entry.epoch, _ms(entry.expires),
         _ms(entry.active), 1 if entry.live else 0],
        separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    sig = base64.urlsafe_b64encode(_mac(secret, k, payload)).rstrip(b"=")
    return sig + b"." + payload


def decode(prefix: str, k: str, value: bytes, secret: bytes, *, now: float | None = None,
           skew: float = 5.0) -> Entry:
    """Verify and parse the stored ``value`` of key ``k``.

    Raises :class:`EntryError` when the value is too long, unsigned, wrongly signed (wrong
    secret, tampered payload, or moved from another key), malformed, or, when ``now`` is
    given, expired by more than ``skew`` seconds (clocks of nodes differ a little).
    """
    if not isinstance(value, bytes | bytearray):
        raise EntryError("value is not bytes")
    if len(value) > MAX_VALUE:
        raise EntryError(f"value longer than {MAX_VALUE} bytes")
    sig, dot, payload = bytes(value).partition(b".")
    if not dot or len(sig) != _SIG_LEN:
        raise EntryError("value is not signed")
    try:
        mac = base64.b64decode(sig + b"=", altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise EntryError("signature is not base64url") from None
    if base64.urlsafe_b64encode(mac).rstrip(b"=") != sig:
        # One spelling per MAC (no "+" or "/", no stray low bits), so equal entries are
        # equal bytes, as the store's compare-and-set needs.
        raise EntryError("signature is not canonical base64url")
    app, name = parse_key(prefix, k)
    if not hmac.compare_digest(mac, _mac(secret, k, payload)):
        raise EntryError("bad signature (wrong secret or tampered entry)")
    # Signed by a holder of the secret: still parse defensively (a buggy or older node).
    try:
        fields = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EntryError("payload is not JSON") from None
    if not isinstance(fields, list) or len(fields) != 8 or fields[0] != VERSION:
        raise EntryError("payload has an unknown layout")
    _, node, url, started, epoch, expires, active, live = fields
    ints = (started, epoch, expires, active)
    if not all(type(i) is int for i in ints) or live not in (0, 1) or type(live) is not int:
        raise EntryError("payload has fields of the wrong type")
    entry = Entry(app=app, name=name, node=node, url=url, started=started / 1000, epoch=epoch,
                  expires=expires / 1000, active=active / 1000, live=bool(live))
    if now is not None and entry.expired(now, skew):
        raise EntryError("entry expired")
    return entry
