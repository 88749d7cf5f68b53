"""Typed events a session reads out of the peer's messages: one frozen class per kind.

:meth:`ServerSession.receive <grtmp.protocol.server.ServerSession.receive>` and
:meth:`ClientSession.receive <grtmp.protocol.client.ClientSession.receive>` return lists of
these. Events that ask for a decision (``ConnectRequested``, ``PublishRequested``,
``PlayRequested``) are answered with the session's ``accept_*``/``reject_*`` methods; the
others report what happened. Values come from the peer: strings are bounded and numbers are
finite by the time an event holds them (the constructors check the invariants).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAPS_EX_MODEX",
    "CAPS_EX_MULTITRACK",
    "CAPS_EX_RECONNECT",
    "CAPS_EX_TIMESTAMP_NANO_OFFSET",
    "CallResult",
    "CommandReceived",
    "ConnectRequested",
    "ConnectResult",
    "ControlReceived",
    "DataReceived",
    "Event",
    "MediaReceived",
    "MediaSelected",
    "MetadataReceived",
    "Paused",
    "PeerCaps",
    "PlayRequested",
    "PublishRequested",
    "StatusReceived",
    "StreamCreated",
    "StreamEnded",
]

# Enhanced RTMP v2 capsEx bits (connect command object).
CAPS_EX_RECONNECT = 0x01
CAPS_EX_MULTITRACK = 0x02
CAPS_EX_MODEX = 0x04
CAPS_EX_TIMESTAMP_NANO_OFFSET = 0x08


def _check_stream_id(stream_id: int) -> None:
    if not 0 <= stream_id <= 0xFFFFFFFF:
        raise ValueError(f"message stream id {stream_id} out of range")


@dataclass(frozen=True, slots=True)
class PeerCaps:
    """What an Enhanced RTMP peer declared in ``connect`` (all empty for a legacy peer)."""

    enhanced: bool = False
    caps_ex: int = 0
    fourcc_list: tuple[str, ...] = ()
    video_fourcc_info: Mapping[str, int] = field(default_factory=dict)
    audio_fourcc_info: Mapping[str, int] = field(default_factory=dict)

    @property
    def multitrack(self) -> bool:
        return bool(self.caps_ex & CAPS_EX_MULTITRACK)


# -- server side: what the client asks for -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """``connect``: answer with ``accept_connect``, ``reject_connect`` or ``redirect_connect``.

    ``params`` is the command object as decoded (for hooks; its values are untrusted),
    ``app``/``tc_url`` the bounded strings taken from it, ``query`` the app's query string.
    """

    transaction_id: float
    app: str
    tc_url: str
    params: Mapping[str, Any]
    query: Mapping[str, str]
    object_encoding: int
    caps: PeerCaps

    def __post_init__(self) -> None:
        if self.object_encoding not in (0, 3):
            raise ValueError(f"object encoding {self.object_encoding} is not 0 or 3")


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """``publish``: answer with ``accept_publish`` or ``reject_publish``.

    ``params`` holds the stream name's query string plus ``type`` (live, record, append).
    """

    stream_id: int
    name: str
    params: Mapping[str, str]
    kind: str = "live"

    def __post_init__(self) -> None:
        _check_stream_id(self.stream_id)
        if not self.name:
            raise ValueError("empty stream name")


@dataclass(frozen=True, slots=True)
class PlayRequested:
    """``play``/``play2``: answer with ``accept_play`` or ``reject_play``."""

    stream_id: int
    name: str
    params: Mapping[str, str]
    reset: bool = True

    def __post_init__(self) -> None:
        _check_stream_id(self.stream_id)
        if not self.name:
            raise ValueError("empty stream name")


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """A publish or play stopped by the peer: closeStream, deleteStream, or a new publish/play
    on the same message stream (``reason``). The caller detaches the stream or player."""

    stream_id: int
    role: str  # "publish" or "play"
    reason: str


@dataclass(frozen=True, slots=True)
class MediaReceived:
    """An audio (8) or video (9) message on a stream being published (aggregates are split)."""

    stream_id: int
    type_id: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class DataReceived:
    """A data message to relay, as a plain AMF0 body (``@setDataFrame`` and AMF3 removed)."""

    stream_id: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """``onMetaData`` of a stream being published: the object and its AMF0 body to relay."""

    stream_id: int
    timestamp: int
    metadata: Mapping[str, Any]
    payload: bytes


@dataclass(frozen=True, slots=True)
class Paused:
    """``pause``/``pauseRaw`` of a stream being played (the status is already sent)."""

    stream_id: int
    paused: bool


@dataclass(frozen=True, slots=True)
class MediaSelected:
    """``receiveAudio``/``receiveVideo``: None leaves that kind as it is."""

    stream_id: int
    audio: bool | None = None
    video: bool | None = None


# -- client side: what the server answers ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """The server's answer to ``connect`` (``ok`` False for ``_error``)."""

    ok: bool
    properties: Any
    info: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StreamCreated:
    """The ``_result`` of ``createStream``."""

    transaction_id: float
    stream_id: int


@dataclass(frozen=True, slots=True)
class CallResult:
    """``_result``/``_error`` of another call."""

    transaction_id: float
    ok: bool
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class StatusReceived:
    """``onStatus`` on a message stream: ``code`` and ``level`` from the info object."""

    stream_id: int
    code: str
    level: str
    description: str
    info: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """Any other command (``onBWDone``, ``onFCPublish``...), decoded."""

    stream_id: int
    name: str
    transaction_id: float
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ControlReceived:
    """A User Control event from the peer (StreamBegin, StreamEOF...); pings are answered."""

    control: Any


Event = (ConnectRequested | PublishRequested | PlayRequested | StreamEnded | MediaReceived
         | DataReceived | MetadataReceived | Paused | MediaSelected | ConnectResult
         | StreamCreated | CallResult | StatusReceived | CommandReceived | ControlReceived)
