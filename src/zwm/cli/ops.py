"""Operators' commands: ``health``, ``alerts:test``, ``alerts:check``, ``retention:run``."""

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
    from zwm.ops.health import ADVISORY, run

    report = run()
    if as_json:
        echo_json(report.detailed())
    else:
        for check in report.checks:
            note = " (advisory)" if check.name in ADVISORY and not check.ok else ""
            click.echo(f"{check.name:<10} {'ok' if check.ok else 'FAILING':<8} {check.detail}{note}")
    if not report.ok:
        failing = [c.name for c in report.checks if not c.ok and c.name not in ADVISORY]
        raise OperationFailed("unhealthy: " + ", ".join(failing))


@click.command("alerts:test")
@click.argument("channel", type=click.Choice(["email", "slack", "discord", "webhook"]))
def alerts_test(channel: str) -> None:
    """Send a test message on CHANNEL now (not through a job), to check its settings."""
    from datetime import UTC, datetime

    from zwm.ops.alerts import channels
    from zwm.ops.alerts.message import Message

    message = Message(
        key="test",
        kind="test",
        state="test",
        title="alert channel test",
        detail=f"If you can read this, zwm alerts reach you on {channel}.",
        at=datetime.now(UTC).isoformat(),
    )
    try:
        channels.send(channel, message)
    except channels.UnknownChannel as exc:
        raise click.UsageError(str(exc)) from None
    except channels.DeliveryError as exc:
        raise OperationFailed(f"test alert not delivered: {exc}") from None
    click.echo(f"Test alert sent on {channel}.")


@click.command("alerts:check")
@json_option
def alerts_check(as_json: bool) -> None:
    """Look for problems now and deliver what is due on every channel from this process.

    The schedule does this every minute through a job; this command is for a system timer
    that should alert even when no worker runs (then no job would).
    """
    setup_django()
    from zwm.ops.alerts import channels
    from zwm.ops.jobs import check_alerts

    on = channels.configured()
    results = []
    for message in check_alerts():
        for channel in on:
            try:
                channels.send(channel, message)
                results.append({"key": message.key, "state": message.state, "channel": channel, "sent": True})
            except channels.DeliveryError as exc:
                results.append(
                    {
                        "key": message.key,
                        "state": message.state,
                        "channel": channel,
                        "sent": False,
                        "error": str(exc),
                    }
                )
    if as_json:
        echo_json(results)
    else:
        for row in results:
            outcome = "sent" if row["sent"] else f"NOT sent: {row['error']}"
            click.echo(f"{row['state']:<9} {row['key']:<50} {row['channel']:<8} {outcome}")
        if not results:
            click.echo("Nothing to announce.")
    if any(not row["sent"] for row in results):
        raise OperationFailed("some alerts could not be delivered")


@click.command("retention:run")
@json_option
def retention_run(as_json: bool) -> None:
    """Delete old history now, on the ZWM_RETAIN_* ages (the schedule does it every night)."""
    setup_django()
    from zwm.config import get_config
    from zwm.ops import retention

    deleted = retention.run(get_config())
    if as_json:
        echo_json(deleted)
        return
    for what, count in deleted.items():
        click.echo(f"{what:<18} {count} deleted")


COMMANDS = [health, alerts_test, alerts_check, retention_run]
