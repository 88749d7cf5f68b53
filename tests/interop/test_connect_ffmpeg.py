"""FFmpeg (through PyAV) against a tiny server that only handshakes and reads ``connect``.

Proves the wire layer on its own (handshake, chunk reader, AMF0 command decoding) against a
real client, before any session logic is involved.
"""

from __future__ import annotations

import gevent
from gevent.event import AsyncResult
from gevent.server import StreamServer

from grtmp.amf.command import decode_command
from grtmp.wire.chunk import ChunkReader
from grtmp.wire.handshake import server_handshake
from grtmp.wire.message import COMMAND_AMF0


def test_ffmpeg_connect_is_decoded(av_peers):
    got: AsyncResult = AsyncResult()

    def handle(sock, address):
        rfile = sock.makefile("rb")
        try:
            info = server_handshake(rfile, sock.sendall)
            reader = ChunkReader(rfile)
            while True:
                msg = reader.read_message()
                if msg.type_id == COMMAND_AMF0:
                    got.set((info, msg, decode_command(msg.payload)))
                    return
        except Exception as exc:  # report anything to the test, then close
            got.set_exception(exc)
        finally:
            rfile.close()
            sock.close()

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    try:
        url = f"rtmp://127.0.0.1:{server.server_port}/live/stream1?token=abc"
        for mode in ("play", "publish"):
            result = AsyncResult()
            got = result
            peer = av_peers(mode, url, "--timeout", "5", "--frames", "5")
            info, msg, cmd = result.get(timeout=30)
            assert info.complex is True  # FFmpeg uses the digest handshake
            assert msg.stream_id == 0 and msg.csid == 3
            assert cmd.name == "connect" and cmd.transaction_id == 1.0
            params = cmd.command_object
            assert params["app"] == "live"
            assert params["tcUrl"] == f"rtmp://127.0.0.1:{server.server_port}/live"
            assert "flashVer" in params
            peer.kill()
            gevent.sleep(0)
    finally:
        server.stop(timeout=1)
