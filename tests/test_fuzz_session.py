"""The whole-session harness (fuzz/fuzz_session.py) without atheris: its seeds, mutations of
them, and proof that each of its checks fires on the bug it is there for.

``test_one_input`` raises AssertionError for any broken invariant (see the harness docstring);
here the seed corpus, hypothesis mutations of it (bit flips, interesting bytes, deletions,
duplications, insertions, truncation, splices of two seeds) and every option byte must pass.
The "detects" tests put back, by monkeypatching, the kind of bug the security issue found
(an untyped exception, peer text in a format string, an unbounded log argument, a leaked
budget, stream, player or writer greenlet, no cap on message streams, an error escaping a
greenlet, replies that are not a chunk stream) and check the harness reports it.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import fuzz_session, mutate
from fuzz.session_seeds import Builder, amf0_graph_array, amf0_graph_object, session_seeds
from grtmp.amf import amf0
from grtmp.amf.command import decode_command
from grtmp.errors import ConnectionClosed
from grtmp.live.hub import StreamHub
from grtmp.live.stream import Stream
from grtmp.logs import MAX_LOGGED_TEXT
from grtmp.net import connection
from grtmp.net.outbox import Outbox
from grtmp.protocol import server as protocol_server
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.message import COMMAND_AMF0

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus" / "session"
SEEDS = {p.name.rsplit("-", 1)[0]: p.read_bytes() for p in sorted(CORPUS.iterdir())}


def seed(label: str) -> bytes:
    return SEEDS[label]


def records_of(data: bytes) -> list[str]:
    """The formatted log lines one input produces (the harness's own capture)."""
    seen: list[str] = []
    original = fuzz_session.check

    def spy(w, conn, records, outboxes, size):  # noqa: ANN001, ANN202
        seen.extend(r.getMessage() for r in records)
        return original(w, conn, records, outboxes, size)

    fuzz_session.check = spy
    try:
        fuzz_session.test_one_input(data)
    finally:
        fuzz_session.check = original
    return seen


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_the_seeds_the_issue_asks_for() -> None:
    labels = set(SEEDS)
    for needed in ("publish_h264", "publish_hevc", "publish_av1", "publish_multitrack_modex",
                   "publish_and_play", "play_healthy", "amf3_connect_publish",
                   "graph40_connect_app", "graph10_connect_tcUrl", "graph20_connect_flashVer",
                   "graph10_stream_commands", "graph40_stream_commands", "nonfinite_nan",
                   "nonfinite_inf", "nonfinite_ninf", "percent_2", "play_1000_uncreated",
                   "create_100_streams"):
        assert needed in labels, needed


@pytest.mark.parametrize("label", sorted(SEEDS))
def test_seed_passes(label: str) -> None:
    fuzz_session.test_one_input(SEEDS[label])


@pytest.mark.parametrize("label", ["publish_h264", "publish_hevc", "publish_av1",
                                   "publish_multitrack_modex", "publish_and_play",
                                   "amf3_connect_publish", "play_healthy", "control_messages"])
def test_valid_sessions_are_served_without_error(label: str) -> None:
    """A valid seed connects, publishes or plays, and ends by our EOF, not by an error."""
    lines = records_of(seed(label))
    assert any("connect app='live'" in line for line in lines), lines
    assert any(" publish '" in line or " play '" in line for line in lines), lines
    assert not [line for line in lines if "closing:" in line or "refused" in line
                and "Too many players" not in line], lines


def test_attack_seeds_reach_what_they_attack() -> None:
    """Graphs past the bound end the connection with AMFError; a 10-level graph in connect is
    read as an absent app; metadata graphs are dropped; NaN ids are ignored; '%' names log as
    themselves; uncreated ids and extra createStreams are refused."""
    lines = records_of(seed("graph40_connect_app"))
    assert any("closing: AMFError" in line and "expand past" in line for line in lines)
    lines = records_of(seed("graph10_connect_app"))
    assert any("connect app=''" in line for line in lines), lines
    lines = records_of(seed("graph10_stream_commands"))
    assert any("dropping data message" in line for line in lines), lines
    lines = records_of(seed("nonfinite_nan"))
    assert any("publish 'nf'" in line for line in lines) and \
        not any("closing:" in line for line in lines), lines
    lines = records_of(seed("percent_2"))
    assert any("publish '%300000000s'" in line for line in lines), lines
    assert any("\\x0a[x] forged" in line for line in lines), lines  # escaped newline
    lines = records_of(seed("play_1000_uncreated"))
    assert sum("was not created" in line for line in lines) == 1000
    lines = records_of(seed("create_100_streams"))
    assert sum("Too many streams" in line for line in lines) == 100 - 16


@pytest.mark.parametrize("label", ["publish_h264", "nonfinite_inf", "percent_5", "hooks_streams",
                                   "graph20_stream_commands"])
def test_every_option_byte_and_prefix(label: str) -> None:
    data = seed(label)
    for first in range(8):
        fuzz_session.test_one_input(bytes((first,)) + data[1:])
    for cut in range(1, len(data), max(1, len(data) // 24)):
        fuzz_session.test_one_input(data[:cut])


_EDITS = st.lists(st.tuples(st.integers(0, mutate.OPS - 1), st.integers(0, 2**20),
                            st.integers(0, 2**16)), min_size=1, max_size=8)
_SMALL = sorted(k for k, v in SEEDS.items() if len(v) < 12000)


@settings(max_examples=500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=st.sampled_from(_SMALL), second=st.sampled_from(_SMALL), edits=_EDITS,
       opts=st.integers(0, 255))
def test_mutated_seeds(first: str, second: str, edits: list, opts: int) -> None:
    body = mutate.apply(SEEDS[first][1:], edits, SEEDS[second][1:])
    fuzz_session.test_one_input(bytes((opts,)) + body)


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    fuzz_session.test_one_input(data)


def test_seeds_are_deterministic() -> None:
    """Without media samples the builder falls back to fixed ones; the same seeds each time."""
    assert list(session_seeds({})) == list(session_seeds({}))
    labels = [label for label, _ in session_seeds({})]
    assert len(labels) == len(set(labels)) >= 50


def test_graph_builder_shares_references() -> None:
    value = amf0.decode_all(amf0_graph_array(8))[0]
    depth = 0
    while isinstance(value, list):
        assert value[0] is value[1]
        value, depth = value[0], depth + 1
    assert depth == 8


# -- the checks fire ------------------------------------------------------------------------------


@contextmanager
def put_back() -> Iterator[pytest.MonkeyPatch]:
    """Patch a bug in (the ``MonkeyPatch`` yielded); the harness must then raise ``match``.
    Afterwards, the bug undone, a valid session passes again: the harness repaired its world."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
    fuzz_session.test_one_input(seed("publish_h264"))


def _fails(data: bytes, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        fuzz_session.test_one_input(data)


def test_detects_an_untyped_exception() -> None:
    def boom(self, e):  # noqa: ANN001, ANN202
        raise KeyError("a bug")

    with put_back() as mp:
        mp.setattr(connection.Conn, "_on_publish", boom)
        _fails(seed("publish_h264"), "error logged: .*internal error")


def test_detects_peer_text_in_a_format_string() -> None:
    """Finding 4 put back: the app name concatenated into the format string."""
    original = connection.Conn._on_connect

    def on_connect(self, e):  # noqa: ANN001, ANN202
        self.log.info("connect to " + self.app)
        return original(self, e)

    with put_back() as mp:
        mp.setattr(connection.Conn, "_on_connect", on_connect)
        fuzz_session.test_one_input(seed("publish_h264"))  # no '%' in "live": still fine
        _fails(seed("percent_1"), "log record does not format")


def test_detects_an_unbounded_log_argument() -> None:
    data = b"\x00" + Builder(flash_ver="v" * 12000).connect().bytes()
    fuzz_session.test_one_input(data)  # bounded: fine
    with put_back() as mp:
        mp.setattr(protocol_server, "peer_text", lambda value, limit=0: str(value))
        _fails(data, "log line of")
    assert MAX_LOGGED_TEXT < fuzz_session.MAX_LINE


def test_detects_a_leaked_budget() -> None:
    b = Builder(chunk_size=128).connect()
    b.media(b.publish("cut"), [(9, 0, b"\x17\x01" + bytes(1000))])
    cut = b"\x00" + b.bytes()[:-300]  # ends inside a message of several chunks
    fuzz_session.test_one_input(cut)
    with put_back() as mp:
        mp.setattr(ChunkReader, "release", lambda self: None)
        _fails(cut, "buffer budget leaked")


def test_detects_a_leaked_stream() -> None:
    with put_back() as mp:
        mp.setattr(StreamHub, "discard_if_idle", lambda self, stream: None)
        _fails(seed("publish_h264"), "streams left in the hub")


def test_detects_a_disturbed_healthy_stream() -> None:
    with put_back() as mp:
        mp.setattr(Stream, "unsubscribe", lambda self, player: self.players.clear())
        _fails(seed("play_healthy"), "healthy stream disturbed")


def test_detects_a_writer_greenlet_left_running() -> None:
    with put_back() as mp:
        mp.setattr(Outbox, "stop", lambda self, flush=True, timeout=5.0: None)
        # A player of a stream nobody publishes: its writer waits on an empty queue.
        b = Builder().connect()
        b.play("nobody")
        _fails(b"\x00" + b.bytes(), "outlived the connection")


def test_detects_an_error_escaping_a_greenlet() -> None:
    def broken(self):  # noqa: ANN001, ANN202
        raise ValueError("writer bug")

    with put_back() as mp:
        mp.setattr(Outbox, "_write_loop", broken)
        _fails(seed("publish_and_play"), "error reached gevent's hub")


def test_detects_uncapped_message_streams() -> None:
    """Finding 5 put back: the session without its cap on createStream."""
    original = protocol_server.ServerSession.__init__

    def init(self, config=None, **kw):  # noqa: ANN001, ANN202
        original(self, dataclasses.replace(config, max_message_streams=0), **kw)

    with put_back() as mp:
        mp.setattr(protocol_server.ServerSession, "__init__", init)
        _fails(seed("create_100_streams"), "message streams")


def test_detects_re_encoded_data_without_a_bound() -> None:
    """Finding 3 put back: onMetaData written out again without ``max_size``. A 14-level graph
    passes the decoder's expansion bound and expands to over 100 KB when written out."""
    b = Builder().connect()
    sid = b.publish("meta")
    b.raw(18, sid, amf0.encode("@setDataFrame", "onMetaData")
          + amf0_graph_object(14, "width"), csid=5)
    data = b"\x00" + b.bytes()
    assert any("dropping data message" in line for line in records_of(data))
    encode_data = protocol_server.encode_data

    with put_back() as mp:
        mp.setattr(protocol_server, "encode_data",
                   lambda *values, max_size=None: encode_data(*values, max_size=None))
        _fails(data, "relayed to players")


def test_detects_non_finite_numbers_taken_as_ints() -> None:
    """Finding 2 put back: int() of the peer's numbers (int(nan) raises ValueError)."""
    def int_arg(value, lo=0, hi=0):  # noqa: ANN001, ANN202
        return int(value) if isinstance(value, float) else None

    with put_back() as mp:
        mp.setattr(protocol_server, "int_arg", int_arg)
        fuzz_session.test_one_input(seed("publish_h264"))
        _fails(seed("nonfinite_nan"), "internal error")


def test_detects_replies_that_are_not_a_chunk_stream() -> None:
    with put_back() as mp:
        mp.setattr(protocol_server, "encode_command", lambda *a, **k: b"\x05garbage")
        _fails(seed("publish_h264"), "undecodable command")


def test_detects_a_healthy_player_that_gets_nothing() -> None:
    w = fuzz_session.world()
    with put_back() as mp:
        mp.setattr(w.player.policy, "paused", True)
        _fails(seed("publish_h264"), "healthy player did not get frame")


def test_replies_are_read_back() -> None:
    """What the checks read is what the server sent: a connect's _result, then statuses."""
    with fuzz_session.world().watching():
        conn = fuzz_session.run(seed("publish_h264")[1:])
    out = b"".join(conn.sock.out)
    assert fuzz_session.reply_problem(out) is None
    reader = ChunkReader(io.BytesIO(out))
    names = []
    while True:
        try:
            msg = reader.read_message()
        except ConnectionClosed:
            break
        if msg.type_id == COMMAND_AMF0:
            names.append(decode_command(msg.payload).name)
    assert names[:1] == ["_result"] and "onStatus" in names
    assert fuzz_session.reply_problem(out[:-3]).startswith("server replies end mid-message")
    fuzz_session.world().feed_healthy()
