"""grtmp's web side: every browser path from one RTMP publish.

``make_app(hub)`` returns a WSGI app (:class:`~grtmp.web.app.WebApp`) serving, on the hub's
streams: HTTP-FLV and WebSocket-FLV (``/{app}/{name}.flv``), LL-HLS with CMAF fMP4
(``/{app}/{name}/index.m3u8``) and a status page with in-page players (``/``).
:class:`~grtmp.web.server.WebServer` serves it with ``gevent.pywsgi`` (``grtmp-server
--http-port``); it also mounts inside any WSGI app (``examples/flask_app.py``).

Modules: :mod:`.app` (router, status page, static files), :mod:`.live` (HTTP-FLV, WS-FLV),
:mod:`.flv` (FLV bytes built once per packet), :mod:`.hls` (one muxer per stream, blocking
reload), :mod:`.client` (viewers as hooks and operators see them), :mod:`.status`,
:mod:`.server`.
"""

from grtmp.web.app import WebApp, make_app
from grtmp.web.server import WebHandler, WebServer

__all__ = ["WebApp", "WebHandler", "WebServer", "make_app"]
