"""One live stream's LL-HLS output: the object the web layer keeps per published stream.

:class:`HLSStream` joins :class:`~grtmp.hls.source.MediaSource` (RTMP messages -> samples),
:class:`~grtmp.hls.segmenter.Segmenter` (samples -> parts and segments, muxed once) and
:mod:`grtmp.hls.playlist` (playlists, blocking reload, resource lookup). It is pure: the I/O
layer calls it and does all the waiting.

Publisher side, per RTMP message::

    if hls.feed(msg.type_id, msg.timestamp, msg.payload):
        updated.set()              # wake requests waiting for a new part

and ``hls.end()`` when the publisher leaves. Viewer side, per HTTP request::

    # GET .../index.m3u8?_HLS_msn=..&_HLS_part=..
    directives = parse_delivery_directives(query)          # BadRequest -> 400
    while not hls.playlist_ready(directives):              # BadRequest -> 400
        wait for `updated`, at most hls.block_timeout s in total, else 503
    body = hls.playlist()

    # GET .../<resource>
    data = hls.get_resource(name)
    while data is NOT_READY: wait (bounded), then hls.get_resource(name) again
    None -> 404; bytes -> 200 with hls.content_type(name)

Suggested caching: playlists ``no-cache``; init segments, segments and parts never change once
served (names are never reused within a stream; give each publish its own ``prefix`` so they
are not reused across publishes either), so a long ``max-age`` suits them.

Not thread-safe: call it from one greenlet at a time (gevent never switches inside it), or under
one lock when threads are involved (as ``tests/interop/test_hls_browser.py`` does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from grtmp.errors import CodecError
from grtmp.hls import playlist as _pl
from grtmp.hls.playlist import DeliveryDirectives, NotReady
from grtmp.hls.segmenter import HLSConfig, Segmenter
from grtmp.hls.source import DEFAULT_PROBE_MS, MediaSource

__all__ = ["HLSStream"]

log = logging.getLogger(__name__)

#: Bad messages logged per stream (then only counted).
_MAX_LOGGED_ERRORS = 5


class HLSStream:
    """LL-HLS for one live stream (see the module docstring for how to drive it).

    ``name`` is only used in log lines. ``expect_video`` / ``expect_audio`` and ``probe_ms``
    go to :class:`~grtmp.hls.source.MediaSource`; ``clock`` gives wall time for
    ``EXT-X-PROGRAM-DATE-TIME``.
    """

    def __init__(self, config: HLSConfig | None = None, *, name: str = "",
                 expect_video: bool | None = None, expect_audio: bool | None = None,
                 probe_ms: int = DEFAULT_PROBE_MS,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.source = MediaSource(expect_video=expect_video, expect_audio=expect_audio,
                                  probe_ms=probe_ms)
        self.segmenter = Segmenter(config, clock=clock)
        self.errors = 0
        self._cache: tuple[int, str] | None = None

    @property
    def config(self) -> HLSConfig:
        return self.segmenter.config

    # -- publisher side ------------------------------------------------------------------

    def feed(self, type_id: int, timestamp: int, payload: bytes) -> int:
        """Process one RTMP message (audio 8, video 9, data 18; others ignored). Returns the
        number of parts published (> 0: wake waiting requests). A payload that cannot be
        parsed or muxed is logged and skipped; the stream goes on."""
        try:
            return self.segmenter.handle(self.source.feed(type_id, timestamp, payload))
        except CodecError as exc:
            self.errors += 1
            if self.errors <= _MAX_LOGGED_ERRORS:
                log.warning("HLS %r: skipped a bad type %d message at %d: %s", self.name,
                            type_id, timestamp, exc)
            return 0

    def end(self, *, endlist: bool = True) -> int:
        """The publisher left: publish the rest. ``endlist`` ends the playlist
        (EXT-X-ENDLIST); without it a later publisher's messages continue the playlist after
        a discontinuity."""
        try:
            n = self.segmenter.handle(self.source.flush())
        except CodecError as exc:
            log.warning("HLS %r: could not mux the last samples: %s", self.name, exc)
            n = 0
        return n + self.segmenter.finish(endlist=endlist)

    # -- viewer side ---------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Changes whenever the playlist may have changed."""
        return self.segmenter.version

    @property
    def ended(self) -> bool:
        return self.segmenter.ended

    @property
    def ready(self) -> bool:
        """Whether a playlist can be served (a first segment is complete, or it ended)."""
        return _pl.playlist_available(self.segmenter)

    @property
    def block_timeout(self) -> float:
        """How long a blocking request may wait before 503 (3 target durations, 6.2.5.2)."""
        return 3.0 * self.segmenter.target_duration

    def playlist(self) -> str:
        """The media playlist, rendered once per change whatever the number of viewers."""
        version = self.segmenter.version
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, _pl.render_media_playlist(self.segmenter))
        return self._cache[1]

    def multivariant_playlist(self, media_uri: str = "index.m3u8") -> str | None:
        """A multivariant playlist pointing at ``media_uri`` (None before the first segment)."""
        return _pl.render_multivariant_playlist(self.segmenter, media_uri)

    def playlist_ready(self, directives: DeliveryDirectives | None = None) -> bool:
        """Whether a playlist request with these directives can be answered now.
        Raises :class:`~grtmp.hls.playlist.BadRequest` (400) for one that never should be."""
        return _pl.reload_ready(self.segmenter, directives or DeliveryDirectives())

    def get_resource(self, name: str) -> bytes | NotReady | None:
        """Bytes of ``init*.mp4`` / ``seg*.m4s`` / ``part*.m4s``; NOT_READY for the hinted
        part; None for 404."""
        return _pl.get_resource(self.segmenter, name)

    def content_type(self, name: str) -> str:
        """Content-Type for a playlist or resource of this stream."""
        if name.endswith(".m3u8"):
            return _pl.PLAYLIST_CONTENT_TYPE
        period = self.segmenter.period
        if period is not None and period.video is None:
            return "audio/mp4"
        return "video/mp4"
