"""``grtmp-server``: run an RTMP server with sensible defaults and no config file."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from grtmp import __version__
from grtmp.config import ServerConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grtmp-server", description="Run an RTMP server.")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=1935, help="RTMP port (default 1935)")
    p.add_argument("--chunk-size", type=int, default=4096,
                   help="outbound chunk size announced to peers (default 4096)")
    p.add_argument("--no-gop-cache", action="store_true",
                   help="do not cache the last GOP for late joiners")
    p.add_argument("--queue-size", type=int, default=1024,
                   help="messages queued per player before it drops to the next keyframe")
    p.add_argument("--max-message-size", type=int, default=8 * 1024 * 1024,
                   help="largest message a peer may send, in bytes (default 8 MiB)")
    p.add_argument("--max-buffered-total", type=int, default=256 * 1024 * 1024,
                   help="bytes of partly received messages all peers together may hold "
                        "(default 256 MiB)")
    p.add_argument("--max-chunk-streams", type=int, default=64,
                   help="chunk streams one connection may use (default 64)")
    p.add_argument("--max-message-streams", type=int, default=16,
                   help="message streams (createStream) one connection may open (default 16)")
    p.add_argument("--max-connections", type=int, default=0,
                   help="maximum connections in total (0: unlimited)")
    p.add_argument("--max-connections-per-ip", type=int, default=0,
                   help="maximum connections from one address (0: unlimited)")
    p.add_argument("--handshake-timeout", type=float, default=10.0)
    p.add_argument("--idle-timeout", type=float, default=90.0,
                   help="close a peer silent for this many seconds (pinged before)")
    p.add_argument("--ping-interval", type=float, default=30.0,
                   help="ping a peer silent for this many seconds (default 30)")
    p.add_argument("--max-lag", type=float, default=10.0,
                   help="disconnect a player this many seconds behind (default 10)")
    p.add_argument("--record", metavar="DIR", default=None,
                   help="record every publish to DIR/APP/NAME-DATE-TIME.flv")
    p.add_argument("--tls-cert", metavar="PEM", help="certificate chain: also serve RTMPS")
    p.add_argument("--tls-key", metavar="PEM", help="private key for --tls-cert")
    p.add_argument("--tls-port", type=int, default=1936, help="RTMPS port (default 1936)")
    for event in ("connect", "publish", "play", "publish-done", "play-done", "done"):
        p.add_argument(f"--on-{event}", metavar="URL",
                       help=f"nginx-rtmp style HTTP callback (form POST) on {event}")
    p.add_argument("--access", action="append", default=[], metavar="RULE",
                   help="'allow|deny publish|play CIDR|all', first match wins (repeatable)")
    p.add_argument("--max-players-per-stream", type=int, default=0,
                   help="maximum players of one stream (0: unlimited)")
    p.add_argument("--no-wait", nargs="*", metavar="APP", default=None,
                   help="answer play of an unpublished name with NetStream.Play.StreamNotFound "
                        "(in every app, or only in the APPs named)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="version", version=f"grtmp {__version__}")
    return p


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Patch first, before anything imports ssl, socket users or urllib.
    from gevent import monkey

    monkey.patch_all()
    import ssl

    import gevent

    from grtmp.auth import AccessList, HTTPCallbacks, chain
    from grtmp.server import Server
    from grtmp.stream import StreamHub

    if args.chunk_size < 128 or args.chunk_size > 0x7FFFFFFF:
        print("grtmp-server: --chunk-size must be between 128 and 2147483647", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("grtmp-server: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        access = AccessList(args.access) if args.access else None
    except ValueError as exc:
        print(f"grtmp-server: --access: {exc}", file=sys.stderr)
        return 2
    hooks = {e: getattr(args, f"on_{e}") for e in
             ("connect", "publish", "play", "publish_done", "play_done", "done")}
    http = HTTPCallbacks(**{f"on_{k}": v for k, v in hooks.items()}) \
        if any(hooks.values()) else None
    handler = chain(access, http) if (access or http) else None

    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(chunk_size=args.chunk_size, gop_cache=not args.no_gop_cache,
                          queue_size=args.queue_size, max_message_size=args.max_message_size,
                          max_connections=args.max_connections,
                          max_connections_per_ip=args.max_connections_per_ip,
                          handshake_timeout=args.handshake_timeout,
                          idle_timeout=args.idle_timeout,
                          ping_interval=min(args.ping_interval, args.idle_timeout),
                          max_chunk_streams=args.max_chunk_streams,
                          max_message_streams=args.max_message_streams,
                          max_buffered_total=args.max_buffered_total,
                          max_lag_seconds=args.max_lag,
                          wait_for_publisher=_waiting(args.no_wait),
                          record_dir=args.record,
                          max_players_per_stream=args.max_players_per_stream)
    hub = StreamHub(config)
    servers = [Server((args.host, args.port), config=config, hub=hub, handler=handler)]
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"grtmp-server: cannot load TLS certificate: {exc}", file=sys.stderr)
            return 2
        servers.append(Server((args.host, args.tls_port), config=config, hub=hub,
                              handler=handler, ssl_context=ctx))
    stopping: list[int] = []

    def on_signal(signum: int) -> None:
        if stopping:
            logging.getLogger("grtmp.server").warning("second signal: exiting now")
            logging.shutdown()
            os._exit(1)
        stopping.append(signum)
        logging.getLogger("grtmp.server").info("signal %d: shutting down", signum)
        for server in servers:
            gevent.spawn(server.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, on_signal, sig)
    for server in servers:
        try:
            server.start()
        except OSError as exc:
            logging.getLogger("grtmp.server").error("cannot listen on %s:%d: %s", args.host,
                                                    server._server.server_port, exc)
            for other in servers:
                other.stop(timeout=1)
            return 1
    for server in servers:
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
