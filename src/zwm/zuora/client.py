"""The Zuora Workflow REST client: OAuth, retries, pagination, concurrency cap.

One :class:`ZuoraClient` per tenant credential; it is thread-safe, so a sync can export many
workflows from a ``ThreadPoolExecutor``. Each call is a GET wrapped in three layers:

1. a bearer token from the single-flight token cache (:mod:`zwm.zuora.auth`); a 401
   invalidates it and the call is replayed once with a new token -- a second 401 is a
   :class:`ZuoraAuthenticationError`;
2. the retry loop (:mod:`zwm.zuora._retry`): connection errors, timeouts, 429 and
   500/502/503/504 are retried with full-jitter backoff or the server's ``Retry-After``,
   bounded in count and in total sleep; everything else is final;
3. the per-tenant concurrency gate, held only while a request is on the wire (never while
   sleeping), shared by every client of the same base URL and client id in the process --
   Zuora allows 40 concurrent requests per tenant, other integrations need their share.

Only GETs are issued besides the token POST. The token POST is retried on the same
transient failures: requesting a token twice has no side effect but one more token.

Secrets: the client secret travels only in the token request body and the token only in
the ``Authorization`` header; neither is logged, and error text from the server is scrubbed
of both before it reaches an exception.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from zwm import __version__
from zwm.zuora import observe
from zwm.zuora._retry import RETRYABLE_STATUSES, RetryPolicy, server_hint
from zwm.zuora.auth import DEFAULT_TOKEN_CACHE, CachedToken, Credentials, TokenCache, TokenManager
from zwm.zuora.errors import (
    ZuoraAuthenticationError,
    ZuoraError,
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRateLimitedError,
    ZuoraRequestError,
    ZuoraTransientError,
    parse_reason,
    scrub,
)
from zwm.zuora.models import ExportTask, WorkflowDefinition, WorkflowExport

logger = logging.getLogger("zwm.zuora")

_E = TypeVar("_E", bound=ZuoraError)

MAX_WORKFLOW_PAGE_LENGTH = 50
"""Zuora's documented maximum for ``GET /workflows``; what it does above is undocumented."""
MAX_TASK_PAGE_LENGTH = 100
"""Zuora's documented maximum for ``GET /workflows/tasks``."""
MAX_PAGES = 10_000
"""More pages than this (500,000 workflows) means the server loops; stop rather than spin."""
MAX_EMPTY_PAGES = 3
"""Empty pages in a row, each linking to a next one, after which the server is taken to loop."""
DEFAULT_TOKEN_TTL = 3599.0
"""Zuora's documented token lifetime, assumed when a token response omits ``expires_in``."""

_TRACK_ID = re.compile(r"^[\x21-\x7e]{1,64}$")


def validate_track_id(track_id: str) -> str:
    """``track_id`` if Zuora accepts it as ``Zuora-Track-Id``: 1-64 visible ASCII characters
    without ``:`` ``;`` ``"`` ``'``; ValueError otherwise."""
    if not _TRACK_ID.match(track_id) or any(char in track_id for char in ":;\"'"):
        raise ValueError(
            f"invalid Zuora-Track-Id {track_id!r}: use 1-64 visible ASCII characters without : ; \" '"
        )
    return track_id


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client since it was built (a snapshot; read ``client.stats`` again to refresh)."""

    requests: int = 0
    """HTTP requests sent, token requests and retries included."""
    retries: int = 0
    token_requests: int = 0
    """HTTP requests to ``/oauth/token`` (retries included)."""
    auth_refreshes: int = 0
    """Tokens invalidated after a 401 and replaced."""
    gzip_responses: int = 0
    """Responses that arrived gzip-compressed."""
    waited_seconds: float = 0.0
    """Total time slept between retries."""


class _Gate:
    """A counting gate whose limit can change: at most ``limit`` holders at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._active < self.limit)
            self._active += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()


_gates: weakref.WeakValueDictionary[str, _Gate] = weakref.WeakValueDictionary()
_gates_lock = threading.Lock()


def _tenant_gate(key: str, limit: int) -> _Gate:
    """The process-wide gate of one tenant credential. The most recently built client sets
    its limit; the gate lives as long as any client of that tenant does."""
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _Gate(limit)
        gate.set_limit(limit)
        return gate


