"""RTMP handshake packets (RTMP 1.0 section 5.2) and the digest ("complex") handshake views.

Plain layouts, from the spec figures::

    C0/S0:  version (1 byte; 3 for plain RTMP)
    C1/S1:  time (4) | zero (4) | random bytes (1528)              -- 1536 bytes
    C2/S2:  time (4) | time2 (4) | random echo (1528)              -- 1536 bytes

The "complex" handshake that Flash Player, FFmpeg and every Adobe-compatible server use (not in
the published spec) reads the same 1536 bytes as::

    time (4) | version (4) | block A (764) | block B (764)

where one block is the *digest block* and the other the *key block*:

    scheme 0:  block A = digest block, block B = key block
    scheme 1:  block A = key block,    block B = digest block

    digest block: offset (4) | random (offset) | digest (32) | random (728 - offset)
                  with offset = (sum of the 4 offset bytes) % 728
    key block:    random (offset) | key (128) | random (632 - offset) | offset (4)
                  with offset = (sum of the 4 offset bytes) % 632

so the digest sits at byte ``sum % 728 + 12`` (scheme 0) or ``sum % 728 + 776`` (scheme 1) of
the packet. The digest is HMAC-SHA256 over the other 1504 bytes; the key block only matters to
RTMPE (Diffie-Hellman), which grtmp does not implement.

C2/S2 in the complex handshake are 1504 random bytes followed by a 32-byte signature.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    Array,
    Byte,
    Bytes,
    Computed,
    Enum,
    Int8ub,
    Int32ub,
    Pointer,
    Rebuild,
    Struct,
    Tell,
    sum_,
    this,
)


class HandshakeVersion(IntEnum):
    """The C0/S0 version byte: 3 is plain RTMP; 6 (RTMPE), 8 (RTMPE with XTEA) and 9 (with
    Blowfish) are the encrypted variants grtmp does not implement."""

    RTMP = 3
    RTMPE = 6
    RTMPE_XTEA = 8
    RTMPE_BLOWFISH = 9


#: Length of C1/S1/C2/S2.
HANDSHAKE_SIZE = 1536
#: Length of a digest / signature (HMAC-SHA256).
DIGEST_SIZE = 32
#: Length of each of the two 764-byte blocks of the complex layout.
BLOCK_SIZE = 764
#: The only C0/S0 version plain RTMP uses (6, 8 and 9 are RTMPE).
RTMP_VERSION = HandshakeVersion.RTMP

#: C0 and S0: one version byte, parsed to its name (an unknown version stays a number).
C0S0 = Struct(
    "version" / Enum(Int8ub, HandshakeVersion),
)

#: C1 and S1 (simple handshake view, RTMP 1.0 figure 2). ``zero`` is all zero in the simple
#: handshake; a non-zero value announces the complex (digest) layout.
C1S1 = Struct(
    "time" / Int32ub,
    "zero" / Bytes(4),
    "random_bytes" / Bytes(1528),
)

#: C2 and S2 (simple handshake view, RTMP 1.0 figure 3).
C2S2 = Struct(
    "time" / Int32ub,
    "time2" / Int32ub,
    "random_echo" / Bytes(1528),
)

#: The 764-byte digest block.
DigestBlock = Struct(
    "offset_bytes" / Array(4, Byte),
    "offset" / Computed(sum_(this.offset_bytes) % 728),
    "random_before" / Bytes(this.offset),
    "digest" / Bytes(DIGEST_SIZE),
    "random_after" / Bytes(728 - this.offset),
)

#: The 764-byte key block. Its offset bytes come last, so they are read first through a Pointer
#: (and written again at their place at the end when building).
KeyBlock = Struct(
    "_start" / Tell,
    "offset_bytes" / Pointer(this._start + 760, Array(4, Byte)),
    "offset" / Computed(sum_(this.offset_bytes) % 632),
    "random_before" / Bytes(this.offset),
    "key" / Bytes(128),
    "random_after" / Bytes(632 - this.offset),
    "_offset_bytes" / Rebuild(Array(4, Byte), this.offset_bytes),
)

#: C1/S1, complex handshake, digest scheme 0: digest block first.
C1S1Scheme0 = Struct(
    "time" / Int32ub,
    "version" / Bytes(4),
    "digest_block" / DigestBlock,
    "key_block" / KeyBlock,
)

#: C1/S1, complex handshake, digest scheme 1: key block first.
C1S1Scheme1 = Struct(
    "time" / Int32ub,
    "version" / Bytes(4),
    "key_block" / KeyBlock,
    "digest_block" / DigestBlock,
)

#: The two schemes by number.
C1S1_SCHEMES = {0: C1S1Scheme0, 1: C1S1Scheme1}

#: C2/S2, complex handshake: random data then the signature.
C2S2Complex = Struct(
    "random_data" / Bytes(HANDSHAKE_SIZE - DIGEST_SIZE),
    "signature" / Bytes(DIGEST_SIZE),
)

#: S0+S1+S2 (or C0+C1) as sent in one write, for inspection.
S0S1S2 = Struct(
    "s0" / C0S0,
    "s1" / C1S1,
    "s2" / C2S2,
)

#: Where the 4 offset bytes of the digest block start, per scheme.
_DIGEST_BLOCK_START = {0: 8, 1: 8 + BLOCK_SIZE}


def digest_offset(packet: bytes, scheme: int) -> int:
    """Byte position of the 32-byte digest inside a 1536-byte C1/S1 for ``scheme`` (0 or 1).

    ``sum(4 offset bytes) % 728 + 12`` for scheme 0 and ``... + 776`` for scheme 1; the same
    value the :data:`C1S1_SCHEMES` declarations compute.
    """
    start = _DIGEST_BLOCK_START[scheme]
    return sum(packet[start:start + 4]) % 728 + start + 4
