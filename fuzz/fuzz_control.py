"""Fuzz protocol control and User Control parsing, aggregate splitting and multitrack splitting.

The first byte picks the target; for ``control`` the second byte is the message type (1-6,
others must be refused with a typed error). Run:
``python -m fuzz.fuzz_control fuzz/corpus/control``.
"""

from __future__ import annotations

from grtmp.errors import RTMPError
from grtmp.media import multitrack
from grtmp.wire import control
from grtmp.wire.message import AGGREGATE, AUDIO, VIDEO, Message

from ._harness import main, split_selector

TARGETS = ("control", "aggregate", "multitrack_video", "multitrack_audio")


def run(target: int, body: bytes) -> None:
    """Parse ``body`` with target number ``target`` (index into TARGETS)."""
    name = TARGETS[target]
    if name == "control":
        type_id = body[0] % 8 if body else 4
        control.parse_control(Message(type_id, 0, 0, body[1:], 2))
    elif name == "aggregate":
        for sub in control.split_aggregate(Message(AGGREGATE, 1000, 1, body, 4)):
            assert sub.type_id != AGGREGATE
    else:
        type_id = VIDEO if name == "multitrack_video" else AUDIO
        multitrack.is_multitrack(type_id, body)
        try:
            multitrack.split_tracks(type_id, body)
        finally:
            multitrack.single_track(type_id, body)


def test_one_input(data: bytes) -> None:
    """atheris entry point: any exception but RTMPError is a finding."""
    target, body = split_selector(data, len(TARGETS))
    try:
        run(target, body)
    except RTMPError:
        pass


if __name__ == "__main__":
    main(test_one_input)