class ZuoraClient:
    """A thread-safe client of one tenant's Zuora Workflow API (see the module docstring).

    ``timeout`` bounds every phase of each HTTP request (connect, read, write, pool).
    ``concurrency`` caps the requests in flight for this tenant in this process.
    ``max_retries``/``backoff_base``/``backoff_cap``/``max_retry_wait`` bound the retry loop
    (``max_retry_wait`` is the most a single call will sleep in total). ``page_length`` is
    the default listing page size (1-50). ``token_cache`` defaults to a process-wide
    in-memory cache. ``track_id`` is sent as ``Zuora-Track-Id`` (one is generated if None).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        concurrency: int = 8,
        max_retries: int = 5,
        page_length: int = MAX_WORKFLOW_PAGE_LENGTH,
        token_cache: TokenCache | None = None,
        track_id: str | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_retry_wait: float = 120.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.credentials = credentials
        self.page_length = _check_page_length(page_length)
        self.track_id = validate_track_id(track_id) if track_id is not None else f"zwm-{uuid.uuid4().hex}"
        self._policy = RetryPolicy(max_retries, backoff_base, backoff_cap, max_retry_wait)
        self._rng = random.Random()
        self._cache = token_cache if token_cache is not None else DEFAULT_TOKEN_CACHE
        self._tokens = TokenManager(self._cache, credentials.cache_key, self._fetch_token)
        self._gate = _tenant_gate(credentials.tenant_key, concurrency)
        self._stats = ClientStats()
        self._lock = threading.Lock()  # guards _stats and _recent_tokens
        self._recent_tokens: deque[str] = deque(maxlen=4)  # what to scrub from server error text
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": f"zwm/{__version__}",
            "Zuora-Track-Id": self.track_id,
        }
        if credentials.entity_id:
            headers["Zuora-Entity-Ids"] = credentials.entity_id
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        creds = self.credentials
        return f"<ZuoraClient {creds.base_url} client_id={creds.client_id} track_id={self.track_id}>"

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool. The token stays cached for other clients."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def stats(self) -> ClientStats:
        with self._lock:
            return self._stats

    def _count(self, **increments: float) -> None:
        with self._lock:
            current = self._stats
            self._stats = ClientStats(
                **{
                    name: getattr(current, name) + increments.get(name, 0)
                    for name in current.__dataclass_fields__
                }
            )

    # -- public API ------------------------------------------------------------------------

    def validate_credentials(self) -> None:
        """Request a new token now, whatever the cache holds (the new token is cached).

        Raises :class:`ZuoraAuthenticationError` with Zuora's reason when the credentials or
        the base URL are wrong, or a transient error when Zuora cannot be reached.
        """
        self._tokens.refresh()

    def iter_workflows(
        self, page_length: int | None = None, *, on_invalid: Callable[[str], None] | None = None
    ) -> Iterator[WorkflowDefinition]:
        """Every workflow definition, page by page, lazily; each id at most once.

        A list item that cannot be parsed (no id, not an object) raises
        :class:`ZuoraInvalidResponseError` -- unless ``on_invalid`` is given: then it is
        called with the reason and the item skipped, so one bad item does not fail a whole
        sync. (A caller that skips items must not take "not listed" for "deleted": the sync
        confirms each deletion with ``GET /workflows/{id}``.)
        """
        size = _check_page_length(self.page_length if page_length is None else page_length)
        seen: set[str] = set()
        for index, item in enumerate(self._paginate("/workflows", {}, size, "workflow list")):
            try:
                definition = WorkflowDefinition.from_json(item, f"workflow list item #{index}")
            except ZuoraInvalidResponseError as exc:
                if on_invalid is None:
                    raise
                on_invalid(str(exc))
                continue
            if definition.id not in seen:  # a workflow created mid-listing shifts the pages
                seen.add(definition.id)
                yield definition

    def list_workflows(self, page_length: int | None = None) -> list[WorkflowDefinition]:
        """All workflow definitions (see :meth:`iter_workflows`)."""
        return list(self.iter_workflows(page_length))

    def iter_tasks(
        self,
        *,
        workflow_id: str | None = None,
        action_type: str | None = None,
        instance: bool | None = None,
        page_length: int = MAX_TASK_PAGE_LENGTH,
    ) -> Iterator[ExportTask]:
        """Tasks from ``GET /workflows/tasks``, page by page (``page_length`` 1-100).

        ``workflow_id`` filters on the *version's* workflow id (an export's ``workflow.id``),
        ``instance`` on run-instance tasks (True) versus setup tasks (False). Fields that only
        run instances carry (``status``, ``data``...) stay in each task's ``raw``.
        """
        size = _check_page_length(page_length, MAX_TASK_PAGE_LENGTH)
        filters = {"workflow_id": workflow_id, "action_type": action_type}
        params: dict[str, str] = {key: value for key, value in filters.items() if value is not None}
        if instance is not None:
            params["instance"] = "true" if instance else "false"
        for index, item in enumerate(self._paginate("/workflows/tasks", params, size, "task list")):
            yield ExportTask.from_json(item, f"task list item #{index}")

    def list_tasks(
        self,
        *,
        workflow_id: str | None = None,
        action_type: str | None = None,
        instance: bool | None = None,
        page_length: int = MAX_TASK_PAGE_LENGTH,
    ) -> list[ExportTask]:
        """All tasks matching the filters (see :meth:`iter_tasks`)."""
        return list(
            self.iter_tasks(
                workflow_id=workflow_id, action_type=action_type, instance=instance, page_length=page_length
            )
        )

    def get_workflow(self, workflow_id: str) -> WorkflowDefinition:
        """One workflow definition (``GET /workflows/{id}``); :class:`ZuoraNotFoundError` if gone."""
        body = self._get_json(f"/workflows/{_path_id(workflow_id)}", what=f"workflow {workflow_id}")
        return WorkflowDefinition.from_json(body, f"workflow {workflow_id}")

    def list_versions(self, workflow_id: str) -> list[WorkflowDefinition]:
        """Every version of a workflow (``GET /workflows/{id}/versions``, not paginated)."""
        what = f"versions of workflow {workflow_id}"
        body = self._get_json(f"/workflows/{_path_id(workflow_id)}/versions", what=what)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise ZuoraInvalidResponseError(f"{what}: 'data' is missing or not a list")
        return [
            WorkflowDefinition.from_json(item, f"{what}: item #{index}") for index, item in enumerate(data)
        ]

    def export_workflow(self, workflow_id: str, version: str | None = None) -> WorkflowExport:
        """Export a version (default: the active one; ``"latest"`` or ``"x.y.z"`` otherwise).

        Raises :class:`ZuoraNotFoundError` when the workflow or version does not exist and
        :class:`ZuoraInvalidResponseError` when the export is not JSON or lacks a required part.
        """
        what = f"export of workflow {workflow_id}" + (f" version {version}" if version else "")
        params = {"version": version} if version else None
        body = self._get_json(f"/workflows/{_path_id(workflow_id)}/export", params, what=what)
        return WorkflowExport.from_json(body, what)

    # -- HTTP ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.credentials.base_url}{path}"

    def _paginate(self, path: str, filters: Mapping[str, str], page_length: int, what: str) -> Iterator[Any]:
        """Raw items of a ``{"data": [...], "pagination": {"next_page": ...}}`` listing.

        Follows ``next_page`` until Zuora sends none (missing, null or empty) -- a page
        shorter than ``page_length`` does not end the listing: Zuora may send short pages,
        and stopping early made a sync believe the rest of the catalog was deleted.

        Zuora's ``next_page`` is an absolute URL on its own public host (``rest.zuora.com``
        even for a tenant reached through another data centre's host or a proxy), so only its
        query -- the page parameters -- is taken, and carried onto this client's own base URL:
        the token never travels to a host the customer did not configure, and a listing never
        fails because Zuora named another one. Guarded against servers that loop: the same
        query twice, the same items twice, more than :data:`MAX_PAGES` pages, or
        :data:`MAX_EMPTY_PAGES` empty pages in a row.
        """
        url = self._url(path)
        params: dict[str, str | int] = {**filters, "page": 1, "page_length": page_length}
        visited: set[tuple[tuple[str, str], ...]] = {_query_key(params)}
        previous: list[Any] | None = None
        empty_in_a_row = 0
        for number in itertools.count(1):
            if number > MAX_PAGES:
                raise ZuoraInvalidResponseError(
                    f"{what}: more than {MAX_PAGES} pages; the server seems to loop"
                )
            body = self._get_json(url, params, what=f"{what} page {number}")
            data = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(data, list):
                raise ZuoraInvalidResponseError(f"{what} page {number}: 'data' is missing or not a list")
            if data and data == previous:
                raise ZuoraInvalidResponseError(
                    f"{what} page {number}: same items as the page before; the server loops"
                )
            empty_in_a_row = 0 if data else empty_in_a_row + 1
            if empty_in_a_row > MAX_EMPTY_PAGES:
                raise ZuoraInvalidResponseError(
                    f"{what}: {empty_in_a_row} empty pages in a row that each link to another; "
                    "the server seems to loop"
                )
            yield from data
            pagination = body.get("pagination")
            next_page = pagination.get("next_page") if isinstance(pagination, Mapping) else None
            if not isinstance(next_page, str) or not next_page.strip():
                return
            params, previous = self._next_params(next_page.strip(), what), data
            key = _query_key(params)
            if key in visited:
                raise ZuoraInvalidResponseError(
                    f"{what}: next_page {urlencode(key)} was already visited; the server loops"
                )
            visited.add(key)

    def _next_params(self, next_page: str, what: str) -> dict[str, str | int]:
        """The query of ``next_page``, to send to our own base URL (see :meth:`_paginate`)."""
        parts = urlsplit(next_page)
        ours = urlsplit(self.credentials.base_url)
        if parts.hostname and (parts.scheme, parts.hostname, parts.port) != (
            ours.scheme,
            ours.hostname,
            ours.port,
        ):
            logger.debug("Zuora %s: next_page names %s; following it on %s", what, parts.netloc, ours.netloc)
        return dict(parse_qsl(parts.query, keep_blank_values=True))

    def _get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None, *, what: str) -> Any:
        """GET with a bearer token; a 401 refreshes the token and replays the call once."""
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        refreshed = False
        while True:
            token = self._tokens.token()
            with self._lock:
                if token.access_token not in self._recent_tokens:
                    self._recent_tokens.append(token.access_token)
            response = self._send(
                "GET",
                url,
                what=what,
                params=params,
                headers={"Authorization": f"Bearer {token.access_token}"},
            )
            if response.status_code == 401 and not refreshed:
                logger.info("Zuora refused the token for %s (HTTP 401); requesting a new one", what)
                self._tokens.invalidate(token)
                self._count(auth_refreshes=1)
                observe.emit("refresh", httpx.URL(url).path)
                refreshed = True
                continue
            return self._json(response, what)

    def _fetch_token(self) -> CachedToken:
        creds = self.credentials
        form = {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "grant_type": "client_credentials",
        }
        response = self._send(
            "POST", self._url("/oauth/token"), what="token request", data=form, token_call=True
        )
        if response.status_code in (400, 401, 403):
            raise self._error(response, "Zuora refused the OAuth credentials", ZuoraAuthenticationError)
        body = self._json(response, "token request")
        access_token = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(access_token, str) or not access_token:
            raise ZuoraInvalidResponseError(
                "token response has no access_token", status_code=response.status_code
            )
        expires_in = body.get("expires_in")
        ttl = (
            float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_TOKEN_TTL
        )
        return CachedToken.issued(access_token, ttl)

    def _send(
        self, method: str, url: str, *, what: str, token_call: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One logical request: retried per :class:`RetryPolicy`; returns any non-retryable response."""
        attempt, waited = 0, 0.0
        gate: AbstractContextManager[None] = nullcontext() if token_call else self._gate
        while True:
            response: httpx.Response | None = None
            failure: httpx.TransportError | None = None
            try:
                with gate:
                    self._count(requests=1, token_requests=int(token_call))
                    response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failure = exc
            except httpx.DecodingError as exc:  # e.g. a body announced as gzip that is not
                raise ZuoraInvalidResponseError(
                    f"Zuora {what} returned an undecodable body", reason=str(exc), track_id=self.track_id
                ) from exc
            hint = None
            if response is None:
                observe.emit("response", httpx.URL(url).path)
            else:
                self._observe(response, what)
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                hint = server_hint(response.status_code, response.headers, self._policy.max_retry_wait)
            wait = self._policy.next_wait(attempt, waited, hint, self._rng)
            problem = f"HTTP {response.status_code}" if response is not None else type(failure).__name__
            if wait is None:
                logger.warning(
                    "Zuora %s failed (%s) after %d attempt(s); giving up", what, problem, attempt + 1
                )
                raise self._exhausted(response, failure, what, hint)
            logger.warning(
                "Zuora %s failed (%s), attempt %d of %d; retrying in %.2fs",
                what,
                problem,
                attempt + 1,
                self._policy.max_retries + 1,
                wait,
            )
            time.sleep(wait)
            attempt, waited = attempt + 1, waited + wait
            self._count(retries=1, waited_seconds=wait)

    def _observe(self, response: httpx.Response, what: str) -> None:
        observe.emit("response", response.request.url.path, response.status_code)
        if response.headers.get("Content-Encoding", "").lower() == "gzip":
            self._count(gzip_responses=1)
        headers = response.headers
        logger.debug(
            "Zuora %s: HTTP %d (Zuora-Request-Id %s, Zuora-Track-Id %s)",
            what,
            response.status_code,
            headers.get("Zuora-Request-Id"),
            headers.get("Zuora-Track-Id"),  # Zuora's echo: proof of what it received
        )

    def _json(self, response: httpx.Response, what: str) -> Any:
        """The JSON body of a 2xx response, or the typed error for anything else."""
        if not 200 <= response.status_code < 300:
            raise self._error(response, f"Zuora {what} failed", _error_class(response.status_code))
        try:
            return json.loads(response.content)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            raise self._error(
                response, f"Zuora {what} returned a body that is not JSON", ZuoraInvalidResponseError
            ) from exc

    def _exhausted(
        self,
        response: httpx.Response | None,
        failure: httpx.TransportError | None,
        what: str,
        hint: float | None,
    ) -> ZuoraError:
        if response is None:
            return ZuoraTransientError(
                f"Zuora {what} failed",
                reason=self._scrub(
                    f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
                ),
                track_id=self.track_id,
            )
        if response.status_code == 429:
            error = self._error(response, f"Zuora {what} was rate limited", ZuoraRateLimitedError)
            error.retry_after = hint if hint is not None else server_hint(429, response.headers, float("inf"))
            return error
        return self._error(response, f"Zuora {what} failed", ZuoraTransientError)

    def _error(self, response: httpx.Response, message: str, cls: type[_E]) -> _E:
        reason = parse_reason(response.content, fallback=response.reason_phrase)
        return cls(
            message,
            status_code=response.status_code,
            reason=self._scrub(reason),
            request_id=response.headers.get("Zuora-Request-Id"),
            track_id=self.track_id,
        )

    def _scrub(self, text: str) -> str:
        with self._lock:
            tokens = tuple(self._recent_tokens)
        return scrub(text, (self.credentials.client_secret, *tokens))


