"""grtmp.live without sockets (timestamp rebasing, GOP cache, catch-up, the player policy) and
the player outbox of grtmp.net over a fake socket."""

from __future__ import annotations

import io
import socket

import gevent
import pytest

from grtmp.config import ServerConfig
from grtmp.live import Packet, PlayerPolicy, Stream
from grtmp.media.multitrack import MANY_TRACKS, build_multitrack
from grtmp.media.tag import KIND_KEYFRAME
from grtmp.net.consume import consume_stream
from grtmp.net.outbox import Outbox, Wire
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.message import AUDIO, CSID_AUDIO, CSID_DATA, CSID_VIDEO, DATA_AMF0, VIDEO
from tests.helpers import wait_until

# -- synthetic FLV payloads -------------------------------------------------------------------

SPS = bytes.fromhex("6764001facd9405005bb011000000300100000030320f1831960")
PPS = bytes.fromhex("68ebe3cb22c0")
AVC_RECORD = (bytes((1, 0x64, 0x00, 0x1F, 0xFF, 0xE1)) + len(SPS).to_bytes(2, "big") + SPS
              + b"\x01" + len(PPS).to_bytes(2, "big") + PPS)
AVC_HEADER = b"\x17\x00\x00\x00\x00" + AVC_RECORD
AAC_HEADER = b"\xaf\x00\x12\x10"


def key(n: int = 0, size: int = 20) -> bytes:
    """An AVC keyframe (NALU) payload, tagged with ``n`` so packets can be told apart."""
    return b"\x17\x01\x00\x00\x00" + bytes([n & 0xFF]) * size


def inter(n: int = 0, size: int = 10) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([n & 0xFF]) * size


def aac(n: int = 0, size: int = 8) -> bytes:
    return b"\xaf\x01" + bytes([n & 0xFF]) * size


def ex_video(frame_type: int, packet_type: int, fourcc: bytes = b"hvc1",
             body: bytes = b"\x00\x01\x02") -> bytes:
    """Enhanced RTMP ExVideoTagHeader: IsExHeader | FrameType | PacketType, FourCC, body."""
    return bytes((0x80 | (frame_type << 4) | packet_type,)) + fourcc + body


def ex_audio(packet_type: int, fourcc: bytes = b"Opus", body: bytes = b"\x01\x02") -> bytes:
    """Enhanced RTMP ExAudioTagHeader: SoundFormat 9 | AudioPacketType, FourCC, body."""
    return bytes((0x90 | packet_type,)) + fourcc + body


def live_stream(**config: object) -> Stream:
    stream = Stream("live", "s", ServerConfig(**config))  # type: ignore[arg-type]
    stream.start_publishing(object())
    return stream


class LogSock:
    """A socket that hands what is written to ``sink``."""

    def __init__(self, sink) -> None:
        self.sink = sink

    def sendall(self, data: bytes) -> None:
        self.sink(bytes(data))


def sub_of(stream: Stream, queue_size: int = 64, *, on_lag=None, on_notify=None, sink=None,
           **policy: object) -> Outbox:
    """An RTMP player's outbox (chunk size 4096, stream id 1) whose writes go to ``sink``."""
    box: Outbox = Outbox(
        Wire(LogSock(sink or (lambda data: None))),
        PlayerPolicy(stream, **policy),  # type: ignore[arg-type]
        queue_size=queue_size, encode=lambda packet: packet.chunked(4096, 1),
        on_notify=(lambda published: on_notify(box, "publish" if published else "unpublish"))
        if on_notify else None,
        on_lag=(lambda: on_lag(box)) if on_lag else None)
    return box


def queued(sub: Outbox) -> list[Packet]:
    """Everything a subscriber would write: its catch-up list, then its queue (drained)."""
    out = [p for p in sub.initial if isinstance(p, Packet)]
    sub.initial = []
    while sub.queue.qsize():
        item = sub.queue.get_nowait()
        if isinstance(item, Packet):
            out.append(item)
    return out


# -- timestamps -------------------------------------------------------------------------------


