"""Construct declarations of every binary layout grtmp reads or writes (the source of truth).

Parse with them directly, for example::

    from grtmp.formats import FlvHeader, FlvTag
    header = FlvHeader.parse(data[:9])
    tag = FlvTag.parse(data[13:])      # the first tag after the header and PreviousTagSize0

The modules: :mod:`.handshake`, :mod:`.chunk`, :mod:`.control`, :mod:`.amf`, :mod:`.flv`,
:mod:`.video`, :mod:`.audio`, :mod:`.avc`, :mod:`.hevc`, :mod:`.av1`, :mod:`.aac`, :mod:`.mp4`
(ISO BMFF boxes for fMP4 / LL-HLS).
"""

from grtmp.formats.flv import (
    FLV_HEADER_SIZE,
    FLV_TAG_HEADER_SIZE,
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvFile,
    FlvHeader,
    FlvTag,
    FlvTagHeader,
    FlvTagWithSize,
    PreviousTagSize,
)

__all__ = [
    "FLV_HEADER_SIZE",
    "FLV_TAG_HEADER_SIZE",
    "TAG_AUDIO",
    "TAG_SCRIPT",
    "TAG_VIDEO",
    "FlvFile",
    "FlvHeader",
    "FlvTag",
    "FlvTagHeader",
    "FlvTagWithSize",
    "PreviousTagSize",
]
