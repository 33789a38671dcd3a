"""Real local endpoints alerts are delivered to: an SMTP sink (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from rediskit import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str


@dataclass
class HttpReceiver:
    """Answers every POST with ``status[path]`` (default 200) and keeps what it got."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == path]


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            receiver.requests.append(Received(self.path, dict(self.headers), json.loads(raw or "{}"), raw))
            self.send_response(receiver.status.get(self.path, 200))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpSink:
    port: int
    user: str
    password: str
    messages: list[Message] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    refuse_data: str | None = None
    """An SMTP reply such as ``"554 5.7.1 rejected"`` to answer DATA with."""

    @property
    def url(self) -> str:
        return f"smtp://{self.user}:{self.password}@127.0.0.1:{self.port}"


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.refuse_data:
            return self.sink.refuse_data
        content = envelope.original_content or b""
        self.sink.raw.append(content.decode(errors="replace"))
        self.sink.messages.append(message_from_bytes(content))
        return "250 OK"


@contextmanager
def smtp_sink(user: str = "alerts", password: str = "mail-pa55word") -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port(), user=user, password=password)

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok)

    controller = Controller(
        _Handler(sink),
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
