"""Logging helpers: per-connection context without peer text in format strings.

Every value a peer controls (app and stream names, tcUrl, flashVer, command names, reasons
built from them) reaches ``logging`` only as an *argument*, never inside the format string, and
only through :func:`peer_text`, which bounds its length and escapes control characters. A name
such as ``liv%`` or ``%300000000s`` therefore logs as itself instead of breaking the record or
allocating what the format asks for; a name with a newline cannot forge a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["ContextLog", "peer_text", "MAX_LOGGED_TEXT"]

#: Longest peer-supplied text written to a log line, in characters.
MAX_LOGGED_TEXT = 200


def peer_text(value: Any, limit: int = MAX_LOGGED_TEXT) -> str:
    """A bounded, printable rendering of a peer-supplied value for a log argument.

    Strings are kept as they are except for control characters (escaped as ``\\xNN``) and a
    length cut at ``limit`` (marked with ``...``). Anything else is shown by its type name only,
    so a decoded AMF object graph is never walked just to be logged.
    """
    if not isinstance(value, str):
        if value is None or isinstance(value, bool | int | float):
            return repr(value)
        return f"<{type(value).__name__}>"
    cut = len(value) > limit
    text = value[:limit]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\x{ord(c) & 0xFF:02x}" for c in text)
    return text + "..." if cut else text


class ContextLog(logging.LoggerAdapter):
    """A logger adapter that prefixes each line with a context such as ``[peer app/stream]``.

    ``context`` is called for every record that is emitted; its text goes in as the first
    argument of a ``"[%s] "`` prefix, never into the format string. The same text is attached
    to the record as ``grtmp_context`` for structured (JSON) formatters.
    """

    def __init__(self, logger: logging.Logger, context: Callable[[], str]) -> None:
        super().__init__(logger, {})
        self._context = context

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        ctx = self._context()
        extra: MutableMapping[str, Any] = dict(kwargs.pop("extra", None) or {})
        extra.setdefault("grtmp_context", ctx)
        self.logger.log(level, "[%s] " + str(msg), ctx, *args, extra=extra, **kwargs)
