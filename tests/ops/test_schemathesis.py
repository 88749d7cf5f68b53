"""Schemathesis drives every operation of the OpenAPI document with generated inputs against the
real WSGI app: no server error, documented status codes, bodies that fit the schemas."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from grtmp.config import ServerConfig
from grtmp.live.hub import StreamHub
from grtmp.ops.control import Operations
from grtmp.ops.server import dispatch

schemathesis = pytest.importorskip("schemathesis")

_hub = StreamHub(ServerConfig())
_hub.get_or_create("live", "waiting")  # a stream with players waiting (no publisher)
_ROUTES = dispatch(Operations(_hub).routes())


def _app(environ, start_response):
    environ.setdefault("REMOTE_ADDR", "127.0.0.1")  # the WSGI test client sets none
    return _ROUTES(environ, start_response)


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate()
