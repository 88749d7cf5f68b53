"""TLS contexts that cooperate with gevent, patched or not.

``gevent.ssl.create_default_context`` returns the standard library's ``SSLContext``, whose
sockets block the whole hub during the handshake unless the process is monkey-patched. These
build ``gevent.ssl.SSLContext`` objects with the same defaults instead.
"""

from __future__ import annotations

import ssl

from gevent import ssl as gssl

__all__ = ["client_context", "server_context"]


def client_context(cafile: str | None = None) -> ssl.SSLContext:
    """Verify the server's certificate and host name (``cafile``: PEM CA bundle; default the
    system's), TLS 1.2 or newer."""
    ctx = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return ctx


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """Serve with this certificate chain and key (PEM), TLS 1.2 or newer."""
    ctx = gssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
