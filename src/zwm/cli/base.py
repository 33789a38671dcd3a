"""Helpers shared by every command module: Django start-up, JSON output, errors."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import click


class OperationFailed(Exception):
    """The command was well-formed but what it asked for could not be done (exit code 1)."""


def setup_django() -> None:
    """Configure Django once; commands that touch the database call this first.

    Done lazily so that commands which need no database (``zuora:simulate``, ``--help``)
    start fast and work with no database configured. Skipped when Django is already set
    up (a second ``django.setup()`` would re-apply logging and point it at whatever
    stream is current, e.g. a test runner's captured output).
    """
    import os

    import django
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
    django.setup()


def echo_json(value: Any) -> None:
    """Print ``value`` as JSON (dates and other objects via ``str``)."""
    click.echo(json.dumps(value, indent=2, default=str, sort_keys=False))


def stop_on_signals() -> Callable[[], bool]:
    """Install SIGTERM/SIGINT handlers that only raise a flag; return the flag's reader.

    Long-running commands (``up``, ``schedule:work``) poll it and wind down between two
    steps instead of being interrupted in the middle of one.
    """
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: stopping


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
