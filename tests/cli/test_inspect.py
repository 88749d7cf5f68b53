"""Tests for grtmp-inspect (grtmp.cli.inspect): table and --json output on real FLV files,
--limit, truncated and bad files, and inspect_source on a plain message iterable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grtmp.cli.inspect import format_table, inspect_source, main
from tests.helpers.media import HEIGHT, WIDTH, encode_audio, encode_video, have

pytest.importorskip("av")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("inspect")
    out = {}
    samples = {"h264": lambda: encode_video("libx264"), "aac": lambda: encode_audio("aac")}
    if have("libx265"):
        samples["hevc"] = lambda: encode_video("libx265",
                                               options={"x265-params": "log-level=none"})
    for name, make in samples.items():
        path = d / f"{name}.flv"
        path.write_bytes(make())
        out[name] = str(path)
    return out


def test_table(files: dict[str, str], capsys) -> None:
    assert main([files["h264"]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(files["h264"]) and "video=True" in out[0]
    assert out[1].split() == ["#", "type", "timestamp", "size", "codec", "details"]
    rows = out[2:]
    assert rows[0].split()[1] == "script" and "onMetaData" in rows[0]
    seq = rows[1]
    assert "avc" in seq and "SequenceStart" in seq and f"{WIDTH}x{HEIGHT}" in seq
    assert "profile=100" in seq and "fps=25" in seq and "sps=1 pps=1" in seq
    assert "key CodedFrames" in rows[2] and "nal=" in rows[2]
    assert len(rows) == 1 + 1 + 10 + 1  # metadata, sequence header, frames, end of sequence


def test_json(files: dict[str, str], capsys) -> None:
    assert main(["--json", files["h264"]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["header"]["has_video"] and not doc["header"]["has_audio"]
    assert doc["truncated"] is False
    seq = doc["tags"][1]
    assert seq["type"] == "video" and seq["packet_type"] == "SequenceStart"
    cfg = seq["tracks"][0]["config"]
    assert cfg["sps_info"]["width"] == WIDTH and cfg["sps_info"]["height"] == HEIGHT
    assert cfg["width"] == WIDTH  # properties are exported too
    assert all(isinstance(s, str) for s in cfg["sps"])  # bytes as hex
    assert doc["tags"][0]["values"][0] == "onMetaData"


def test_limit_and_audio(files: dict[str, str], capsys) -> None:
    assert main(["--limit", "2", "--json", files["aac"]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["tags"]) == 2
    track = doc["tags"][1]["tracks"][0]
    assert (track["codec"], track["sample_rate"], track["channels"]) == ("aac", 48000, 2)
    assert main(["--limit", "0", files["aac"]]) == 0
    assert "0 tags shown" in capsys.readouterr().out


def test_hevc_enhanced(files: dict[str, str], capsys) -> None:
    if "hevc" not in files:
        pytest.skip("libx265 not available")
    assert main([files["hevc"], "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "hevc" in out and f"{WIDTH}x{HEIGHT}" in out and "vps=1" in out
    assert "Metadata" in out and "colorInfo" in out


def test_truncated_and_bad_files(files: dict[str, str], tmp_path, capsys) -> None:
    data = open(files["h264"], "rb").read()
    cut = tmp_path / "cut.flv"
    cut.write_bytes(data[:-25])  # inside the last frame tag
    assert main([str(cut)]) == 0
    assert "truncated at offset" in capsys.readouterr().out
    bad = tmp_path / "bad.flv"
    bad.write_bytes(b"not an flv file at all")
    assert main([str(bad)]) == 2
    assert "not an FLV file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.flv")]) == 1


def test_inspect_source_plain_iterable() -> None:
    msgs = [
        (8, 0, bytes.fromhex("af001210")),
        (9, 40, b"\x57\x01"),
        (9, 80, b"\x90zzzz"),  # unknown FourCC: reported, not fatal
        (8, 100, b""),
    ]
    rows = list(inspect_source(iter(msgs)))
    assert [r["timestamp"] for r in rows] == [0, 40, 80, 100]
    assert rows[0]["tracks"][0]["sample_rate"] == 44100
    assert rows[1]["command"] == 1
    assert "error" in rows[2] and "FourCC" in rows[2]["error"]
    assert rows[3]["silence"] is True
    table = format_table(rows)
    assert "44100Hz ch=2" in table and "error:" in table and "silence" in table
    assert len(list(inspect_source(msgs, limit=1))) == 1
    json.dumps(rows)


def test_entry_point_subprocess(files: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "grtmp.cli.inspect", "--json", "--limit", "3",
                           files["h264"]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["tags"]) == 3
