"""RTMP handshake: simple and complex (digest), server and client side (RTMP 1.0 section 5.2)."""

from __future__ import annotations

import hashlib
import hmac
import io
import random
import socket
import threading

import pytest

from grtmp.errors import HandshakeError
from grtmp.formats import handshake as fmt
from grtmp.wire.handshake import (
    FMS_KEY,
    FMS_KEY_SHORT,
    FP_KEY,
    FP_KEY_SHORT,
    HandshakeInfo,
    client_handshake,
    make_digest,
    server_handshake,
)

# Independent spellings of the keys (the well-known constants), to check the module's.
KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")


def test_keys():
    assert FMS_KEY_SHORT == b"Genuine Adobe Flash Media Server 001" and len(FMS_KEY_SHORT) == 36
    assert FP_KEY_SHORT == b"Genuine Adobe Flash Player 001" and len(FP_KEY_SHORT) == 30
    assert FMS_KEY == FMS_KEY_SHORT + KEY_TAIL and len(FMS_KEY) == 68
    assert FP_KEY == FP_KEY_SHORT + KEY_TAIL and len(FP_KEY) == 62


# -- an independent reading of the digest layout, used to check what the module produces ---------


def spec_digest_pos(packet: bytes, scheme: int) -> int:
    base = 8 if scheme == 0 else 772
    return sum(packet[base:base + 4]) % 728 + base + 4


def digest_valid(packet: bytes, scheme: int, key: bytes) -> bool:
    pos = spec_digest_pos(packet, scheme)
    mac = hmac.new(key, packet[:pos] + packet[pos + 32:], hashlib.sha256).digest()
    return mac == packet[pos:pos + 32]


def signature_valid(packet: bytes, peer_digest: bytes, full_key: bytes) -> bool:
    key = hmac.new(full_key, peer_digest, hashlib.sha256).digest()
    return hmac.new(key, packet[:1504], hashlib.sha256).digest() == packet[1504:]


def seeded(seed: int):
    rng = random.Random(seed)
    return rng.randbytes


# -- formats ---------------------------------------------------------------------------------------


def test_digest_offset_vectors():
    packet = bytearray(1536)
    packet[8:12] = b"\x01\x02\x03\x04"  # 10 % 728 + 12
    packet[772:776] = b"\xff\xff\xff\xff"  # 1020 % 728 + 776
    assert fmt.digest_offset(bytes(packet), 0) == 22
    assert fmt.digest_offset(bytes(packet), 1) == 292 + 776


@pytest.mark.parametrize("seed", range(20))
def test_digest_views_agree_with_offsets(seed):
    packet = random.Random(seed).randbytes(1536)
    for scheme, view in fmt.C1S1_SCHEMES.items():
        parsed = view.parse(packet)
        pos = fmt.digest_offset(packet, scheme)
        assert pos == spec_digest_pos(packet, scheme)
        assert parsed.digest_block.digest == packet[pos:pos + 32]
        assert parsed.time == int.from_bytes(packet[:4], "big")
        assert parsed.version == packet[4:8]
        assert view.build(parsed) == packet
    plain = fmt.C1S1.parse(packet)
    assert plain.zero == packet[4:8] and plain.random_bytes == packet[8:]
    assert fmt.C2S2.build(fmt.C2S2.parse(packet)) == packet


# -- client against server over a socket pair ------------------------------------------------------


def run_pair(client_kwargs=None, server_kwargs=None):
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    result: dict = {}

    def serve():
        try:
            result["server"] = server_handshake(a.makefile("rb"), a.sendall,
                                                **(server_kwargs or {}))
        except Exception as exc:  # reported to the main thread
            result["server_error"] = exc

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        client = client_handshake(b.makefile("rb"), b.sendall, **(client_kwargs or {}))
    finally:
        t.join(5)
        a.close()
        b.close()
    assert not t.is_alive()
    if "server_error" in result:
        raise result["server_error"]
    return client, result["server"]


@pytest.mark.parametrize("scheme", [0, 1])
def test_complex_pair(scheme):
    client, server = run_pair({"complex": True, "scheme": scheme})
    assert server.version == 3 and server.complex and server.scheme == scheme
    assert server.peer_version == bytes((9, 0, 124, 2))
    assert server.c2_ok is True  # our client signs C2 with the server digest
    assert client.complex and client.scheme == scheme and client.c2_ok is True
    assert client.peer_version[0] >= 3


