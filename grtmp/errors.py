"""Typed exceptions for grtmp.

Everything the library raises on purpose derives from :class:`RTMPError`, so network code can
catch one type at the session boundary, log one line and close that connection only.
"""

from __future__ import annotations


class RTMPError(Exception):
    """Root of every grtmp error."""


class ProtocolError(RTMPError):
    """The peer broke the protocol (bad chunk, bad AMF, impossible message)."""


class ChunkError(ProtocolError):
    """A chunk stream could not be decoded (bad header, unknown chunk stream, bad size)."""


class AMFError(ProtocolError):
    """An AMF0/AMF3 value could not be decoded or encoded."""


class HandshakeError(ProtocolError):
    """The RTMP handshake failed (bad version, short read, bad signature)."""


class ConnectionClosed(RTMPError):
    """The peer closed the connection (EOF), possibly in the middle of a message."""


class LimitExceeded(ProtocolError):
    """A configured bound was exceeded (message size, chunk streams, depth, connections)."""


class CommandError(RTMPError):
    """A command the server refuses (bad arguments, name in use, not allowed)."""

    def __init__(self, message: str, code: str = "NetStream.Failed") -> None:
        super().__init__(message)
        self.code = code


class StreamBusy(CommandError):
    """Publish of a name somebody already publishes (``NetStream.Publish.BadName``)."""

    def __init__(self, message: str, code: str = "NetStream.Publish.BadName") -> None:
        super().__init__(message, code)


class StreamNotFound(CommandError):
    """Play of a name nobody publishes where players do not wait for a publisher."""

    def __init__(self, message: str, code: str = "NetStream.Play.StreamNotFound") -> None:
        super().__init__(message, code)


class TooManyPlayers(CommandError):
    """Play refused by ``max_players_per_stream``."""

    def __init__(self, message: str, code: str = "NetStream.Play.Failed") -> None:
        super().__init__(message, code)


class CodecError(RTMPError):
    """A media payload that cannot be parsed."""


class FormatError(RTMPError):
    """A file (for example FLV) whose layout is not valid."""


class StateError(RTMPError):
    """An action the connection or stream state does not allow (see grtmp.protocol.state).

    Raised for the peer's commands out of order (a ProtocolError is raised instead when it is
    the peer's fault) and for a caller that decides twice or decides what was not asked.
    """
