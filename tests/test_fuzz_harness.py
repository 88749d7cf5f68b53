"""The atheris harnesses of fuzz/, run without atheris (CI does not install it).

Each harness's ``test_one_input`` gets its whole seed corpus, mutated seeds and random bytes;
it swallows :class:`grtmp.errors.RTMPError` only, so any other exception fails here exactly as
it would be a finding under atheris. The seeds themselves must be valid encodings (they parse
without any error), otherwise the corpus would not lead the fuzzer anywhere useful.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import fuzz_amf, fuzz_chunk, fuzz_control, fuzz_handshake, fuzz_media
from fuzz._harness import split_selector
from grtmp.errors import RTMPError

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus"
HARNESSES: dict[str, ModuleType] = {
    "chunk": fuzz_chunk, "amf": fuzz_amf, "media": fuzz_media, "control": fuzz_control,
    "handshake": fuzz_handshake,
}


def seeds(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / name).iterdir())]


ALL_SEEDS = [(name, path.name) for name in HARNESSES
             for path in sorted((CORPUS / name).iterdir())]


@pytest.mark.parametrize(("harness", "seed"), ALL_SEEDS)
def test_seed_is_valid_input(harness: str, seed: str) -> None:
    """Every seed runs through its target without even a typed error."""
    data = (CORPUS / harness / seed).read_bytes()
    mod = HARNESSES[harness]
    if harness == "chunk" and seed.startswith("limits_"):
        # Valid chunking; under the harness's small limits it must end in LimitExceeded.
        msgs, end = fuzz_chunk.messages(data[1:], "buffered", 1 << 16)
        assert len(msgs) == 2 and end.startswith("ConnectionClosed")
        assert fuzz_chunk.messages(data[1:], "trickle", 512)[1].startswith("LimitExceeded")
        return
    if harness == "chunk":
        count = fuzz_chunk.read_all(data[1:], peek=bool(data[0] & 1), max_message_size=1 << 16,
                                    parse=False)
        assert count >= 10
        return
    if harness == "handshake":
        info = fuzz_handshake.run(*split_selector(data, 3))
        assert info.complex == ("complex" in seed)
        if seed.startswith("client_"):
            assert info.c2_ok  # the recorded S2 answers the harness's own (fixed) C1
        return
    target, body = split_selector(data, len(mod.TARGETS))
    mod.run(target, body)


@pytest.mark.parametrize("harness", list(HARNESSES))
def test_corpus_through_test_one_input(harness: str) -> None:
    mod = HARNESSES[harness]
    for data in seeds(harness):
        mod.test_one_input(data)
        # Every option/target byte on the same body, and every prefix of it.
        for first in range(16):
            mod.test_one_input(bytes((first,)) + data[1:])
        for cut in range(0, len(data), max(1, len(data) // 16)):
            mod.test_one_input(data[:cut])


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, val in ops:
        if not buf:
            buf.extend(bytes((val,)))
            continue
        pos %= len(buf)
        if op == 0:
            buf[pos] ^= 1 << (val % 8)
        elif op == 1:
            buf[pos] = val
        elif op == 2:
            del buf[pos:pos + 1 + val % 32]
        elif op == 3:
            buf[pos:pos] = buf[pos:pos + 1 + val]
        elif op == 4:
            buf[pos:pos] = bytes((val,)) * (1 + val % 8)
        else:
            del buf[max(pos, 1):]
    return bytes(buf)


_OPS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2**20), st.integers(0, 255)),
                max_size=8)


@pytest.mark.parametrize("harness", list(HARNESSES))
def test_mutated_seeds(harness: str) -> None:
    mod = HARNESSES[harness]
    corpus = seeds(harness)

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.sampled_from(corpus), ops=_OPS)
    def run(seed: bytes, ops: list[tuple[int, int, int]]) -> None:
        mod.test_one_input(_mutate(seed, ops))

    run()


@pytest.mark.parametrize("harness", list(HARNESSES))
def test_random_bytes(harness: str) -> None:
    mod = HARNESSES[harness]

    @settings(max_examples=150, deadline=None, database=None)
    @given(data=st.binary(max_size=600))
    def run(data: bytes) -> None:
        mod.test_one_input(data)

    run()


def test_harness_reports_untyped_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness lets a non-RTMPError through (that is what makes it a finding)."""
    def boom(*_a: object, **_k: object) -> None:
        raise IndexError("untyped")

    monkeypatch.setattr(fuzz_amf, "run", boom)
    with pytest.raises(IndexError):
        fuzz_amf.test_one_input(b"\x00\x02\x00\x01a")

    def typed(*_a: object, **_k: object) -> None:
        raise RTMPError("typed")

    monkeypatch.setattr(fuzz_amf, "run", typed)
    fuzz_amf.test_one_input(b"\x00")


def test_chunk_harness_dispatches_like_the_session() -> None:
    """With the parse bit set, a real session stream reaches commands, data and media."""
    data = next(p.read_bytes() for p in sorted((CORPUS / "chunk").iterdir())
                if p.name.startswith("session_4"))
    assert fuzz_chunk.read_all(data[1:], peek=False, max_message_size=1 << 16, parse=True) >= 10


def test_make_corpus_writes_every_harness(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from fuzz.make_corpus import write_corpus

    counts = write_corpus(tmp_path)
    assert set(counts) == set(HARNESSES) | {"session"}  # session: tests/test_fuzz_session.py
    for name, n in counts.items():
        assert n >= 4, name
        if name == "session":
            continue
        for path in (tmp_path / name).iterdir():
            HARNESSES[name].test_one_input(path.read_bytes())
    # Real media: an FLV file PyAV wrote, whose tags the FLV harness target walks.
    flv = next((tmp_path / "media").glob("h264_file-*")).read_bytes()[1:]
    from grtmp.media.flv import FLVReader

    assert sum(1 for _ in FLVReader(io.BytesIO(flv))) >= 8
