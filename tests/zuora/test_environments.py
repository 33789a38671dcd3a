"""Named environments and base-URL validation."""

from __future__ import annotations

import pytest

from zwm.zuora import ENVIRONMENTS, Credentials, resolve_base_url, validate_base_url

DOCUMENTED = {
    "https://rest.na.zuora.com",
    "https://rest.sandbox.na.zuora.com",
    "https://rest.test.zuora.com",
    "https://rest.zuora.com",
    "https://rest.apisandbox.zuora.com",
    "https://rest.pt1.zuora.com",
    "https://rest.eu.zuora.com",
    "https://rest.sandbox.eu.zuora.com",
    "https://rest.test.eu.zuora.com",
    "https://rest.ap.zuora.com",
    "https://rest.test.ap.zuora.com",
}


def test_every_documented_host_is_offered_and_nothing_else() -> None:
    assert {env.base_url for env in ENVIRONMENTS.values()} == DOCUMENTED
    assert all(slug == env.slug for slug, env in ENVIRONMENTS.items())
    assert not any("rest.api.zuora.com" in env.base_url for env in ENVIRONMENTS.values())
    assert [env.slug for env in ENVIRONMENTS.values() if not env.available] == ["us-performance-test"]


@pytest.mark.parametrize(
    ("slug", "url"),
    [
        ("us-cloud1-production", "https://rest.na.zuora.com"),
        ("us-cloud1-api-sandbox", "https://rest.sandbox.na.zuora.com"),
        ("us-cloud2-production", "https://rest.zuora.com"),
        ("us-cloud2-api-sandbox", "https://rest.apisandbox.zuora.com"),
        ("us-central-sandbox", "https://rest.test.zuora.com"),
        ("us-developer-sandbox", "https://rest.test.zuora.com"),
        ("eu-production", "https://rest.eu.zuora.com"),
        ("eu-api-sandbox", "https://rest.sandbox.eu.zuora.com"),
        ("eu-developer-sandbox", "https://rest.test.eu.zuora.com"),
        ("apac-production", "https://rest.ap.zuora.com"),
        ("apac-central-sandbox", "https://rest.test.ap.zuora.com"),
        (" EU-Central-Sandbox ", "https://rest.test.eu.zuora.com"),
    ],
)
def test_resolve_by_slug(slug: str, url: str) -> None:
    assert resolve_base_url(environment=slug) == url


def test_resolve_requires_exactly_one_and_known_slugs() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        resolve_base_url()
    with pytest.raises(ValueError, match="exactly one"):
        resolve_base_url(environment="eu-production", base_url="https://rest.eu.zuora.com")
    with pytest.raises(ValueError, match=r"unknown Zuora environment 'mars'.*us-cloud1-production"):
        resolve_base_url(environment="mars")
    assert resolve_base_url(environment=ENVIRONMENTS["eu-production"]) == "https://rest.eu.zuora.com"
    assert resolve_base_url(base_url="https://proxy.example.com/zuora/") == "https://proxy.example.com/zuora"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://REST.Zuora.com/", "https://rest.zuora.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.5.6.7:1", "http://127.5.6.7:1"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_valid_base_urls(url: str, normalised: str) -> None:
    assert validate_base_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://rest.zuora.com", "must use https"),
        ("http://10.0.0.1:80", "must use https"),
        ("http://localhost.evil.com", "must use https"),
        ("ftp://rest.zuora.com", "expected https"),
        ("rest.zuora.com", "expected https"),
        ("https://", "expected https"),
        ("https://user:pw@rest.zuora.com", "must not carry credentials"),
        ("https://rest.zuora.com?x=1", "must not carry"),
        ("https://rest.zuora.com:99999", "invalid Zuora base URL"),
        ("https://rest.api.zuora.com", "did you mean https://rest.zuora.com"),
    ],
)
def test_invalid_base_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_base_url(url)


def test_credentials_validate_and_hide_the_secret() -> None:
    creds = Credentials.for_environment("eu-production", "client-1", "TOPSECRET", None)
    assert creds.base_url == "https://rest.eu.zuora.com"
    assert creds.environment is not None
    assert creds.environment.slug == "eu-production"
    assert "TOPSECRET" not in repr(creds)
    assert "TOPSECRET" not in str(creds)
    assert "TOPSECRET" not in creds.cache_key
    assert "client-1" not in creds.cache_key
    other_secret = Credentials("https://rest.eu.zuora.com", "client-1", "OTHER")
    assert other_secret.cache_key != creds.cache_key  # a wrong secret never shares a right one's token
    assert other_secret.tenant_key == creds.tenant_key  # but the same tenant's concurrency limit
    entity = Credentials(creds.base_url, "client-1", "TOPSECRET", "1a2b7a37-3e7d-4cb3-b0e2-883de9e766cc")
    assert entity.cache_key != creds.cache_key
    assert Credentials("https://rest.zuora.com", "client-1", "TOPSECRET").cache_key != creds.cache_key
    with pytest.raises(ValueError, match="must use https"):
        Credentials("http://example.com", "id", "secret")
    with pytest.raises(ValueError, match="client_secret"):
        Credentials("https://rest.zuora.com", "id", "")
    with pytest.raises(ValueError, match="client_id"):
        Credentials("https://rest.zuora.com", " ", "secret")
    with pytest.raises(ValueError, match="entity_id must be a UUID"):
        Credentials("https://rest.zuora.com", "id", "secret", entity_id="abc")
