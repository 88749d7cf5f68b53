"""The operator's controller: reload the configuration, drop publishers, record, kick sessions.

:meth:`Operations.reload` re-reads the file, validates it (keeping the running configuration
and logging why when it is bad), swaps ``hub.config`` and the servers' configs in one step (no
greenlet switch in between), then applies the new settings to the streams already running:

- each stream's settings become its app's new ones (GOP cache and its bounds, the player queue
  for new players, the lag limit for every attached player);
- an app whose ``record_dir`` or ``record_auto`` changed starts, moves or stops the recordings
  the configuration made (recordings started through the API are left alone);
- an app whose ``access`` or ``stream_keys`` changed has its publishers and players checked
  again; those the new rules refuse are disconnected;
- an app whose ``push`` list changed starts pushing its live streams to the new targets and
  stops the configured pushes no longer listed (pushes added through the API or a hook stay);
  a changed ``pull`` list applies to the next pulls;
- new connects, publishes and plays see the new rules, keys, callbacks and player limits at once
  (:class:`~grtmp.ops.apphooks.ConfigHooks` and the hub read the swapped config).

Settings bound when the server starts (listening addresses, TLS, the shared buffer budget, the
log format) keep their running values; a reload that changes them says a restart is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from typing import Any

import gevent

from grtmp.auth import AccessList
from grtmp.config import ConfigError, ServerConfig
from grtmp.errors import CommandError
from grtmp.hooks import decide_stream
from grtmp.live.hub import StreamHub
from grtmp.live.record import Recorder, record_path
from grtmp.live.stream import Stream
from grtmp.logs import peer_text
from grtmp.net.connection import Conn
from grtmp.ops.apphooks import local_checks
from grtmp.ops.configfile import load_config
from grtmp.ops.state import RateSampler

__all__ = ["OpsError", "Operations", "RESTART_SETTINGS"]

log = logging.getLogger("grtmp.ops")

#: Settings a running server cannot change (the sockets, TLS, the buffer budget, the log
#: handler, the worker processes, the cluster directory, the relays' TLS context; and the web
#: layer's port when it exists).
RESTART_SETTINGS = ("host", "port", "tls_cert", "tls_key", "tls_port", "max_buffered_total",
                    "log_format", "workers", "cluster", "cluster_secret", "cluster_advertise",
                    "relay_ca_file", "http_port")

#: Settings whose change re-checks the running publishers and players.
_ACCESS_SETTINGS = ("access", "stream_keys", "stream_keys_play")


class OpsError(Exception):
    """An action that cannot be done: ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _changed(old: ServerConfig, new: ServerConfig) -> list[str]:
    out = []
    for f in dataclasses.fields(ServerConfig):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if f.name == "apps":
            for app in sorted(set(a) | set(b)):
                if a.get(app) != b.get(app):
                    out.append(f"apps.{app}")
        elif a != b:
            out.append(f.name)
    return out