def test_first_message_is_rebased_to_zero():
    s = live_stream()
    assert s.feed(VIDEO, 123_456, key()).timestamp == 0
    assert s.feed(AUDIO, 123_476, aac()).timestamp == 20
    assert s.feed(VIDEO, 123_496, inter()).timestamp == 40
    assert s.last_timestamp == 40


def test_timestamps_continue_across_republish():
    s = live_stream()
    for ts in (5000, 5040, 5080):
        s.feed(VIDEO, ts, inter())
    s.stop_publishing()
    s.start_publishing(object())
    # The second publisher starts its clock at 0 again; the stream does not go back.
    out = [s.feed(VIDEO, ts, inter()).timestamp for ts in (0, 40, 80)]
    assert out[0] > 80
    assert out == [out[0], out[0] + 40, out[0] + 80]
    s.stop_publishing()
    s.start_publishing(object())
    assert s.feed(VIDEO, 10_000_000, key()).timestamp > out[-1]


def test_stop_publishing_without_messages_starts_at_zero():
    s = Stream("live", "s")
    s.start_publishing(object())
    s.stop_publishing()
    s.start_publishing(object())
    assert s.feed(VIDEO, 777, key()).timestamp == 0


def test_publisher_timestamp_wraps_at_32_bits():
    s = live_stream()
    assert s.feed(VIDEO, 0xFFFF_FF00, key()).timestamp == 0
    assert s.feed(VIDEO, 0xFFFF_FFF0, inter()).timestamp == 0xF0
    assert s.feed(VIDEO, 0x0000_0010, inter()).timestamp == 0x110
    assert s.feed(VIDEO, 0x0000_1000, inter()).timestamp == 0x1100


def test_slightly_earlier_audio_clamps_instead_of_wrapping():
    s = live_stream()
    assert s.feed(VIDEO, 1000, key()).timestamp == 0
    # Audio a little before the first video message: 0, not 2**32 - 20.
    assert s.feed(AUDIO, 980, aac()).timestamp == 0
    assert s.feed(AUDIO, 1003, aac()).timestamp == 3


def test_republish_continues_after_highest_timestamp():
    s = live_stream()
    s.feed(VIDEO, 0, key())
    s.feed(VIDEO, 40, inter())
    s.feed(AUDIO, 30, aac())  # interleaved audio slightly behind the video
    s.stop_publishing()
    s.start_publishing(object())
    assert s.feed(VIDEO, 0, key()).timestamp > 40


# -- GOP cache --------------------------------------------------------------------------------


def test_gop_cache_resets_on_keyframe_and_keeps_headers_apart():
    s = live_stream()
    s.feed(AUDIO, 0, aac(0))  # before any keyframe: not cached
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(AUDIO, 0, AAC_HEADER)
    assert s.gop.packets == []
    a = s.feed(VIDEO, 0, key(1))
    b = s.feed(AUDIO, 10, aac(2))
    c = s.feed(VIDEO, 40, inter(3))
    assert s.gop.packets == [a, b, c]
    d = s.feed(VIDEO, 80, key(4))
    e = s.feed(VIDEO, 120, inter(5))
    assert s.gop.packets == [d, e]
    assert [p.payload for p in s.headers.values()] == [AVC_HEADER, AAC_HEADER]
    # Data messages go to subscribers but not into the GOP.
    s.feed(DATA_AMF0, 130, b"\x02\x00\x03abc")
    assert s.gop.packets == [d, e]


def test_new_sequence_header_replaces_old_one():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    new = AVC_HEADER[:-1] + b"\x00"
    s.feed(VIDEO, 10, new)
    assert list(s.headers) == [(VIDEO, 7)]
    assert s.avc_config == new


def test_gop_cache_bounded_by_messages():
    s = live_stream(gop_cache_max_messages=3)
    k = s.feed(VIDEO, 0, key())
    s.feed(VIDEO, 40, inter())
    s.feed(VIDEO, 80, inter())
    assert len(s.gop.packets) == 3 and s.gop.packets[0] is k
    s.feed(VIDEO, 120, inter())  # fourth: the GOP outgrew the cache
    assert s.gop.packets == []
    s.feed(VIDEO, 160, inter())
    assert s.gop.packets == []  # stays off until the next keyframe
    k2 = s.feed(VIDEO, 200, key())
    s.feed(AUDIO, 210, aac())
    assert len(s.gop.packets) == 2 and s.gop.packets[0] is k2


