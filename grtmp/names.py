"""Stream and app names as clients send them: ``name?key=value&...``, and their bounds."""

from __future__ import annotations

from urllib.parse import parse_qs

__all__ = ["MAX_NAME", "MAX_NAME_WITH_QUERY", "MAX_URL", "split_name"]

#: Longest app or stream name accepted (nginx-rtmp: NGX_RTMP_MAX_NAME), the longest stream
#: name with its query string, and the longest tcUrl.
MAX_NAME = 256
MAX_NAME_WITH_QUERY = 2048
MAX_URL = 2048


def split_name(raw: str) -> tuple[str, dict[str, str]]:
    """Split ``key?token=abc&x=1`` into the stream name and its query parameters (the last
    value of a repeated key wins)."""
    name, _, query = raw.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return name, params
