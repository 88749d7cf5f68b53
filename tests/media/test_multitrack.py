"""Enhanced RTMP multitrack splitting (grtmp.media.multitrack)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grtmp.errors import CodecError
from grtmp.media.multitrack import (
    MANY_TRACKS,
    MANY_TRACKS_MANY_CODECS,
    ONE_TRACK,
    build_multitrack,
    is_multitrack,
    single_track,
    split_tracks,
)
from grtmp.wire.message import AUDIO, VIDEO


def test_many_tracks_vector():
    # ExHeader | keyframe | Multitrack, ManyTracks | CodedFrames, avc1, track 0 (3 bytes),
    # track 1 (2 bytes)
    msg = bytes([0x96, 0x11]) + b"avc1" + b"\x00\x00\x00\x03abc" + b"\x01\x00\x00\x02de"
    assert is_multitrack(VIDEO, msg)
    assert split_tracks(VIDEO, msg) == (1, [(0, b"avc1", b"abc"), (1, b"avc1", b"de")])
    assert single_track(VIDEO, msg) == bytes([0x91]) + b"avc1abc"
    assert single_track(VIDEO, msg, 1) == bytes([0x91]) + b"avc1de"
    assert single_track(VIDEO, msg, 7) is None
    assert build_multitrack(VIDEO, 0x10, 1, [(0, b"avc1", b"abc"), (1, b"avc1", b"de")]) == msg


def test_one_track_and_many_codecs_audio():
    one = bytes([0x95, 0x00]) + b"Opus" + b"\x02" + b"head"
    assert split_tracks(AUDIO, one) == (0, [(2, b"Opus", b"head")])
    assert single_track(AUDIO, one, 2) == bytes([0x90]) + b"Opushead"
    many = build_multitrack(AUDIO, 0, 1, [(0, b"mp4a", b"\x21\x10"), (1, b"Opus", b"xyz")],
                            MANY_TRACKS_MANY_CODECS)
    assert split_tracks(AUDIO, many) == (1, [(0, b"mp4a", b"\x21\x10"), (1, b"Opus", b"xyz")])
    assert single_track(AUDIO, many, 1) == bytes([0x91]) + b"Opusxyz"


def test_not_multitrack_and_truncations():
    assert not is_multitrack(VIDEO, b"\x17\x01")
    assert not is_multitrack(AUDIO, b"\xaf\x01")
    assert not is_multitrack(VIDEO, b"")
    with pytest.raises(CodecError):
        split_tracks(VIDEO, b"\x17\x01")
    good = build_multitrack(VIDEO, 0x10, 1, [(0, b"hvc1", b"12345"), (1, b"hvc1", b"678")])
    for cut in range(1, len(good)):
        try:
            split_tracks(VIDEO, good[:cut])
        except CodecError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([AUDIO, VIDEO]))
def test_garbage_raises_only_codec_error(data, type_id):
    payload = bytes([0x96 if type_id == VIDEO else 0x95]) + data
    try:
        single_track(type_id, payload)
    except CodecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), min_size=1,
                max_size=5),
       st.sampled_from([ONE_TRACK, MANY_TRACKS, MANY_TRACKS_MANY_CODECS]),
       st.integers(0, 4))
def test_build_split_round_trip(tracks, mt_type, inner):
    if mt_type == ONE_TRACK:
        tracks = tracks[:1]
    full = [(tid, b"av01", body) for tid, body in tracks]
    msg = build_multitrack(VIDEO, 0x10, inner, full, mt_type)
    assert split_tracks(VIDEO, msg) == (inner, full)