def test_gop_cache_bounded_by_bytes():
    s = live_stream(gop_cache_max_bytes=100)
    s.feed(VIDEO, 0, key(size=40))  # 45 bytes
    s.feed(VIDEO, 40, inter(size=45))  # 50 bytes: 95 in all
    assert len(s.gop.packets) == 2
    s.feed(VIDEO, 80, inter(size=5))  # 10 more: 105 > 100
    assert s.gop.packets == []
    s.feed(VIDEO, 120, key(size=40))
    assert len(s.gop.packets) == 1


def test_gop_cache_disabled():
    s = live_stream(gop_cache=False)
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(VIDEO, 0, key())
    s.feed(VIDEO, 40, inter())
    assert s.gop.packets == []
    assert s.avc_config == AVC_HEADER
    late = sub_of(s)
    s.subscribe(late)
    assert [p.payload for p in late.initial] == [AVC_HEADER]
    assert late.policy.need_keyframe is True


def test_unpublish_clears_gop_and_republish_clears_headers():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(VIDEO, 0, key())
    s.stop_publishing()
    assert s.gop.packets == [] and not s.is_live
    s.start_publishing(object())
    assert s.headers == {} and s.metadata is None


# -- subscribe / catch-up -------------------------------------------------------------------------


def test_late_joiner_gets_metadata_headers_then_gop():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(AUDIO, 0, AAC_HEADER)
    s.set_metadata({"width": 160.0}, b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
    s.feed(VIDEO, 0, key(1))
    s.feed(VIDEO, 40, inter(2))
    s.feed(VIDEO, 80, key(3))
    s.feed(AUDIO, 90, aac(4))
    s.feed(VIDEO, 120, inter(5))
    late = sub_of(s)
    s.subscribe(late)
    assert late.policy.need_keyframe is False
    got = [(p.type_id, p.payload) for p in late.initial]
    assert got == [
        (DATA_AMF0, s.metadata_packet.payload),
        (VIDEO, AVC_HEADER), (AUDIO, AAC_HEADER),
        (VIDEO, key(3)), (AUDIO, aac(4)), (VIDEO, inter(5)),
    ]
    # Live packets follow the catch-up packets.
    s.feed(VIDEO, 160, inter(6))
    assert [p.payload for p in queued(late)][-2:] == [inter(5), inter(6)]


def test_subscriber_before_keyframe_waits_for_one():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    sub = sub_of(s)
    s.subscribe(sub)
    assert sub.policy.need_keyframe is True
    s.feed(VIDEO, 0, inter(1))  # dropped: no keyframe yet
    s.feed(AUDIO, 5, aac(2))  # audio needs no keyframe
    s.feed(VIDEO, 40, key(3))
    s.feed(VIDEO, 80, inter(4))
    assert [p.payload for p in queued(sub)] == [AVC_HEADER, aac(2), key(3), inter(4)]


def test_subscriber_to_idle_stream_waits_and_gets_publish_notice():
    s = Stream("live", "s")
    events: list[str] = []
    sub = sub_of(s, on_notify=lambda _sub, what: events.append(what))
    s.subscribe(sub)
    assert sub.initial == [] and sub.policy.need_keyframe is True
    s.start_publishing(object())
    s.feed(VIDEO, 0, inter())
    s.feed(VIDEO, 40, key())
    items = []
    while sub.queue.qsize():
        items.append(sub.queue.get_nowait())
    assert not isinstance(items[0], Packet)
    items[0].send()
    assert events == ["publish"]
    assert [p.payload for p in items[1:]] == [key()]


# -- drop policy -----------------------------------------------------------------------------------


def test_full_queue_drops_video_until_keyframe_with_room():
    s = live_stream(queue_size=4)
    sub = sub_of(s, queue_size=4)
    s.subscribe(sub)
    s.feed(VIDEO, 0, key(0))
    for i in range(1, 4):
        s.feed(VIDEO, 40 * i, inter(i))
    assert sub.queue.qsize() == 4
    s.feed(VIDEO, 160, inter(4))  # no room: dropped, now waiting for a keyframe
    assert sub.policy.need_keyframe and sub.policy.lagging and sub.policy.dropped == 1
    sub.queue.get_nowait()
    s.feed(VIDEO, 200, inter(5))  # room now, but not a keyframe: dropped
    assert sub.queue.qsize() == 3 and sub.policy.dropped == 2
    s.feed(VIDEO, 240, key(6))  # a keyframe, but the queue is still more than half full
    assert sub.queue.qsize() == 3 and sub.policy.dropped == 3
    sub.queue.get_nowait()
    sub.queue.get_nowait()
    s.feed(VIDEO, 280, key(7))  # half full: resume here
    s.feed(VIDEO, 320, inter(8))
    assert not sub.policy.need_keyframe and not sub.policy.lagging
    assert [p.payload for p in queued(sub)] == [inter(3), key(7), inter(8)]


def test_audio_kept_while_video_waits_for_keyframe():
    s = live_stream()
    sub = sub_of(s, queue_size=3)
    s.subscribe(sub)
    for i in range(3):
        s.feed(VIDEO, 40 * i, key(i) if i == 0 else inter(i))
    s.feed(VIDEO, 120, inter(3))  # dropped
    sub.queue.get_nowait()
    sub.queue.get_nowait()
    s.feed(VIDEO, 160, inter(4))  # dropped: waiting for a keyframe
    s.feed(AUDIO, 170, aac(5))  # kept: there is room
    assert [p.payload for p in queued(sub)] == [inter(2), aac(5)]
    # Audio offered to a full queue is dropped, and counted.
    for i in range(3):
        s.feed(AUDIO, 200 + i, aac(i))
    before = sub.policy.dropped
    s.feed(AUDIO, 210, aac(9))
    assert sub.policy.dropped == before + 1


def test_headers_pass_while_waiting_for_keyframe():
    s = live_stream()
    sub = sub_of(s, queue_size=3)
    s.subscribe(sub)
    assert sub.policy.need_keyframe
    s.feed(VIDEO, 0, inter(1))
    s.feed(VIDEO, 0, AVC_HEADER)  # a header is not held back by the keyframe wait
    s.feed(VIDEO, 40, inter(2))
    assert [p.payload for p in queued(sub)] == [AVC_HEADER]


def test_header_change_reaches_lagging_subscriber_before_its_next_keyframe():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    sub = sub_of(s, queue_size=3)
    s.subscribe(sub)
    for i in range(3):
        s.feed(VIDEO, 40 * i, key(i) if i == 0 else inter(i))
    new_header = AVC_HEADER[:-1] + b"\x00"  # e.g. a resolution change
    s.feed(VIDEO, 120, new_header)  # queue full
    queued(sub)  # the player catches up
    s.feed(VIDEO, 160, key(4))
    got = [p.payload for p in queued(sub)]
    assert got[-1] == key(4)
    assert new_header in got, "the player would decode the new keyframe with the old SPS/PPS"


def test_on_lag_called_once_when_lag_exceeds_max_from_written_ts():
    s = live_stream(max_lag_seconds=1.0)
    lagged: list[Outbox] = []
    sub = sub_of(s, queue_size=2, on_lag=lagged.append)
    s.subscribe(sub)
    s.feed(VIDEO, 0, key())
    s.feed(VIDEO, 40, inter())
    sub.policy.written_ts = 40  # what the writer greenlet last sent
    for ts in (100, 500, 1040):  # 1000 ms behind at most: still tolerated
        s.feed(VIDEO, ts, inter())
    assert lagged == [] and not sub.closed and sub.policy.dropped == 3
    s.feed(VIDEO, 1041, inter())
    assert lagged == [sub] and sub.closed
    for ts in (1100, 5000):
        s.feed(VIDEO, ts, key())
    assert lagged == [sub]


def test_lag_anchor_is_first_drop_when_nothing_written_yet():
    s = live_stream(max_lag_seconds=0.5)
    lagged: list[Outbox] = []
    sub = sub_of(s, queue_size=1, on_lag=lagged.append)
    s.subscribe(sub)
    s.feed(VIDEO, 0, key())
    s.feed(AUDIO, 300, aac())  # dropped: anchors the lag at 300
    assert sub.policy.written_ts == 300 and lagged == []
    s.feed(AUDIO, 800, aac())
    assert lagged == []
    s.feed(AUDIO, 801, aac())
    assert lagged == [sub]


def test_paused_and_filtered_subscribers_get_nothing():
    s = live_stream()
    paused = sub_of(s)
    no_audio = sub_of(s, audio=False)
    no_video = sub_of(s, video=False)
    for sub in (paused, no_audio, no_video):
        s.subscribe(sub)
    paused.policy.paused = True
    s.feed(VIDEO, 0, key())
    s.feed(AUDIO, 10, aac())
    assert queued(paused) == []
    assert [p.type_id for p in queued(no_audio)] == [VIDEO]
    assert [p.type_id for p in queued(no_video)] == [AUDIO]


def test_multitrack_reaches_single_track_subscriber_as_track_zero():
    s = live_stream()
    plain = sub_of(s)
    multi = sub_of(s)
    multi.policy.multitrack = True
    s.subscribe(plain)
    s.subscribe(multi)
    body0, body1 = b"\x00\x00\x00track0", b"\x00\x00\x00track1"
    payload = build_multitrack(VIDEO, 0x10, 1, [(0, b"avc1", body0), (1, b"avc1", body1)],
                               MANY_TRACKS)
    s.feed(VIDEO, 0, payload)
    assert [p.payload for p in queued(multi)] == [payload]
    got = queued(plain)
    assert [p.payload for p in got] == [bytes((0x91,)) + b"avc1" + body0]
    assert got[0].kind == KIND_KEYFRAME


# -- consume_stream ------------------------------------------------------------------------------


def test_consume_stream_catch_up_then_live_then_close_unsubscribes():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(VIDEO, 0, key(1))
    it = consume_stream(s, timeout=2)
    first = next(it)
    assert first.payload == AVC_HEADER
    assert next(it).payload == key(1)
    assert len(s.players) == 1
    gevent.spawn_later(0.05, s.feed, VIDEO, 40, inter(2))
    with gevent.Timeout(3):
        assert next(it).payload == inter(2)
    it.close()
    assert s.players == []


def test_consume_stream_ends_after_timeout_and_unsubscribes():
    s = live_stream()
    with gevent.Timeout(3):
        got = list(consume_stream(s, timeout=0.1, audio=False))
    assert got == []
    assert s.players == []


def test_consume_stream_filters_audio():
    s = live_stream()
    it = consume_stream(s, audio=False, timeout=0.1)
    gevent.spawn_later(0.02, lambda: (s.feed(AUDIO, 0, aac()), s.feed(VIDEO, 0, key())))
    with gevent.Timeout(3):
        got = list(it)
    assert [p.type_id for p in got] == [VIDEO]


# -- Packet -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("type_id", "csid"), [(VIDEO, CSID_VIDEO), (AUDIO, CSID_AUDIO),
                                                 (DATA_AMF0, CSID_DATA)])
