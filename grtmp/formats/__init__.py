"""Construct declarations of every binary layout grtmp reads or writes (the source of truth).

Parse with them directly, for example::

    from grtmp.formats import FlvHeader, FlvTag
    header = FlvHeader.parse(data[:9])
    tag = FlvTag.parse(data[13:])      # the first tag after the header and PreviousTagSize0

The modules: :mod:`.handshake`, :mod:`.chunk`, :mod:`.control`, :mod:`.amf`, :mod:`.flv`,
:mod:`.video`, :mod:`.audio`, :mod:`.avc`, :mod:`.hevc`, :mod:`.av1`, :mod:`.aac`, :mod:`.mp4`
(ISO BMFF boxes for fMP4 / LL-HLS).

Symbolic fields are construct ``Enum`` / ``FlagsEnum`` fields over the ``IntEnum`` /
``IntFlag`` classes declared beside them (``FrameType``, ``VideoPacketType``, ``SoundFormat``,
``MessageType``, ``UserControlEvent``, ``AMF0Marker``...), so ``.parse()`` prints names. A
parsed Enum field is a string subclass (``EnumIntegerString``, equal to the name): compare it
with the name, or take ``int(field)`` for the number. An unknown value parses to a plain number.
Expressions use ``this`` / ``len_`` / ``sum_`` / ``obj_``, never lambdas, so every declaration
``.compile()``-s; grtmp compiles the ones it parses per frame (FLV tag headers, audio frame
headers).
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
    FlvTagType,
    FlvTagWithSize,
    FlvTimestamp,
    PreviousTagSize,
    TimestampAdapter,
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
    "FlvTagType",
    "FlvTagWithSize",
    "FlvTimestamp",
    "PreviousTagSize",
    "TimestampAdapter",
]
