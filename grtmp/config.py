"""Server configuration: every limit and default in one place, documented once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerConfig:
    """Settings shared by :class:`grtmp.server.Server` and every :class:`grtmp.session.Conn`.

    The defaults follow what nginx-rtmp and SRS users expect; each is a constructor argument so
    an embedding application can tighten them.
    """

    #: Outbound chunk size announced after connect (nginx-rtmp uses 4096).
    chunk_size: int = 4096
    #: Window Acknowledgement Size we announce, and Set Peer Bandwidth we ask for.
    window_ack_size: int = 2_500_000
    peer_bandwidth: int = 2_500_000
    #: Keep the frames since the last keyframe so late joiners start at once.
    gop_cache: bool = True
    #: Upper bounds of the GOP cache (messages and payload bytes); past them it stops caching.
    gop_cache_max_messages: int = 4096
    gop_cache_max_bytes: int = 64 * 1024 * 1024
    #: Messages queued per player before it drops frames until the next keyframe.
    queue_size: int = 1024
    #: A player that keeps dropping for this many seconds of stream time is disconnected.
    max_lag_seconds: float = 10.0
    #: Seconds allowed for the whole handshake.
    handshake_timeout: float = 10.0
    #: Seconds of silence from a peer before we ping it, and before we drop it.
    ping_interval: float = 30.0
    idle_timeout: float = 90.0
    #: Largest message a peer may send (the wire format allows 16 MiB - 1).
    max_message_size: int = 8 * 1024 * 1024
    #: Bytes of partly received messages all connections together may hold.
    max_buffered_total: int = 256 * 1024 * 1024
    #: Chunk streams one connection may keep open.
    max_chunk_streams: int = 64
    #: Message streams (createStream) one connection may have open at once (0 = unlimited).
    max_message_streams: int = 16
    #: Play of a name nobody publishes: wait for a publisher (True) or answer StreamNotFound
    #: (False); or the set of app names that wait (the others answer StreamNotFound).
    wait_for_publisher: bool | frozenset[str] = True
    #: Connection limits (0 = unlimited).
    max_connections: int = 0
    max_connections_per_ip: int = 0
    #: Players per stream (0 = unlimited).
    max_players_per_stream: int = 0
    #: Record every publish to ``DIR/APP/NAME-YYYYmmdd-HHMMSS.flv`` (None: no recording).
    record_dir: str | None = None
    #: fmsVer / capabilities we announce in the connect _result.
    fms_version: str = "FMS/3,0,1,123"
    capabilities: int = 31

    def waits_for_publisher(self, app: str) -> bool:
        """Whether players of ``app`` wait for a publisher (nginx-rtmp ``idle_streams``)."""
        w = self.wait_for_publisher
        return w if isinstance(w, bool) else app in w
