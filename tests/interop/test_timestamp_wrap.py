"""Timestamps crossing 0xFFFFFF (extended timestamps) and 2**32 (wrap), relayed intact (issue #5).

A grtmp Client publishes real H.264 (libx264 through PyAV's FLV muxer) with timestamps that
start just below the 24-bit extended-timestamp threshold, or just below the 32-bit wrap. An
FFmpeg player (avclient.py, a subprocess) and a grtmp Client player, both waiting before the
publish starts, must get every frame byte for byte with monotonic timestamps and the
publisher's frame spacing.

The server rebases a publish so players start at 0; to make the *outbound* side cross the
thresholds too, the egress cases lean on documented behaviour of :class:`grtmp.stream.Stream`:
the first message sets the base (a sequence header stamped 0 before frames near 0xFFFFFF), and
a republish continues right after the highest timestamp sent (three publishes walk the
players' clock up to just below 2**32).
"""

from __future__ import annotations

import functools

import gevent
import gevent.socket
import pytest

from grtmp.errors import ConnectionClosed
from grtmp.net.client import Client
from grtmp.wire.chunk import chunk_message
from grtmp.wire.message import CSID_VIDEO, VIDEO, Message
from tests.helpers import wait_until
from tests.helpers.media import encode_h264_tags
from tests.interop.avclient import frame_hash

MASK = 0xFFFFFFFF
EXT = 0xFFFFFF
STARTS = {"24bit": EXT - 500, "32bit": 2**32 - 1000}
FRAMES = 60  # 2.4 s of stream time at 25 fps: both thresholds are crossed mid-stream


@functools.cache
def _tags() -> tuple[tuple[int, int, bytes], ...]:
    """(type, ms, FLV video payload) from libx264: sequence header, then NAL unit packets."""
    return tuple(t for t in encode_h264_tags(FRAMES, gop=10) if t[2][1] in (0, 1))


def _frame_hashes(tags) -> list[str]:
    """avclient's per-frame hash of each coded frame (AVCC data after the 5-byte tag header)."""
    return [frame_hash(p[5:]) for _, _, p in tags if p[1] == 1]


def _send(pub: Client, style: str, ts: int, payload: bytes) -> None:
    """One video message: compressed headers (ChunkWriter) or a fmt 0 header every time."""
    if style == "delta":
        pub.send_media(VIDEO, ts, payload)
    else:
        msg = Message(VIDEO, ts & MASK, pub.stream_id, payload)
        pub.sock.sendall(chunk_message(msg, CSID_VIDEO, pub.out_chunk_size))


def _serial_monotonic(stamps: list[int]) -> bool:
    """Each timestamp is at or after the previous one in 32-bit serial arithmetic."""
    return all(((b - a) & MASK) < 0x80000000 for a, b in zip(stamps, stamps[1:], strict=False))


class _Player:
    """A grtmp Client playing in a greenlet, collecting video messages."""

    def __init__(self, url: str):
        self.client = Client(url, socket_module=gevent.socket)
        self.client.connect()
        self.client.play()
        self.video: list[Message] = []
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            for msg in self.client.media():
                if msg.type_id == VIDEO:
                    self.video.append(msg)
        except (ConnectionClosed, OSError):
            pass

    def close(self) -> None:
        self.client.close()
        self._reader.kill()


def _publish(url: str, style: str, items, *, pace: float = 0.004) -> None:
    """Publish ``(ts, payload)`` items with a 128-byte chunk size, then drop the connection."""
    pub = Client(url, socket_module=gevent.socket, chunk_size=128)
    pub.connect()
    pub.publish()
    for ts, payload in items:
        _send(pub, style, ts, payload)
        gevent.sleep(pace)
    gevent.sleep(0.2)
    pub.close()


