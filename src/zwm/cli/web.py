"""Commands of the web app: ``web`` (serve it) and ``user:*`` (who may sign in, as what).

A password is read from standard input (``--password-stdin``) or a hidden prompt, never
from the command line, where it would land in shell history and ``ps``.
"""

from __future__ import annotations

import sys

import click

from zwm.cli.base import OperationFailed, echo_json, json_option, setup_django
from zwm.config import ConfigError, get_config, parse_bind

ROLE_CHOICE = click.Choice(["admin", "operator", "viewer"], case_sensitive=False)


def bind_option(command: click.decorators.FC) -> click.decorators.FC:
    """``--bind HOST:PORT``, defaulting to ``ZWM_HTTP_BIND`` (127.0.0.1:8000)."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
        if value is None:
            return get_config().http_bind
        try:
            return parse_bind(value, "--bind")
        except ConfigError as exc:
            raise click.BadParameter(str(exc).removeprefix("--bind "), ctx, param) from None

    return click.option(
        "--bind",
        callback=check,
        metavar="HOST:PORT",
        help="Address to listen on. [default: ZWM_HTTP_BIND or 127.0.0.1:8000]",
    )(command)


@click.command("web")
@bind_option
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@click.option(
    "--threads", type=click.IntRange(1, 64), default=4, show_default=True, help="Threads per process."
)
def web(bind: str, workers: int, threads: int) -> None:
    """Serve the web app alone with gunicorn until Ctrl-C (run `zwm migrate` first)."""
    from zwm.web.server import check_bindable, serve

    try:
        check_bindable(bind)
    except OSError as exc:
        raise OperationFailed(f"cannot serve the web app on {bind}: {exc.strerror or exc}") from None
    setup_django()
    click.echo(f"zwm web: serving http://{bind}/")
    serve(bind, workers, threads)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    if not password:
        raise click.UsageError("the password must not be empty")
    return password


@click.command("user:create")
@click.option("--username", required=True, help="Name to sign in with.")
@click.option("--role", required=True, type=ROLE_CHOICE, help="admin, operator or viewer.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
def user_create(username: str, role: str, password_stdin: bool) -> None:
    """Create a user who can sign in to the web app."""
    password = _read_password(password_stdin)
    setup_django()
    from zwm.web.roles import Role
    from zwm.web.users import UserError, create_user

    try:
        user = create_user(username, Role.parse(role), password)
    except UserError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"created user {user.username} ({role.lower()})")


@click.command("user:list")
@json_option
def user_list(as_json: bool) -> None:
    """List users with their role and last sign-in."""
    setup_django()
    from dataclasses import asdict

    from zwm.web.users import list_users

    users = list_users()
    if as_json:
        echo_json([asdict(u) for u in users])
        return
    for user in users:
        state = "" if user.active else "  (inactive)"
        click.echo(f"{user.username:<24} {user.role:<9} {user.last_login or 'never signed in'}{state}")


@click.command("user:set-role")
@click.option("--username", required=True, help="The user to change.")
@click.option("--role", required=True, type=ROLE_CHOICE, help="The new role: admin, operator or viewer.")
def user_set_role(username: str, role: str) -> None:
    """Change a user's role (takes effect on their next request)."""
    setup_django()
    from zwm.web.roles import Role
    from zwm.web.users import UserError, set_role

    try:
        set_role(username, Role.parse(role))
    except UserError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{username} is now {role.lower()}")


COMMANDS = [web, user_create, user_list, user_set_role]
