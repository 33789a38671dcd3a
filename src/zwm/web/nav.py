"""The navigation bar: one entry per section, in order, each with the role it needs.

A section of the app adds itself here (see the package docstring). An entry whose URL
name does not resolve is left out, so a section can be listed before its pages land.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from zwm.web.roles import Role


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    role: Role = Role.VIEWER
    """Users below this role do not see the entry (the view checks it again)."""


SECTIONS: tuple[NavEntry, ...] = (
    NavEntry("Home", "web:home"),
    NavEntry("Customers", "web:customer-list"),
    NavEntry("Workflows", "web:workflow-list"),
    NavEntry("Tasks", "web:task-list"),
    NavEntry("Sync runs", "web:syncrun-list"),
    NavEntry("Jobs", "dashboard:index"),
    NavEntry("Users", "web:user-list", Role.ADMIN),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool
    """The page shown is this section's (``aria-current`` in the bar)."""


def links_for(role: Role | None, path: str) -> list[NavLink]:
    if role is None:
        return []
    links = []
    for entry in SECTIONS:
        if role < entry.role:
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        links.append(NavLink(entry.label, url, path == url or (url != "/" and path.startswith(url))))
    return links
