"""The per-stream LL-HLS segmenter: complete samples in, parts and segments (fMP4 bytes) out.

One :class:`Segmenter` per live stream, fed by :class:`grtmp.hls.source.MediaSource` events; it
muxes every sample once, whatever the number of viewers. Its state is what the playlist and the
resource lookup in :mod:`grtmp.hls.playlist` read.

Cutting rules (RFC 8216bis 4.4.4.9, 6.2.1):

* The *leading* track is video when there is one, else audio. A **part** ends before the
  leading sample that would make it longer than the part target, so parts are never longer
  than ``PART-TARGET`` (unless one frame alone is); a part starting with a key frame (or any
  audio-only part) is ``INDEPENDENT=YES``.
* A **segment** ends at the first video key frame at or after the target duration (a key
  frame less than 5 % or 100 ms early counts, for millisecond timestamps; audio only: at the
  first frame at or after it), and in any case at ``max_segment_duration`` (a stream without
  key frames still has bounded segments). A segment is the concatenation of its parts.
* The other track's samples go to the part in which their decode time falls; a part waits for
  that track to reach its end, at most ``max_interleave`` seconds (a stalled track does not
  stall the stream). If the leading track stalls, parts are cut on the other track's timeline.
* A change of tracks or codec configuration ends the open segment; the next one starts a new
  init segment and carries ``EXT-X-DISCONTINUITY``.

Memory is bounded: the last ``max_segments`` complete segments are listed, ``retain_segments``
more stay downloadable after they leave the playlist (6.2.2), and init segments are kept only
while a retained segment uses them. Every byte is held once: a part's bytes are built once when
it is published, and when its segment completes they are joined into the segment's bytes, of
which the part is then a slice (parts stay downloadable as long as their segment, well over
the three target durations 6.2.2 asks after their tags leave the playlist).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from grtmp.errors import CodecError
from grtmp.hls.fmp4 import Sample, TrackConfig, TrackRun, build_fragment, build_init_segment
from grtmp.hls.source import MediaSample, SourceEvent, TracksChanged

__all__ = ["HLSConfig", "Segmenter", "Segment", "Part", "Period"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HLSConfig:
    """Segmenter settings (seconds).

    ``segment_duration``: target segment duration (segments are cut on the first key frame at
    or after it). ``part_duration``: the part target (``PART-TARGET``). ``max_segments``:
    segments listed in the playlist. ``retain_segments``: segments kept downloadable after
    leaving it. ``max_segment_duration``: cut even without a key frame. ``max_interleave``:
    how long one track waits for the other before a part is cut without it. ``part_window``:
    EXT-X-PART tags are listed for segments ending within this many target durations of the
    live edge (RFC 8216bis 6.2.2 says 3). ``prefix``: prepended to every resource name (for
    example a per-publish token, so names never repeat across publishes).
    """

    segment_duration: float = 2.0
    part_duration: float = 1 / 3
    max_segments: int = 7
    retain_segments: int = 2
    max_segment_duration: float = 15.0
    max_interleave: float = 1.0
    part_window: float = 3.0
    prefix: str = ""

    def __post_init__(self) -> None:
        if not 0.1 <= self.segment_duration <= 60:
            raise ValueError("segment_duration must be within 0.1..60 s")
        if not 0.05 <= self.part_duration <= self.segment_duration:
            raise ValueError("part_duration must be within 0.05 s..segment_duration")
        if self.max_segments < 3:
            raise ValueError("max_segments must be >= 3 (a live playlist spans 3 targets)")
        if self.retain_segments < 0:
            raise ValueError("retain_segments must be >= 0")
        if self.max_segment_duration < self.segment_duration:
            raise ValueError("max_segment_duration must be >= segment_duration")
        if self.max_interleave <= 0 or self.part_window <= 0:
            raise ValueError("max_interleave and part_window must be > 0")
        if not all(c.isalnum() or c in "-_" for c in self.prefix):
            raise ValueError("prefix may hold only letters, digits, '-' and '_'")


@dataclass(eq=False)
class Part:
    """A published part: stream-wide ``number`` (its resource name), parent ``msn`` and its
    ``index`` in that segment, duration (s), independence, size, and its bytes while its
    segment is open (then they live in the segment's bytes, at ``offset``)."""

    number: int
    msn: int
    index: int
    duration: float
    independent: bool
    data: bytes | None
    size: int = 0
    offset: int = 0


@dataclass(eq=False)
class Period:
    """Tracks and init segment shared by consecutive segments (a new one per discontinuity)."""

    init_id: int
    tracks: list[TrackConfig]
    init: bytes

    @property
    def video(self) -> TrackConfig | None:
        return next((t for t in self.tracks if t.kind == "video"), None)

    @property
    def audio(self) -> TrackConfig | None:
        return next((t for t in self.tracks if t.kind == "audio"), None)


@dataclass(eq=False)
class Segment:
    """A media segment: ``msn``, period (init segment), whether ``EXT-X-DISCONTINUITY``
    precedes it, start (media time, s), program date time (epoch s), its parts, and once
    complete its duration and bytes."""

    msn: int
    period: Period
    discontinuity: bool
    start: float
    date: float
    parts: list[Part] = field(default_factory=list)
    duration: float = 0.0
    data: bytes | None = None
    size: int = 0
    complete: bool = False

    def part_bytes(self, part: Part) -> bytes:
        """The bytes of one of this segment's parts (a slice of the segment once complete)."""
        if part.data is not None:
            return part.data
        assert self.data is not None
        return self.data[part.offset:part.offset + part.size]


def _us(ticks: int, timescale: int) -> int:
    return ticks * 1_000_000 // timescale


class Segmenter:
    """Cuts one stream's samples into parts and segments (see the module docstring).

    Feed it with :meth:`handle` (source events) or :meth:`set_tracks` / :meth:`add_sample`;
    :meth:`finish` ends the stream. Every call returns the number of parts it published, so
    the caller knows when to wake waiting requests; :attr:`version` counts every change.
    ``clock`` gives the wall time for ``EXT-X-PROGRAM-DATE-TIME``.
    """

    def __init__(self, config: HLSConfig | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config or HLSConfig()
        self._clock = clock
        self.segments: deque[Segment] = deque()  # complete segments still retained
        self.current: Segment | None = None  # the open segment, once it has a part
        self.period: Period | None = None
        self.next_msn = 0
        self.next_part_number = 0
        self.discontinuity_sequence = 0  # EXT-X-DISCONTINUITY-SEQUENCE of the listed window
        self.ended = False
        self.version = 0
        self.parts_published = 0
        self.max_part_duration = 0.0
        self._max_segment_rounded = 0
        self._init_counter = 0
        self._pending_discontinuity = False
        self._queues: dict[str, deque[Sample]] = {"video": deque(), "audio": deque()}
        self._timescale: dict[str, int] = {}
        self._track_ids: dict[str, int] = {}
        self._leader = "video"
        self._follower: str | None = None
        self._horizon: dict[str, int] = {}  # end (us) of the last sample received per track
        self._part_start: int | None = None  # us
        self._seg_start = 0  # us
        self._date_anchor: tuple[int, float] = (0, 0.0)  # (media us, wall s)
        self._part_us = round(self.config.part_duration * 1e6)
        self._target_us = round(self.config.segment_duration * 1e6)
        # a key frame this close to the target counts as at it (millisecond timestamps)
        self._slack_us = min(100_000, self._target_us // 20)
        self._max_seg_us = round(self.config.max_segment_duration * 1e6)
        self._interleave_us = round(self.config.max_interleave * 1e6)

    # -- input ---------------------------------------------------------------------------

    def handle(self, events: list[SourceEvent]) -> int:
        """Apply :class:`~grtmp.hls.source.MediaSource` events; return parts published."""
        n = 0
        for ev in events:
            if isinstance(ev, MediaSample):
                n += self.add_sample(ev.kind, ev.sample)
            elif isinstance(ev, TracksChanged):
                n += self.set_tracks(ev.tracks)
        return n

    def set_tracks(self, tracks: list[TrackConfig]) -> int:
        """Start a period with ``tracks`` (video first): ends the open segment, builds the init
        segment, and marks the next segment as a discontinuity if segments came before."""
        if not tracks:
            raise CodecError("no tracks")
        n = self._flush_all()
        self.ended = False
        init = build_init_segment(tracks)
        self.period = Period(self._init_counter, list(tracks), init)
        self._init_counter += 1
        self._pending_discontinuity = bool(self.segments) or self.current is not None
        self._timescale = {t.kind: t.timescale for t in tracks}
        self._track_ids = {t.kind: i + 1 for i, t in enumerate(tracks)}
        self._leader = tracks[0].kind
        self._follower = tracks[1].kind if len(tracks) > 1 else None
        for q in self._queues.values():
            q.clear()
        self._horizon = {}
        self._part_start = None
        self.version += 1
        return n

    def add_sample(self, kind: str, sample: Sample) -> int:
        """Queue a complete sample of the ``kind`` track; return the parts it completed."""
        if self.period is None or kind not in self._timescale or self.ended:
            return 0
        q = self._queues[kind]
        if q and sample.dts < q[-1].dts:
            return 0  # the source keeps decode times increasing; refuse anything else
        q.append(sample)
        self._horizon[kind] = _us(sample.dts + sample.duration, self._timescale[kind])
        n = 0
        while self._emit(final=False):
            n += 1
        return n

    def finish(self, *, endlist: bool = True) -> int:
        """End of stream: publish what is queued as the last part and segment. With
        ``endlist`` the playlist gets EXT-X-ENDLIST and no preload hint; without, the next
        :meth:`set_tracks` continues it after a discontinuity."""
        n = self._flush_all()
        if endlist:
            self.ended = True
        self.version += 1
        return n

    # -- cutting -------------------------------------------------------------------------

    def _flush_all(self) -> int:
        n = 0
        if self.period is None:
            return 0
        while self._emit(final=False):
            n += 1
        if self._emit(final=True):
            n += 1
        if self.current is not None:
            self._close_segment(self._seg_start if self._part_start is None
                                else self._part_start)
        return n

    def _emit(self, *, final: bool) -> bool:
        """Publish one part if its end is known (or, ``final``, everything queued)."""
        lead = self._queues[self._leader]
        ts = self._timescale[self._leader]
        fol = self._queues[self._follower] if self._follower else None
        if self._part_start is None:
            if not self._start_period(lead, ts, fol, final):
                return False
        assert self._part_start is not None
        start = self._part_start
        cut, new_segment, k = self._find_cut(lead, ts, fol)
        if cut is None:
            if not final:
                return False
            ends = [_us(q[-1].dts + q[-1].duration, self._timescale[kind])
                    for kind, q in self._queues.items() if q and kind in self._timescale]
            if not ends:
                return False
            cut, new_segment, k = max(max(ends), start), True, len(lead)
        elif fol is not None and not final and self._follower in self._timescale:
            horizon = self._horizon.get(self._follower, -1)
            lead_horizon = self._horizon.get(self._leader, start)
            if horizon < cut and lead_horizon - cut < self._interleave_us:
                return False  # wait for the other track to reach the cut
        lead_samples = [lead.popleft() for _ in range(k)]
        fol_samples: list[Sample] = []
        if fol is not None and self._follower is not None:
            fts = self._timescale[self._follower]
            while fol and (final or _us(fol[0].dts, fts) < cut):
                fol_samples.append(fol.popleft())
        if lead_samples or fol_samples:
            self._publish_part(start, cut, lead_samples, fol_samples)
        self._part_start = cut
        if new_segment:
            self._close_segment(cut)
            self._seg_start = cut
        return True

    def _start_period(self, lead: deque[Sample], ts: int, fol: deque[Sample] | None,
                      final: bool) -> bool:
        """Find the first part's start: the first leading sample (video: a key frame)."""
        if self._leader == "video":
            while lead and not lead[0].keyframe:
                lead.popleft()
        if lead:
            start = _us(lead[0].dts, ts)
        elif fol and self._follower and (
                final or self._horizon.get(self._follower, 0) - _us(fol[0].dts, self._timescale[
                    self._follower]) > self._interleave_us * 4):
            start = _us(fol[0].dts, self._timescale[self._follower])  # no video is coming
        else:
            return False
        if fol and self._follower:
            fts = self._timescale[self._follower]
            while fol and _us(fol[0].dts + fol[0].duration, fts) <= start:
                fol.popleft()  # audio wholly before the first video frame
        self._part_start = self._seg_start = start
        self._date_anchor = (start, self._clock())
        return True

    def _find_cut(self, lead: deque[Sample], ts: int,
                  fol: deque[Sample] | None) -> tuple[int | None, bool, int]:
        """(cut time us, ends the segment, leading samples in the part), cut None if unknown."""
        start = self._part_start or 0
        seg = self._seg_start
        audio_lead = self._leader == "audio"
        for i in range(1, len(lead)):
            s = lead[i]
            t = _us(s.dts, ts)
            if t <= start:
                continue  # late leading samples (after a stall) join the current part
            elapsed = t - seg
            if audio_lead and elapsed >= self._target_us:
                return t, True, i
            if s.keyframe and not audio_lead and elapsed >= self._target_us - self._slack_us:
                return t, True, i
            if elapsed >= self._max_seg_us:
                return t, True, i
            if _us(s.dts + s.duration, ts) - start > self._part_us:
                return t, False, i
        # the leading track stalls while the other goes on: cut on the other's timeline
        if fol and self._follower:
            fh = self._horizon.get(self._follower, 0)
            lh = self._horizon.get(self._leader, start)
            cut = start + self._part_us
            if fh - max(lh, start) > self._interleave_us and fh >= cut:
                k = sum(1 for s in lead if _us(s.dts, ts) < cut)
                return cut, cut - seg >= self._max_seg_us, k
        return None, False, 0

    def _publish_part(self, start: int, end: int, lead: list[Sample],
                      fol: list[Sample]) -> None:
        assert self.period is not None
        if self.current is None:
            date = self._date_anchor[1] + (start - self._date_anchor[0]) / 1e6
            self.current = Segment(msn=self.next_msn, period=self.period,
                                   discontinuity=self._pending_discontinuity,
                                   start=start / 1e6, date=date)
            self._pending_discontinuity = False
            self.next_msn += 1
        runs = []
        for kind, samples in ((self._leader, lead), (self._follower, fol)):
            if kind and samples:
                runs.append(TrackRun(self._track_ids[kind], kind,  # type: ignore[arg-type]
                                     samples))
        runs.sort(key=lambda r: r.track_id)
        data = build_fragment(self.parts_published + 1, runs)
        duration = (end - start) / 1e6
        if self._leader == "video":
            independent = bool(lead) and lead[0].keyframe
        else:
            independent = True
        part = Part(number=self.next_part_number, msn=self.current.msn,
                    index=len(self.current.parts), duration=duration, independent=independent,
                    data=data, size=len(data))
        self.current.parts.append(part)
        self.next_part_number += 1
        self.parts_published += 1
        self.max_part_duration = max(self.max_part_duration, duration)
        self.version += 1

    def _close_segment(self, end: int) -> None:
        seg = self.current
        if seg is None:
            return
        self.current = None
        seg.duration = max(0.0, end / 1e6 - seg.start)
        seg.data = b"".join(p.data or b"" for p in seg.parts)
        seg.size = len(seg.data)
        offset = 0
        for p in seg.parts:  # from now on a part is a slice of the segment: held once
            p.offset, p.data = offset, None
            offset += p.size
        seg.complete = True
        self._max_segment_rounded = max(self._max_segment_rounded, int(seg.duration + 0.5))
        self.segments.append(seg)
        listed = self.config.max_segments
        if len(self.segments) > listed and self.segments[-listed - 1].discontinuity:
            self.discontinuity_sequence += 1
        while len(self.segments) > listed + self.config.retain_segments:
            self.segments.popleft()
        self.version += 1

    # -- views ---------------------------------------------------------------------------

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: the configured target, raised to the longest segment so far
        (rounded) so EXTINF never exceeds it (RFC 8216bis 4.4.3.1)."""
        return max(math.ceil(self.config.segment_duration - 1e-9),
                   self._max_segment_rounded, 1)

    @property
    def part_target(self) -> float:
        """PART-TARGET: the configured part target, or the longest part if one was longer
        (a single frame longer than the target)."""
        return max(self.config.part_duration, self.max_part_duration)

    @property
    def listed_segments(self) -> list[Segment]:
        """The complete segments the playlist lists."""
        segs = list(self.segments)
        return segs[-self.config.max_segments:]

    @property
    def last_msn(self) -> int | None:
        """MSN of the last complete segment (None before the first)."""
        return self.segments[-1].msn if self.segments else None

    @property
    def open_msn(self) -> int:
        """MSN of the segment being built (its parts are the newest)."""
        return self.current.msn if self.current is not None else self.next_msn

    def init_segments(self) -> dict[int, bytes]:
        """Init segments still referenced (by id)."""
        out = {s.period.init_id: s.period.init for s in self.segments}
        if self.current is not None:
            out[self.current.period.init_id] = self.current.period.init
        if self.period is not None:
            out[self.period.init_id] = self.period.init
        return out
