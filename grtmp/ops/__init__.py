"""Operating grtmp: the JSON API, Prometheus metrics, the configuration file, hot reload,
JSON logs.

- :class:`Operations` (``control``): reload, drop a publisher, record, kick a session;
  ``ops.routes()`` gives the WSGI apps to mount (``/api/v1/`` and ``/metrics``);
- :func:`make_api` (``api``) and :func:`make_metrics_app` (``metrics``): the WSGI apps;
- :func:`load_config` (``configfile``): TOML to :class:`~grtmp.config.ServerConfig`, errors
  with file, line and key;
- :class:`ConfigHooks` (``apphooks``): access rules, stream keys and callbacks of the running
  configuration, per app;
- :class:`JSONFormatter` (``logjson``).

The package imports its modules lazily: ``grtmp-server`` reads its configuration file before
gevent patches the standard library.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ConfigFileError", "ConfigHooks", "JSONFormatter", "Operations", "OpsError",
           "load_config", "make_api", "make_metrics_app", "parse_config"]

_WHERE = {"ConfigFileError": "configfile", "load_config": "configfile",
          "parse_config": "configfile", "ConfigHooks": "apphooks", "Operations": "control",
          "OpsError": "control", "JSONFormatter": "logjson", "make_api": "api",
          "make_metrics_app": "metrics"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'grtmp.ops' has no attribute {name!r}")
    return getattr(importlib.import_module(f"grtmp.ops.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
