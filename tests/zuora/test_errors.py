"""Error tree and the parser for every documented Zuora error body shape."""

from __future__ import annotations

import json

import pytest

from zwm.zuora import (
    ZuoraAuthenticationError,
    ZuoraError,
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRateLimitedError,
    ZuoraRequestError,
    ZuoraTransientError,
)
from zwm.zuora.errors import REASON_LIMIT, parse_reason, scrub


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # shape C: errors[] of strings
        ({"errors": ["Invalid ID / Multiple objects returned"]}, "Invalid ID / Multiple objects returned"),
        # shape B: errors[] of objects; the inner status is ignored
        (
            {"errors": [{"status": 400, "code": "invalid", "title": "Workflow version '1' is not found."}]},
            "Workflow version '1' is not found.",
        ),
        ({"errors": [{"message": "first"}, {"title": "second"}]}, "first; second"),
        # shape A and F: reasons[] with message
        (
            {
                "success": False,
                "reasons": [{"code": 70, "message": "API Rate limit exceeded for the minute"}],
            },
            "API Rate limit exceeded for the minute",
        ),
        # shape D: reasons[] with fieldName/title
        (
            {"success": False, "reasons": [{"fieldName": "status", "title": "on is not a valid status"}]},
            "status: on is not a valid status",
        ),
        # shape E: gateway message
        ({"message": "Authentication error"}, "Authentication error"),
        # OAuth
        (
            {"error": "invalid_client", "error_description": "Invalid client credentials"},
            "invalid_client: Invalid client credentials",
        ),
        ({"error_description": "Bad secret"}, "Bad secret"),
        ({"error": "invalid_grant"}, "invalid_grant"),
        ({"error": {"code": "E1", "message": "nested"}}, "nested"),
        # top-level list
        (["a", "b"], "a; b"),
    ],
)
def test_parse_reason_reads_every_documented_shape(body: object, reason: str) -> None:
    assert parse_reason(json.dumps(body)) == reason


def test_parse_reason_falls_back_to_raw_text_then_to_fallback() -> None:
    assert (
        parse_reason(b"<html>\r\n<h1>502   Bad Gateway</h1></html>")
        == "<html> <h1>502 Bad Gateway</h1></html>"
    )
    assert parse_reason(b"", fallback="Service Unavailable") == "Service Unavailable"
    assert parse_reason(b'{"unrelated": 1}') == '{"unrelated": 1}'
    assert parse_reason(b'{"errors": []}', fallback="x") == '{"errors": []}'


def test_parse_reason_truncates_long_bodies() -> None:
    reason = parse_reason("x" * 5000)
    assert len(reason) == REASON_LIMIT
    assert reason.endswith("...")


def test_parse_reason_survives_invalid_utf8() -> None:
    assert "bad" in parse_reason(b"bad \xff\xfe bytes")


def test_error_message_carries_status_reason_and_ids() -> None:
    error = ZuoraNotFoundError(
        "Zuora export failed", status_code=404, reason="gone", request_id="req-1", track_id="trk-1"
    )
    assert str(error) == "Zuora export failed: gone (HTTP 404, Zuora-Request-Id req-1, Zuora-Track-Id trk-1)"
    assert (error.status_code, error.reason, error.request_id, error.track_id) == (
        404,
        "gone",
        "req-1",
        "trk-1",
    )
    assert str(ZuoraError("plain")) == "plain"


def test_tree_and_retryable_flags() -> None:
    assert issubclass(ZuoraRateLimitedError, ZuoraTransientError)
    for cls in (
        ZuoraAuthenticationError,
        ZuoraPermissionError,
        ZuoraNotFoundError,
        ZuoraInvalidResponseError,
        ZuoraRequestError,
    ):
        assert issubclass(cls, ZuoraError)
        assert cls("x").retryable is False
    assert ZuoraTransientError("x").retryable is True
    limited = ZuoraRateLimitedError("x", retry_after=3.0, status_code=429)
    assert (limited.retryable, limited.retry_after, limited.status_code) == (True, 3.0, 429)


def test_scrub_removes_every_secret_and_ignores_empty_ones() -> None:
    text = "secret=s3cr3t token=abc123 again s3cr3t"
    assert scrub(text, ["s3cr3t", "abc123", None, ""]) == "secret=*** token=*** again ***"
