"""A private redis-server for tests that kill, restart or disconnect Redis.

Such tests must not touch the shared Redis (other people's tests use it); each gets its
own server on a free loopback port, in the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own, on loopback, that a test may kill and restart."""

    def __init__(self, binary: str, directory: Path, *options: str) -> None:
        self.binary, self.directory, self.options = binary, directory, options
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--logfile", str(self.directory / "redis.log"), *self.options]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.2, retry=None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if probe.ping():
                    probe.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise AssertionError(
            f"redis-server did not start: {(self.directory / 'redis.log').read_text()[-500:]}"
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


class PrivateServers:
    """Starts private Redis servers; kills them all on exit. Skips (or, under CI, fails)
    when ``redis-server`` is not installed."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (needed to restart a private Redis)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.binary, self.directory = binary, directory
        self.servers: list[PrivateRedis] = []

    def start(self, *options: str) -> PrivateRedis:
        server = PrivateRedis(self.binary, self.directory / f"redis-{len(self.servers)}", *options)
        server.directory.mkdir()
        server.start()
        self.servers.append(server)
        return server

    def __enter__(self) -> PrivateServers:
        return self

    def __exit__(self, *_: object) -> None:
        for server in self.servers:
            server.kill()


DURABLE = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")
"""AOF with fsync on every write: what docs/redis.md recommends when no job may be lost."""
