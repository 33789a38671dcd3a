"""Server-side permissions: every view of the web app, every role.

Walks the URL patterns rather than a hand-kept list, so a new view without
``@require_role`` fails here instead of being open to everyone signed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from zwm.web.roles import Role, required_role_of

# Pages any signed-in user (or anyone) may reach, by URL name.
SIGN_IN_PAGES = {"web:login", "web:logout", "web:setup", "web:password-change"}


def web_patterns() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[URLPattern | URLResolver], namespace: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif entry.name and entry.callback.__module__.startswith("zwm.web"):
                yield f"{namespace}:{entry.name}", entry

    yield from walk(get_resolver().url_patterns, "")


def test_every_view_declares_the_role_it_needs() -> None:
    missing = [
        name
        for name, pattern in web_patterns()
        if name not in SIGN_IN_PAGES and required_role_of(pattern.callback) is None
    ]
    assert missing == []


def test_the_walk_sees_the_views() -> None:
    names = {name for name, _ in web_patterns()}
    assert {"web:home", "web:login"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize("role", [*Role, None], ids=lambda r: r.label if r else "no-role")
def test_each_role_reaches_exactly_the_argument_free_pages_it_may(
    role: Role | None, client_as: Callable[[Role | None], Client]
) -> None:
    client = client_as(role)
    outcomes = {}
    expected = {}
    for name, pattern in web_patterns():
        needed = required_role_of(pattern.callback)
        if needed is None or pattern.pattern.regex.groups:
            continue
        path = "/" + str(pattern.pattern)
        outcomes[name] = client.get(path).status_code
        allowed = role is not None and role >= needed
        expected[name] = 200 if allowed else 403
    assert outcomes == expected
