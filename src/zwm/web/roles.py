"""The three roles, and the one way a view requires one: ``@require_role(Role.OPERATOR)``.

A role is a Django group (``admin``, ``operator``, ``viewer``); each role includes the
ones below it. Groups rather than a custom user model keep Django's own auth, admin and
``createsuperuser`` working unchanged. A superuser counts as an admin, and an admin is
made staff and superuser so that the Django admin at ``/admin/`` stays open to admins only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
_UNSET = object()


class Role(enum.IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(role.label for role in cls)
            raise ValueError(f"unknown role {text!r}; choose one of {names}") from None


ROLE_NAMES = tuple(role.label for role in Role)


def role_of(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The user's highest role, or None (signed out, inactive, or in no role group)."""
    if not user.is_authenticated or not user.is_active:
        return None
    superuser = bool(getattr(user, "is_superuser", False))
    if superuser:
        return Role.ADMIN
    cached = user.__dict__.get("_zwm_role", _UNSET)  # once per request: the user object lives that long
    if cached is _UNSET:
        names = set(Group.objects.filter(user__pk=user.pk).values_list("name", flat=True))
        cached = user.__dict__["_zwm_role"] = role_from_groups(superuser, names)
    return cast(Role | None, cached)


def role_from_groups(is_superuser: bool, group_names: set[str]) -> Role | None:
    """The highest role among ``group_names`` (a superuser is always an admin)."""
    if is_superuser:
        return Role.ADMIN
    return max((r for r in Role if r.label in group_names), default=None)


def has_role(user: AbstractBaseUser | AnonymousUser, needed: Role) -> bool:
    role = role_of(user)
    return role is not None and role >= needed


def require_role(needed: Role) -> Callable[[View], View]:
    """Decorate a view so that users below ``needed`` get 403 (sign-in is the middleware's job)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_role(request.user, needed):
                raise PermissionDenied(f"this needs the {needed.label} role")
            return view(request, *args, **kwargs)

        guarded.required_role = needed  # type: ignore[attr-defined]
        return cast(View, guarded)

    return decorate


def required_role_of(view: Any) -> Role | None:
    """The role a view was decorated with (the permission tests walk every URL with it)."""
    return getattr(view, "required_role", None)
