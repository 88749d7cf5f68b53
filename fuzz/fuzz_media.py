"""Fuzz the media parsers: FLV/Enhanced RTMP video and audio tags, codec configs, FLV files.

The first byte picks the target (see ``TARGETS``). Parsed packets have every property read
(width, height, codec, config...), since some are computed lazily from the payload.
Run: ``python -m fuzz.fuzz_media fuzz/corpus/media``.
"""

from __future__ import annotations

import io
from typing import Any

from grtmp import media
from grtmp.errors import RTMPError
from grtmp.media.flv import FLVReader
from grtmp.media.tag import classify
from grtmp.wire.message import AUDIO, VIDEO

from ._harness import main, split_selector

TARGETS = ("video", "audio", "h264", "aac", "flv", "config", "fast")

_CONFIG_PARSERS = (
    media.parse_avc_config, media.parse_hevc_config, media.parse_av1_config,
    media.parse_vp_config, media.parse_audio_specific_config, media.parse_opus_head,
    media.parse_flac_header, media.parse_multichannel_config, media.parse_h264_sps,
    media.parse_hevc_sps, media.parse_av1_sequence_header, media.split_nal_units,
    media.split_obus,
)


def touch(obj: Any) -> None:
    """Read every property of a parsed object (lazy fields raise here if they raise at all)."""
    for name in dir(type(obj)):
        if isinstance(getattr(type(obj), name, None), property):
            getattr(obj, name)


def parse_tag(type_id: int, payload: bytes) -> None:
    """What the server and the inspector do with one audio or video payload."""
    classify(type_id, payload)
    try:
        header = media.read_tag_header(type_id, payload)
        for _track in media.iter_tracks(header, payload):
            pass
    except RTMPError:
        pass
    media.is_sequence_header(type_id, payload)
    if type_id == VIDEO:
        media.is_video_keyframe(payload)
        media.video_frame_type(payload)
        touch(media.parse_video(payload))
    elif type_id == AUDIO:
        touch(media.parse_audio(payload))


def run(target: int, body: bytes) -> None:
    """Parse ``body`` with target number ``target`` (index into TARGETS)."""
    name = TARGETS[target]
    if name == "video":
        touch(media.parse_video(body))
    elif name == "audio":
        touch(media.parse_audio(body))
    elif name == "h264":
        touch(media.parse_h264(body))
    elif name == "aac":
        touch(media.parse_aac(body))
    elif name == "flv":
        reader = FLVReader(io.BytesIO(body), max_tag_size=1 << 16)
        for tag in reader:
            try:
                parse_tag(tag.tag_type, tag.payload)
            except RTMPError:
                pass
    elif name == "config":
        if body:
            parser = _CONFIG_PARSERS[body[0] % len(_CONFIG_PARSERS)]
            result = parser(body[1:])
            if not isinstance(result, list):
                touch(result)
    else:
        for type_id in (AUDIO, VIDEO):
            try:
                parse_tag(type_id, body)
            except RTMPError:
                pass


def test_one_input(data: bytes) -> None:
    """atheris entry point: any exception but RTMPError is a finding."""
    target, body = split_selector(data, len(TARGETS))
    try:
        run(target, body)
    except RTMPError:
        pass


if __name__ == "__main__":
    main(test_one_input)
