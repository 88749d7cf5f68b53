"""Print the cost of the live fan-out's per-message media classifier, ``classify()``.

The hub calls ``classify(type_id, payload)`` (and ``is_multitrack``) once per audio/video
message, so these are per-message nanoseconds on the publisher's greenlet. Cases: the common
legacy H.264/AAC bytes (the fast path), Enhanced RTMP single-track HEVC, a multitrack message
and a ModEx (TimestampOffsetNano) message.

Run: ``python bench/classify.py``. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import timeit

from grtmp.media.multitrack import MANY_TRACKS, build_multitrack, is_multitrack
from grtmp.media.tag import classify

AUDIO, VIDEO = 8, 9
BODY = bytes(range(256)) * 8

CASES = [
    ("legacy AVC keyframe", VIDEO, b"\x17\x01\x00\x00\x00" + BODY),
    ("legacy AVC inter frame", VIDEO, b"\x27\x01\x00\x00\x00" + BODY),
    ("legacy AVC sequence header", VIDEO, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1"),
    ("legacy AAC frame", AUDIO, b"\xaf\x01" + BODY[:300]),
    ("legacy AAC sequence header", AUDIO, b"\xaf\x00\x12\x10"),
    ("enhanced hvc1 CodedFrames key", VIDEO, b"\x91hvc1\x00\x00\x00" + BODY),
    ("enhanced hvc1 CodedFramesX inter", VIDEO, b"\xa3hvc1" + BODY),
    ("enhanced Opus CodedFrames", AUDIO, b"\x91Opus" + BODY[:200]),
    ("multitrack avc1 2 tracks inter", VIDEO,
     build_multitrack(VIDEO, 0x20, 1, [(0, b"avc1", b"\0\0\0" + BODY), (1, b"avc1", BODY)],
                      MANY_TRACKS)),
    ("ModEx nano + SequenceStart avc1", VIDEO,
     b"\x97\x02\x01\xe2\x40\x00avc1\x01\x64\x00\x1f\xff\xe1"),
    ("ModEx nano + CodedFrames hvc1", VIDEO, b"\xa7\x02\x01\xe2\x40\x01hvc1\x00\x00\x00" + BODY),
]


def main() -> None:
    number = 200_000
    print(f"{'case':36} {'classify ns':>12} {'+is_multitrack ns':>18}  result")
    for label, type_id, payload in CASES:
        t1 = min(timeit.repeat(lambda t=type_id, p=payload: classify(t, p), number=number,
                               repeat=5)) / number
        t2 = min(timeit.repeat(lambda t=type_id, p=payload: (classify(t, p),
                                                             is_multitrack(t, p)),
                               number=number, repeat=5)) / number
        print(f"{label:36} {t1 * 1e9:12.0f} {t2 * 1e9:18.0f}  {classify(type_id, payload)}")


if __name__ == "__main__":
    main()
