"""The simulator: a threaded HTTP/1.1 server on loopback that answers like Zuora.

All tenants share one base URL, like one Zuora data centre; the bearer token says which tenant
a request belongs to. An API request goes through the same gates as at Zuora, in order:
authentication, the per-minute rate limit, the concurrency limit, then latency and injected
faults, then the endpoint itself. ``/oauth/token`` is rate limited but not bound by concurrency.
"""

from __future__ import annotations

import gzip
import hmac
import logging
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zwm.zuora.simulator import api, control, responses
from zwm.zuora.simulator.faults import Faults
from zwm.zuora.simulator.responses import Response
from zwm.zuora.simulator.tenant import SimTenant, TenantState, make_identity

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TRACK_ID_FORBIDDEN = set(":;\"'")
_COMPRESSIBLE = ("application/json", "application/xml", "text/html", "text/csv", "text/plain")
_MAX_BODY = 1 << 20
_AUTH_LIMIT = 2000  # Zuora's AUTH requests per minute, reported when no limit is set
_API_LIMIT = 50000  # Zuora's production API requests per minute, likewise


@dataclass
class _Token:
    tenant: TenantState
    generation: int
    expires_at: float


class ZuoraSimulator:
    """A fake Zuora data centre with any number of tenants; see docs/simulator.md.

    ``latency``, ``token_ttl``, ``rate_limit_per_minute``, ``concurrency_limit`` and
    ``token_error_style`` are plain attributes, read on every request, so tests may change
    them while the server runs.
    """

    def __init__(
        self,
        seed: int = 0,
        latency: float = 0.0,
        token_ttl: float = 3599,
        rate_limit_per_minute: int | None = None,
        concurrency_limit: int = 40,
        host: str = "127.0.0.1",
        port: int = 0,
        token_error_style: str = "oauth",  # noqa: S107 -- a body style, not a password
        auth_rate_limit_per_minute: int | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if token_ttl <= 0:
            raise ValueError("token_ttl must be > 0")
        if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be >= 1")
        if auth_rate_limit_per_minute is not None and auth_rate_limit_per_minute < 1:
            raise ValueError("auth_rate_limit_per_minute must be >= 1")
        if concurrency_limit < 1:
            raise ValueError("concurrency_limit must be >= 1")
        if not 0 <= port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if token_error_style not in responses.TOKEN_ERROR_STYLES:
            raise ValueError(f"token_error_style must be one of {', '.join(responses.TOKEN_ERROR_STYLES)}")
        self.seed = seed
        self.latency = latency
        self.token_ttl = token_ttl
        self.rate_limit_per_minute = rate_limit_per_minute
        self.auth_rate_limit_per_minute = auth_rate_limit_per_minute
        self.concurrency_limit = concurrency_limit
        self.token_error_style = token_error_style
        self.host = host
        self._port = port
        self._tenants: dict[str, TenantState] = {}
        self._by_client_id: dict[str, TenantState] = {}
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._server else "stopped"
        return f"<ZuoraSimulator {state} tenants={sorted(self._tenants)}>"

    # -- tenants ---------------------------------------------------------------------------

    def add_tenant(
        self,
        name: str,
        workflows: int = 25,
        client_id: str | None = None,
        client_secret: str | None = None,
        seed: int | str | None = None,
    ) -> SimTenant:
        """Add a tenant with ``workflows`` generated workflows; credentials from the seed if not given."""
        if not _NAME.match(name):
            raise ValueError(f"bad tenant name {name!r}: use letters, digits, '.', '_' or '-'")
        if workflows < 0:
            raise ValueError("workflows must be >= 0")
        if client_id is not None and len(client_id) != 36:
            raise ValueError("client_id must be exactly 36 characters, as at Zuora")
        if client_secret is not None and not 1 <= len(client_secret) <= 42:
            raise ValueError("client_secret must be 1 to 42 characters, as at Zuora")
        tenant_seed = tenant_seed_for(self.seed, name, seed)
        identity = make_identity(name, tenant_seed, client_id, client_secret)
        with self._lock:
            if name in self._tenants:
                raise ValueError(f"tenant {name!r} already exists")
            if identity.client_id in self._by_client_id:
                raise ValueError(f"client_id of tenant {name!r} is already used by another tenant")
            state = TenantState(identity, tenant_seed, workflows)
            self._tenants[name] = state
            self._by_client_id[identity.client_id] = state
        return identity

    def tenants(self) -> list[SimTenant]:
        with self._lock:
            return [state.identity for state in self._tenants.values()]

    def _tenant(self, name: str) -> TenantState:
        try:
            return self._tenants[name]
        except KeyError:
            raise KeyError(f"no simulated tenant named {name!r}") from None

    def set_faults(self, name: str, faults: Faults) -> None:
        self._tenant(name).faults = faults

    def faults(self, name: str) -> Faults:
        return self._tenant(name).faults

    def fail_next(self, name: str, count: int = 1, status: int = 503) -> None:
        """The next ``count`` API requests of the tenant answer ``status`` (after auth and limits)."""
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("count must be >= 0 and status a 4xx or 5xx code")
        tenant = self._tenant(name)
        with tenant.lock:
            tenant.fail_queue.extend([status] * count)

    def expire_tokens(self, name: str) -> None:
        """Invalidate every token issued so far to the tenant: the next API call answers 401."""
        tenant = self._tenant(name)
        with tenant.lock:
            tenant.token_generation += 1

    def workflow_ids(self, name: str) -> list[str]:
        tenant = self._tenant(name)
        with tenant.lock:
            return [str(i) for i in tenant.catalog.ids()]

    def add_workflow(self, name: str) -> str:
        tenant = self._tenant(name)
        with tenant.lock:
            return str(tenant.catalog.add().id)

    def delete_workflow(self, name: str, workflow_id: int | str) -> None:
        tenant = self._tenant(name)
        with tenant.lock:
            if not tenant.catalog.delete(int(workflow_id)):
                raise KeyError(f"tenant {name!r} has no workflow {workflow_id}")

    def change_workflow(self, name: str, workflow_id: int | str) -> None:
        """Activate a new version (new id, version string and tasks) and bump ``updatedAt``."""
        tenant = self._tenant(name)
        with tenant.lock:
            if tenant.catalog.change(int(workflow_id), datetime.now(UTC)) is None:
                raise KeyError(f"tenant {name!r} has no workflow {workflow_id}")

    def stats(self, name: str) -> dict[str, int]:
        return self._tenant(name).snapshot()

    def reset_stats(self, name: str) -> None:
        self._tenant(name).reset_stats()

    # -- server lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ZuoraSimulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="zuora-simulator",
            daemon=True,
        )
        self._thread.start()
        log.info("Zuora simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, release hanging requests and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ZuoraSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (early) when the simulator is stopping."""
        return self._stopping.wait(seconds)

    # -- request handling ------------------------------------------------------------------------

    def handle_token(self, method: str, headers: Any, body: bytes) -> tuple[Response, TenantState | None]:
        """``POST /oauth/token``: client credentials in a form body, nothing else."""
        if method != "POST":
            return responses.invalid(405, "Method not allowed."), None
        if headers.get("Authorization"):
            return responses.bad_token_request(
                "invalid_request",
                "Send client_id and client_secret in the form body, not an Authorization header.",
            ), None
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return responses.bad_token_request(
                "invalid_request", "Content-Type must be application/x-www-form-urlencoded."
            ), None
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = form.get("grant_type", [""])[0]
        client_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        if grant != "client_credentials":
            return responses.bad_token_request(
                "unsupported_grant_type", "grant_type must be client_credentials."
            ), None
        if len(client_id) != 36 or not 1 <= len(secret) <= 42:
            return responses.bad_token_request("invalid_request", "Invalid input."), None
        tenant = self._by_client_id.get(client_id)
        if tenant is None:
            return responses.token_denied(self.token_error_style), None
        limit = self.auth_rate_limit_per_minute or _AUTH_LIMIT
        allowed, remaining, reset = tenant.auth_window.take(limit)
        rate_headers = {
            "X-RateLimit-Limit-minute": str(limit),
            "X-RateLimit-Remaining-minute": str(remaining),
        }
        if not allowed:
            response = responses.rate_limited(reset, f"{limit}, {limit};w=60", reset)
        elif not hmac.compare_digest(secret.encode(), tenant.identity.client_secret.encode()):
            tenant.count("token_denied")
            response = responses.token_denied(self.token_error_style)
        else:
            tenant.count("token")
            response = responses.json_response(200, self._issue(tenant))
        response.headers.update(rate_headers)
        return response, tenant

    def _issue(self, tenant: TenantState) -> dict[str, Any]:
        token = secrets.token_hex(16)
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) > 10000:
                self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[token] = _Token(tenant, tenant.token_generation, now + self.token_ttl)
        ident = tenant.identity
        ttl = self.token_ttl
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "scope": " ".join(
                (
                    f"user.{ident.user_id}",
                    f"entity.{ident.entity_id}",
                    "service.workflow.read",
                    f"tenant.{ident.tenant_id}",
                )
            ),
            "jti": secrets.token_hex(16),
        }

    def authenticate(self, authorization: str | None) -> TenantState | Response:
        """The tenant of a valid bearer token, or the 401 (counted on the tenant when known)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return responses.unauthorized()
        entry = self._tokens.get(token.strip())
        if entry is None:
            return responses.unauthorized()
        if entry.generation != entry.tenant.token_generation or time.monotonic() >= entry.expires_at:
            entry.tenant.count("status_401")
            return responses.unauthorized()
        return entry.tenant

    def handle_api(self, tenant: TenantState, method: str, request: api.ApiRequest) -> Response:
        """An authenticated API request: limits, latency, injected faults, then the endpoint."""
        routed = api.route(request.path) if method == "GET" else None
        if routed is not None:
            tenant.count(routed[0])
        limit = self.rate_limit_per_minute
        allowed, remaining, reset = tenant.api_window.take(limit or _API_LIMIT)
        limit_header = f"{limit or _API_LIMIT}, {limit or _API_LIMIT};w=60"
        rate_headers = {
            "RateLimit-Limit": limit_header,
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
        }
        if not allowed:
            response = responses.rate_limited(reset, limit_header, None)
        elif not tenant.enter(self.concurrency_limit):
            response = responses.concurrency_limited(tenant.faults.retry_after)
        else:
            try:
                response = self._serve(tenant, method, request, routed, limit_header)
            finally:
                tenant.leave()
        for key, value in rate_headers.items():
            response.headers.setdefault(key, value)
        tenant.count_status(response.status)
        return response

    def _serve(
        self,
        tenant: TenantState,
        method: str,
        request: api.ApiRequest,
        routed: tuple[str, api.Handler] | None,
        limit_header: str,
    ) -> Response:
        if self.latency > 0 and self.wait(self.latency):
            return Response(0, drop=True)
        faults = tenant.faults
        forced = tenant.pop_failure()
        if forced is not None:
            return responses.for_status(forced, faults.retry_after, limit_header)
        if tenant.chance(faults.drop_rate):
            tenant.count("dropped")
            return Response(0, drop=True)
        if tenant.chance(faults.timeout_rate):
            tenant.count("timeouts")
            self.wait(faults.hang_seconds)
            return responses.server_error(504)
        if tenant.chance(faults.error_rate):
            with tenant.lock:
                status = tenant.rng.choice((500, 502, 503, 504))
            return responses.server_error(status)
        if tenant.chance(faults.rate_limit_rate):
            return responses.rate_limited(faults.retry_after, limit_header, faults.retry_after)
        if routed is None:
            if method != "GET" and api.route(request.path) is not None:
                return responses.invalid(405, f"{method} is not simulated.")
            return api.not_an_endpoint(request.path)
        response = routed[1](tenant, request)
        if response.status == 200 and tenant.chance(faults.malformed_rate):
            tenant.count("malformed")
            with tenant.lock:
                response.body = tenant.rng.choice(responses.MALFORMED_BODIES)
        return response


def tenant_seed_for(sim_seed: int, name: str, seed: int | str | None) -> str:
    """The seed a tenant's credentials and catalog derive from."""
    return f"{sim_seed}:{name}" if seed is None else str(seed)


