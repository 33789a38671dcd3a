"""Real-server gating, importable by any test (``from serverkit import ...``): a conftest is
not a module to import from, since several directories have one named alike."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("ZWM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_server(name: str, url: str, default_port: int) -> None:
    """Skip (or, in CI, fail) the current test when the server behind ``url`` is down."""
    host, port = server_of(url, default_port)
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every server must be up)")
    pytest.skip(message)