def test_packet_chunked_is_cached_and_decodes(type_id, csid):
    payload = bytes(range(256)) * 2 + b"tail"
    p = Packet(type_id, 0x1234, payload)
    a = p.chunked(128, 1)
    assert p.chunked(128, 1) is a
    b = p.chunked(4096, 1)
    c = p.chunked(128, 3)
    assert len({a, b, c}) == 3
    assert p.chunked(4096, 1) is b
    for data, size, sid in ((a, 128, 1), (b, 4096, 1), (c, 128, 3)):
        reader = ChunkReader(io.BytesIO(data))
        reader.chunk_size = size
        msg = reader.read_message()
        assert (msg.type_id, msg.timestamp, msg.stream_id, msg.csid) == \
            (type_id, 0x1234, sid, csid)
        assert msg.payload == payload
        assert reader.bytes_read == len(data)


def test_packet_chunked_extended_timestamp():
    p = Packet(VIDEO, 0x0123_4567, b"x" * 300)
    reader = ChunkReader(io.BytesIO(p.chunked(128, 1)))
    msg = reader.read_message()
    assert msg.timestamp == 0x0123_4567 and msg.payload == b"x" * 300


# -- seed attributes ------------------------------------------------------------------------


def test_seed_attributes():
    s = live_stream()
    assert s.aac_config is None and s.avc_config is None and s.sps == [] and s.pps == []
    s.feed(AUDIO, 0, AAC_HEADER)
    s.feed(VIDEO, 0, AVC_HEADER)
    assert s.aac_config == AAC_HEADER
    assert s.avc_config == AVC_HEADER
    assert s.sps == [SPS]
    assert s.pps == [PPS]


