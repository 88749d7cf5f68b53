"""The TOML configuration file: one to one with ServerConfig, per-app sections, errors that
name the file, the line and the key."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from grtmp.config import APP_SETTINGS, AppConfig, ConfigError, ServerConfig
from grtmp.ops.apphooks import ConfigHooks, build_hooks
from grtmp.ops.configfile import ConfigFileError, key_lines, load_config, parse_config


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    raise TypeError(value)


#: A value different from the default for every setting of the file.
_OTHER = {
    "host": "127.0.0.1", "port": 1940, "tls_cert": "c.pem", "tls_key": "k.pem",
    "tls_port": 1941, "chunk_size": 8192, "window_ack_size": 5_000_000,
    "peer_bandwidth": 5_000_000, "fms_version": "FMS/4", "capabilities": 255,
    "gop_cache": False, "gop_cache_max_messages": 100, "gop_cache_max_bytes": 1 << 20,
    "queue_size": 77, "max_lag_seconds": 3.5, "wait_for_publisher": False,
    "record_dir": "/tmp/r", "record_auto": False, "handshake_timeout": 4.0,
    "ping_interval": 5.0, "idle_timeout": 6.0, "max_message_size": 1 << 20,
    "max_buffered_total": 1 << 24, "max_chunk_streams": 9, "max_message_streams": 3,
    "max_connections": 100, "max_connections_per_ip": 5, "max_players_per_stream": 50,
    "access": ["deny publish all"], "on_connect": "http://h/c", "on_publish": "http://h/p",
    "on_play": "https://h/pl", "on_publish_done": "http://h/pd", "on_play_done": "http://h/d",
    "on_done": "http://h/x", "stream_keys": {"cam": "k", "live/other": "k2"},
    "stream_keys_play": True, "api_token": "tok", "api_allow": ["10.0.0.0/8", "::1"],
    "log_level": "debug", "log_format": "json", "publisher_takeover": "idle:5",
    "push": ["rtmp://b/live/{name}"], "pull": ["rtmps://o/{app}/{name}"],
    "pull_idle_timeout": 3.0, "relay_ca_file": "ca.pem", "cluster": "redis://r:6379/0",
    "cluster_secret": "s", "cluster_advertise": "rtmp://n:1935", "workers": "2",
    "listen_backlog": 511, "http_port": 8081, "http_host": "127.0.0.2", "cors_origin": "https://example.org",
    "hls_segment_duration": 4.0, "hls_part_duration": 0.5, "hls_segments": 5,
    "hls_always": True, "hls_idle_timeout": 10.0, "hls_max_waiting": 100,
}


def test_every_setting_can_be_set_from_the_file():
    names = {f.name for f in dataclasses.fields(ServerConfig)} - {"apps"}
    assert set(_OTHER) == names  # a new setting needs a value here
    defaults = ServerConfig()
    for name, value in _OTHER.items():
        assert getattr(defaults, name) != value, name
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in _OTHER.items())
    assert parse_config(text) == ServerConfig(**_OTHER)


def test_app_sections_override_exactly_the_app_settings():
    hints = typing.get_type_hints(AppConfig)
    server = typing.get_type_hints(ServerConfig)
    assert tuple(f.name for f in dataclasses.fields(AppConfig)) == APP_SETTINGS
    for name in APP_SETTINGS:  # each is a ServerConfig setting, optional here
        assert type(None) in typing.get_args(hints[name]), name
        assert name in server
    text = "[apps.tv]\n" + "".join(
        f"{k} = {_toml(_OTHER[k])}\n" for k in APP_SETTINGS)
    config = parse_config(text)
    tv = config.for_app("tv")
    for name in APP_SETTINGS:
        assert getattr(tv, name) == _OTHER[name], name
    assert config.for_app("radio") is config  # no section: the config itself
    assert config.for_app("tv") is tv  # computed once
    assert tv.port == config.port


def test_empty_string_turns_a_server_wide_url_or_record_dir_off_in_one_app():
    config = parse_config('record_dir = "/r"\non_publish = "http://h/p"\n'
                          '[apps.quiet]\nrecord_dir = ""\non_publish = ""\n')
    quiet = config.for_app("quiet")
    assert not quiet.record_dir and not quiet.on_publish
    assert config.for_app("loud").record_dir == "/r"
    hooks = ConfigHooks(type("Src", (), {"config": config})())
    assert hooks.for_app("quiet").handlers == []  # nothing to ask
    assert len(hooks.for_app("loud").handlers) == 1  # the callbacks
    assert hooks.for_app("other") is hooks.for_app("loud")  # apps without a section share
    assert len(build_hooks(config.for_app("loud")).handlers) == 1


def test_key_lines_finds_tables_dotted_keys_and_inline_tables():
    text = ('# comment = 1\n'
            'port = 1\n'
            'access = [\n'
            '  "allow publish all",\n'
            ']\n'
            '\n'
            '[apps."my app"]  # a quoted name\n'
            'stream_keys = { a = "x", "b c" = "y" }\n'
            'apps.other.queue_size = 3\n'
            "[apps.'x.y']\n"
            'gop_cache = false\n')
    lines = key_lines(text)
    assert lines["port"] == 2 and lines["access"] == 3
    assert lines["apps.my app"] == 7 and lines["apps.my app.stream_keys"] == 8
    assert lines["apps.my app.stream_keys.a"] == 8 and lines["apps.my app.stream_keys.b c"] == 8
    assert lines["apps.my app.apps.other.queue_size"] == 9
    assert lines["apps.x.y.gop_cache"] == 11
    assert "comment" not in lines


@pytest.mark.parametrize(("text", "message"), [
    ("port = 'x'\n", "g.toml:1: port: must be an integer"),
    ("port = true\n", "g.toml:1: port: must be an integer"),
    ("max_lag_seconds = 'x'\n", "g.toml:1: max_lag_seconds: must be a number"),
    ("gop_cache = 1\n", "g.toml:1: gop_cache: must be true or false"),
    ("host = 1\n", "g.toml:1: host: must be a string"),
    ("access = 'allow play all'\n", "g.toml:1: access: must be a list of strings"),
    ("stream_keys = { a = 1 }\n", 'g.toml:1: stream_keys: must be a table of strings'),
    ("wait_for_publisher = ['live']\n", "g.toml:1: wait_for_publisher: must be true or false "
                                        "(set it per app in [apps.NAME])"),
    ("\n\nmax_lag = 3\n", "g.toml:3: max_lag: unknown setting (did you mean max_lag_seconds?)"),
    ("apps = 3\n", "g.toml:1: apps: must be a table of [apps.NAME] sections"),
    ("[apps]\nlive = 3\n", "g.toml:2: apps.live: must be a table ([apps.NAME] with settings)"),
    ("[apps.live]\nport = 1\n", "g.toml:2: apps.live.port: a server-wide setting; it cannot be "
                                "set per app"),
    ("[apps.live]\n\nqueue_size = 0\n", "g.toml:3: apps.live.queue_size: must be at least 1"),
    ("[apps.live]\naccess = ['let play all']\n", "g.toml:2: apps.live.access: bad access rule"),
    ("api_allow = ['nowhere']\n", "g.toml:1: api_allow: 'nowhere' is not an address or CIDR"),
    ("api_token = ' '\n", "g.toml:1: api_token: must not be empty"),
    ("log_format = 'xml'\n", "g.toml:1: log_format: must be text or json"),
    ("tls_cert = 'a'\n", "g.toml: tls_key: tls_cert and tls_key go together"),
    ("port = \n", "g.toml:1: invalid TOML: Invalid value"),
    ("[apps.live]\n[apps.live]\n", "g.toml:2: invalid TOML"),
])
def test_errors_name_file_line_and_key(text, message):
    with pytest.raises(ConfigFileError) as info:
        parse_config(text, "g.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ConfigError)  # callers that catch ConfigError keep working


def test_load_config_reads_files_and_reports_what_it_cannot(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("port = 2000\n")
    assert load_config(str(path)).port == 2000
    path.write_bytes(b"port = 1\nhost = '\xff'\n")
    with pytest.raises(ConfigFileError, match=r"a\.toml:2: not UTF-8 text"):
        load_config(str(path))
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_config(str(tmp_path / "none.toml"))


def test_validate_names_the_app_setting():
    config = ServerConfig(apps={"tv": AppConfig(max_lag_seconds=0)})
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.setting == "apps.tv.max_lag_seconds"
    with pytest.raises(ConfigError, match="apps.x: must be an app section"):
        ServerConfig(apps={"x": {"queue_size": 3}}).validate()  # type: ignore[dict-item]
