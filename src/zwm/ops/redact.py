"""Secrets out of text: what every log handler and every alert passes through.

Two nets, because neither alone is enough:

* **Known secrets** -- every secret-bearing setting (secret key, encryption keys, metrics
  token, SMTP and webhook URLs, passwords inside the database and Redis URLs) is replaced
  wherever it appears verbatim.
* **Shapes of secrets** -- values that follow ``password=``, ``client_secret:``,
  ``"access_token": "..."``, ``Authorization: Bearer ...``, and the user:password part of
  any URL. These catch what no setting names: a customer's Zuora client secret or an
  OAuth token quoted in an exception message.

The replacement is ``[redacted]``: visible, so an operator sees that something was hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from zwm.config import Config, get_config

MASK = "[redacted]"

_KEYS = r"(?:password|passwd|pwd|secret|access_token|refresh_token|id_token|token|api_key|apikey)(?:_key)?"
_PATTERNS = (
    # key=value / key: value / "key": "value" (JSON, query strings, headers, repr of dicts)
    re.compile(rf"""(?i)(["']?\b\w*{_KEYS}["']?\s*[:=]\s*["']?)([^\s"',&}}]+)"""),
    # Authorization headers and bearer tokens wherever they are quoted
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{6,})"),
    # user:password@ in any URL
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s/:@]*:)([^\s/@]+)(@)"),
)


_SHAPE_WORDS = ("pass", "pwd", "secret", "token", "key", "bearer", "basic", "@")
"""A line holding none of these cannot match :data:`_PATTERNS`."""


def _url_secrets(url: str) -> list[str]:
    if not url:
        return []
    parts = urlsplit(url)
    found = [url]
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return found


@lru_cache(maxsize=4)
def known_secrets(config: Config) -> tuple[str, ...]:
    """Every secret value the settings hold, longest first (so no secret is half-masked)."""
    values: list[str] = [config.secret_key, config.metrics_token, *config.encryption_keys]
    for url in (
        config.smtp_url,
        config.alert_slack_webhook,
        config.alert_discord_webhook,
        config.alert_webhook_url,
    ):
        values += _url_secrets(url)
    for url in (config.database_url, config.redis_url):
        values += _url_secrets(url)[1:]  # the URL itself is fine to show without its password
    for url in (config.alert_slack_webhook, config.alert_discord_webhook, config.alert_webhook_url):
        path = urlsplit(url).path if url else ""
        if len(path) > 8:  # webhook URLs carry their secret in the path
            values.append(path)
    return tuple(sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True))


@lru_cache(maxsize=4)
def _known_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every known secret (and ``extra`` ones) and every secret-shaped value masked."""
    if not text:
        return text
    secrets = known_secrets(get_config())
    extra = tuple(e for e in extra if e and len(e) >= 6)
    if extra:
        secrets = tuple(sorted({*secrets, *extra}, key=len, reverse=True))
    pattern = _known_pattern(secrets)
    if pattern is not None:
        text = pattern.sub(MASK, text)
    lowered = text.lower()
    if not any(word in lowered for word in _SHAPE_WORDS):
        return text  # most log lines: no regex run at all
    for shape in _PATTERNS:
        text = shape.sub(lambda m: m.group(1) + MASK + (m.group(3) if m.lastindex == 3 else ""), text)
    return text
