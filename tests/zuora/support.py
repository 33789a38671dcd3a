"""Shared helpers of the client tests: constants, and a scripted loopback HTTP server.

The scripted server exists for behaviour the simulator deliberately never produces (a
paginator that loops, a token endpoint that drops a connection) and to look at the exact
requests the client sends. It is a real HTTP server on loopback, like the simulator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zwm.zuora import ZuoraClient

TENANT = "acme"
"""Name of the simulator tenant the conftest's ``client`` talks to."""

FAST: dict[str, Any] = {
    "timeout": 2.0,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "max_retry_wait": 5.0,
    "max_retries": 3,
}
"""Client settings that keep retries quick in tests; a test overrides what it measures."""

ClientFactory = Callable[..., ZuoraClient]


@dataclass(frozen=True)
class Seen:
    """One request as the scripted server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, Any] | None
"""(status, JSON body) to answer, or None to close the connection without a response."""
Script = Callable[[Seen, str], Answer]
"""(the request, the server's base URL) -> the answer."""


class ScriptedServer:
    """A threaded loopback HTTP server answering every request from ``script``; records requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._handle(self, "GET")

            def do_POST(self) -> None:
                owner._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        parts = urlsplit(handler.path)
        seen = Seen(
            method, parts.path, parse_qs(parts.query), dict(handler.headers), handler.rfile.read(length)
        )
        self.seen.append(seen)
        answer = self.script(seen, self.base_url)
        if answer is None:
            handler.close_connection = True
            return
        status, payload = answer
        raw = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def __enter__(self) -> ScriptedServer:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


TOKEN_BODY = {"access_token": "scripted-token", "expires_in": 3599}


def listing(page: Callable[[int, str], dict[str, Any]]) -> Script:
    """A script: tokens for POSTs, and ``page(number, base_url)`` for ``GET /workflows``."""

    def script(seen: Seen, base_url: str) -> Answer:
        if seen.method == "POST":
            return 200, TOKEN_BODY
        return 200, page(int(seen.query.get("page", ["1"])[0]), base_url)

    return script
