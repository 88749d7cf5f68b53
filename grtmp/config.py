"""Server configuration: every setting, its default and its documentation, in one place.

:class:`ServerConfig` is a dataclass whose fields carry their help text; ``grtmp-server``
builds its command-line flags from them (:mod:`grtmp.cli.server`), so a default is written
once. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

__all__ = ["APP_SETTINGS", "AppConfig", "ConfigError", "ServerConfig", "setting_help"]


class ConfigError(ValueError):
    """A setting with a bad value: ``setting`` names the field, the message says why."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.reason = message


def _s(default: Any, help: str, *, flag: str | None = None, metavar: str | None = None,
       cli: bool = True) -> Any:
    """A setting: default, help text, and how it appears as a flag (``cli=False``: not)."""
    meta = {"help": help, "flag": flag, "metavar": metavar, "cli": cli}
    if isinstance(default, list | dict | set):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ServerConfig:
    """Settings shared by :class:`grtmp.Server` and every connection.

    The defaults follow what nginx-rtmp and SRS users expect; each is a constructor argument so
    an embedding application can tighten them.
    """

    # -- listening ------------------------------------------------------------------------------
    host: str = _s("0.0.0.0", "address to listen on")
    port: int = _s(1935, "RTMP port")
    tls_cert: str | None = _s(None, "certificate chain (PEM): also serve RTMPS",
                              metavar="PEM")
    tls_key: str | None = _s(None, "private key (PEM) for --tls-cert", metavar="PEM")
    tls_port: int = _s(1936, "RTMPS port")
    #: Connections the kernel queues before accept (nginx uses 511; Linux caps it at
    #: net.core.somaxconn). Too small a queue drops SYNs in a connection storm and the
    #: clients wait out TCP's 1, 3, 7 s retries.
    listen_backlog: int = _s(4096, "connections the kernel queues before accept")
    # -- protocol -------------------------------------------------------------------------------
    #: Outbound chunk size announced after connect (nginx-rtmp uses 4096).
    chunk_size: int = _s(4096, "outbound chunk size announced to peers")
    #: Window Acknowledgement Size we announce, and Set Peer Bandwidth we ask for.
    window_ack_size: int = _s(2_500_000, "Window Acknowledgement Size announced to peers")
    peer_bandwidth: int = _s(2_500_000, "Set Peer Bandwidth window asked of peers")
    #: fmsVer / capabilities we announce in the connect _result.
    fms_version: str = _s("FMS/3,0,1,123", "fmsVer in the connect result", cli=False)
    capabilities: int = _s(31, "capabilities in the connect result", cli=False)
    # -- streams --------------------------------------------------------------------------------
    #: Keep the frames since the last keyframe so late joiners start at once.
    gop_cache: bool = _s(True, "cache the last GOP for late joiners",
                         flag="--no-gop-cache")
    gop_cache_max_messages: int = _s(4096, "largest GOP cached, in messages")
    gop_cache_max_bytes: int = _s(64 * 1024 * 1024, "largest GOP cached, in bytes")
    #: Messages queued per player before it drops frames until the next keyframe.
    queue_size: int = _s(1024, "messages queued per player before it drops to the next "
                               "keyframe")
    #: A player that keeps dropping for this many seconds of stream time is disconnected.
    max_lag_seconds: float = _s(10.0, "disconnect a player this many seconds behind",
                                flag="--max-lag")
    #: Play of a name nobody publishes: wait for a publisher (True) or answer StreamNotFound
    #: (False); or the set of app names that wait (the others answer StreamNotFound).
    wait_for_publisher: bool | frozenset[str] = _s(
        True, "answer play of an unpublished name with NetStream.Play.StreamNotFound (in "
              "every app, or only in the APPs named) instead of waiting for a publisher",
        flag="--no-wait", metavar="APP")
    #: A publisher of a name already live: ``always`` takes the stream over, ``idle:SECONDS``
    #: only when the current one sent nothing for that long, ``never`` answers BadName.
    publisher_takeover: str = _s("always", "a publisher of a live name: always takes over, "
                                           "idle:SECONDS only from a silent one, never refused",
                                 metavar="RULE")
    #: Record every publish to ``DIR/APP/NAME-YYYYmmdd-HHMMSS.flv`` (None: no recording).
    record_dir: str | None = _s(None, "record every publish to DIR/APP/NAME-DATE-TIME.flv",
                                flag="--record", metavar="DIR")
    #: With ``record_dir``: record every publish (True), or only what the API asks (False).
    record_auto: bool = _s(True, "with record_dir: record every publish (true) or only the "
                                 "streams the API asks for (false)", cli=False)
    # -- relays and the cluster ----------------------------------------------------------------
    #: Push every publish to these targets too (``{app}`` and ``{name}`` are filled in).
    push: list[str] = _s([], "also publish every stream to URL (rtmp:// or rtmps://; {app} "
                             "and {name} are filled in; repeatable)", metavar="URL")
    #: Pull a stream nobody publishes here from these upstreams, in turn (URL templates).
    pull: list[str] = _s([], "pull streams nobody publishes here from URL ({app}, {name}; "
                             "repeatable: tried in turn)", metavar="URL")
    #: Seconds a pulled stream stays connected after its last player left.
    pull_idle_timeout: float = _s(10.0, "seconds a pull stays after its last player left")
    #: CA certificates (PEM) that ``rtmps://`` upstreams and push targets are verified with
    #: (default: the system's).
    relay_ca_file: str | None = _s(None, "CA certificates (PEM) to verify rtmps:// relay peers",
                                   metavar="PEM")
    #: Redis stream directory shared by every node (``redis://HOST:PORT/DB``).
    cluster: str | None = _s(None, "Redis stream directory shared by the nodes",
                             metavar="redis://HOST:PORT/DB")
    #: Shared secret that signs directory entries (required with ``cluster``).
    cluster_secret: str | None = _s(None, "secret that signs the directory entries (HMAC)",
                                    metavar="SECRET")
    #: How other nodes reach this one over RTMP (default ``rtmp://<host>:<port>``).
    cluster_advertise: str | None = _s(None, "how other nodes reach this one",
                                       metavar="rtmp://HOST:PORT")
    #: Processes serving the same ports (SO_REUSEPORT): a number or ``auto`` (one per core).
    workers: str = _s("1", "processes sharing the ports: N or auto (one per core)",
                      metavar="N")
    # -- limits -----------------------------------------------------------------------------------
    #: Seconds allowed for the whole handshake.
    handshake_timeout: float = _s(10.0, "seconds allowed for the whole handshake")
    #: Seconds of silence from a peer before we ping it, and before we drop it.
    ping_interval: float = _s(30.0, "ping a peer silent for this many seconds")
    idle_timeout: float = _s(90.0, "close a peer silent for this many seconds")
    #: Largest message a peer may send (the wire format allows 16 MiB - 1).
    max_message_size: int = _s(8 * 1024 * 1024, "largest message a peer may send, in bytes")
    #: Bytes of partly received messages all connections together may hold.
    max_buffered_total: int = _s(256 * 1024 * 1024, "bytes of partly received messages all "
                                                     "peers together may hold")
    #: Chunk streams one connection may keep open.
    max_chunk_streams: int = _s(64, "chunk streams one connection may use")
    #: Message streams (createStream) one connection may have open at once (0 = unlimited).
    max_message_streams: int = _s(16, "message streams (createStream) one connection may "
                                      "open (0: unlimited)")
    #: Connection limits (0 = unlimited).
    max_connections: int = _s(0, "maximum connections in total (0: unlimited)")
    max_connections_per_ip: int = _s(0, "maximum connections from one address (0: unlimited)")
    #: Players per stream (0 = unlimited).
    max_players_per_stream: int = _s(0, "maximum players of one stream (0: unlimited)")
    # -- access -----------------------------------------------------------------------------------
    #: nginx-rtmp style access rules, first match wins: ``allow|deny publish|play CIDR|all``.
    access: list[str] = _s([], "'allow|deny publish|play CIDR|all', first match wins "
                               "(repeatable)", metavar="RULE")
    #: nginx-rtmp compatible HTTP callbacks (form POST); None: not called.
    on_connect: str | None = _s(None, "HTTP callback (form POST) on connect", metavar="URL")
    on_publish: str | None = _s(None, "HTTP callback (form POST) on publish", metavar="URL")
    on_play: str | None = _s(None, "HTTP callback (form POST) on play", metavar="URL")
    on_publish_done: str | None = _s(None, "HTTP callback (form POST) when a publish ends",
                                     metavar="URL")
    on_play_done: str | None = _s(None, "HTTP callback (form POST) when a play ends",
                                  metavar="URL")
    on_done: str | None = _s(None, "HTTP callback (form POST) when a connection ends",
                             metavar="URL")
    # -- web (HTTP-FLV, WebSocket-FLV, LL-HLS, status page: grtmp.web) -------------------------
    #: The web app's port in ``grtmp-server`` (0: no web server).
    http_port: int = _s(8080, "HTTP port of the web app: HTTP-FLV, WebSocket-FLV, LL-HLS and "
                              "the status page (0: off)")
    #: Address of the web app (None: the same as ``host``).
    http_host: str | None = _s(None, "address the web app listens on (default: --host)",
                               metavar="HOST")
    #: ``Access-Control-Allow-Origin`` on media responses ("": no CORS header).
    cors_origin: str = _s("*", "Access-Control-Allow-Origin of media responses ('': none)",
                          metavar="ORIGIN")
    #: LL-HLS target segment duration (segments are cut on the first keyframe after it).
    hls_segment_duration: float = _s(2.0, "LL-HLS target segment duration, seconds",
                                     metavar="SECONDS")
    #: LL-HLS part target (``PART-TARGET``).
    hls_part_duration: float = _s(0.333, "LL-HLS part target duration, seconds",
                                  metavar="SECONDS")
    #: Segments listed in an LL-HLS playlist (memory: a few more are kept for late readers).
    hls_segments: int = _s(7, "segments listed in an LL-HLS playlist (at least 3)")
    #: Mux every published stream to LL-HLS from its start, not only once a viewer asks.
    hls_always: bool = _s(False, "mux every publish to LL-HLS from its start (default: from "
                                 "the first HLS request)")
    #: A stream's LL-HLS muxer is released this long after its last HLS request.
    hls_idle_timeout: float = _s(30.0, "release a stream's LL-HLS muxer this many seconds "
                                       "after its last request", metavar="SECONDS")
    #: Blocking playlist/part requests one stream may hold waiting at once (then 503).
    hls_max_waiting: int = _s(10000, "blocked LL-HLS requests one stream may hold (then 503)")
    #: Stream keys: ``{name or "APP/NAME": key}``. When set, only the names listed may be
    #: published, each as ``NAME?key=KEY`` (:class:`grtmp.auth.StreamKeys`).
    stream_keys: dict[str, str] = _s({}, "stream name (or APP/NAME) -> key; when set, only "
                                         "these names may be published, as NAME?key=KEY",
                                     cli=False)
    stream_keys_play: bool = _s(False, "players of a keyed stream need the key too", cli=False)
    # -- operations -------------------------------------------------------------------------------
    #: The JSON API and /metrics: a bearer token, and/or an address allow list; with neither,
    #: they answer only on loopback.
    api_token: str | None = _s(None, "bearer token the JSON API and /metrics require (prefer "
                                     "the config file: flags are visible to other users)",
                               metavar="TOKEN")
    api_allow: list[str] = _s([], "address or CIDR allowed to use the JSON API and /metrics "
                                  "(repeatable; default: loopback only unless a token is set)",
                              metavar="CIDR")
    #: Per-application overrides (``[apps.NAME]`` in the config file).
    apps: dict[str, AppConfig] = _s({}, "per-application settings ([apps.NAME] sections)",
                                    cli=False)
    # -- logging ----------------------------------------------------------------------------------
    log_level: str = _s("info", "debug, info, warning or error")
    log_format: str = _s("text", "text, or json: one JSON object per line")

    def for_app(self, app: str) -> ServerConfig:
        """The settings that apply in ``app``: this config with its ``[apps.APP]`` overrides
        (this very object when the app has none). The one lookup code uses wherever an
        app-specific setting applies (GOP cache, recording, no-wait, player limits, access).

        The result is cached: a config in use is not changed in place (a reload swaps it).
        """
        section = self.apps.get(app)
        if section is None:
            return self
        cache = self.__dict__.setdefault("_for_app", {})
        merged = cache.get(app)
        if merged is None:
            overrides = section.overrides()
            merged = cache[app] = replace(self, **overrides) if overrides else self
        return merged

    def waits_for_publisher(self, app: str) -> bool:
        """Whether players of ``app`` wait for a publisher (nginx-rtmp ``idle_streams``)."""
        w = self.wait_for_publisher
        return w if isinstance(w, bool) else app in w

    def worker_count(self) -> int:
        """``workers`` as a number (``auto``: the number of cores)."""
        if self.workers == "auto":
            import os

            return max(1, len(os.sched_getaffinity(0)))
        return int(self.workers)

    def validate(self) -> None:
        """:class:`ConfigError` naming the setting when a value is out of range."""
        if not 128 <= self.chunk_size <= 0x7FFFFFFF:
            raise ConfigError("chunk_size", "must be between 128 and 2147483647")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_key" if self.tls_cert else "tls_cert",
                              "tls_cert and tls_key go together")
        for name in ("port", "tls_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(name, "must be a TCP port (0..65535)")
        for name in ("listen_backlog", "queue_size", "max_message_size", "max_chunk_streams",
                     "gop_cache_max_messages", "gop_cache_max_bytes", "window_ack_size",
                     "peer_bandwidth", "max_buffered_total"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be at least 1")
        for name in ("max_message_streams", "max_connections", "max_connections_per_ip",
                     "max_players_per_stream"):
            if getattr(self, name) < 0:
                raise ConfigError(name, "must be 0 (unlimited) or more")
        for name in ("handshake_timeout", "ping_interval", "idle_timeout", "max_lag_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, "must be more than 0")
        if self.cluster and not self.cluster_secret:
            raise ConfigError("cluster_secret", "is required with cluster")
        if self.cluster and not self.cluster.startswith(("redis://", "unix://")):
            raise ConfigError("cluster", "must be a redis:// or unix:// URL")
        for name in ("push", "pull"):
            for url in getattr(self, name):
                if not url.startswith(("rtmp://", "rtmps://")):
                    raise ConfigError(name, f"{url!r} is not an rtmp:// or rtmps:// URL")
        if self.workers != "auto":
            try:
                ok = int(self.workers) >= 1
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError("workers", "must be a number of processes or auto")
        if self.pull_idle_timeout < 0:
            raise ConfigError("pull_idle_timeout", "must be 0 or more")
        rule = self.publisher_takeover
        if rule not in ("always", "never"):
            kind, _, seconds = rule.partition(":")
            try:
                ok = kind == "idle" and float(seconds) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError("publisher_takeover", "must be always, never or idle:SECONDS")
        if not 0 <= self.http_port <= 65535:
            raise ConfigError("http_port", "must be a TCP port (0..65535; 0: off)")
        if not 0.1 <= self.hls_segment_duration <= 60:
            raise ConfigError("hls_segment_duration", "must be within 0.1..60 seconds")
        if not 0.05 <= self.hls_part_duration <= self.hls_segment_duration:
            raise ConfigError("hls_part_duration",
                              "must be within 0.05 seconds..hls_segment_duration")
        if self.hls_segments < 3:
            raise ConfigError("hls_segments", "must be at least 3")
        if not self.hls_idle_timeout > 0:
            raise ConfigError("hls_idle_timeout", "must be more than 0")
        if self.hls_max_waiting < 1:
            raise ConfigError("hls_max_waiting", "must be at least 1")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError("log_level", "must be debug, info, warning or error")
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format", "must be text or json")
        for name in _CALLBACKS:
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(name, "must be an http:// or https:// URL")
        for cidr in self.api_allow:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError("api_allow", f"{cidr!r} is not an address or CIDR") from None
        if self.api_token is not None and not self.api_token.strip():
            raise ConfigError("api_token", "must not be empty")
        for key, value in self.stream_keys.items():
            if not isinstance(value, str) or not value:
                raise ConfigError("stream_keys", f"the key of {key!r} must be a non-empty string")
        for app, section in self.apps.items():
            if not isinstance(section, AppConfig):
                raise ConfigError(f"apps.{app}", "must be an app section")
            try:
                replace(self, apps={}, **section.overrides()).validate()
            except ConfigError as exc:
                raise ConfigError(f"apps.{app}.{exc.setting}", exc.reason) from None


_CALLBACKS = ("on_connect", "on_publish", "on_play", "on_publish_done", "on_play_done", "on_done")

#: The settings an ``[apps.NAME]`` section may override (the fields of :class:`AppConfig`).
APP_SETTINGS = ("access", "stream_keys", "stream_keys_play", *_CALLBACKS, "record_dir",
                "record_auto", "gop_cache", "gop_cache_max_messages", "gop_cache_max_bytes",
                "wait_for_publisher", "max_players_per_stream", "queue_size", "max_lag_seconds",
                "push", "pull")


@dataclass
class AppConfig:
    """One application's settings (``[apps.NAME]``): each field overrides the
    :class:`ServerConfig` field of the same name; None inherits it.

    An empty string turns a server-wide ``record_dir`` or callback URL off in this app.
    """

    access: list[str] | None = None
    stream_keys: dict[str, str] | None = None
    stream_keys_play: bool | None = None
    on_connect: str | None = None
    on_publish: str | None = None
    on_play: str | None = None
    on_publish_done: str | None = None
    on_play_done: str | None = None
    on_done: str | None = None
    record_dir: str | None = None
    record_auto: bool | None = None
    gop_cache: bool | None = None
    gop_cache_max_messages: int | None = None
    gop_cache_max_bytes: int | None = None
    wait_for_publisher: bool | None = None
    max_players_per_stream: int | None = None
    queue_size: int | None = None
    max_lag_seconds: float | None = None
    push: list[str] | None = None
    pull: list[str] | None = None

    def overrides(self) -> dict[str, Any]:
        """``{setting: value}`` of the settings this section sets."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def setting_help() -> dict[str, tuple[Any, str]]:
    """``{field name: (default, help)}`` for documentation and tools."""
    out = {}
    for f in fields(ServerConfig):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out[f.name] = (default, f.metadata.get("help", ""))
    return out
