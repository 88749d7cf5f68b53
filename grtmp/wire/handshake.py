"""The RTMP handshake (RTMP 1.0 section 5.2), server and client side, blocking style.

Pure: takes a ``reader`` with ``read(n) -> bytes`` (fewer bytes only at EOF) and a ``write``
callable; the session passes ``sock.makefile('rb')`` and ``sock.sendall``.

Two flavours exist in the wild:

* **simple** (the published spec): C1/S1 are time, four zero bytes and random data; C2/S2 echo
  the peer's packet.
* **complex** (Flash Player, FFmpeg, OBS via librtmp when asked): C1/S1 carry a non-zero version
  and an HMAC-SHA256 digest placed by one of two layouts (see :mod:`grtmp.formats.handshake`);
  C2/S2 end in a signature keyed by the peer's digest.

The server answers in the flavour the client used. Known trap: FFmpeg *playing* validates the
digest of S1 whenever S1's first version byte is >= 3, so the server never echoes C1 as S1; it
always builds its own S1, with a valid server digest for a complex client and a zero version for
a simple one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from grtmp.errors import HandshakeError
from grtmp.formats.handshake import DIGEST_SIZE, HANDSHAKE_SIZE, RTMP_VERSION, digest_offset

__all__ = [
    "FMS_KEY",
    "FMS_KEY_SHORT",
    "FP_KEY",
    "FP_KEY_SHORT",
    "HandshakeInfo",
    "client_handshake",
    "find_digest",
    "make_digest",
    "server_handshake",
]

_KEY_TAIL = bytes((
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
))
#: Server key prefix (36 bytes): keys the digest of S1.
FMS_KEY_SHORT = b"Genuine Adobe Flash Media Server 001"
#: Full server key (68 bytes): derives the key of the S2 signature.
FMS_KEY = FMS_KEY_SHORT + _KEY_TAIL
#: Client key prefix (30 bytes): keys the digest of C1.
FP_KEY_SHORT = b"Genuine Adobe Flash Player 001"
#: Full client key (62 bytes): derives the key of the C2 signature.
FP_KEY = FP_KEY_SHORT + _KEY_TAIL

#: Version bytes we put in a complex S1 (first byte >= 3 tells FFmpeg to check the digest).
SERVER_VERSION = bytes((13, 14, 10, 13))
#: Version bytes we put in a complex C1 (what FFmpeg sends: 9.0.124.2).
CLIENT_VERSION = bytes((9, 0, 124, 2))

_SIG_DATA = HANDSHAKE_SIZE - DIGEST_SIZE  # 1504 bytes covered by a C2/S2 signature


class Reader(Protocol):
    """What the handshake reads from: ``read(n)`` returns n bytes, fewer only at EOF."""

    def read(self, n: int, /) -> bytes: ...


@dataclass
class HandshakeInfo:
    """What the handshake learnt about the peer.

    ``version`` is the peer's C0/S0 byte, ``complex`` whether its C1/S1 carried a valid digest,
    ``scheme`` the digest layout (0, 1 or ``None``), ``peer_time`` and ``peer_version`` the time
    and the 4 version bytes of its C1/S1, ``c2_ok`` whether its C2/S2 answered our packet
    correctly (``None`` when not checked). A wrong C2 is reported, never refused: many encoders
    send junk there.
    """

    version: int
    complex: bool
    scheme: int | None
    peer_time: int
    peer_version: bytes
    c2_ok: bool | None


# -- digests -------------------------------------------------------------------------------------


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def make_digest(packet: bytes, scheme: int, key: bytes) -> bytes:
    """Return ``packet`` (1536 bytes) with its digest for ``scheme`` computed with ``key``."""
    pos = digest_offset(packet, scheme)
    digest = _hmac(key, packet[:pos] + packet[pos + DIGEST_SIZE:])
    return packet[:pos] + digest + packet[pos + DIGEST_SIZE:]


def find_digest(packet: bytes, key: bytes, schemes: tuple[int, ...] = (0, 1)) -> tuple[int, bytes]:
    """Find a valid digest in a 1536-byte C1/S1; return ``(scheme, digest)``.

    Raises :class:`HandshakeError` when no scheme validates. Comparison is constant-time.
    """
    for scheme in schemes:
        pos = digest_offset(packet, scheme)
        digest = packet[pos:pos + DIGEST_SIZE]
        expected = _hmac(key, packet[:pos] + packet[pos + DIGEST_SIZE:])
        if hmac.compare_digest(digest, expected):
            return scheme, digest
    raise HandshakeError("no valid handshake digest")


def _signature(peer_digest: bytes, full_key: bytes, data: bytes) -> bytes:
    """Signature of a C2/S2: HMAC(HMAC(full_key, peer_digest), data[:1504])."""
    return _hmac(_hmac(full_key, peer_digest), data[:_SIG_DATA])


def _signed(rand: Callable[[int], bytes], peer_digest: bytes, full_key: bytes) -> bytes:
    """A complex C2/S2: 1504 random bytes and their signature."""
    data = _rand(rand, _SIG_DATA)
    return data + _signature(peer_digest, full_key, data)


def _signature_ok(packet: bytes, peer_digest: bytes, full_key: bytes) -> bool:
    return hmac.compare_digest(packet[_SIG_DATA:], _signature(peer_digest, full_key, packet))


# -- I/O helpers ---------------------------------------------------------------------------------


def _rand(rand: Callable[[int], bytes], n: int) -> bytes:
    data = bytes(rand(n))
    if len(data) != n:
        raise ValueError(f"rand({n}) returned {len(data)} bytes")
    return data


def _now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def _read(reader: Reader, n: int, what: str) -> bytes:
    try:
        data = reader.read(n)
    except TimeoutError as exc:  # socket.timeout is TimeoutError
        raise HandshakeError(f"timed out reading {what}") from exc
    except ConnectionError as exc:
        raise HandshakeError(f"connection lost reading {what}: {exc}") from exc
    if data is None:  # non-blocking reader with nothing ready
        raise HandshakeError(f"timed out reading {what} (no data)")
    if len(data) != n:
        raise HandshakeError(f"short read of {what}: {len(data)} of {n} bytes")
    return bytes(data)


def _write(write: Callable[[bytes], object], data: bytes, what: str) -> None:
    try:
        write(data)
    except TimeoutError as exc:
        raise HandshakeError(f"timed out writing {what}") from exc
    except ConnectionError as exc:
        raise HandshakeError(f"connection lost writing {what}: {exc}") from exc


def _read_version(reader: Reader, what: str) -> int:
    version = _read(reader, 1, what)[0]
    if version != RTMP_VERSION:
        # 6 and 8 are RTMPE; anything else is not RTMP at all (often an HTTP request: 'G' = 71).
        raise HandshakeError(f"unsupported {what} version byte {version} (0x{version:02x})")
    return version


def _echo_ok(echo: bytes, ours: bytes) -> bool:
    """Whether a simple C2/S2 echoes our C1/S1 (time and random bytes; time2 is free)."""
    return echo[:4] == ours[:4] and echo[8:] == ours[8:]


# -- server --------------------------------------------------------------------------------------


def server_handshake(
    reader: Reader,
    write: Callable[[bytes], object],
    *,
    rand: Callable[[int], bytes] = os.urandom,
) -> HandshakeInfo:
    """Run the server side: read C0+C1, write S0+S1+S2 in one write, read C2.

    A C1 whose digest validates (client key, either scheme) gets a complex answer: our own S1
    with a server digest in the same scheme and an S2 signed with the client's digest. Any other
    C1 gets a simple answer: S1 with a zero version and S2 echoing C1. Raises
    :class:`HandshakeError` on a C0 other than 3, a short read or a timeout.
    """
    version = _read_version(reader, "C0")
    c1 = _read(reader, HANDSHAKE_SIZE, "C1")
    peer_time = int.from_bytes(c1[:4], "big")
    peer_version = c1[4:8]

    scheme: int | None = None
    client_digest = b""
    try:
        scheme, client_digest = find_digest(c1, FP_KEY_SHORT)
    except HandshakeError:
        scheme = None

    s1_head = _now_ms().to_bytes(4, "big")
    if scheme is not None:
        s1 = make_digest(s1_head + SERVER_VERSION + _rand(rand, HANDSHAKE_SIZE - 8),
                         scheme, FMS_KEY_SHORT)
        s2 = _signed(rand, client_digest, FMS_KEY)
    else:
        s1 = s1_head + bytes(4) + _rand(rand, HANDSHAKE_SIZE - 8)
        s2 = c1  # the spec's echo; librtmp compares all 1536 bytes
    _write(write, bytes((RTMP_VERSION,)) + s1 + s2, "S0+S1+S2")

    c2 = _read(reader, HANDSHAKE_SIZE, "C2")
    if scheme is not None:
        # FFmpeg playing signs C2; clients that skipped the S1 check (FFmpeg publishing) echo S1.
        server_digest = s1[digest_offset(s1, scheme):][:DIGEST_SIZE]
        c2_ok = _signature_ok(c2, server_digest, FP_KEY) or _echo_ok(c2, s1)
    else:
        c2_ok = _echo_ok(c2, s1)
    return HandshakeInfo(version=version, complex=scheme is not None, scheme=scheme,
                         peer_time=peer_time, peer_version=peer_version, c2_ok=c2_ok)


# -- client --------------------------------------------------------------------------------------


def client_handshake(
    reader: Reader,
    write: Callable[[bytes], object],
    *,
    complex: bool = True,
    rand: Callable[[int], bytes] = os.urandom,
    scheme: int = 0,
) -> HandshakeInfo:
    """Run the client side: write C0+C1, read S0+S1+S2, write C2.

    With ``complex`` the C1 carries a client digest (``scheme`` 0, as FFmpeg, or 1) and, like
    FFmpeg playing, an S1 whose first version byte is >= 3 must carry a valid server digest and
    S2 a valid signature, else :class:`HandshakeError`. C2 is then signed with the server
    digest; against a simple server C2 echoes S1. ``info.c2_ok`` reports whether S2 answered our
    C1 correctly.
    """
    head = _now_ms().to_bytes(4, "big")
    if complex:
        c1 = make_digest(head + CLIENT_VERSION + _rand(rand, HANDSHAKE_SIZE - 8),
                         scheme, FP_KEY_SHORT)
    else:
        c1 = head + bytes(4) + _rand(rand, HANDSHAKE_SIZE - 8)
    _write(write, bytes((RTMP_VERSION,)) + c1, "C0+C1")

    version = _read_version(reader, "S0")
    s1 = _read(reader, HANDSHAKE_SIZE, "S1")
    s2 = _read(reader, HANDSHAKE_SIZE, "S2")
    peer_time = int.from_bytes(s1[:4], "big")
    peer_version = s1[4:8]

    server_scheme: int | None = None
    if complex and s1[4] >= 3:
        try:
            server_scheme, server_digest = find_digest(s1, FMS_KEY_SHORT, (scheme, 1 - scheme))
        except HandshakeError:
            raise HandshakeError(
                f"S1 announces version {s1[4]}.{s1[5]}.{s1[6]}.{s1[7]} but has no valid digest"
            ) from None
        client_digest = c1[digest_offset(c1, scheme):][:DIGEST_SIZE]
        if not _signature_ok(s2, client_digest, FMS_KEY):
            raise HandshakeError("S2 signature does not match our C1 digest")
        c2_ok: bool = True
        c2 = _signed(rand, server_digest, FP_KEY)
    else:
        c2_ok = _echo_ok(s2, c1)
        c2 = s1
    _write(write, c2, "C2")
    return HandshakeInfo(version=version, complex=server_scheme is not None, scheme=server_scheme,
                         peer_time=peer_time, peer_version=peer_version, c2_ok=c2_ok)
