"""Record a live stream to an FLV file, finalised (duration, file size) when it stops."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from grtmp.amf.command import decode_data
from grtmp.amf.values import ECMAArray
from grtmp.errors import RTMPError
from grtmp.media.flv import FLVWriter
from grtmp.wire.message import AUDIO, DATA_AMF0, VIDEO

log = logging.getLogger("grtmp.record")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def record_path(directory: str, app: str, name: str, when: float | None = None) -> str:
    """``DIR/APP/NAME-YYYYmmdd-HHMMSS.flv`` with path-unsafe characters replaced."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    safe_app = _UNSAFE.sub("_", app) or "_"
    safe_name = _UNSAFE.sub("_", name) or "_"
    folder = os.path.join(directory, safe_app)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{safe_name}-{stamp}.flv")
    n = 1
    while os.path.exists(path):
        path = os.path.join(folder, f"{safe_name}-{stamp}-{n}.flv")
        n += 1
    return path


class Recorder:
    """Writes every packet of a stream to an FLV file; timestamps start at 0 in the file.

    Errors writing the file (disk full...) stop the recording with one log line; they never
    touch the live stream.
    """

    def __init__(self, path: str):
        self.path = path
        self.writer: FLVWriter | None = FLVWriter.open(path)
        self._base: int | None = None
        self._pending_meta: dict[str, Any] | None = None
        self.tags = 0

    def write(self, packet: Any) -> None:
        w = self.writer
        if w is None:
            return
        try:
            if packet.type_id == DATA_AMF0:
                meta = self._metadata(packet.payload)
                if meta is not None and not w.tags_written and self._pending_meta is None:
                    self._pending_meta = meta
                    w.write_metadata(meta)
                    return
            if self._base is None:
                self._base = packet.timestamp
            ts = (packet.timestamp - self._base) & 0xFFFFFFFF
            if ts >= 0x80000000:
                ts = 0
            if packet.type_id in (AUDIO, VIDEO, DATA_AMF0):
                w.write_tag(packet.type_id, ts, packet.payload)
                self.tags += 1
        except (OSError, RTMPError) as exc:
            log.error("recording %s stopped: %s", self.path, exc)
            self._abort()

    @staticmethod
    def _metadata(payload: bytes) -> dict[str, Any] | None:
        try:
            values = decode_data(payload)
        except RTMPError:
            return None
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            return ECMAArray(values[1])
        return None

    def _abort(self) -> None:
        w, self.writer = self.writer, None
        if w is not None:
            try:
                w.close()
            except (OSError, RTMPError):
                pass

    def close(self) -> None:
        """Finalise the file: duration and size patched into onMetaData."""
        w, self.writer = self.writer, None
        if w is None:
            return
        try:
            w.close()
            log.info("recorded %s (%d tags, %.1fs)", self.path, self.tags, w.duration)
        except (OSError, RTMPError) as exc:
            log.error("finishing recording %s failed: %s", self.path, exc)
