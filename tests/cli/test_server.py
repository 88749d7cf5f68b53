"""grtmp-server argument handling (no sockets): every flag comes from a ServerConfig field."""

from __future__ import annotations

import dataclasses

import pytest

from grtmp.cli.server import build_parser, config_from_args, flag_of
from grtmp.config import ConfigError, ServerConfig


def test_no_wait_forms():
    parse = build_parser().parse_args
    assert config_from_args(parse([])).wait_for_publisher is True
    assert config_from_args(parse(["--no-wait"])).wait_for_publisher is False
    cfg = config_from_args(parse(["--no-wait", "vod", "tv"]))
    assert cfg.waits_for_publisher("live")
    assert not cfg.waits_for_publisher("vod") and not cfg.waits_for_publisher("tv")


def test_no_flags_give_the_default_config():
    assert config_from_args(build_parser().parse_args([])) == ServerConfig()


def test_every_setting_has_a_flag_and_help():
    parser = build_parser()
    flags = {opt for action in parser._actions for opt in action.option_strings}
    for f in dataclasses.fields(ServerConfig):
        assert f.metadata.get("help"), f.name
        if f.metadata.get("cli", True):
            assert flag_of(f.name) in flags, f.name
    # Names users know from earlier versions and nginx-rtmp habits.
    for flag in ("--port", "--host", "--max-lag", "--record", "--no-gop-cache", "--no-wait",
                 "--tls-cert", "--on-publish", "--access", "--max-message-streams"):
        assert flag in flags


def test_flags_reach_the_config():
    args = build_parser().parse_args([
        "--port", "2000", "--max-lag", "2.5", "--no-gop-cache", "--record", "/tmp/r",
        "--access", "deny publish all", "--access", "allow play all",
        "--on-publish", "http://x/p", "--max-message-streams", "3"])
    cfg = config_from_args(args)
    assert cfg.port == 2000 and cfg.max_lag_seconds == 2.5 and cfg.gop_cache is False
    assert cfg.record_dir == "/tmp/r" and cfg.max_message_streams == 3
    assert cfg.access == ["deny publish all", "allow play all"]
    assert cfg.on_publish == "http://x/p"


@pytest.mark.parametrize(("argv", "setting"), [
    (["--chunk-size", "1"], "chunk_size"),
    (["--queue-size", "0"], "queue_size"),
    (["--tls-cert", "a.pem"], "tls_key"),
    (["--idle-timeout", "0"], "idle_timeout"),
    (["--log-level", "loud"], "log_level"),
])
def test_bad_values_name_the_setting(argv, setting):
    with pytest.raises(ConfigError) as exc:
        config_from_args(build_parser().parse_args(argv))
    assert exc.value.setting == setting