def test_seed_attributes_truncated_record():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER[:15])  # cut inside the SPS: no error, nothing usable
    assert s.avc_config == AVC_HEADER[:15]
    assert (s.sps, s.pps) == ([], [])


# -- the writer greenlet ---------------------------------------------------------------------


def _writer_log(stream: Stream, queue_size: int) -> tuple[Outbox, list]:
    log: list = []
    sub = sub_of(stream, queue_size=queue_size, sink=log.append,
                 on_notify=lambda _s, what: log.append(what))
    return sub, log


def test_writer_sends_catch_up_then_queue_in_one_write_and_sets_written_ts():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(VIDEO, 0, key(1))
    sub, log = _writer_log(s, 16)
    s.subscribe(sub)
    s.feed(VIDEO, 40, inter(2))
    sub.start()
    with gevent.Timeout(3):
        while sub.policy.written_ts != 40:
            gevent.sleep(0.01)
    # Catch-up, then what queued meanwhile: the bytes of the three packets, in order.
    reader = ChunkReader(io.BytesIO(b"".join(log)))
    got = [reader.read_message().payload for _ in range(3)]
    assert got == [AVC_HEADER, key(1), inter(2)]
    sub.stop()
    assert sub._writer.dead


def test_unpublish_notice_to_full_queue_stays_after_queued_media():
    s = live_stream()
    sub, log = _writer_log(s, 2)
    s.subscribe(sub)
    s.feed(VIDEO, 0, key(1))
    s.feed(VIDEO, 40, inter(2))  # the queue is full
    s.stop_publishing()
    sub.start()
    with gevent.Timeout(3):
        while "unpublish" not in log or sub.policy.written_ts != 40:
            gevent.sleep(0.01)
    sub.stop()
    assert log[-1] == "unpublish", "StreamEOF/UnpublishNotify must follow the media before it"


