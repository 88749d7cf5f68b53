"""grtmp-server argument handling (no sockets)."""

from __future__ import annotations

from grtmp.cli.server import _waiting, build_parser
from grtmp.config import ServerConfig


def test_no_wait_forms():
    parse = build_parser().parse_args
    assert _waiting(parse([]).no_wait) is True
    assert _waiting(parse(["--no-wait"]).no_wait) is False
    cfg = ServerConfig(wait_for_publisher=_waiting(parse(["--no-wait", "vod", "tv"]).no_wait))
    assert cfg.waits_for_publisher("live")
    assert not cfg.waits_for_publisher("vod") and not cfg.waits_for_publisher("tv")


def test_defaults_match_server_config():
    args = build_parser().parse_args([])
    cfg = ServerConfig()
    assert args.port == 1935 and args.host == "0.0.0.0"
    assert args.chunk_size == cfg.chunk_size
    assert args.queue_size == cfg.queue_size
    assert args.max_message_size == cfg.max_message_size
    assert args.max_chunk_streams == cfg.max_chunk_streams
    assert args.handshake_timeout == cfg.handshake_timeout
    assert args.idle_timeout == cfg.idle_timeout
    assert args.ping_interval == cfg.ping_interval
    assert args.max_lag == cfg.max_lag_seconds
    assert args.max_buffered_total == cfg.max_buffered_total
