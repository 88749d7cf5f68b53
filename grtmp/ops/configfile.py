"""The configuration file: TOML, one to one with :class:`~grtmp.config.ServerConfig`.

Top-level keys are :class:`ServerConfig` field names (``port = 1935``, ``max_lag_seconds =
10.0``...); ``[apps.NAME]`` tables hold one application's overrides
(:class:`~grtmp.config.AppConfig`: access rules, stream keys, HTTP callbacks, recording, GOP
cache, no-wait, player limits). An unknown key, a value of the wrong type or out of range is a
:class:`ConfigFileError` naming the file, the line and the key::

    grtmp.toml:12: apps.live.max_players_per_stream: must be 0 (unlimited) or more

``tomllib`` reports no positions for keys, so :func:`key_lines` finds the line of each key in
the text (tables, dotted keys and inline tables; the first definition wins).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from typing import Any

from grtmp.config import APP_SETTINGS, AppConfig, ConfigError, ServerConfig

__all__ = ["ConfigFileError", "key_lines", "load_config", "parse_config"]


class ConfigFileError(ConfigError):
    """A bad configuration file: ``path``, ``line`` (0 when unknown), ``setting``, ``reason``."""

    def __init__(self, path: str, line: int, setting: str, reason: str) -> None:
        super().__init__(setting, reason)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.setting}: {self.reason}" if self.setting \
            else f"{where}: {self.reason}"


# -- where keys are ---------------------------------------------------------------------------

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_TABLE_RE = re.compile(rf"^\[\[?\s*({_KEY})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"\s*({_KEY})\s*=")
_PART_RE = re.compile(rf"{_BARE}|{_QUOTED}")


def _split_key(text: str) -> list[str]:
    out = []
    for part in _PART_RE.findall(text):
        if part[0] in "\"'":
            part = part[1:-1]
        out.append(part)
    return out


def key_lines(text: str) -> dict[str, int]:
    """``{"apps.live.record_dir": 12, ...}``: the line where each key (and table) is defined.

    A line scanner, not a parser: good enough to point at a key in a file ``tomllib`` has
    already accepted (keys inside multi-line strings may be reported too; the first wins).
    """
    lines: dict[str, int] = {}
    table: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _TABLE_RE.match(line)
        if m:
            table = _split_key(m.group(1))
            lines.setdefault(".".join(table), number)
            continue
        m = _ASSIGN_RE.match(line)
        if not m:
            continue
        path = table + _split_key(m.group(1))
        lines.setdefault(".".join(path), number)
        rest = line[m.end():].lstrip()
        if rest.startswith("{"):  # an inline table: its keys are on this line
            for inner in _ASSIGN_RE.finditer(rest[1:]):
                before = rest[1:inner.start() + 1].rstrip()
                if before and before[-1] not in "{,":
                    continue
                lines.setdefault(".".join(path + _split_key(inner.group(1))), number)
    return lines


def _line_of(lines: dict[str, int], setting: str) -> int:
    parts = setting.split(".")
    while parts:
        n = lines.get(".".join(parts))
        if n:
            return n
        parts.pop()
    return 0


# -- values -----------------------------------------------------------------------------------

class _Bad(Exception):
    pass


def _is_optional(hint: Any) -> Any:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` from TOML as the setting's type; :class:`_Bad` with the reason if not."""
    hint = _is_optional(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Bad("must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad("must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Bad("must be a string")
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Bad("must be a list of strings")
        return list(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _Bad("must be a table of strings (name = \"value\")")
        return dict(value)
    args = typing.get_args(hint)
    if bool in args:  # wait_for_publisher: bool | frozenset[str]; per app in [apps.NAME]
        if not isinstance(value, bool):
            raise _Bad("must be true or false (set it per app in [apps.NAME])")
        return value
    raise _Bad(f"cannot be set in a file ({hint})")  # pragma: no cover - every field is above


def _unknown(setting: str, choices: Any, where: str = "") -> str:
    close = difflib.get_close_matches(setting, list(choices), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown setting{where}{hint}"


def _apps(value: Any, lines: dict[str, int], path: str) -> dict[str, AppConfig]:
    if not isinstance(value, dict):
        raise ConfigFileError(path, _line_of(lines, "apps"), "apps",
                              "must be a table of [apps.NAME] sections")
    hints = typing.get_type_hints(AppConfig)
    server_settings = {f.name for f in dataclasses.fields(ServerConfig)}
    apps: dict[str, AppConfig] = {}
    for app, section in value.items():
        where = f"apps.{app}"
        if not isinstance(section, dict):
            raise ConfigFileError(path, _line_of(lines, where), where,
                                  "must be a table ([apps.NAME] with settings)")
        values = {}
        for key, v in section.items():
            setting = f"{where}.{key}"
            if key not in APP_SETTINGS:
                reason = "a server-wide setting; it cannot be set per app" \
                    if key in server_settings else _unknown(key, APP_SETTINGS, " for an app")
                raise ConfigFileError(path, _line_of(lines, setting), setting, reason)
            try:
                values[key] = _coerce(hints[key], v)
            except _Bad as exc:
                raise ConfigFileError(path, _line_of(lines, setting), setting,
                                      str(exc)) from None
        apps[app] = AppConfig(**values)
    return apps


def parse_config(text: str, path: str = "<config>") -> ServerConfig:
    """The validated :class:`ServerConfig` a TOML text describes; :class:`ConfigFileError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(m.group(1)) if m else 0
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML"
        raise ConfigFileError(path, line, "", f"invalid TOML: {reason}") from None
    lines = key_lines(text)
    hints = typing.get_type_hints(ServerConfig)
    settings = {f.name for f in dataclasses.fields(ServerConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "apps":
            values["apps"] = _apps(value, lines, path)
            continue
        if key not in settings:
            raise ConfigFileError(path, _line_of(lines, key), key, _unknown(key, settings))
        try:
            values[key] = _coerce(hints[key], value)
        except _Bad as exc:
            raise ConfigFileError(path, _line_of(lines, key), key, str(exc)) from None
    config = ServerConfig(**values)
    try:
        check(config)
    except ConfigError as exc:
        raise ConfigFileError(path, _line_of(lines, exc.setting), exc.setting,
                              exc.reason) from None
    return config


def check(config: ServerConfig) -> None:
    """:meth:`ServerConfig.validate` plus what only the hooks know (access rule syntax)."""
    config.validate()
    from grtmp.auth import AccessList  # the one parser of access rules

    for setting, rules in [("access", config.access)] + [
            (f"apps.{app}.access", section.access) for app, section in config.apps.items()
            if section.access is not None]:
        try:
            AccessList(rules)
        except ValueError as exc:
            raise ConfigError(setting, str(exc)) from None


def load_config(path: str) -> ServerConfig:
    """Read and validate a configuration file; :class:`ConfigFileError` (also for I/O)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigFileError(path, 0, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, raw[:exc.start].count(b"\n") + 1, "",
                              "not UTF-8 text") from None
    return parse_config(text, path)