def test_seed_audio_and_video_channels():
    s = live_stream()
    s.feed(VIDEO, 0, AVC_HEADER)
    s.feed(AUDIO, 0, AAC_HEADER)
    s.feed(VIDEO, 0, key(1))
    s.feed(AUDIO, 10, aac(2))
    audio = s.audio_channel(timeout=0.05)
    video = s.video_channel(timeout=0.05)
    first_audio = next(audio)  # subscribes: catch-up first
    first_video = next(video)
    s.feed(VIDEO, 40, inter(3))
    s.feed(AUDIO, 50, aac(4))
    got_audio = [first_audio.payload] + [p.payload for p in audio]
    got_video = [first_video.payload] + [p.payload for p in video]
    assert got_audio == [AAC_HEADER, aac(2), aac(4)]
    assert got_video == [AVC_HEADER, key(1), inter(3)]
    assert s.players == []  # both channels ended (timeout) and unsubscribed


def test_modex_sequence_start_is_cached_as_a_header_not_a_keyframe():
    """The hub's view of 0x97 + TimestampOffsetNano ModEx + SequenceStart avc1 (the bug the
    one classifier fixed): it lands in the header cache and leaves the GOP alone."""
    s = live_stream()
    s.feed(VIDEO, 0, key(1))
    s.feed(VIDEO, 40, inter(2))
    record = AVC_HEADER[5:]
    # ExHeader | KeyFrame | ModEx; ModEx size-1 = 2 (3 bytes of nano offset); then type
    # TimestampOffsetNano (0) << 4 | SequenceStart (0); FourCC; the avcC record.
    modex_header = bytes((0x97, 0x02)) + b"\x00\x01\x02" + bytes((0x00,)) + b"avc1" + record
    s.feed(VIDEO, 80, modex_header)
    assert (VIDEO, b"avc1", 0) in s.headers
    assert [p.payload for p in s.gop.packets] == [key(1), inter(2)]


