"""Acknowledgement windows and pings, the same for both ends of a connection.

RTMP 1.0 section 5.4.3/5.4.4: a peer announces a Window Acknowledgement Size; the receiver
sends an Acknowledgement (bytes received so far, mod 2**32) each time that many more bytes have
arrived. Section 7.1.7: a PingRequest is answered with a PingResponse carrying its timestamp.
Both sessions hold one :class:`FlowControl` and pass it every control message they read.
"""

from __future__ import annotations

from grtmp.wire.control import (
    Acknowledgement,
    ControlMessage,
    PingRequest,
    PingResponse,
    SetPeerBandwidth,
    WindowAckSize,
)

__all__ = ["FlowControl"]


class FlowControl:
    """Tracks the peer's window and what we acknowledged; answers pings."""

    __slots__ = ("peer_window", "peer_bandwidth", "acked", "bytes_read", "last_ping_rtt")

    def __init__(self) -> None:
        #: The Window Acknowledgement Size the peer announced (0: none yet, no acks sent).
        self.peer_window = 0
        #: The window of the peer's last Set Peer Bandwidth (informational).
        self.peer_bandwidth = 0
        #: Bytes received when we last sent an Acknowledgement.
        self.acked = 0
        self.bytes_read = 0
        self.last_ping_rtt: int | None = None

    def on_control(self, ctl: ControlMessage) -> ControlMessage | None:
        """Note a control message from the peer; the reply to send, if any."""
        if isinstance(ctl, PingRequest):
            return PingResponse(ctl.timestamp)
        if isinstance(ctl, WindowAckSize):
            self.peer_window = ctl.size
        elif isinstance(ctl, SetPeerBandwidth):
            self.peer_bandwidth = ctl.size
        return None

    def on_bytes(self, total: int) -> Acknowledgement | None:
        """``total`` bytes received so far: the Acknowledgement due, if a window is complete."""
        self.bytes_read = total
        if self.peer_window and total - self.acked >= self.peer_window:
            self.acked = total
            return Acknowledgement(total & 0xFFFFFFFF)
        return None
