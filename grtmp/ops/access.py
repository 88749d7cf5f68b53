"""Who may use the JSON API and ``/metrics``: a bearer token, an address allow list, or
loopback only.

- ``api_allow`` set: the client's address must be in one of its networks;
- ``api_token`` set: the request must carry ``Authorization: Bearer TOKEN`` (compared in
  constant time);
- neither: only loopback clients (127.0.0.0/8, ::1) are answered.

Both set: both must hold. Read from the running configuration at every request, so a reload
changes them at once.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from grtmp.config import ServerConfig

__all__ = ["Denied", "check_access"]


class Denied(Exception):
    """Refused: ``status`` 401 (no or bad token) or 403 (address)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _client_ip(environ: dict[str, Any]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).split("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def check_access(environ: dict[str, Any], config: ServerConfig) -> None:
    """Return when the request may proceed; raise :class:`Denied` otherwise."""
    ip = _client_ip(environ)
    token = config.api_token
    if config.api_allow:
        networks = [ipaddress.ip_network(c, strict=False) for c in config.api_allow]
        if ip is None or not any(ip.version == n.version and ip in n for n in networks):
            raise Denied(403, f"address {environ.get('REMOTE_ADDR')} is not in api_allow")
    elif not token and (ip is None or not ip.is_loopback):
        raise Denied(403, "the API answers only on loopback unless api_token or api_allow "
                          "is configured")
    if token:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("utf-8", "surrogateescape"),
                token.encode("utf-8", "surrogateescape")):
            raise Denied(401, "a valid bearer token is required (Authorization: Bearer TOKEN)")