def _error_class(status_code: int) -> type[ZuoraError]:
    if status_code == 401:
        return ZuoraAuthenticationError
    if status_code == 403:
        return ZuoraPermissionError
    if status_code == 404:
        return ZuoraNotFoundError
    if status_code == 429:
        return ZuoraRateLimitedError
    if status_code >= 500:
        return ZuoraTransientError
    if 400 <= status_code < 500:
        return ZuoraRequestError
    return ZuoraInvalidResponseError  # 1xx/3xx: we never follow redirects


def _query_key(params: Mapping[str, str | int]) -> tuple[tuple[str, str], ...]:
    """A page's query parameters in a comparable form (to recognise a page asked twice)."""
    return tuple(sorted((key, str(value)) for key, value in params.items()))


def _check_page_length(page_length: int, maximum: int = MAX_WORKFLOW_PAGE_LENGTH) -> int:
    """``page_length`` if 1..maximum: never send Zuora more than it documents."""
    if isinstance(page_length, bool) or not isinstance(page_length, int):
        raise TypeError("page_length must be an int")
    if not 1 <= page_length <= maximum:
        raise ValueError(f"page_length must be between 1 and {maximum}, got {page_length}")
    return page_length


def _path_id(workflow_id: str) -> str:
    """A workflow id safe to put in a path: ids are opaque, so quote everything."""
    text = str(workflow_id).strip()
    if not text:
        raise ValueError("workflow_id must not be empty")
    return quote(text, safe="")
