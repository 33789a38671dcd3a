"""Commands about the installation itself: ``migrate`` and ``up``."""

from __future__ import annotations

import click

from zwm.cli.base import setup_django


@click.command("migrate")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something fails.")
def migrate(quiet: bool) -> None:
    """Apply all database migrations for the configured DATABASE_URL (safe to run twice)."""
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if quiet else 1)


COMMANDS = [migrate]
