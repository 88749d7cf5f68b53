"""grtmp beside a WSGI app in one gevent process.

``gevent.monkey.patch_all()`` first; then one hub of streams is shared by the RTMP server and
the web app, which lists the live streams as JSON at http://127.0.0.1:8080/streams.
Run: python examples/wsgi_app.py
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import logging  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402

from grtmp import Server  # noqa: E402

rtmp = Server(("0.0.0.0", 1935))


def app(environ, start_response):
    """List streams: name, live or waiting, players, messages received."""
    if environ["PATH_INFO"] != "/streams":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"try /streams\n"]
    body = [{"app": s.app, "name": s.name, "live": s.is_live,
             "players": len(s.players), "messages": s.messages_in,
             "codecs": s.codecs(),
             "metadata": {k: v for k, v in (s.metadata or {}).items()
                          if isinstance(v, (str, int, float, bool))}}
            for s in rtmp.hub]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    rtmp.start()
    WSGIServer(("127.0.0.1", 8080), app).serve_forever()


if __name__ == "__main__":
    main()
