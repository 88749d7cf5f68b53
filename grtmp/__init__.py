"""grtmp: an RTMP server library on gevent and construct."""

__version__ = "0.1.0"
