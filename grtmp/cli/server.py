"""``grtmp-server``: run an RTMP server with sensible defaults, with or without a config file.

Every flag comes from a :class:`~grtmp.config.ServerConfig` field (its name, type, default and
help), so the defaults live in one place. ``-c FILE`` reads the same settings from a TOML file
(:mod:`grtmp.ops.configfile`); flags given on the command line win; SIGHUP reloads the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
import types
import typing
from typing import Any

from grtmp import __version__
from grtmp.config import ConfigError, ServerConfig
from grtmp.ops import cli as ops_cli


class _AllBut(frozenset):
    """The apps that wait: every app but these."""

    def __contains__(self, app: object) -> bool:
        return not frozenset.__contains__(self, app)


def _waiting(no_wait: list[str] | None) -> bool | frozenset[str]:
    if no_wait is None:
        return True
    if not no_wait:
        return False
    return _AllBut(no_wait)


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(ServerConfig)


def _base(tp: Any) -> Any:
    """``int`` of ``int | None``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grtmp-server", description="Run an RTMP server.")
    hints = _field_types()
    for f in dataclasses.fields(ServerConfig):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        default = f.default if f.default is not dataclasses.MISSING \
            else f.default_factory()  # type: ignore[misc]
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        help_text = meta.get("help", "")
        kwargs: dict[str, Any] = {"dest": f.name}
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        tp = _base(hints[f.name])
        if f.name == "wait_for_publisher":
            p.add_argument(flag, nargs="*", default=None, help=help_text, **kwargs)
        elif tp is bool:
            p.add_argument(flag, action="store_false" if default else "store_true",
                           default=default, help=help_text, **kwargs)
        elif typing.get_origin(tp) is list:
            p.add_argument(flag, action="append", default=[], help=help_text, **kwargs)
        else:
            shown = "" if default in (None, "") else f" (default {default})"
            p.add_argument(flag, type=tp if tp in (int, float) else str, default=default,
                           help=help_text + shown, **kwargs)
    ops_cli.add_arguments(p)
    p.add_argument("--version", action="version", version=f"grtmp {__version__}")
    return p


def flag_of(setting: str) -> str:
    """The command-line flag of a :class:`ServerConfig` field."""
    for f in dataclasses.fields(ServerConfig):
        if f.name == setting:
            return f.metadata.get("flag") or "--" + setting.replace("_", "-")
    return setting


def config_from_args(args: argparse.Namespace, validate: bool = True) -> ServerConfig:
    """The :class:`ServerConfig` the parsed flags describe; ValueError when invalid."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServerConfig)
              if f.metadata.get("cli", True)}
    values["wait_for_publisher"] = _waiting(args.wait_for_publisher)
    config = ServerConfig(**values)
    if validate:
        config.validate()
    return config


def make_hooks(config: ServerConfig) -> Any:
    """The access rules and HTTP callbacks the config asks for (None: none)."""
    from grtmp.auth import AccessList, HTTPCallbacks, chain

    access = AccessList(config.access) if config.access else None
    urls = {name: getattr(config, name) for name in (
        "on_connect", "on_publish", "on_play", "on_publish_done", "on_play_done", "on_done")}
    http = HTTPCallbacks(**urls) if any(urls.values()) else None
    return chain(access, http) if (access or http) else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    parser.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--runtime-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check_config:
        return ops_cli.check_config(args.check_config)
    try:
        config, overrides = ops_cli.load(parser, args, config_from_args(args, validate=False),
                                         argv)
    except ops_cli.ConfigFileError as exc:
        print(f"grtmp-server: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"grtmp-server: {flag_of(exc.setting)}: {exc.reason}", file=sys.stderr)
        return 2
    try:
        make_hooks(config)  # checks the access rules before anything starts
    except ValueError as exc:
        print(f"grtmp-server: --access: {exc}", file=sys.stderr)
        return 2
    workers = config.worker_count()
    if workers > 1 and args.worker_index is None:
        if config.port == 0:
            print("grtmp-server: --workers needs a fixed --port", file=sys.stderr)
            return 2
        from grtmp.cli.workers import supervise
        from grtmp.ops.logjson import setup_logging

        setup_logging(config)

        return supervise(argv, workers)
    return serve(config, worker=args.worker_index, runtime_dir=args.runtime_dir,
                 config_path=args.config, overrides=overrides)


def _reuseport_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket that other worker processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _raise_open_files(log: logging.Logger) -> None:
    """Raise the open-files soft limit to the hard limit: every connection is a descriptor,
    and the usual soft limit (1,024) is far below what one process serves."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("open files limit raised from %d to %d", soft, hard)
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d: %s", soft, exc)


