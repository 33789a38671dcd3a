"""Operators' commands: ``health`` (and, with alerts, ``alerts:test``)."""

from __future__ import annotations

import click

from zwm.cli.base import OperationFailed, echo_json, json_option, setup_django


@click.command("health")
@json_option
def health(as_json: bool) -> None:
    """Check the database, the queue connection and worker heartbeats; exit 0 if all are fine, 1 if not.

    Answers within a few seconds even when a server does not respond.
    """
    setup_django()
    from zwm.ops.health import run

    report = run()
    if as_json:
        echo_json(report.detailed())
    else:
        for check in report.checks:
            click.echo(f"{check.name:<10} {'ok' if check.ok else 'FAILING':<8} {check.detail}")
    if not report.ok:
        raise OperationFailed("unhealthy: " + ", ".join(c.name for c in report.checks if not c.ok))


COMMANDS = [health]