# -- batching: one write per player per publisher read ---------------------------------------


class _CountingRaw:
    """Wraps the OS socket to count sendmsg calls."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.sendmsg_calls = 0

    def sendmsg(self, buffers):
        self.sendmsg_calls += 1
        return self.raw.sendmsg(buffers)

    def send(self, data):
        return self.raw.send(data)


def _socket_outbox(stream: Stream, on_notify=None, sndbuf: int = 0):
    import gevent.socket as gsocket

    from grtmp.net.outbox import flush_pending

    a, b = gsocket.socketpair()
    if sndbuf:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    wire = Wire(a)
    wire.raw = _CountingRaw(wire.raw)
    box = Outbox(wire, PlayerPolicy(stream), queue_size=64,
                 encode=lambda packet: packet.chunked(4096, 1), on_notify=on_notify)
    return box, a, b, flush_pending


def _read_messages(sock, count: int) -> list:
    rfile = sock.makefile("rb")
    reader = ChunkReader(rfile)
    reader.chunk_size = 4096
    with gevent.Timeout(5):
        return [reader.read_message() for _ in range(count)]


def test_idle_player_gets_one_write_per_flush():
    s = live_stream()
    box, a, b, flush_pending = _socket_outbox(s)
    s.subscribe(box)
    box.start()
    try:
        s.feed(VIDEO, 0, key(0))
        for i in range(1, 5):
            s.feed(VIDEO, 40 * i, inter(i))
        assert len(box.batch) == 5 and box.wire.raw.sendmsg_calls == 0
        flush_pending()
        assert box.wire.raw.sendmsg_calls == 1 and not box.batch
        msgs = _read_messages(b, 5)
        assert [bytes(m.payload) for m in msgs] == [key(0)] + [inter(i) for i in range(1, 5)]
        assert box.policy.written_ts == 160 and box.packets_out == 5
    finally:
        box.stop(flush=False)
        a.close()
        b.close()


def test_event_after_a_batch_keeps_its_order():
    s = live_stream()
    sent: list[str] = []
    box, a, b, flush_pending = _socket_outbox(
        s, on_notify=lambda published: sent.append("notify"))
    s.subscribe(box)
    box.start()
    try:
        s.feed(VIDEO, 0, key(0))
        s.stop_publishing()  # the notification must follow the gathered frame
        assert not box.batch  # the event pushed the batch out first
        assert wait_until(lambda: sent == ["notify"], timeout=5)
        msgs = _read_messages(b, 1)
        assert bytes(msgs[0].payload) == key(0)
    finally:
        box.stop(flush=False)
        a.close()
        b.close()


def test_partial_batch_write_is_finished_by_the_writer_in_order():
    s = live_stream()
    box, a, b, flush_pending = _socket_outbox(s, sndbuf=4096)
    s.subscribe(box)
    box.start()
    big = [b"\x27\x01\x00\x00\x00" + bytes([i]) * 60000 for i in range(6)]
    try:
        s.feed(VIDEO, 0, key(0))
        for i, payload in enumerate(big):
            s.feed(VIDEO, 40 * (i + 1), payload)
        flush_pending()  # far more than the socket buffer: the writer finishes it
        msgs = _read_messages(b, 7)
        assert [bytes(m.payload) for m in msgs] == [key(0), *big]
    finally:
        box.stop(flush=False)
        a.close()
        b.close()