def test_simple_pair():
    client, server = run_pair({"complex": False})
    assert server == HandshakeInfo(version=3, complex=False, scheme=None,
                                   peer_time=server.peer_time, peer_version=bytes(4), c2_ok=True)
    assert client.complex is False and client.peer_version == bytes(4) and client.c2_ok is True


# -- the server, scripted byte by byte -------------------------------------------------------------


class Script:
    """A reader that serves ``data`` and a write that records each call."""

    def __init__(self, data: bytes):
        self.reader = io.BytesIO(data)
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))


def complex_c1(scheme: int, seed: int = 1, key: bytes = FP_KEY_SHORT) -> bytes:
    raw = (1234).to_bytes(4, "big") + bytes((9, 0, 124, 2)) + random.Random(seed).randbytes(1528)
    return make_digest(raw, scheme, key)


@pytest.mark.parametrize("scheme", [0, 1])
def test_server_complex_answer_is_verifiable(scheme):
    c1 = complex_c1(scheme)
    assert digest_valid(c1, scheme, FP_KEY_SHORT)
    s = Script(b"\x03" + c1 + bytes(1536))
    info = server_handshake(s.reader, s.write, rand=seeded(7))
    assert len(s.writes) == 1 and len(s.writes[0]) == 1 + 2 * 1536  # S0+S1+S2 in one write
    out = s.writes[0]
    s0, s1, s2 = out[0], out[1:1537], out[1537:]
    assert s0 == 3
    assert s1 != c1  # never echo C1 as S1
    assert s1[4] >= 3  # so FFmpeg checks the digest, which must then be valid
    # S1 digest verifiable with the 36-byte FMS key, in the client's scheme
    assert digest_valid(s1, scheme, FMS_KEY_SHORT)
    # S2 signature verifiable as the client does it: keyed by HMAC(68-byte FMS key, C1 digest)
    pos = spec_digest_pos(c1, scheme)
    assert signature_valid(s2, c1[pos:pos + 32], FMS_KEY)
    assert info.complex and info.scheme == scheme
    assert info.peer_time == 1234 and info.peer_version == bytes((9, 0, 124, 2))
    assert info.c2_ok is False  # all-zero C2: reported, not refused


def test_server_complex_accepts_signed_or_echoed_c2():
    c1 = complex_c1(0)

    class Replay:
        """Serves C0+C1, then a C2 computed from the S1 just written."""

        def __init__(self, make_c2):
            self.buf = io.BytesIO(b"\x03" + c1)
            self.make_c2 = make_c2
            self.s1 = b""

        def read(self, n):
            data = self.buf.read(n)
            if not data and n == 1536:
                return self.make_c2(self.s1)
            return data

        def write(self, data):
            self.s1 = data[1:1537]

    def signed(s1):
        pos = spec_digest_pos(s1, 0)
        key = hmac.new(FP_KEY, s1[pos:pos + 32], hashlib.sha256).digest()
        body = bytes(1504)
        return body + hmac.new(key, body, hashlib.sha256).digest()

    for make_c2, ok in [(signed, True), (lambda s1: s1, True), (lambda s1: bytes(1536), False)]:
        r = Replay(make_c2)
        assert server_handshake(r, r.write, rand=seeded(3)).c2_ok is ok


def test_server_simple_answer():
    c1 = (55).to_bytes(4, "big") + bytes(4) + random.Random(2).randbytes(1528)
    rng_bytes = random.Random(9).randbytes(1528)
    s = Script(b"\x03" + c1 + bytes(1536))
    info = server_handshake(s.reader, s.write, rand=seeded(9))
    out = s.writes[0]
    s1, s2 = out[1:1537], out[1537:]
    assert out[0] == 3
    assert s1[4:8] == bytes(4)  # zero version: FFmpeg skips the digest check
    assert s1[8:] == rng_bytes  # our own random bytes
    assert s2 == c1  # S2 echoes C1
    assert info == HandshakeInfo(version=3, complex=False, scheme=None, peer_time=55,
                                 peer_version=bytes(4), c2_ok=False)


