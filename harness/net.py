"""Loopback ports for the servers the tests and scripts start."""

import socket


def free_port() -> int:
    """A loopback port nobody listens on (until a test starts a server there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