class Operations:
    """Operate a hub (and the servers on it): see the module docstring.

    ``config_path`` is the file :meth:`reload` reads (None: reload is refused);
    ``overrides`` are the settings given as flags, which win over the file on every reload.
    """

    def __init__(self, hub: StreamHub, *, servers: Iterable[Any] = (), relays: Any = None,
                 config_path: str | None = None, overrides: dict[str, Any] | None = None,
                 sampler: RateSampler | None = None):
        self.hub = hub
        self.servers = list(servers)
        #: The process's :class:`grtmp.net.relay.Relays` (pulls and pushes), if any.
        self.relays = relays
        self.config_path = config_path
        self.overrides = dict(overrides or {})
        self.sampler = sampler or RateSampler(hub)

    @property
    def config(self) -> ServerConfig:
        return self.hub.config

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling rates (bit rates, frame rates)."""
        self.sampler.start()

    def stop(self) -> None:
        self.sampler.stop()

    def routes(self) -> dict[str, Any]:
        """``{"/api/v1/": api, "/metrics": metrics}``: the WSGI apps to mount on the HTTP port
        (``grtmp.web.make_app(..., routes=ops.routes())``)."""
        from grtmp.ops.api import make_api
        from grtmp.ops.metrics import make_metrics_app

        return {"/api/v1/": make_api(self), "/metrics": make_metrics_app(self)}

    # -- reload -----------------------------------------------------------------------------------
    def reload(self) -> dict[str, Any]:
        """Re-read the configuration file and apply it (see the module docstring).

        Returns ``{"ok", "message", "changed", "restart_needed", "disconnected"}``; a bad file
        leaves everything as it was (``ok`` False, ``message`` says why) and is logged.
        """
        if not self.config_path:
            raise OpsError(409, "no configuration file to reload (start grtmp-server with "
                                "-c FILE)")
        # Nothing below yields to another greenlet: two reloads never interleave.
        stats = self.hub.stats
        try:
            new = load_config(self.config_path)
            if self.overrides:
                new = dataclasses.replace(new, **self.overrides)
                new.validate()
        except ConfigError as exc:
            stats.reloads["error"] += 1
            log.error("reload failed; keeping the running configuration: %s", exc)
            return {"ok": False, "message": str(exc), "changed": [], "restart_needed": [],
                    "disconnected": []}
        result = self.apply(new)
        stats.reloads["ok"] += 1
        stats.last_reload = time.time()
        message = f"configuration reloaded from {self.config_path}"
        log.info("%s: %s", message,
                 ", ".join(result["changed"]) if result["changed"] else "nothing changed")
        return {"ok": True, "message": message, **result}

    def apply(self, new: ServerConfig) -> dict[str, Any]:
        """Make ``new`` (validated) the running configuration and apply it to what runs."""
        old = self.hub.config
        restart = [name for name in RESTART_SETTINGS
                   if getattr(old, name, None) != getattr(new, name, None)]
        if restart:
            new = dataclasses.replace(new, **{name: getattr(old, name) for name in restart})
            log.warning("reload: %s cannot change while running (restart needed); keeping "
                        "the running values", ", ".join(restart))
        changed = _changed(old, new)
        # The swap: nothing yields between these lines.
        self.hub.config = new
        for server in self.servers:
            server.config = new
        if self.relays is not None:
            self.relays.config = new
        if new.log_level != old.log_level:
            logging.getLogger().setLevel(getattr(logging, new.log_level.upper()))
        for stream in list(self.hub.streams.values()):
            self._apply_to_stream(stream, old.for_app(stream.app), new.for_app(stream.app))
        disconnected = self._recheck(old, new)
        return {"changed": changed, "restart_needed": restart, "disconnected": disconnected}

    def _apply_to_stream(self, stream: Stream, old: ServerConfig, new: ServerConfig) -> None:
        stream.config = new
        gop = stream.gop
        gop.max_messages = new.gop_cache_max_messages
        gop.max_bytes = new.gop_cache_max_bytes
        if not new.gop_cache or len(gop.packets) > gop.max_messages or \
                gop.bytes > gop.max_bytes:
            gop.clear()
        lag_ms = int(new.max_lag_seconds * 1000)
        for player in list(stream.players):
            player.policy.max_lag_ms = lag_ms
        if new.push != old.push and self.relays is not None and stream.is_live and \
                not getattr(stream.publisher, "relay", False):
            self._apply_push(stream, new.push)
        auto_dir = new.record_dir if new.record_auto else None
        if auto_dir != (old.record_dir if old.record_auto else None) and stream.is_live:
            recorder = stream.recorder
            if recorder is not None and getattr(recorder, "grtmp_manual", False):
                return
            if recorder is not None:
                stream.stop_recording()
            if auto_dir:
                self._record(stream, auto_dir)

    def _apply_push(self, stream: Stream, templates: list[str]) -> None:
        relays = self.relays
        want = {t.format(app=stream.app, name=stream.name) for t in templates}
        for push in relays.push_targets(stream.app, stream.name):
            if push.origin == "config" and push.url not in want:
                log.info("reload: no longer pushing %r to %s", peer_text(stream.name),
                         peer_text(push.url))
                relays.pushes.get((stream.app, stream.name), {}).pop(push.url, None)
                gevent.spawn(push.stop)  # stop() joins its greenlet: not in the swap
        have = {p.url for p in relays.push_targets(stream.app, stream.name)}
        for url in sorted(want - have):
            relays.add_push(stream.app, stream.name, url, origin="config")

    def _record(self, stream: Stream, directory: str, manual: bool = False) -> str:
        path = record_path(directory, stream.app, stream.name)
        recorder = Recorder(path)
        recorder.grtmp_manual = manual  # type: ignore[attr-defined]
        stream.start_recording(recorder)
        log.info("recording %r to %s", peer_text(stream.name), path)
        return path

    def _recheck(self, old: ServerConfig, new: ServerConfig) -> list[str]:
        """Disconnect the publishers and players the new access rules and keys refuse, in the
        apps where those changed."""
        apps: dict[str, Any] = {}

        def checks_for(app: str) -> Any:
            if app not in apps:
                a, b = old.for_app(app), new.for_app(app)
                same = all(getattr(a, s) == getattr(b, s) for s in _ACCESS_SETTINGS)
                apps[app] = None if same else local_checks(b)
            return apps[app]

        kicked = []
        for sid, session in list(self.hub.sessions.items()):
            app = getattr(session, "app", None)
            if not isinstance(app, str):
                continue
            checks = checks_for(app)
            if checks is None:
                continue
            reason = _refused(session, checks)
            if reason is not None:
                log.warning("[%s] disconnecting after reload: %s", session.peer
                            if isinstance(session, Conn) else sid, peer_text(reason))
                kicked.append(sid)
                session.close()
        return kicked

    # -- actions ----------------------------------------------------------------------------------
    def stream(self, app: str, name: str) -> Stream:
        stream = self.hub.get(app, name)
        if stream is None:
            raise OpsError(404, f"no stream {app}/{name}")
        return stream

    def drop_publisher(self, app: str, name: str) -> dict[str, Any]:
        """Disconnect whoever publishes (app, name); its players stay, waiting."""
        stream = self.stream(app, name)
        publisher = stream.publisher
        if publisher is None:
            raise OpsError(409, f"{app}/{name} has no publisher")
        sid = getattr(publisher, "id", None)
        log.info("dropping the publisher of %r (%s)", peer_text(name),
                 getattr(publisher, "peer", "?"))
        publisher.close()
        return {"app": app, "name": name, "session": sid}

    def start_recording(self, app: str, name: str) -> dict[str, Any]:
        """Record a live stream to its app's ``record_dir`` (until stopped or unpublished)."""
        stream = self.stream(app, name)
        if not stream.is_live:
            raise OpsError(409, f"{app}/{name} is not live")
        if stream.recorder is not None:
            raise OpsError(409, f"{app}/{name} is already being recorded to "
                                f"{getattr(stream.recorder, 'path', '?')}")
        directory = self.config.for_app(app).record_dir
        if not directory:
            raise OpsError(409, f"no record_dir configured for app {app}")
        try:
            path = self._record(stream, directory, manual=True)
        except OSError as exc:
            raise OpsError(500, f"cannot record: {exc.strerror or exc}") from None
        return {"app": app, "name": name, "path": path}

    def stop_recording(self, app: str, name: str) -> dict[str, Any]:
        stream = self.stream(app, name)
        recorder = stream.recorder
        if recorder is None:
            raise OpsError(409, f"{app}/{name} is not being recorded")
        path = getattr(recorder, "path", None)
        stream.stop_recording()
        log.info("stopped recording %r (%s)", peer_text(name), path)
        return {"app": app, "name": name, "path": path}

    def _relays(self) -> Any:
        if self.relays is None:
            raise OpsError(409, "relays are not running in this server")
        return self.relays

    def add_push(self, app: str, name: str, url: str) -> dict[str, Any]:
        """Push the live stream (app, name) to ``url`` too (until removed or unpublished)."""
        relays = self._relays()
        if not isinstance(url, str) or not url.startswith(("rtmp://", "rtmps://")):
            raise OpsError(400, "url must be an rtmp:// or rtmps:// URL")
        stream = self.stream(app, name)
        if not stream.is_live:
            raise OpsError(409, f"{app}/{name} is not live")
        push = relays.add_push(app, name, url, origin="api")
        return {"app": app, "name": name, **push.describe()}

    def remove_push(self, app: str, name: str, url: str) -> dict[str, Any]:
        relays = self._relays()
        self.stream(app, name)
        push = next((p for p in relays.push_targets(app, name) if p.url == url), None)
        if push is None:
            raise OpsError(404, f"{app}/{name} is not pushed to {url}")
        relays.pushes.get((app, name), {}).pop(url, None)
        gevent.spawn(push.stop)
        log.info("stopped pushing %r to %s on request", peer_text(name), peer_text(url))
        return {"app": app, "name": name, **push.describe()}

    def kick(self, sid: str) -> Any:
        """Close a session (it is gone from ``hub.sessions`` once its greenlet cleans up)."""
        session = self.hub.sessions.get(sid)
        if session is None:
            raise OpsError(404, f"no session {sid}")
        log.info("closing session %s (%s) on request", sid, getattr(session, "peer", "?"))
        session.close()
        return session