def test_server_simple_c2_echo_is_ok():
    c1 = bytes(1536)

    class EchoS1:
        def __init__(self):
            self.buf = io.BytesIO(b"\x03" + c1)
            self.s1 = b""

        def read(self, n):
            return self.buf.read(n) or self.s1

        def write(self, data):
            self.s1 = data[1:1537]

    r = EchoS1()
    assert server_handshake(r, r.write).c2_ok is True


@pytest.mark.parametrize(
    "c1",
    [
        # a non-zero version with random bytes: no digest validates -> simple
        (1).to_bytes(4, "big") + bytes((9, 0, 124, 2)) + random.Random(4).randbytes(1528),
        # a digest made with the wrong key (the server's) -> simple
        complex_c1(0, key=FMS_KEY_SHORT),
        complex_c1(1, key=FP_KEY),
    ],
)
def test_server_falls_back_to_simple(c1):
    s = Script(b"\x03" + c1 + bytes(1536))
    info = server_handshake(s.reader, s.write)
    out = s.writes[0]
    assert info.complex is False and info.scheme is None
    assert out[1 + 4:1 + 8] == bytes(4)
    assert out[1537:] == c1


@pytest.mark.parametrize("c0", [0, 6, 8, 71, 255])
def test_server_bad_c0(c0):
    s = Script(bytes((c0,)) + bytes(1536 * 2))
    with pytest.raises(HandshakeError, match=str(c0)):
        server_handshake(s.reader, s.write)
    assert s.writes == []


@pytest.mark.parametrize("length", [0, 1, 100, 1536, 1537, 1537 + 1535])
def test_server_short_read(length):
    s = Script((b"\x03" + complex_c1(0) + bytes(1536))[:length])
    with pytest.raises(HandshakeError, match="short read"):
        server_handshake(s.reader, s.write)


@pytest.mark.parametrize("sent", [b"", b"\x03", b"\x03" + bytes(1536)])
def test_server_timeout(sent):
    a, b = socket.socketpair()
    try:
        a.settimeout(0.2)
        b.sendall(sent)
        with pytest.raises(HandshakeError, match="timed out"):
            server_handshake(a.makefile("rb"), a.sendall)
    finally:
        a.close()
        b.close()


def test_server_connection_reset_is_handshake_error():
    class Reset:
        def read(self, n):
            raise ConnectionResetError("reset by peer")

    with pytest.raises(HandshakeError):
        server_handshake(Reset(), lambda data: None)


# -- the client against scripted servers -----------------------------------------------------------


def test_client_complex_sends_verifiable_c1_and_rejects_undigested_s1():
    # An S1 announcing version 13.14.10.13 without a digest is refused, as FFmpeg playing does.
    s1 = bytes(4) + bytes((13, 14, 10, 13)) + random.Random(5).randbytes(1528)
    s = Script(b"\x03" + s1 + bytes(1536))
    with pytest.raises(HandshakeError, match="digest"):
        client_handshake(s.reader, s.write)
    c0c1 = s.writes[0]
    assert c0c1[0] == 3 and len(c0c1) == 1537
    assert digest_valid(c0c1[1:], 0, FP_KEY_SHORT)


def test_client_complex_rejects_bad_s2_signature():
    s1 = make_digest(bytes(4) + bytes((13, 14, 10, 13)) + bytes(1528), 0, FMS_KEY_SHORT)
    s = Script(b"\x03" + s1 + bytes(1536))
    with pytest.raises(HandshakeError, match="S2"):
        client_handshake(s.reader, s.write)


def test_client_against_simple_server_echoes_s1():
    s1 = (77).to_bytes(4, "big") + bytes(4) + random.Random(6).randbytes(1528)
    s = Script(b"\x03" + s1 + bytes(1536))
    info = client_handshake(s.reader, s.write)
    assert s.writes[-1] == s1  # C2 echoes S1
    assert info.complex is False and info.peer_time == 77 and info.c2_ok is False


def test_client_simple_c1_and_bad_s0():
    s = Script(b"\x06" + bytes(3072))
    with pytest.raises(HandshakeError, match="6"):
        client_handshake(s.reader, s.write, complex=False)
    assert s.writes[0][0] == 3 and s.writes[0][5:9] == bytes(4)


def test_client_short_read():
    s = Script(b"\x03" + bytes(2000))
    with pytest.raises(HandshakeError, match="short read"):
        client_handshake(s.reader, s.write)
