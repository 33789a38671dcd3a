"""Zuora data centres and environments, by stable slug, and base-URL validation.

Why a table: a tenant's credentials only work against the REST host of its own data centre
("accessing the wrong environment results in authentication errors"), so users pick an
environment by name and the client derives the URL. The table follows Zuora's "Base URL"
list (zuora-api.md section 2). ``https://rest.api.zuora.com``, offered by the original app
as "Cloud 2", exists in no Zuora source and is refused with a pointer to the real host.

A custom base URL is still allowed for proxies, the simulator and tests: it must be
``https``, or plain ``http`` only to a loopback host, because the client sends a bearer
token and a client secret to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Environment:
    """One Zuora environment: ``slug`` is what configuration stores; it never changes."""

    slug: str
    name: str
    base_url: str
    data_center: str
    kind: str
    """``production``, ``api-sandbox``, ``central-sandbox``, ``developer-sandbox`` or ``performance-test``."""
    available: bool = True
    """False for environments Zuora no longer offers (kept so existing tenants still resolve)."""


def _env(
    slug: str, name: str, base_url: str, data_center: str, kind: str, available: bool = True
) -> Environment:
    return Environment(slug, name, base_url, data_center, kind, available)


ENVIRONMENTS: Mapping[str, Environment] = MappingProxyType(
    {
        env.slug: env
        for env in (
            _env(
                "us-cloud1-production",
                "US Cloud 1 Production",
                "https://rest.na.zuora.com",
                "US Cloud 1",
                "production",
            ),
            _env(
                "us-cloud1-api-sandbox",
                "US Cloud 1 API Sandbox",
                "https://rest.sandbox.na.zuora.com",
                "US Cloud 1",
                "api-sandbox",
            ),
            _env(
                "us-cloud2-production",
                "US Cloud 2 Production",
                "https://rest.zuora.com",
                "US Cloud 2",
                "production",
            ),
            _env(
                "us-cloud2-api-sandbox",
                "US Cloud 2 API Sandbox",
                "https://rest.apisandbox.zuora.com",
                "US Cloud 2",
                "api-sandbox",
            ),
            _env(
                "us-central-sandbox",
                "US Central Sandbox",
                "https://rest.test.zuora.com",
                "US",
                "central-sandbox",
            ),
            _env(
                "us-developer-sandbox",
                "US Developer Sandbox",
                "https://rest.test.zuora.com",
                "US",
                "developer-sandbox",
            ),
            _env(
                "us-performance-test",
                "US Performance Test (no longer offered)",
                "https://rest.pt1.zuora.com",
                "US Cloud 2",
                "performance-test",
                available=False,
            ),
            _env("eu-production", "EU Production", "https://rest.eu.zuora.com", "EU", "production"),
            _env(
                "eu-api-sandbox", "EU API Sandbox", "https://rest.sandbox.eu.zuora.com", "EU", "api-sandbox"
            ),
            _env(
                "eu-central-sandbox",
                "EU Central Sandbox",
                "https://rest.test.eu.zuora.com",
                "EU",
                "central-sandbox",
            ),
            _env(
                "eu-developer-sandbox",
                "EU Developer Sandbox",
                "https://rest.test.eu.zuora.com",
                "EU",
                "developer-sandbox",
            ),
            _env("apac-production", "APAC Production", "https://rest.ap.zuora.com", "APAC", "production"),
            _env(
                "apac-central-sandbox",
                "APAC Central Sandbox",
                "https://rest.test.ap.zuora.com",
                "APAC",
                "central-sandbox",
            ),
            _env(
                "apac-developer-sandbox",
                "APAC Developer Sandbox",
                "https://rest.test.ap.zuora.com",
                "APAC",
                "developer-sandbox",
            ),
        )
    }
)
"""Every documented environment, by slug, in the order a picker should show them."""

_NONEXISTENT_HOSTS = {"rest.api.zuora.com": "https://rest.zuora.com (US Cloud 2 Production)"}


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts plain http may reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_base_url(base_url: str) -> str:
    """``base_url`` normalised (lower-case scheme and host, no trailing slash), or ValueError.

    Refused: a scheme other than https (http only to loopback), user info, a query or a
    fragment (the client appends paths and parameters), and hosts known not to exist.
    """
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid Zuora base URL {base_url!r}: {exc}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in {"https", "http"} or not host:
        raise ValueError(f"invalid Zuora base URL {base_url!r}: expected https://host[:port][/path]")
    if scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"Zuora base URL {base_url!r} must use https (plain http is allowed only to loopback)"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError(f"Zuora base URL {base_url!r} must not carry credentials, a query or a fragment")
    if host in _NONEXISTENT_HOSTS:
        raise ValueError(f"{host} is not a Zuora host; did you mean {_NONEXISTENT_HOSTS[host]}?")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def resolve_base_url(environment: str | Environment | None = None, base_url: str | None = None) -> str:
    """The REST base URL for an environment slug, or a validated custom ``base_url``.

    Exactly one of the two must be given, so a configuration can never say two things.
    """
    if (environment is None) == (base_url is None):
        raise ValueError("give exactly one of environment= or base_url=")
    if base_url is not None:
        return validate_base_url(base_url)
    if isinstance(environment, Environment):
        return environment.base_url
    env = ENVIRONMENTS.get(str(environment).strip().lower())
    if env is None:
        raise ValueError(
            f"unknown Zuora environment {environment!r}; choose one of: {', '.join(ENVIRONMENTS)}"
        )
    return env.base_url
