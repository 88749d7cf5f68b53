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
    parser = build_parser()
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
    # Patch first, before anything imports ssl, socket users or urllib.
    from gevent import monkey

    monkey.patch_all()
    import ssl

    import gevent

    from grtmp.live.hub import StreamHub
    from grtmp.net.server import Server
    from grtmp.ops.apphooks import ConfigHooks
    from grtmp.ops.control import Operations
    from grtmp.ops.logjson import setup_logging

    setup_logging(config)
    log = logging.getLogger("grtmp.server")
    hub = StreamHub(config)
    hooks = ConfigHooks(hub)  # the running config's rules, per app; follows reloads
    servers = [Server((config.host, config.port), config=config, hub=hub, hooks=hooks)]
    if config.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(config.tls_cert, config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"grtmp-server: cannot load TLS certificate: {exc}", file=sys.stderr)
            return 2
        servers.append(Server((config.host, config.tls_port), config=config, hub=hub,
                              hooks=hooks, ssl_context=ctx))
    # The JSON API and /metrics: ops.routes() is {"/api/v1/": ..., "/metrics": ...}, to mount
    # on the HTTP port (grtmp.web.make_app(..., routes=ops.routes())).
    ops = Operations(hub, servers=servers, config_path=args.config, overrides=overrides)
    ops.start()
    if args.config:
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(ops.reload))
    stopping: list[int] = []

    def on_signal(signum: int) -> None:
        if stopping:
            log.warning("second signal: exiting now")
            logging.shutdown()
            os._exit(1)
        stopping.append(signum)
        log.info("signal %d: shutting down", signum)
        for server in servers:
            gevent.spawn(server.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, on_signal, sig)
    for server in servers:
        try:
            server.start()
        except OSError as exc:
            log.error("cannot listen on %s: %s", config.host, exc)
            for other in servers:
                other.stop(timeout=1)
            return 1
    for server in servers:
        server.wait()
    ops.stop()
    # Stopped: a signal arriving while the interpreter exits must not turn a clean exit
    # into a death by signal.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
