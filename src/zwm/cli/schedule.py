"""``schedule:*``: cron for jobs (``zwm.queue.schedule``), safe on any number of hosts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from zwm.cli.base import OperationFailed, echo_json, json_option, setup_django, stop_on_signals

if TYPE_CHECKING:
    from zwm.queue.schedule import ScheduleEntry


def _entries() -> list[ScheduleEntry]:
    setup_django()
    from zwm.queue.schedule import ScheduleError, load_entries

    try:
        return load_entries()
    except ScheduleError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("schedule:work")
@click.option(
    "--tick",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Longest sleep between checks, in seconds.",
)
def schedule_work(tick: float) -> None:
    """Run the scheduler until SIGTERM/Ctrl-C, dispatching each entry when it comes due."""
    entries = _entries()
    from zwm.queue.schedule import run_forever

    should_stop = stop_on_signals()
    click.echo(f"Scheduler running with {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}.")
    run_forever(entries, should_stop=should_stop, tick=tick)


@click.command("schedule:run")
def schedule_run() -> None:
    """Fire every entry that is due now, once (for a system cron calling every minute)."""
    entries = _entries()
    from zwm.queue.schedule import fire_due

    for run in fire_due(entries):
        click.echo(f"Dispatched {run.name} for {run.scheduled_for:%Y-%m-%d %H:%M} UTC (job {run.job_id})")


@click.command("schedule:list")
@json_option
def schedule_list(as_json: bool) -> None:
    """List schedule entries with their last and next run."""
    entries = _entries()
    from zwm.queue.schedule import last_runs

    now = time.time()
    last = last_runs(entries)
    rows = [
        {
            "name": e.name,
            "cron": e.cron,
            "timezone": e.timezone,
            "job": e.job,
            "last_run": last[e.name].scheduled_for.isoformat() if e.name in last else None,
            "next_run": datetime.fromtimestamp(e.next_slot(now), UTC).isoformat(),
            "problem": e.problem,
        }
        for e in entries
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No schedule entries.")
    for row in rows:
        cron = row["cron"] if row["timezone"] == "UTC" else f"{row['cron']} ({row['timezone']})"
        line = f"{row['name']:<28} {cron:<14} next {row['next_run']}  last {row['last_run'] or '-'}"
        click.echo(line + (f"  SKIPPED: {row['problem']}" if row["problem"] else ""))


@click.command("schedule:prune")
@click.option(
    "--hours",
    type=click.FloatRange(min=0),
    default=24 * 7,
    show_default=True,
    help="Delete records of runs fired for slots older than this.",
)
def schedule_prune(hours: float) -> None:
    """Delete old schedule-run records (the latest slot of each entry is never that old)."""
    setup_django()
    from zwm.queue.schedule import prune

    click.echo(f"Deleted {prune(hours)} schedule run record(s) older than {hours:g} hour(s).")


@click.command("schedule:test")
@click.argument("name")
def schedule_test(name: str) -> None:
    """Dispatch entry NAME's job now, outside its cron slots (recorded as its latest run).

    A unique job that is already waiting or running is not queued twice.
    """
    entries = {entry.name: entry for entry in _entries()}
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise click.UsageError(f"no schedule entry {name!r} (entries: {known})")
    from zwm.queue.schedule import ScheduleError, run_now

    try:
        run = run_now(entries[name])
    except ScheduleError as exc:
        raise OperationFailed(str(exc)) from None
    if run.job_id:
        click.echo(f"Dispatched {name}: {entries[name].job} (job {run.job_id})")
    else:
        click.echo(
            f"{name}: {entries[name].job} is already queued or running (unique job); nothing dispatched"
        )


COMMANDS = [schedule_work, schedule_run, schedule_list, schedule_prune, schedule_test]
