"""grtmp's web players inside a Flask app, in one gevent process with the RTMP server.

The grtmp web app (HTTP-FLV, WebSocket-FLV, LL-HLS, status page) is mounted under ``/media``
with werkzeug's ``DispatcherMiddleware``; Flask keeps every other path. Publish to
``rtmp://127.0.0.1:1935/live/test`` and open http://127.0.0.1:8000/media/ (the status page),
or play ``http://127.0.0.1:8000/media/live/test.flv`` / ``.../media/live/test/index.m3u8``.

Run it under gevent's WSGI server::

    python examples/flask_app.py [RTMP_PORT] [HTTP_PORT]

or under gunicorn's gevent worker (one worker: the RTMP server lives in it)::

    GRTMP_RTMP_PORT=1935 gunicorn -k gevent -w 1 -b 127.0.0.1:8000 \
        --chdir examples 'flask_app:create_app()'

Any WSGI server works: where the server gives no access to the connection, HTTP-FLV viewers
are fed through the response iterator (same drop/lag policy); grtmp's own ``WebServer`` (as
``grtmp-server`` uses) writes to the socket directly, which is cheaper per viewer.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from flask import Flask, jsonify  # noqa: E402
from werkzeug.middleware.dispatcher import DispatcherMiddleware  # noqa: E402

from grtmp import Server  # noqa: E402
from grtmp.web import make_app  # noqa: E402


def create_app(rtmp_port: int | None = None) -> Flask:
    """The Flask app, with an RTMP server started on ``rtmp_port`` sharing its hub."""
    port = rtmp_port if rtmp_port is not None else int(os.environ.get("GRTMP_RTMP_PORT",
                                                                      "1935"))
    rtmp = Server(("127.0.0.1", port))
    rtmp.start()
    media = make_app(rtmp.hub)

    app = Flask(__name__)

    @app.route("/")
    def index() -> str:
        return '<p>A Flask app. Live streams: <a href="media/">media/</a></p>'

    @app.route("/streams")
    def streams():  # what Flask code can read of the live streams
        return jsonify([{"app": s.app, "name": s.name, "live": s.is_live,
                         "codecs": s.codecs(), "players": len(s.players)}
                        for s in rtmp.hub])

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/media": media})  # type: ignore[method-assign]
    app.config["grtmp.rtmp"] = rtmp
    app.config["grtmp.media"] = media
    logging.getLogger("grtmp").info("RTMP on port %d, web players under /media/", rtmp.port)
    return app


def main() -> None:
    from gevent.pywsgi import WSGIServer

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rtmp_port = int(sys.argv[1]) if len(sys.argv) > 1 else 1935
    http_port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    app = create_app(rtmp_port)
    server = WSGIServer(("127.0.0.1", http_port), app)
    server.start()
    logging.getLogger("grtmp").info("Flask on http://127.0.0.1:%d/", server.server_port)
    server.serve_forever()


if __name__ == "__main__":
    main()
