"""Loopback ports for the servers the suite starts.

Everything binds 127.0.0.1 only; a port is found by letting the kernel pick one.
"""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
