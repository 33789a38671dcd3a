"""Sign-in, sign-out, password change, throttling and the first-admin page, over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from zwm.web.roles import Role, role_of
from zwm.web.users import create_user

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_every_page_but_login_redirects_to_the_sign_in_page_when_signed_out() -> None:
    create_user("ann", Role.VIEWER, PASSWORD)
    client = Client()
    for path in ("/", "/password/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/") or response["Location"].startswith("/admin/login/")
    login = client.get("/login/")
    assert login.status_code == 200
    body = login.content.decode()
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'name="csrfmiddlewaretoken"' in body


@pytest.mark.parametrize("path", ["/health", "/metrics", "/health/", "/metrics/"])
def test_probe_paths_are_not_sent_to_sign_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code != 302  # 404 until the ops app mounts them; never a sign-in redirect


def test_sign_in_with_the_contract_fields_then_sign_out_by_post_only() -> None:
    create_user("ann", Role.OPERATOR, PASSWORD)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    wrong = client.post("/login/", {"username": "ann", "password": "nope", "csrfmiddlewaretoken": token})
    assert wrong.status_code == 200
    assert "Please enter a correct username and password" in wrong.content.decode()
    right = client.post("/login/", {"username": "ann", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert right.status_code == 302
    assert right["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "ann" in home.content.decode()
    assert client.get("/logout/").status_code == 405  # a link cannot sign anyone out
    token = client.cookies["csrftoken"].value
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_a_post_without_the_csrf_token_is_refused() -> None:
    create_user("ann", Role.OPERATOR, PASSWORD)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert response.status_code == 403


def test_the_session_cookie_is_http_only_and_same_site() -> None:
    create_user("ann", Role.VIEWER, PASSWORD)
    client = Client()
    client.post("/login/", {"username": "ann", "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_five_wrong_passwords_lock_the_account_out_from_that_address_even_with_the_right_one() -> None:
    create_user("ann", Role.VIEWER, PASSWORD)
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": "ann", "password": "wrong"})
    locked = client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert client.get("/").status_code == 302  # still signed out
    other_address = Client(REMOTE_ADDR="10.0.0.9")
    assert other_address.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302


def test_the_first_admin_page_exists_only_while_no_user_exists() -> None:
    client = Client()
    assert client.get("/login/")["Location"] == "/setup/"
    mismatch = client.post("/setup/", {"username": "root", "password1": PASSWORD, "password2": "other-pass"})
    assert mismatch.status_code == 200
    assert "The two password fields" in mismatch.content.decode()
    weak = client.post("/setup/", {"username": "root", "password1": "123", "password2": "123"})
    assert "too short" in weak.content.decode()
    assert not User.objects.exists()
    created = client.post("/setup/", {"username": "root", "password1": PASSWORD, "password2": PASSWORD})
    assert created.status_code == 302
    root = User.objects.get()
    assert role_of(root) is Role.ADMIN
    assert root.is_staff
    assert client.get("/").status_code == 200  # signed in as the new admin
    assert Client().get("/setup/").status_code == 404
    second = Client().post("/setup/", {"username": "eve", "password1": PASSWORD, "password2": PASSWORD})
    assert second.status_code == 404
    assert User.objects.count() == 1


def test_password_change_checks_the_old_password_and_the_rules(
    client_as: Callable[[Role | None], Client],
) -> None:
    client = client_as(Role.VIEWER)
    wrong_old = client.post(
        "/password/",
        {"old_password": "x", "new_password1": "n3w-Passphrase!", "new_password2": "n3w-Passphrase!"},
    )
    assert "Your old password was entered incorrectly" in wrong_old.content.decode()
    changed = client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": "n3w-Passphrase!", "new_password2": "n3w-Passphrase!"},
        follow=True,
    )
    assert "Your password was changed." in changed.content.decode()
    assert User.objects.get(username="viewer").check_password("n3w-Passphrase!")
    assert client.get("/").status_code == 200  # the session survived the change


def test_the_admin_site_is_for_admins_only(client_as: Callable[[Role | None], Client]) -> None:
    assert client_as(Role.OPERATOR).get("/admin/").status_code == 302
    assert client_as(Role.ADMIN).get("/admin/").status_code == 200
