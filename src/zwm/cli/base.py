"""Helpers shared by every command module: Django start-up, JSON output, errors."""

from __future__ import annotations

import json
from typing import Any

import click


class OperationFailed(Exception):
    """The command was well-formed but what it asked for could not be done (exit code 1)."""


_django_ready = False


def setup_django() -> None:
    """Configure Django once; commands that touch the database call this first.

    Done lazily so that commands which need no database (``zuora:simulate``, ``--help``)
    start fast and work with no database configured.
    """
    global _django_ready
    if _django_ready:
        return
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
    django.setup()
    _django_ready = True


def echo_json(value: Any) -> None:
    """Print ``value`` as JSON (dates and other objects via ``str``)."""
    click.echo(json.dumps(value, indent=2, default=str, sort_keys=False))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
