"""LL-HLS playlists and the request-side rules, over a :class:`~grtmp.hls.segmenter.Segmenter`.

* :func:`render_media_playlist`: the media playlist (RFC 8216bis 4.4): ``EXT-X-VERSION`` 6
  (the lowest that allows ``EXT-X-MAP`` in a non-I-frame playlist, section 8; the LL-HLS tags
  need no higher), ``EXT-X-TARGETDURATION``, ``EXT-X-SERVER-CONTROL`` with
  ``CAN-BLOCK-RELOAD=YES`` and ``PART-HOLD-BACK`` = 3 part targets, ``EXT-X-PART-INF``,
  ``EXT-X-MEDIA-SEQUENCE``, ``EXT-X-DISCONTINUITY-SEQUENCE``, then per segment
  ``EXT-X-DISCONTINUITY`` / ``EXT-X-MAP`` when the init segment changes,
  ``EXT-X-PROGRAM-DATE-TIME``, ``EXT-X-PART`` tags for segments near the live edge, ``EXTINF``;
  the open segment's parts; and ``EXT-X-PRELOAD-HINT TYPE=PART`` for the next part (hls.js
  needs it in low-latency mode) or ``EXT-X-ENDLIST``. Classic clients (FFmpeg, VLC, Safari)
  ignore the LL tags and play the segments.
* :func:`render_multivariant_playlist`: one variant with ``BANDWIDTH``, ``AVERAGE-BANDWIDTH``,
  ``CODECS``, ``RESOLUTION``, ``FRAME-RATE``.
* Blocking playlist reload (6.2.5.2): :func:`parse_delivery_directives` reads ``_HLS_msn`` /
  ``_HLS_part`` (bad values -> :class:`BadRequest`, HTTP 400) and :func:`reload_ready` says
  whether the playlist can be sent now (raising :class:`BadRequest` for a request too far
  ahead); the HTTP layer waits on it, at most 3 target durations, then answers 503.
* Resource names (``{prefix}init{id}.mp4``, ``{prefix}seg{msn}.m4s``, ``{prefix}part{n}.m4s``,
  parts numbered across the stream so the preload hint never changes name) and
  :func:`get_resource`: bytes, ``None`` (404) or :data:`NOT_READY` for the hinted part.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from grtmp.errors import ProtocolError
from grtmp.hls.segmenter import Part, Segment, Segmenter

__all__ = [
    "BadRequest",
    "NotReady",
    "NOT_READY",
    "PLAYLIST_VERSION",
    "PLAYLIST_CONTENT_TYPE",
    "DeliveryDirectives",
    "parse_delivery_directives",
    "advance_part_limit",
    "reload_ready",
    "has_part",
    "render_media_playlist",
    "render_multivariant_playlist",
    "init_name",
    "segment_name",
    "part_name",
    "parse_resource_name",
    "get_resource",
    "content_type",
]

#: EXT-X-VERSION: 6 is required for EXT-X-MAP outside I-frame playlists (RFC 8216bis 8).
PLAYLIST_VERSION = 6
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"

_MAX_DECIMAL_INTEGER = (1 << 64) - 1  # decimal-integer range (4.2)


class BadRequest(ProtocolError):
    """A playlist or resource request the server refuses with HTTP 400 (RFC 8216bis 6.2.5.2)."""

    status = 400


class NotReady:
    """The type of :data:`NOT_READY`: a resource named by the preload hint, not yet
    published. The HTTP layer waits for it (like a blocking reload) instead of answering."""

    _instance: NotReady | None = None

    def __new__(cls) -> NotReady:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_READY"

    def __bool__(self) -> bool:
        return False


NOT_READY = NotReady()


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_NAME = re.compile(r"(init|seg|part)(0|[1-9][0-9]{0,18})\.(mp4|m4s)")
_EXT = {"init": "mp4", "seg": "m4s", "part": "m4s"}


def init_name(prefix: str, init_id: int) -> str:
    """Name of an init segment (relative to the playlist)."""
    return f"{prefix}init{init_id}.mp4"


def segment_name(prefix: str, msn: int) -> str:
    """Name of a media segment."""
    return f"{prefix}seg{msn}.m4s"


def part_name(prefix: str, number: int) -> str:
    """Name of a part (``number`` counts parts across the stream)."""
    return f"{prefix}part{number}.m4s"


def parse_resource_name(prefix: str, name: str) -> tuple[str, int] | None:
    """``("init"|"seg"|"part", number)`` for a name this module makes, else None."""
    if not name.startswith(prefix):
        return None
    m = _NAME.fullmatch(name[len(prefix):])
    if m is None or _EXT[m.group(1)] != m.group(3):
        return None
    return m.group(1), int(m.group(2))


def content_type(name: str) -> str:
    """Content-Type for a playlist or resource name."""
    if name.endswith(".m3u8"):
        return PLAYLIST_CONTENT_TYPE
    return "video/mp4"


def _find_segment(seg: Segmenter, msn: int) -> Segment | None:
    if seg.current is not None and seg.current.msn == msn:
        return seg.current
    for s in seg.segments:
        if s.msn == msn:
            return s
    return None


def _find_part(seg: Segmenter, number: int) -> tuple[Segment, Part] | None:
    for s in ([seg.current] if seg.current else []) + list(reversed(seg.segments)):
        if s.parts and s.parts[0].number <= number <= s.parts[-1].number:
            index = number - s.parts[0].number  # parts of a segment are numbered in a row
            return s, s.parts[index]
    return None


def get_resource(seg: Segmenter, name: str) -> bytes | NotReady | None:
    """The bytes of an init segment, segment or part; :data:`NOT_READY` for the part named by
    the preload hint (RFC 8216bis 6.2.6: it must be requestable, and is answered when
    complete); ``None`` (404) for anything else: unknown, evicted, or further ahead."""
    parsed = parse_resource_name(seg.config.prefix, name)
    if parsed is None:
        return None
    kind, number = parsed
    if kind == "init":
        return seg.init_segments().get(number)
    if kind == "seg":
        s = _find_segment(seg, number)
        return s.data if s is not None and s.complete else None
    if number == seg.next_part_number and not seg.ended and seg.period is not None:
        return NOT_READY
    if number >= seg.next_part_number:
        return None
    found = _find_part(seg, number)
    return found[0].part_bytes(found[1]) if found is not None else None


# --------------------------------------------------------------------------------------------
# Delivery directives and blocking reload
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryDirectives:
    """``_HLS_msn``, ``_HLS_part`` and ``_HLS_skip`` of a playlist request (6.2.5)."""

    msn: int | None = None
    part: int | None = None
    skip: str | None = None


def _decimal_integer(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise BadRequest(f"{name} is not a decimal-integer")
    n = int(value)
    if n > _MAX_DECIMAL_INTEGER:
        raise BadRequest(f"{name} out of range")
    return n


def parse_delivery_directives(
    query: str | Mapping[str, str | Sequence[str]] | None,
) -> DeliveryDirectives:
    """Read the delivery directives of a playlist request from its query string (or a mapping
    of parameters). Other parameters are ignored. Raises :class:`BadRequest` for a value that
    is not a decimal-integer (4.2), a repeated directive, or ``_HLS_part`` without
    ``_HLS_msn`` (6.2.5.2)."""
    if query is None:
        return DeliveryDirectives()
    if isinstance(query, str):
        params: Mapping[str, str | Sequence[str]] = parse_qs(query, keep_blank_values=True)
    else:
        params = query

    def one(key: str) -> str | None:
        v = params.get(key)
        if v is None:
            return None
        if isinstance(v, str):
            return v
        if len(v) != 1:
            raise BadRequest(f"{key} given {len(v)} times")
        return v[0]

    msn_s, part_s, skip = one("_HLS_msn"), one("_HLS_part"), one("_HLS_skip")
    msn = _decimal_integer("_HLS_msn", msn_s) if msn_s is not None else None
    part = _decimal_integer("_HLS_part", part_s) if part_s is not None else None
    if part is not None and msn is None:
        raise BadRequest("_HLS_part without _HLS_msn")
    return DeliveryDirectives(msn, part, skip)


def advance_part_limit(part_target: float) -> int:
    """How far beyond the last part a request may ask (6.2.5.2): 3 / PART-TARGET parts when
    the part target is under a second, else 3."""
    return math.ceil(3 / part_target - 1e-9) if part_target < 1 else 3


def has_part(seg: Segmenter, msn: int, part: int | None) -> bool:
    """Whether the playlist now holds segment ``msn`` (``part`` None) or part ``part`` of
    segment ``msn``, or something later. A part index past a complete segment's last part
    means part 0 of the next segment (6.2.5.2); a segment no longer retained counts as
    present (the playlist is sent at once, 6.2.5.2)."""
    if part is None:
        last = seg.last_msn
        return last is not None and last >= msn
    while True:
        if msn < seg.open_msn:
            s = _find_segment(seg, msn)
            if s is None or part < len(s.parts):
                return True
            msn, part = msn + 1, 0
            continue
        if msn == seg.open_msn and seg.current is not None:
            return part < len(seg.current.parts)
        return False


def playlist_available(seg: Segmenter) -> bool:
    """Whether there is a playlist to send at all (a complete segment, or the stream ended)."""
    return bool(seg.segments) or seg.ended


def reload_ready(seg: Segmenter, directives: DeliveryDirectives) -> bool:
    """Whether a playlist request with these directives can be answered now (False: wait).

    Raises :class:`BadRequest` when ``_HLS_msn`` is more than two past the last segment, or
    ``_HLS_part`` more than the Advance Part Limit past the last part (6.2.5.2). Once the
    stream has ended the directives are ignored."""
    if seg.ended:
        return True
    if directives.msn is None:
        return playlist_available(seg)
    msn, part = directives.msn, directives.part
    last = seg.last_msn if seg.last_msn is not None else -1
    if msn > last + 2:
        raise BadRequest(f"_HLS_msn {msn} is more than two segments ahead of {last}")
    if part is not None and msn >= seg.open_msn:
        if msn == seg.open_msn and seg.current is not None:
            position = seg.current.parts[0].number + part
        else:
            position = seg.next_part_number + part
        if position - (seg.next_part_number - 1) > advance_part_limit(seg.part_target):
            raise BadRequest(f"_HLS_part {part} is beyond the Advance Part Limit")
    return playlist_available(seg) and has_part(seg, msn, part)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _dec(x: float) -> str:
    return f"{x:.5f}"


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def render_media_playlist(seg: Segmenter) -> str:
    """The media playlist text (see the module docstring)."""
    prefix = seg.config.prefix
    td = seg.target_duration
    pt = seg.part_target
    listed = seg.listed_segments
    shown: list[Segment] = listed + ([seg.current] if seg.current is not None else [])
    first_msn = shown[0].msn if shown else seg.next_msn
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{PLAYLIST_VERSION}",
        f"#EXT-X-TARGETDURATION:{td}",
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={_dec(3 * pt)}",
        f"#EXT-X-PART-INF:PART-TARGET={_dec(pt)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first_msn}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{seg.discontinuity_sequence}",
    ]
    # time from each segment's end to the live edge, for the EXT-X-PART window (6.2.2)
    edge = sum(p.duration for p in seg.current.parts) if seg.current is not None else 0.0
    age: dict[int, float] = {}
    for s in reversed(listed):
        age[s.msn] = edge
        edge += s.duration
    window = seg.config.part_window * td
    init_id = None
    for s in shown:
        if s.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if s.period.init_id != init_id:
            init_id = s.period.init_id
            lines.append(f'#EXT-X-MAP:URI="{init_name(prefix, init_id)}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_date(s.date)}")
        if not s.complete or age[s.msn] < window:
            for p in s.parts:
                uri = part_name(prefix, p.number)
                line = f'#EXT-X-PART:DURATION={_dec(p.duration)},URI="{uri}"'
                if p.independent:
                    line += ",INDEPENDENT=YES"
                lines.append(line)
        if s.complete:
            lines.append(f"#EXTINF:{_dec(s.duration)},")
            lines.append(segment_name(prefix, s.msn))
    if seg.ended:
        lines.append("#EXT-X-ENDLIST")
    else:
        lines.append(
            f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_name(prefix, seg.next_part_number)}"')
    return "\n".join(lines) + "\n"


def render_multivariant_playlist(seg: Segmenter, media_uri: str = "index.m3u8") -> str | None:
    """A multivariant playlist with the one variant ``media_uri``: peak and average bandwidth
    of the listed segments, CODECS, RESOLUTION and FRAME-RATE. None before the first segment
    (BANDWIDTH is required, 4.4.6.2)."""
    listed = seg.listed_segments
    period = seg.period if seg.period is not None else (listed[-1].period if listed else None)
    timed = [s for s in listed if s.duration > 0]
    if period is None or not timed:
        return None
    peak = max(s.size * 8 / s.duration for s in timed)
    average = sum(s.size for s in timed) * 8 / sum(s.duration for s in timed)
    attrs = [f"BANDWIDTH={math.ceil(peak)}", f"AVERAGE-BANDWIDTH={math.ceil(average)}",
             'CODECS="' + ",".join(t.codec_string for t in period.tracks) + '"']
    video = period.video
    if video is not None and video.width and video.height:
        attrs.append(f"RESOLUTION={video.width}x{video.height}")
    if video is not None and video.frame_rate:
        attrs.append(f"FRAME-RATE={video.frame_rate:.3f}")
    return "\n".join([
        "#EXTM3U",
        f"#EXT-X-VERSION:{PLAYLIST_VERSION}",
        "#EXT-X-STREAM-INF:" + ",".join(attrs),
        media_uri,
    ]) + "\n"