def _refused(session: Any, checks: Any) -> str | None:
    """Why the rules ``checks`` now refuse one of ``session``'s publishes or plays (None: they
    do not). RTMP connections keep each stream's query parameters, so keys are checked too;
    other sessions are checked by address only (their parameters are not known here)."""
    if isinstance(session, Conn):
        items = [("publish", s.name, p) for s, p in session.publishing.values()]
        items += [("play", p.stream.name, p.params) for p in session.playing.values()]
        for action, name, params in items:
            hook = checks.on_publish if action == "publish" else checks.on_play
            try:
                decide_stream(hook, session, name, dict(params), "NetStream.Failed")
            except CommandError as exc:
                return f"{action} {name!r}: {exc}"
        return None
    address = getattr(session, "address", None)
    if address is None:
        return None
    try:
        info = session.describe()
    except Exception:  # going away while we look
        return None
    ip = address[0] if isinstance(address, tuple) else str(address)
    rules = [h for h in getattr(checks, "handlers", [checks]) if isinstance(h, AccessList)]
    for action in ("publish", "play"):
        for entry in info.get("publishing" if action == "publish" else "playing") or []:
            if any(not r.allowed(action, ip) for r in rules):
                return f"{action} {entry.get('name', '')!r}: {action} not allowed from {ip}"
    return None
