"""``zwm user:create``, ``user:list`` and ``user:set-role``, fed right and wrong."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from django.contrib.auth.models import User

from zwm.cli import cli
from zwm.web.roles import Role, role_of

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.output


def test_create_reads_the_password_from_stdin_and_sets_the_role() -> None:
    code, out = run(
        "user:create", "--username", "ann", "--role", "operator", "--password-stdin", stdin=PASSWORD
    )
    assert code == 0, out
    assert PASSWORD not in out
    user = User.objects.get(username="ann")
    assert user.check_password(PASSWORD)
    assert role_of(user) is Role.OPERATOR
    assert not user.is_staff


def test_create_prompts_twice_without_echo_when_stdin_is_not_chosen() -> None:
    code, out = run("user:create", "--username", "ann", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    assert PASSWORD not in out
    assert User.objects.get(username="ann").is_superuser


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--username", "ann", "--role", "boss"], PASSWORD, "'boss' is not one of"),
        (["--username", "", "--role", "viewer"], PASSWORD, "username must not be empty"),
        (["--username", "a b", "--role", "viewer"], PASSWORD, "invalid username"),
        (["--username", "x" * 151, "--role", "viewer"], PASSWORD, "at most 150"),
        (["--username", "ann", "--role", "viewer"], "", "password must not be empty"),
        (["--username", "ann", "--role", "viewer"], "short", "too short"),
        (["--username", "ann", "--role", "viewer"], "password123", "too common"),
        (["--role", "viewer"], PASSWORD, "Missing option '--username'"),
        (["--username", "ann", "--role", "viewer", "--password", PASSWORD], "", "No such option"),
    ],
)
def test_create_refuses_bad_input_as_a_usage_error(args: list[str], stdin: str, message: str) -> None:
    code, out = run("user:create", *args, "--password-stdin", stdin=stdin)
    assert code == 2
    assert message in out
    assert not User.objects.exists()


def test_create_refuses_a_duplicate_username_whatever_its_case() -> None:
    run("user:create", "--username", "Ann", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    code, out = run("user:create", "--username", "ann", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert code == 2
    assert "already exists" in out
    assert User.objects.count() == 1


def test_set_role_moves_a_user_between_roles_and_list_shows_it() -> None:
    run("user:create", "--username", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    run("user:create", "--username", "ann", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    code, out = run("user:set-role", "--username", "ann", "--role", "viewer")
    assert code == 0, out
    user = User.objects.get(username="ann")
    assert role_of(user) is Role.VIEWER
    assert not user.is_superuser
    assert not user.is_staff
    code, out = run("user:list", "--json")
    assert json.loads(out)[0] == {
        "id": user.pk,
        "username": "ann",
        "role": "viewer",
        "active": True,
        "last_login": "",
    }
    code, out = run("user:set-role", "--username", "nobody", "--role", "viewer")
    assert code == 2
    assert "no user named 'nobody'" in out


def test_the_last_active_admin_cannot_be_demoted() -> None:
    run("user:create", "--username", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    code, out = run("user:set-role", "--username", "root", "--role", "operator")
    assert code == 2
    assert "root is the last active admin" in out
    assert User.objects.get(username="root").is_superuser
