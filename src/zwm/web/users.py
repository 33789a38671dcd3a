"""Users and their roles: what ``zwm user:*``, the first-admin page and the tests call.

One place applies Django's password validators and keeps a user in exactly one role
group, so the CLI and the web cannot disagree on what a valid user is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction

from zwm.web.roles import Role, role_from_groups


class UserError(Exception):
    """The user could not be created or changed; the message says why, in one line."""


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    active: bool
    last_login: str


def _validate_username(username: str) -> str:
    name = username.strip()
    if not name:
        raise UserError("the username must not be empty")
    if len(name) > 150:
        raise UserError("the username must be at most 150 characters")
    try:
        User.username_validator(name)
    except ValidationError as exc:
        raise UserError(f"invalid username {name!r}: {' '.join(exc.messages)}") from None
    return name


def _apply_role(user: User, role: Role) -> None:
    groups = {r: Group.objects.get_or_create(name=r.label)[0] for r in Role}
    user.groups.set([groups[role]])
    user.is_staff = user.is_superuser = role is Role.ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])


@transaction.atomic
def create_user(username: str, role: Role, password: str) -> User:
    name = _validate_username(username)
    if User.objects.filter(username__iexact=name).exists():
        raise UserError(f"a user named {name!r} already exists")
    candidate = User(username=name)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        raise UserError(f"password refused: {' '.join(exc.messages)}") from None
    user = User.objects.create_user(username=name, password=password)
    _apply_role(user, role)
    return user


def _locked(username: str) -> User:
    try:
        return User.objects.select_for_update().get(username=username)
    except User.DoesNotExist:
        raise UserError(f"no user named {username!r}") from None


def _keep_an_admin(user: User) -> None:
    """Refuse to leave the installation without an active admin (nobody could manage users)."""
    others = User.objects.filter(is_active=True).exclude(pk=user.pk)
    if not (
        others.filter(is_superuser=True).exists() or others.filter(groups__name=Role.ADMIN.label).exists()
    ):
        raise UserError(f"{user.username} is the last active admin; make another admin first")


def _is_active_admin(user: User) -> bool:
    return (
        user.is_active
        and role_from_groups(user.is_superuser, set(user.groups.values_list("name", flat=True))) is Role.ADMIN
    )


@transaction.atomic
def set_role(username: str, role: Role) -> User:
    user = _locked(username)
    if role is not Role.ADMIN and _is_active_admin(user):
        _keep_an_admin(user)
    _apply_role(user, role)
    return user


@transaction.atomic
def set_active(username: str, active: bool) -> User:
    """Let a user sign in again, or stop them (their sessions end at their next request)."""
    user = _locked(username)
    if not active and _is_active_admin(user):
        _keep_an_admin(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    return user


def list_users() -> list[UserView]:
    users = User.objects.order_by("username").prefetch_related("groups")
    return [
        UserView(
            id=user.pk,
            username=user.username,
            role=_role_label(user),
            active=user.is_active,
            last_login=user.last_login.isoformat(timespec="seconds") if user.last_login else "",
        )
        for user in users
    ]


def _role_label(user: User) -> str:
    role = role_from_groups(user.is_superuser, {group.name for group in user.groups.all()})
    return role.label if role else "(none)"


def no_user_exists() -> bool:
    """True until the first user is created: only then is the first-admin page offered."""
    return not User.objects.exists()
