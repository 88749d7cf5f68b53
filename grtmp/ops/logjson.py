"""``--log-format json``: one JSON object per line, the same events as the text log.

Each line: ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``, ``message`` (the
formatted message, without the ``[peer app/stream]`` prefix), ``context`` (that prefix's text,
when the line is about one connection: ``grtmp_context`` from :class:`grtmp.logs.ContextLog`)
and ``peer`` (its first word), ``exception`` (the traceback) when there is one, ``worker`` in
a ``--workers`` process. Non-ASCII is escaped, so a line is always one line of ASCII whatever a
peer sent.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, TextIO

from grtmp.config import ServerConfig

__all__ = ["JSONFormatter", "setup_logging"]


class JSONFormatter(logging.Formatter):
    """A :class:`logging.Formatter` writing one JSON object per record (module docstring);
    ``worker`` (a ``--workers`` process's number) is added to every line when given."""

    def __init__(self, worker: int | None = None):
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "grtmp_context", None)
        message = None
        if context is not None and isinstance(record.msg, str) and \
                record.msg.startswith("[%s] ") and isinstance(record.args, tuple) and \
                record.args and record.args[0] == context:
            try:  # the message without ContextLog's "[%s] " prefix
                rest = record.args[1:]
                message = record.msg[5:] % rest if rest else record.msg[5:]
            except (TypeError, ValueError):
                message = None
        if message is None:
            message = record.getMessage()
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if self.worker is not None:
            out["worker"] = self.worker
        if context is not None:
            out["context"] = context
            out["peer"] = str(context).split(" ", 1)[0]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=True, default=str)


def setup_logging(config: ServerConfig, stream: TextIO | None = None,
                  worker: int | None = None) -> logging.Handler:
    """Log to ``stream`` (stderr) at ``config.log_level`` in ``config.log_format``; a
    ``--workers`` process says which it is (``worker-N`` in text, ``"worker": N`` in JSON)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JSONFormatter(worker=worker))
    else:
        who = "" if worker is None else f"worker-{worker} "
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, config.log_level.upper()))
    return handler
