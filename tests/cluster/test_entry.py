"""The directory entry: key escaping, signed encoding, and everything verification rejects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grtmp.cluster import entry as E
from grtmp.errors import RTMPError

SECRET = b"s" * 32
NOW = 1_700_000_000.0


def make(**over) -> E.Entry:
    fields = dict(app="live", name="cam1", node="node-a", url="rtmp://10.0.0.1:1936/live/cam1",
                  started=NOW - 5, epoch=1_700_000_000_123, expires=NOW + 10, active=NOW - 1)
    fields.update(over)
    return E.Entry(**fields)


def sign(k: str, payload: bytes, secret: bytes = SECRET) -> bytes:
    """An independent signer (the layout in the module docstring), to reach the parse checks."""
    mac = hmac.new(secret, b"grtmp-directory-v1\n" + k.encode() + b"\n" + payload,
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=") + b"." + payload


def test_round_trip_and_layout():
    e = make()
    value = E.encode(e, SECRET, "grtmp")
    k = E.key("grtmp", "live", "cam1")
    assert k == "grtmp:stream:live/cam1"
    assert E.decode("grtmp", k, value, SECRET, now=NOW) == e
    sig, payload = value.split(b".", 1)
    assert json.loads(payload) == [1, "node-a", "rtmp://10.0.0.1:1936/live/cam1",
                                   (NOW - 5) * 1000, e.epoch, (NOW + 10) * 1000,
                                   (NOW - 1) * 1000, 1]
    assert value == sign(k, payload)  # the documented MAC, computed independently
    assert len(value) < 200


def test_tombstone_round_trip():
    e = make(live=False)
    assert E.decode("grtmp", E.key("grtmp", "live", "cam1"), E.encode(e, SECRET, "grtmp"),
                    SECRET).live is False


def test_keys_escape_separators():
    assert E.key("grtmp", "a/b", "c") != E.key("grtmp", "a", "b/c")
    assert E.key("grtmp", "live", "x:y z%") == "grtmp:stream:live/x%3Ay%20z%25"
    assert E.key("p", "", "n") == "p:stream:/n"
    assert E.parse_key("p", E.key("p", "ä/é", "名前?x=1")) == ("ä/é", "名前?x=1")


@given(st.text(max_size=40), st.text(min_size=1, max_size=40))
def test_key_is_ascii_and_invertible(app, name):
    try:
        k = E.key("grtmp", app, name)
    except E.EntryError:  # lone surrogates cannot be stored
        with pytest.raises(UnicodeEncodeError):
            (app + name).encode()
        return
    assert k.isascii() and "\n" not in k and k.count("/") == 1
    assert E.parse_key("grtmp", k) == (app, name)


def test_errors_are_typed():
    assert issubclass(E.EntryError, E.DirectoryError)
    assert issubclass(E.DirectoryUnavailable, E.DirectoryError)
    assert issubclass(E.TakeoverRefused, E.DirectoryError)
    assert issubclass(E.DirectoryError, RTMPError)


K = "grtmp:stream:live/cam1"


@pytest.mark.parametrize("value, reason", [
    (b'[1,"node-a","rtmp://x/live/cam1",1,2,3,4,1]', "not signed"),
    (b"A" * 43 + b'.[1,"n","rtmp://x/a",1,2,3,4,1]', "bad signature"),
    (b"x" * 43 + b'.[1,"n","rtmp://x/a",1,2,3,4,1]', "not canonical"),
    (b"!" * 43 + b".[]", "base64"),
    (b"", "not signed"),
    (b"." * 5000, "longer than"),
])
def test_unsigned_or_garbage_rejected(value, reason):
    with pytest.raises(E.EntryError, match=reason):
        E.decode("grtmp", K, value, SECRET)


def test_wrong_secret_rejected():
    value = E.encode(make(url="rtmp://evil/live/cam1"), b"not the cluster secret", "grtmp")
    with pytest.raises(E.EntryError, match="bad signature"):
        E.decode("grtmp", K, value, SECRET)


def test_tampered_payload_rejected():
    value = E.encode(make(), SECRET, "grtmp")
    tampered = value.replace(b"10.0.0.1", b"10.6.6.6")
    with pytest.raises(E.EntryError, match="bad signature"):
        E.decode("grtmp", K, tampered, SECRET)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_byte_flip_rejected(pos, delta):
    value = bytearray(E.encode(make(), SECRET, "grtmp"))
    i = pos % len(value)
    value[i] = (value[i] + delta) % 256
    with pytest.raises(E.EntryError):
        E.decode("grtmp", K, bytes(value), SECRET)


def test_value_moved_to_another_key_rejected():
    value = E.encode(make(), SECRET, "grtmp")
    with pytest.raises(E.EntryError, match="bad signature"):
        E.decode("grtmp", "grtmp:stream:live/other", value, SECRET)
    with pytest.raises(E.EntryError, match="bad signature"):
        E.decode("other", "other:stream:live/cam1", value, SECRET)


def test_expired_rejected_with_skew():
    value = E.encode(make(expires=NOW), SECRET, "grtmp")
    assert E.decode("grtmp", K, value, SECRET, now=NOW + 4.9, skew=5)
    with pytest.raises(E.EntryError, match="expired"):
        E.decode("grtmp", K, value, SECRET, now=NOW + 5.1, skew=5)


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"v":1}', "unknown layout"),
    (b'[2,"n","rtmp://x/a",1,2,3,4,1]', "unknown layout"),
    (b'[1,"n","rtmp://x/a",1,2,3,4]', "unknown layout"),
    (b'[1,"n","rtmp://x/a",1.5,2,3,4,1]', "wrong type"),
    (b'[1,"n","rtmp://x/a",1,2,3,4,true]', "wrong type"),
    (b'[1,"n","rtmp://x/a",1,2,3,4,2]', "wrong type"),
    (b'[1,7,"rtmp://x/a",1,2,3,4,1]', "node is not a string"),
    (b'[1,"","rtmp://x/a",1,2,3,4,1]', "node is empty"),
    (b'[1,"n","http://x/a",1,2,3,4,1]', "not rtmp"),
    (b'[1,"n","rtmp://x/a",-1,2,3,4,1]', "out of range"),
    (b'[1,"n","rtmp://x/a",1,2,3,99999999999999999999,1]', "out of range"),
])
def test_signed_but_malformed_rejected(payload, reason):
    with pytest.raises(E.EntryError, match=reason):
        E.decode("grtmp", K, sign(K, payload), SECRET)


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_entry_error(value):
    with pytest.raises(E.EntryError):
        E.decode("grtmp", K, value, SECRET)


def test_invalid_entries_cannot_be_built():
    with pytest.raises(E.EntryError):
        make(url="http://x/y")
    with pytest.raises(E.EntryError):
        make(name="")
    with pytest.raises(E.EntryError):
        make(node="x" * 2000)
    with pytest.raises(E.EntryError):
        E.key("grtmp", "live", "\udcff")


def test_pure_modules_import_without_gevent():
    code = ("import sys; sys.modules['gevent'] = None\n"
            "import grtmp.cluster.entry, grtmp.cluster.policy\n"
            "assert not any(m.startswith('gevent') for m in sys.modules if sys.modules[m])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
