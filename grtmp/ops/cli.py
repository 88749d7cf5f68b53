"""What ``grtmp-server`` needs for its configuration file: ``-c FILE`` (flags win over the
file), ``--check-config FILE``, and which flags were given.

Kept here so the command's ``main`` stays short: :func:`add_arguments` adds the two options to
its parser, :func:`load` turns the parsed arguments into the running configuration and the
overrides a reload keeps applying, :func:`check_config` is ``--check-config``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from typing import Any

from grtmp.config import ConfigError, ServerConfig
from grtmp.ops.configfile import ConfigFileError, load_config

__all__ = ["ConfigFileError", "add_arguments", "check_config", "explicit_settings", "load"]

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", default=None,
                        help="read settings from this TOML file (flags override it; SIGHUP "
                             "and the API reload it)")
    parser.add_argument("--check-config", metavar="FILE", default=None,
                        help="check a configuration file, print what is wrong, and exit")

def explicit_settings(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The :class:`ServerConfig` fields whose flags appear in ``argv``."""
    quiet = copy.deepcopy(parser)
    for action in quiet._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    given, _ = quiet.parse_known_args(sys.argv[1:] if argv is None else argv)
    names = {f.name for f in dataclasses.fields(ServerConfig)}
    return {k for k in vars(given) if k in names}

def load(parser: argparse.ArgumentParser, args: argparse.Namespace,
         flags_config: ServerConfig, argv: list[str] | None,
         ) -> tuple[ServerConfig, dict[str, Any]]:
    """``(config, overrides)``: the file's settings (when ``-c``) with the flags given on top.

    ``flags_config`` is what the flags alone describe, unvalidated. Raises
    :class:`ConfigFileError` for the file, :class:`ConfigError` (naming the setting) when a
    flag makes the result invalid.
    """
    if not args.config:
        flags_config.validate()
        return flags_config, {}
    base = load_config(args.config)
    overrides = {name: getattr(flags_config, name)
                 for name in explicit_settings(parser, argv)}
    config = dataclasses.replace(base, **overrides) if overrides else base
    config.validate()
    return config, overrides

def check_config(path: str) -> int:
    """``--check-config``: 0 and ``FILE: ok`` when valid, 2 and the error otherwise."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"grtmp-server: {exc}", file=sys.stderr)
        return 2
    apps = ", ".join(sorted(config.apps)) or "none"
    print(f"{path}: ok (apps: {apps})")
    return 0

