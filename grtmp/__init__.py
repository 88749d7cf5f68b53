"""grtmp: an RTMP server library on gevent and construct.

The front door: what an application needs, importable from ``grtmp`` itself.

- :class:`Server` serves RTMP (and RTMPS) with a :class:`ServerConfig`;
- :class:`StreamHub` holds the live :class:`Stream` objects (share it with a web app);
- :class:`Hooks` decide about connections, publishes and plays;
- :class:`Conn` serves one accepted socket (for a hand-written accept loop);
- :class:`Client` publishes and plays; :func:`consume_stream` reads a stream from Python;
- the errors (:class:`RTMPError` and its family) are in :mod:`grtmp.errors`.

The pure layers import without gevent: :mod:`grtmp.formats` (construct declarations),
:mod:`grtmp.amf`, :mod:`grtmp.wire`, :mod:`grtmp.media`, :mod:`grtmp.protocol`,
:mod:`grtmp.live`; the gevent shell is :mod:`grtmp.net`.
"""

__version__ = "0.2.0"

from grtmp.config import ServerConfig  # noqa: E402
from grtmp.errors import (  # noqa: E402
    AMFError,
    CodecError,
    CommandError,
    ConnectionClosed,
    FormatError,
    HandshakeError,
    LimitExceeded,
    ProtocolError,
    RTMPError,
)
from grtmp.hooks import Hooks  # noqa: E402
from grtmp.live import Stream, StreamHub  # noqa: E402

# The gevent shell is imported on first use, so that importing a pure part of grtmp (the
# formats, AMF, the protocol sessions) never imports gevent, and so that an application can
# monkey-patch before gevent's socket users are loaded.
_SHELL = {"Client", "Conn", "Server", "consume_stream"}


def __getattr__(name: str) -> object:
    if name in _SHELL:
        from grtmp import net

        return getattr(net, name)
    raise AttributeError(f"module 'grtmp' has no attribute {name!r}")

__all__ = [
    "AMFError",
    "Client",
    "CodecError",
    "CommandError",
    "Conn",
    "ConnectionClosed",
    "FormatError",
    "HandshakeError",
    "Hooks",
    "LimitExceeded",
    "ProtocolError",
    "RTMPError",
    "Server",
    "ServerConfig",
    "Stream",
    "StreamHub",
    "__version__",
    "consume_stream",
]
