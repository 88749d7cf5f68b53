"""Hooks: what user code decides about connections, publishes and plays.

A server calls one :class:`Hooks` object (``Server(hooks=...)``). Subclass it and override the
methods you need; the defaults allow everything. The deciding hooks return a
:data:`Decision`: ``None`` or ``True`` allows, ``False`` refuses, a ``str`` redirects (publish
and play: to that stream name, query string allowed, as nginx-rtmp does with a 3xx
``Location``; connect: to that URL), and raising :class:`grtmp.errors.CommandError` refuses with
a reason (and status code) the client is shown. They run before anything about the stream is
sent or created. The ``*_done`` and ``on_done`` hooks are notifications.

``conn`` is the client: it has ``app``, ``address`` (``(host, port)``), ``peer`` (text),
``protocol`` (``"rtmp"``, ``"rtmps"``, ``"http-flv"``...), ``tc_url`` and ``connect_params``.
``params`` holds the stream name's query string (plus ``type`` for publish).

Objects that do not subclass :class:`Hooks` but have some of these methods work too
(:func:`as_hooks` wraps them once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from grtmp.errors import CommandError
from grtmp.names import split_name

__all__ = ["Decision", "Hooks", "PeerInfo", "as_hooks", "decide_stream"]

Decision = bool | str | None


class PeerInfo(Protocol):
    """What a hook can read about the client."""

    app: str
    address: Any
    peer: str
    protocol: str
    tc_url: str
    connect_params: dict[str, Any]


class Hooks:
    """Allow everything; override to decide (see the module docstring)."""

    def on_connect(self, conn: PeerInfo, params: dict[str, Any]) -> Decision:
        return None

    def on_publish(self, conn: PeerInfo, name: str, params: dict[str, str]) -> Decision:
        return None

    def on_play(self, conn: PeerInfo, name: str, params: dict[str, str]) -> Decision:
        return None

    def on_publish_done(self, conn: PeerInfo, name: str, params: dict[str, str]) -> None:
        return None

    def on_play_done(self, conn: PeerInfo, name: str, params: dict[str, str]) -> None:
        return None

    def on_done(self, conn: PeerInfo) -> None:
        return None

    def on_push(self, conn: PeerInfo, name: str) -> list[str] | None:
        """Where to push a stream ``conn`` starts publishing (``rtmp://``/``rtmps://`` URLs),
        besides the configured targets. None: nowhere else."""
        return None


_NAMES = ("on_connect", "on_publish", "on_play", "on_publish_done", "on_play_done", "on_done",
          "on_push")


class _Wrapped(Hooks):
    """Hooks from any object with some of the methods (looked up once, here)."""

    def __init__(self, handler: Any):
        self.handler = handler
        for name in _NAMES:
            fn = getattr(handler, name, None)
            if callable(fn):
                setattr(self, name, fn)


def as_hooks(handler: Any) -> Hooks:
    """``handler`` as :class:`Hooks` (None: allow everything)."""
    if handler is None:
        return Hooks()
    if isinstance(handler, Hooks):
        return handler
    return _Wrapped(handler)


def decide_stream(hook: Callable[..., Decision], conn: PeerInfo, name: str,
                  params: dict[str, str], refused: str) -> tuple[str, dict[str, str]]:
    """Ask an ``on_publish``/``on_play`` hook: the stream name and params to use.

    A refusal raises :class:`CommandError` (the hook's own, or one with the ``refused`` code
    when the hook answered False); a redirect returns the new name, its query string merged
    into ``params``; a redirect to an ``rtmp://``/``rtmps://`` URL is returned whole (a play
    then pulls the stream from that URL, as with nginx-rtmp's ``on_play``).
    """
    decision = hook(conn, name, params)
    if decision is False:
        raise CommandError(f"{name} is not allowed", refused)
    if isinstance(decision, str) and decision:
        if decision.startswith(("rtmp://", "rtmps://")):
            return decision, params  # pull from there (the caller keeps its own name)
        new, extra = split_name(decision)
        return new, {**params, **extra}
    return name, params
