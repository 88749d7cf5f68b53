"""The RTMP wire: messages, the chunk stream, the handshake, protocol control messages.

Pure byte work (RTMP 1.0 sections 5 to 7); the blocking readers take any object with
``read(n)``, so the same code runs over a socket file, a ``BytesIO`` or a test pipe.
"""
