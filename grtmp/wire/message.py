"""RTMP messages: type ids, stream ids, the :class:`Message` record and control builders.

Pure: no sockets. Message layouts live in :mod:`grtmp.formats`; this module gives the small
typed object the chunk layer reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass

# The symbolic values are declared with the byte layouts (grtmp.formats) and re-exported here.
from grtmp.formats.chunk import MessageType as MessageType
from grtmp.formats.control import PeerBandwidthLimit as PeerBandwidthLimit
from grtmp.formats.control import UserControlEvent as UserControlEvent

# Plain-int aliases: the hot path compares ints, not enum members.
SET_CHUNK_SIZE = 1
ABORT = 2
ACKNOWLEDGEMENT = 3
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
SET_PEER_BANDWIDTH = 6
AUDIO = 8
VIDEO = 9
DATA_AMF3 = 15
SHARED_OBJECT_AMF3 = 16
COMMAND_AMF3 = 17
DATA_AMF0 = 18
SHARED_OBJECT_AMF0 = 19
COMMAND_AMF0 = 20
AGGREGATE = 22

#: Message types that belong to the protocol control stream (csid 2, message stream 0).
CONTROL_TYPES = frozenset({SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL,
                           WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH})


# Conventional chunk stream ids (as nginx-rtmp / FFmpeg use them).
CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_VIDEO = 6
CSID_DATA = 5


@dataclass(slots=True)
class Message:
    """One RTMP message: type id, timestamp (ms, 32-bit), message stream id, payload.

    ``payload`` is ``bytes`` (or a ``memoryview`` of bytes); ``csid`` records the chunk stream
    it arrived on (informational; writers choose their own).
    """

    type_id: int
    timestamp: int
    stream_id: int
    payload: bytes
    csid: int = 0

    def __len__(self) -> int:
        return len(self.payload)
