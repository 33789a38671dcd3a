"""Responses the simulator sends, in the body shapes Zuora uses for each kind of error.

Shapes (letters as in docs/zuora-api notes): C ``{"errors": ["..."]}`` for unknown workflow
ids, B ``{"errors": [{"status", "code", "title"}]}`` for export version errors, E
``{"message": ...}`` for gateway 401s, F ``{"reasons": [{"code": 70, ...}]}`` for rate-limit
429s. Gateway 502/504 answer HTML, as a load balancer in front of Zuora does: a client must
classify by HTTP status, never by expecting JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

WWW_AUTHENTICATE = "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API"
CONCURRENCY_MESSAGE = (
    "The total number of concurrent requests has exceeded the limit allowed by the system. "
    "Please resubmit your request later."
)
TOKEN_ERROR_STYLES = ("oauth", "message", "reasons", "text")


@dataclass
class Response:
    """Status, headers and body of one answer; ``drop`` closes the connection instead."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, headers=dict(headers or {}))


def not_found(message: str) -> Response:
    """Shape C, as Zuora answers an unknown or deleted workflow id."""
    return json_response(404, {"errors": [message]})


def unknown_workflow(workflow_id: int | str) -> Response:
    return not_found(
        f"Invalid ID / Multiple objects returned - SchemaId: 2 InstanceId: 2 ObjectId: {workflow_id}"
    )


def invalid(status: int, title: str) -> Response:
    """Shape B. The inner status is 400 even when the HTTP status is 404, as at Zuora."""
    return json_response(status, {"errors": [{"status": 400, "code": "invalid", "title": title}]})


def forbidden(title: str = "You do not have permission to perform this operation.") -> Response:
    """Shape B with 403, as for a user without the Workflow permission (the body is undocumented)."""
    return json_response(403, {"errors": [{"status": 403, "code": "forbidden", "title": title}]})


def unauthorized(message: str = "Authentication error") -> Response:
    return json_response(401, {"message": message}, {"WWW-Authenticate": WWW_AUTHENTICATE})


def rate_limited(reset: int, limit_header: str, retry_after: int | None, window: str = "minute") -> Response:
    """Shape F with the RateLimit-* headers; ``Retry-After`` only when given."""
    headers = {"RateLimit-Limit": limit_header, "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    message = f"API Rate limit exceeded for the {window}, retry after {reset} seconds"
    return json_response(429, {"reasons": [{"code": 70, "message": message}]}, headers)


def concurrency_limited(retry_after: int) -> Response:
    body = {"success": False, "reasons": [{"code": 50000070, "message": CONCURRENCY_MESSAGE}]}
    return json_response(429, body, {"Retry-After": str(retry_after)})


def _html(status: int, reason: str) -> Response:
    page = f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"  # noqa: E501
    return Response(status, page.encode(), content_type="text/html")


def server_error(status: int) -> Response:
    """A realistic body for each 5xx: JSON from the app, HTML from the gateway."""
    if status == 500:
        return json_response(500, {"errors": ["Internal Server Error"]})
    if status == 503:
        return json_response(503, {"message": "Service Unavailable"}, {"Retry-After": "1"})
    if status == 502:
        return _html(502, "Bad Gateway")
    if status == 504:
        return _html(504, "Gateway Time-out")
    return json_response(status, {"message": f"Server error {status}"})


def for_status(status: int, retry_after: int, limit_header: str) -> Response:
    """The answer for a status forced with ``fail_next``."""
    if status == 401:
        return unauthorized()
    if status == 429:
        return rate_limited(retry_after, limit_header, retry_after)
    if status >= 500:
        return server_error(status)
    if status == 404:
        return not_found("Not found")
    return invalid(status, f"Simulated error {status}")


def token_denied(style: str) -> Response:
    """Wrong client credentials. Zuora's real body is undocumented; ``style`` picks a variant."""
    if style == "message":
        return unauthorized("Authentication error")
    if style == "reasons":
        body = {"success": False, "reasons": [{"code": 90000011, "message": "Invalid client credentials"}]}
        return json_response(401, body, {"WWW-Authenticate": WWW_AUTHENTICATE})
    if style == "text":
        return Response(
            401, b"Unauthorized", content_type="text/plain", headers={"WWW-Authenticate": WWW_AUTHENTICATE}
        )
    body = {"error": "invalid_client", "error_description": "Invalid client credentials"}
    return json_response(401, body, {"WWW-Authenticate": WWW_AUTHENTICATE})


def bad_token_request(error: str, description: str) -> Response:
    return json_response(400, {"error": error, "error_description": description})


MALFORMED_BODIES = (
    b'{"data":[{"id":1,"name":"Truncated',
    b"<html><body><h1>Zuora is down for maintenance</h1></body></html>",
    b"",
)
"""Bodies of a malformed 200: truncated JSON, an HTML page, nothing at all."""