class _Server(ThreadingHTTPServer):
    """Threaded server that remembers its connections so ``stop`` can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type[_Handler], simulator: ZuoraSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is routine here; anything else is logged."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("connection from %s closed early", client_address)
        else:
            log.exception("simulator failed to answer %s", client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Parses one HTTP/1.1 request, hands it to the simulator and writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "ZuoraSimulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    wbufsize = 1 << 16  # head and body leave in one segment: no Nagle + delayed-ACK 40 ms stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        sim = self.server.simulator
        body = self._read_body()
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        track_id = self.headers.get("Zuora-Track-Id")
        if track_id is not None and not _valid_track_id(track_id):
            self._send(
                responses.invalid(
                    400, "Zuora-Track-Id must be at most 64 US-ASCII characters without : ; \" '"
                )
            )
            return
        if path.startswith("/_simulator/"):
            response = control.handle(sim, method, path, body, self.client_address[0])
        elif path == "/oauth/token":
            response, tenant = sim.handle_token(method, self.headers, body)
            if tenant is not None:
                tenant.count_status(response.status)
        else:
            auth = sim.authenticate(self.headers.get("Authorization"))
            if isinstance(auth, Response):
                response = auth
            else:
                host = self.headers.get("Host") or f"{sim.host}:{sim.port}"
                request = api.ApiRequest(path, parse_qs(parts.query), f"http://{host}")
                response = sim.handle_api(auth, method, request)
        self._send(response, track_id)

    def _send(self, response: Response, track_id: str | None = None) -> None:
        if response.drop:
            self.close_connection = True
            with _quietly():
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = response.body
        headers = dict(response.headers)
        compressible = response.content_type.split(";")[0] in _COMPRESSIBLE
        if len(body) > 1000 and compressible and _wants_gzip(self.headers.get("Accept-Encoding")):
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        with _quietly():
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Zuora-Request-Id", str(uuid.uuid4()))
            if track_id is not None:
                self.send_header("Zuora-Track-Id", track_id)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()


@contextmanager
def _quietly() -> Iterator[None]:
    """A client that gave up (timeout, drop) is not an error of the simulator."""
    with suppress(OSError):
        yield


def _valid_track_id(value: str) -> bool:
    return len(value) <= 64 and value.isascii() and not (_TRACK_ID_FORBIDDEN & set(value))


def _wants_gzip(accept_encoding: str | None) -> bool:
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0"}
    return False
