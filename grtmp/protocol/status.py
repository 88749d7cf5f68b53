"""``onStatus`` codes: one enum, the level follows from the code.

RTMP peers read the ``code`` of an ``onStatus`` info object and its ``level`` (``status``,
``warning`` or ``error``). Passing the level by hand next to the code lets the two disagree;
here the level is derived from the code in one place (:func:`level_of`), which also covers
codes a user hook invents (``NetStream.Publish.Unauthorized``...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Status", "level_of", "status_info"]

# Code endings that mean the request failed (Adobe's and nginx-rtmp's usage).
_ERROR_ENDINGS = (".Failed", ".Rejected", ".BadName", ".StreamNotFound", ".Denied",
                  ".Forbidden", ".Unauthorized", ".InvalidArg", ".NoSuchStream")


class Status(StrEnum):
    """The status codes grtmp sends (NetConnection.* and NetStream.*)."""

    CONNECT_SUCCESS = "NetConnection.Connect.Success"
    CONNECT_REJECTED = "NetConnection.Connect.Rejected"
    CONNECT_CLOSED = "NetConnection.Connect.Closed"
    #: Enhanced RTMP v2: ask the peer to reconnect (optionally to another tcUrl).
    CONNECT_RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"
    CALL_FAILED = "NetConnection.Call.Failed"
    PUBLISH_START = "NetStream.Publish.Start"
    PUBLISH_BAD_NAME = "NetStream.Publish.BadName"
    PUBLISH_DENIED = "NetStream.Publish.Denied"
    UNPUBLISH_SUCCESS = "NetStream.Unpublish.Success"
    PLAY_START = "NetStream.Play.Start"
    PLAY_RESET = "NetStream.Play.Reset"
    PLAY_STOP = "NetStream.Play.Stop"
    PLAY_FAILED = "NetStream.Play.Failed"
    PLAY_STREAM_NOT_FOUND = "NetStream.Play.StreamNotFound"
    PLAY_PUBLISH_NOTIFY = "NetStream.Play.PublishNotify"
    PLAY_UNPUBLISH_NOTIFY = "NetStream.Play.UnpublishNotify"
    PAUSE_NOTIFY = "NetStream.Pause.Notify"
    UNPAUSE_NOTIFY = "NetStream.Unpause.Notify"
    STREAM_FAILED = "NetStream.Failed"

    @property
    def level(self) -> str:
        return level_of(self.value)


def level_of(code: str) -> str:
    """``error`` for codes that report a failure, else ``status``."""
    return "error" if code.endswith(_ERROR_ENDINGS) else "status"


def status_info(code: str, description: str, **extra: Any) -> dict[str, Any]:
    """The info object of ``onStatus`` / ``_error``: level (from the code), code, description."""
    info: dict[str, Any] = {"level": level_of(str(code)), "code": str(code),
                            "description": description}
    info.update(extra)
    return info
