"""The access rules, stream keys and HTTP callbacks of the *current* configuration, per app.

:class:`ConfigHooks` reads ``source.config`` (the hub's, which a reload swaps) at every
decision and asks the hooks built for the client's app (``config.for_app(app)``): a reload
reaches the next connect, publish and play at once, and each ``[apps.NAME]`` section has its
own rules. The built hooks are cached per configuration and configured app (apps without a
section share one entry, so peer-chosen app names cannot grow the cache).
"""

from __future__ import annotations

from typing import Any

from grtmp.auth import AccessList, HTTPCallbacks, StreamKeys, chain
from grtmp.config import ServerConfig
from grtmp.hooks import Decision, Hooks, as_hooks

__all__ = ["ConfigHooks", "build_hooks", "local_checks"]

_URLS = ("on_connect", "on_publish", "on_play", "on_publish_done", "on_play_done", "on_done")


def local_checks(config: ServerConfig) -> Hooks | None:
    """The checks that need nothing but the config: access rules and stream keys (None: none).
    A reload re-runs these on the publishers and players already running."""
    access = AccessList(config.access) if config.access else None
    keys = StreamKeys(dict(config.stream_keys), play=config.stream_keys_play) \
        if config.stream_keys else None
    return chain(access, keys) if (access or keys) else None


def build_hooks(config: ServerConfig) -> Hooks:
    """Access rules, stream keys, then HTTP callbacks, as ``config`` (one app's) asks."""
    urls = {name: getattr(config, name) or None for name in _URLS}
    http = HTTPCallbacks(**urls) if any(urls.values()) else None
    return chain(local_checks(config), http)


class ConfigHooks(Hooks):
    """Hooks that follow ``source.config`` (see the module docstring); ``extra`` hooks (the
    embedding application's) are asked after the configured ones."""

    def __init__(self, source: Any, extra: Any = None):
        self.source = source
        self.extra = as_hooks(extra) if extra is not None else None
        self._config: ServerConfig | None = None
        self._cache: dict[str, Hooks] = {}

    def for_app(self, app: str) -> Hooks:
        config = self.source.config
        if config is not self._config:
            self._config = config
            self._cache = {}
        key = app if app in config.apps else ""
        hooks = self._cache.get(key)
        if hooks is None:
            hooks = build_hooks(config.for_app(app))
            if self.extra is not None:
                hooks = chain(hooks, self.extra)
            self._cache[key] = hooks
        return hooks

    def on_connect(self, conn: Any, params: dict[str, Any]) -> Decision:
        return self.for_app(conn.app).on_connect(conn, params)

    def on_publish(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self.for_app(conn.app).on_publish(conn, name, params)

    def on_play(self, conn: Any, name: str, params: dict[str, str]) -> Decision:
        return self.for_app(conn.app).on_play(conn, name, params)

    def on_publish_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self.for_app(conn.app).on_publish_done(conn, name, params)

    def on_play_done(self, conn: Any, name: str, params: dict[str, str]) -> None:
        self.for_app(conn.app).on_play_done(conn, name, params)

    def on_done(self, conn: Any) -> None:
        self.for_app(conn.app).on_done(conn)

    def on_push(self, conn: Any, name: str) -> list[str] | None:
        """Push targets beyond the configured ones come from the ``extra`` hooks only (the
        configuration's own ``push`` lists are read by the relays)."""
        return self.extra.on_push(conn, name) if self.extra is not None else None