@pytest.mark.parametrize("style", ["delta", "absolute"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_publisher_timestamps_cross_threshold(make_server, av_peers, start, style):
    srv = make_server()
    name = f"wrap{start}{style}"
    url = f"rtmp://127.0.0.1:{srv.port}/live/{name}"
    tags = _tags()
    base = STARTS[start]
    ff = av_peers("play", url, "--timeout", "20")
    own = _Player(url)
    try:
        assert wait_until(lambda: (s := srv.hub.get("live", name)) is not None
                          and len(s.players) == 2, timeout=20)
        _publish(url, style, [((base + ts) & MASK, p) for _, ts, p in tags])
        assert wait_until(lambda: len(own.video) >= len(tags), timeout=10)
        got = ff.result(30)
    finally:
        own.close()
    # grtmp player: every payload byte for byte, monotonic, the publisher's spacing.
    assert [m.payload for m in own.video] == [p for _, _, p in tags]
    stamps = [m.timestamp for m in own.video]
    assert stamps == sorted(stamps)
    assert [t - stamps[0] for t in stamps] == [ts - tags[0][1] for _, ts, _ in tags]
    # FFmpeg player: every frame, decoded, monotonic dts with the same spacing.
    assert "error" not in got, got
    assert got["hashes"] == _frame_hashes(tags)
    assert got["first_decode_error"] is None and got["video_frames"] == FRAMES
    dts = got["dts"]
    assert dts == sorted(dts)
    assert [d - dts[0] for d in dts] == [ts - tags[1][1] for _, ts, p in tags if p[1] == 1]


def test_player_timestamps_cross_extended_threshold(make_server, av_peers):
    """Players see frames near 0xFFFFFF: the server's own chunks carry extended timestamps."""
    srv = make_server(chunk_size=128)  # every frame spans fmt 3 chunks repeating the field
    url = f"rtmp://127.0.0.1:{srv.port}/live/egress"
    tags = _tags()
    base = EXT - 500
    ff = av_peers("play", url, "--timeout", "20")
    own = _Player(url)
    try:
        assert wait_until(lambda: (s := srv.hub.get("live", "egress")) is not None
                          and len(s.players) == 2, timeout=20)
        # The sequence header is stamped 0 (as in FLV files), the frames near 0xFFFFFF.
        items = [(0 if p[1] == 0 else base + ts, p) for _, ts, p in tags]
        _publish(url, "absolute", items)
        assert wait_until(lambda: len(own.video) >= len(tags), timeout=10)
        got = ff.result(30)
    finally:
        own.close()
    assert [m.payload for m in own.video] == [p for _, _, p in tags]
    stamps = [m.timestamp for m in own.video]
    assert stamps == [t for t, _ in items]
    assert stamps[1] < EXT <= stamps[-1]
    assert "error" not in got, got
    assert got["hashes"] == _frame_hashes(tags)
    assert got["first_decode_error"] is None and got["video_frames"] == FRAMES
    assert got["dts"] == [t for t, p in items if p[1] == 1]


def test_player_timestamps_wrap_across_republish(make_server, av_peers):
    """Three publishes walk the players' clock up to 2**32; the third crosses it.

    Each republish continues right after the highest timestamp sent; a publish may span up to
    2**31 - 1 ms, so two jumps bring the stream to 2**32 - 1000 ms. The grtmp player stays
    through all three publishes; an FFmpeg player joins for the third and sees the wrap.
    """
    srv = make_server(chunk_size=128)
    url = f"rtmp://127.0.0.1:{srv.port}/live/wrap"
    tags = _tags()
    header = tags[0][2]
    first_frame = tags[1][2]  # a keyframe
    own = _Player(url)
    try:
        assert wait_until(lambda: (s := srv.hub.get("live", "wrap")) is not None
                          and len(s.players) == 1, timeout=20)
        target = 2**32 - 1000
        jump1 = 0x7FFFFF00
        jump2 = target - (jump1 + 1) - 1  # the second publish starts at jump1 + 1
        for jump in (jump1, jump2):
            _publish(url, "delta", [(0, header), (0, first_frame), (jump, first_frame)])
            assert wait_until(lambda: not srv.hub.get("live", "wrap").is_live, timeout=10)
        stream = srv.hub.get("live", "wrap")
        assert stream.last_timestamp == target - 1
        before = len(own.video)
        ff = av_peers("play", url, "--timeout", "20")
        assert wait_until(lambda: len(stream.players) == 2, timeout=20)
        _publish(url, "delta", [(ts, p) for _, ts, p in tags])
        assert wait_until(lambda: len(own.video) >= before + len(tags), timeout=10)
        got = ff.result(30)
    finally:
        own.close()
    third = own.video[before:]
    assert [m.payload for m in third] == [p for _, _, p in tags]
    stamps = [m.timestamp for m in third]
    assert stamps[0] == target
    assert stamps == [(target + ts) & MASK for _, ts, _ in tags]
    assert stamps[-1] < stamps[0]  # wrapped, on the wire
    assert _serial_monotonic([m.timestamp for m in own.video])
    # FFmpeg unwraps the 32-bit FLV timestamps: monotonic dts across 2**32.
    assert "error" not in got, got
    assert got["hashes"] == _frame_hashes(tags)
    assert got["first_decode_error"] is None and got["video_frames"] == FRAMES
    dts = got["dts"]
    assert dts == sorted(dts), dts
    assert [d - dts[0] for d in dts] == [ts - tags[1][1] for _, ts, p in tags if p[1] == 1]