def serve(config: ServerConfig, *, worker: int | None = None,
          runtime_dir: str | None = None, config_path: str | None = None,
          overrides: dict[str, Any] | None = None) -> int:
    """Run one server process (the only one, or worker number ``worker``) until a signal;
    SIGHUP reloads ``config_path`` (``overrides``, the flags given, still win)."""
    # Patch first, before anything imports ssl, socket users or urllib.
    from gevent import monkey

    monkey.patch_all()
    import ssl

    import gevent
    import gevent.event

    from grtmp.live.hub import StreamHub
    from grtmp.net.relay import Relays
    from grtmp.net.server import Server
    from grtmp.net.tls import server_context
    from grtmp.ops.apphooks import ConfigHooks
    from grtmp.ops.control import Operations
    from grtmp.ops.logjson import setup_logging

    setup_logging(config, worker=worker)
    log = logging.getLogger("grtmp.server")
    _raise_open_files(log)
    hub = StreamHub(config)
    hooks = ConfigHooks(hub)  # the running config's rules, per app; follows reloads

    def listen(port: int, host: str | None = None) -> tuple[str, int] | socket.socket:
        host = host or config.host
        if worker is None:
            return (host, port)
        return _reuseport_socket(host, port, config.listen_backlog)

    ctx = None
    if config.tls_cert:
        try:
            ctx = server_context(config.tls_cert, config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"grtmp-server: cannot load TLS certificate: {exc}", file=sys.stderr)
            return 2
    servers: list[Server] = []
    directories: list[tuple[object, str]] = []
    relays: Relays | None = None
    web = None
    ops: Operations | None = None
    stopping: list[int] = []
    stopped = gevent.event.Event()
    ending: list[bool] = []

    def stop_all() -> None:
        if stopped.is_set() or ending:
            return
        ending.append(True)
        if ops is not None:
            ops.stop()
        if relays is not None:
            relays.close()
        for directory, _url in directories:
            directory.close()  # type: ignore[attr-defined]
        for server in servers:
            server.stop()
        if web is not None:
            web.stop()
        stopped.set()

    def on_signal(signum: int) -> None:
        if stopping:
            log.warning("second signal: exiting now")
            logging.shutdown()
            os._exit(1)
        stopping.append(signum)
        log.info("signal %d: shutting down", signum)
        gevent.spawn(stop_all)

    def on_hup() -> None:
        if ops is None:
            log.warning("SIGHUP while starting: ignored")
        elif config_path:
            gevent.spawn(ops.reload)
        else:
            log.warning("SIGHUP: no configuration file to reload (start with -c FILE)")

    # Handlers first: a signal that arrives while the ports open still stops cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, on_signal, sig)
    gevent.signal_handler(signal.SIGHUP, on_hup)
    try:
        servers.append(Server(listen(config.port), config=config, hub=hub, hooks=hooks))
        if ctx is not None:
            servers.append(Server(listen(config.tls_port), config=config, hub=hub, hooks=hooks,
                                  ssl_context=ctx))
        internal = None
        if worker is not None:
            # Where the other workers pull this one's streams from (never shared).
            internal = Server(("127.0.0.1", 0), config=config, hub=hub, hooks=None)
            servers.append(internal)
        for server in servers:
            server.start()
    except OSError as exc:
        log.error("cannot listen on %s: %s", config.host, exc)
        for server in servers:
            server.stop(timeout=1)
        return 1
    if worker is not None and runtime_dir and internal is not None:
        from grtmp.cluster.localdir import LocalDirectory

        directories.append((LocalDirectory(runtime_dir, f"worker-{worker}"),
                            f"rtmp://127.0.0.1:{internal.port}"))
    if config.cluster:
        from grtmp.cluster.redisdir import RedisDirectory

        node = f"{socket.gethostname()}-{os.getpid()}"
        host = socket.gethostname() if config.host in ("0.0.0.0", "::") else config.host
        advertise = config.cluster_advertise or f"rtmp://{host}:{servers[0].port}"
        directories.append((RedisDirectory(config.cluster, config.cluster_secret or "", node),
                            advertise.rstrip("/")))
    relays = Relays(hub, config, directories=directories, hooks=hooks)
    ops = Operations(hub, servers=servers, relays=relays, config_path=config_path,
                     overrides=overrides)
    ops.start()
    if config.http_port:
        # The browser paths, the status page, the JSON API and /metrics on one HTTP port.
        from grtmp.web import WebServer, make_app

        try:
            web = WebServer(listen(config.http_port, config.http_host),
                            make_app(hub, hooks=hooks, config=config, routes=ops.routes()),
                            backlog=config.listen_backlog)
            web.start()
        except OSError as exc:
            log.error("cannot listen on %s:%d (--http-port): %s",
                      config.http_host or config.host, config.http_port, exc)
            web = None
            stop_all()
            return 1
    if stopping:  # a signal came while starting
        gevent.spawn(stop_all)
    stopped.wait()
    # Stopped: a signal arriving while the interpreter exits must not turn a clean exit
    # into a death by signal.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
