"""Print AMF0/AMF3 encode and decode figures for typical RTMP payloads.

Run: ``python bench/amf.py``. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from grtmp.amf import amf0, amf3
from grtmp.amf.command import decode_command, encode_command
from grtmp.formats import amf as fmt

CONNECT = {
    "app": "live",
    "type": "nonprivate",
    "flashVer": "FMLE/3.0 (compatible; Lavf61.7.100)",
    "tcUrl": "rtmp://127.0.0.1:1935/live",
}
METADATA = amf0.ECMAArray(
    duration=0.0,
    width=1920.0,
    height=1080.0,
    videodatarate=4500.0,
    framerate=30.0,
    videocodecid=7.0,
    audiodatarate=128.0,
    audiosamplerate=48000.0,
    audiosamplesize=16.0,
    stereo=True,
    audiocodecid=10.0,
    encoder="Lavf61.7.100",
    filesize=0.0,
)
AMF3_VALUE = {"items": [{"id": i, "name": f"n{i}", "ok": True} for i in range(20)]}


def bench(label: str, fn: Callable[[], object], number: int = 2000) -> None:
    best = min(timeit.repeat(fn, number=number, repeat=5)) / number
    print(f"{label:<44} {best * 1e6:9.2f} us")


def main() -> None:
    connect = encode_command("connect", 1, CONNECT)
    meta = amf0.encode("@setDataFrame", "onMetaData", METADATA)
    value3 = amf3.encode(AMF3_VALUE)
    print(f"connect {len(connect)} B, onMetaData {len(meta)} B, AMF3 object {len(value3)} B")
    bench("encode_command(connect)", lambda: encode_command("connect", 1, CONNECT))
    bench("decode_command(connect)", lambda: decode_command(connect))
    bench("amf0.encode(@setDataFrame onMetaData)", lambda: amf0.encode(*amf0.decode_all(meta)))
    bench("amf0.decode_all(@setDataFrame onMetaData)", lambda: amf0.decode_all(meta))
    bench("amf3.encode(20 objects, traits refs)", lambda: amf3.encode(AMF3_VALUE), 500)
    bench("amf3.decode(20 objects, traits refs)", lambda: amf3.decode(value3), 500)
    number = amf0.encode(1234.5)
    bench("amf0 number: fast path decode", lambda: amf0.decode(number), 20000)
    bench("amf0 number: construct AMF0Scalar.parse", lambda: fmt.AMF0Scalar.parse(number), 2000)
    u29 = amf3.encode_u29(0x1FFFFF)
    bench("U29: amf3.encode_u29", lambda: amf3.encode_u29(0x1FFFFF), 20000)
    bench("U29: construct U29.build", lambda: fmt.U29.build(0x1FFFFF), 2000)
    bench("U29: construct U29.parse", lambda: fmt.U29.parse(u29), 2000)


if __name__ == "__main__":
    main()
