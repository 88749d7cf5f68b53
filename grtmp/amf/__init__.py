"""AMF0 and AMF3 (Adobe Action Message Format) and RTMP command/data message bodies.

- :mod:`grtmp.amf.values`: the value types both formats share, and the default bounds.
- :mod:`grtmp.amf.amf0`, :mod:`grtmp.amf.amf3`: ``Encoder().encode(value)``,
  ``Decoder(data).decode()``.
- :mod:`grtmp.amf.command`: command (type 20/17) and data (type 18/15) message bodies.

Pure: bytes in, Python values out, no I/O.
"""

from grtmp.amf.command import (
    Command,
    decode_command,
    decode_data,
    encode_command,
    encode_data,
    int_arg,
    text_arg,
)
from grtmp.amf.values import UNDEFINED, ECMAArray, TypedObject, XMLDocument

__all__ = [
    "Command",
    "ECMAArray",
    "TypedObject",
    "UNDEFINED",
    "XMLDocument",
    "decode_command",
    "decode_data",
    "encode_command",
    "encode_data",
    "int_arg",
    "text_arg",
]
