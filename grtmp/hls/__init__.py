"""Low-latency HLS with CMAF-style fMP4, pure (no I/O, no gevent).

:class:`HLSStream` is the per-stream object the web layer drives (see :mod:`grtmp.hls.stream`).
The pieces: :mod:`.source` (RTMP messages -> samples), :mod:`.fmp4` (init segment and
fragments), :mod:`.segmenter` (parts and segments), :mod:`.playlist` (playlists, blocking
reload, resources), :mod:`.inspect` (describe fMP4 bytes box by box).
"""

from grtmp.hls.fmp4 import Sample, TrackConfig, build_fragment, build_init_segment
from grtmp.hls.inspect import describe_mp4, is_mp4
from grtmp.hls.playlist import (
    NOT_READY,
    BadRequest,
    DeliveryDirectives,
    NotReady,
    parse_delivery_directives,
)
from grtmp.hls.segmenter import HLSConfig, Segmenter
from grtmp.hls.source import MediaSample, MediaSource, TracksChanged
from grtmp.hls.stream import HLSStream

__all__ = [
    "HLSStream",
    "HLSConfig",
    "Segmenter",
    "MediaSource",
    "MediaSample",
    "TracksChanged",
    "TrackConfig",
    "Sample",
    "build_init_segment",
    "build_fragment",
    "BadRequest",
    "NotReady",
    "NOT_READY",
    "DeliveryDirectives",
    "parse_delivery_directives",
    "describe_mp4",
    "is_mp4",
]
