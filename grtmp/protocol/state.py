"""Connection and message-stream states of an RTMP session, and every legal transition.

Every state change of :class:`~grtmp.protocol.server.ServerSession` and
:class:`~grtmp.protocol.client.ClientSession` goes through :func:`advance` with one of the
transition tables below, so the rules live here and nowhere else (the idea of h11's
``_state.py``). The server side of a connection::

    WAIT_CONNECT --connect--> CONNECTING --accept--> CONNECTED --close--> CLOSED
                                         --reject--> CLOSED

and of each message stream that ``createStream`` handed out::

    IDLE --publish--> PUBLISH_PENDING --accept--> PUBLISHING --end--> IDLE
                                      --reject--> IDLE
    IDLE --play-----> PLAY_PENDING    --accept--> PLAYING    --end--> IDLE
                                      --reject--> IDLE

``deleteStream`` removes the stream (ending what it does first). The PENDING states exist
between the event that asks for a decision and the ``accept_*``/``reject_*`` call that makes
it; nothing else may happen to that stream in between.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from grtmp.errors import StateError

__all__ = ["ConnState", "StreamState", "CONNECTION", "STREAM", "advance"]


class ConnState(Enum):
    """Where a connection is, after the handshake."""

    WAIT_CONNECT = "wait-connect"
    CONNECTING = "connecting"  # connect received, decision pending
    CONNECTED = "connected"
    CLOSED = "closed"


class StreamState(Enum):
    """Where one message stream is (server side: what the peer does on it)."""

    IDLE = "idle"
    PUBLISH_PENDING = "publish-pending"
    PUBLISHING = "publishing"
    PLAY_PENDING = "play-pending"
    PLAYING = "playing"


#: (state, action) -> next state, for the connection.
CONNECTION: dict[tuple[ConnState, str], ConnState] = {
    (ConnState.WAIT_CONNECT, "connect"): ConnState.CONNECTING,
    (ConnState.CONNECTING, "accept"): ConnState.CONNECTED,
    (ConnState.CONNECTING, "reject"): ConnState.CLOSED,
    (ConnState.WAIT_CONNECT, "close"): ConnState.CLOSED,
    (ConnState.CONNECTING, "close"): ConnState.CLOSED,
    (ConnState.CONNECTED, "close"): ConnState.CLOSED,
    (ConnState.CLOSED, "close"): ConnState.CLOSED,
}

#: (state, action) -> next state, for one message stream.
STREAM: dict[tuple[StreamState, str], StreamState] = {
    (StreamState.IDLE, "publish"): StreamState.PUBLISH_PENDING,
    (StreamState.PUBLISH_PENDING, "accept"): StreamState.PUBLISHING,
    (StreamState.PUBLISH_PENDING, "reject"): StreamState.IDLE,
    (StreamState.PUBLISHING, "end"): StreamState.IDLE,
    (StreamState.IDLE, "play"): StreamState.PLAY_PENDING,
    (StreamState.PLAY_PENDING, "accept"): StreamState.PLAYING,
    (StreamState.PLAY_PENDING, "reject"): StreamState.IDLE,
    (StreamState.PLAYING, "end"): StreamState.IDLE,
}


S = TypeVar("S", ConnState, StreamState)


def advance(table: dict[tuple[S, str], S], state: S, action: str, what: str = "") -> S:
    """The state after ``action`` in ``state``; :class:`StateError` when it is not allowed."""
    try:
        return table[(state, action)]
    except KeyError:
        raise StateError(f"{action} not allowed {what}in state {state.value}") from None
