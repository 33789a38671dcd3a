"""The Users page (admins only): create, change role, disable; never the last admin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from zwm.web.roles import Role, role_of

from .conftest import PASSWORD


@pytest.fixture
def admin(client_as: Callable[[Role | None], Client]) -> Client:
    return client_as(Role.ADMIN)


def messages_of(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


def test_create_a_user_with_a_role_and_every_field_checked(admin: Client) -> None:
    good = {"username": "olga", "role": "operator", "password1": PASSWORD, "password2": PASSWORD}
    for changes, field in (
        ({"username": ""}, "username"),
        ({"username": "a b"}, "username"),
        ({"role": "boss"}, "role"),
        ({"password2": "different-one"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password2"),
        ({"username": "admin"}, "username"),  # the signed-in admin's name, whatever its case
    ):
        response = admin.post("/users/new/", {**good, **changes})
        assert response.status_code == 200, changes
        assert field in response.context["form"].errors or response.context["form"].non_field_errors(), (
            changes
        )
    assert not User.objects.filter(username="olga").exists()
    created = admin.post("/users/new/", good, follow=True)
    assert "User olga created (operator)." in messages_of(created)
    assert role_of(User.objects.get(username="olga")) is Role.OPERATOR


def test_change_role_and_disable_but_never_the_last_admin(admin: Client) -> None:
    admin.post(
        "/users/new/", {"username": "olga", "role": "viewer", "password1": PASSWORD, "password2": PASSWORD}
    )
    promoted = admin.post("/users/role/", {"username": "olga", "role": "operator"}, follow=True)
    assert "olga is now operator." in messages_of(promoted)
    disabled = admin.post("/users/active/", {"username": "olga", "active": "0"}, follow=True)
    assert "olga can no longer sign in." in messages_of(disabled)
    assert not User.objects.get(username="olga").is_active
    last = admin.post("/users/role/", {"username": "admin", "role": "viewer"}, follow=True)
    assert "admin is the last active admin; make another admin first" in messages_of(last)
    assert admin.post("/users/active/", {"username": "admin", "active": "0"}, follow=True).status_code == 200
    assert User.objects.get(username="admin").is_active
    for bad in ({"username": "nobody", "role": "viewer"}, {"username": "olga", "role": "boss"}):
        response = admin.post("/users/role/", bad, follow=True)
        assert response.status_code == 200
        assert messages_of(response)[0].startswith(("no user named", "unknown role"))
    page = admin.get("/users/").content.decode()
    assert "olga" in page
    assert PASSWORD not in page
