"""The ``queue:*`` commands, with Laravel's names and options (see CLI-CONTRACT.md).

Exit codes: 0 success; 1 the operation failed (an unknown failed-job id, a queue over its
``--max``); 2 a usage error (bad option value, unknown job class, malformed ``--args``).
Listings take ``--json``. Job arguments and payloads are never printed by listings: they
may carry customer data.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import click

from zwm.cli.base import OperationFailed, echo_json, json_option, setup_django
from zwm.config import QUEUE_CONNECTIONS, get_config

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*(?:ago)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``2d``, ``"1 hour ago"`` (the seed's ``--range``) as a duration."""
    match = _DURATION.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 1h, 2d or '1 hour ago')")
    return timedelta(seconds=float(match.group(1)) * _UNITS[unit])


class _Duration(click.ParamType[timedelta]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Backoff(click.ParamType[list[float]]):
    name = "seconds[,seconds...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[float]:
        if isinstance(value, list):
            return value
        from zwm.queue.policy import parse_backoff

        try:
            return parse_backoff(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _queues(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(","))
    if not names or any(not name or len(name) > 100 for name in names):
        raise click.BadParameter(f"queue names must be 1-100 characters, comma-separated; got {value!r}")
    return names


_LIMIT = re.compile(r"(.+):(\d+)")


def _queues_with_limits(value: str) -> tuple[tuple[str, ...], dict[str, int]]:
    """``high:2,default`` -> the queues in priority order, and the limits of those that
    have one (a trailing ``:N``, N >= 1: at most N of that queue's jobs held at once)."""
    names: list[str] = []
    limits: dict[str, int] = {}
    for item in _queues(value):
        match = _LIMIT.fullmatch(item)
        name = match.group(1).strip() if match else item
        if match:
            limits[name] = int(match.group(2))
            if limits[name] < 1 or not name:
                raise click.BadParameter(f"a queue limit is NAME:N with N >= 1; got {item!r}")
        if name in names:
            raise click.BadParameter(f"queue {name!r} is named twice in {value!r}")
        names.append(name)
    return tuple(names), limits


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


_hours = click.FloatRange(min=0)
_connection_option = click.option(
    "--connection",
    type=click.Choice(QUEUE_CONNECTIONS),
    default=None,
    help="Queue connection (default: QUEUE_CONNECTION).",
)


@click.command("queue:work")
@_connection_option
@click.option(
    "--queue",
    "queue",
    default="default",
    show_default=True,
    help="Queues in priority order: high,default; NAME:N holds at most N of that queue's jobs at once.",
)
@click.option(
    "--sleep", type=click.FloatRange(min=0), default=3.0, show_default=True, help="Seconds to wait when idle."
)
@click.option(
    "--tries", type=click.IntRange(min=1), default=1, show_default=True, help="Attempts, unless the job says."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Seconds; 0 = none."
)
@click.option(
    "--backoff", type=_Backoff(), default="0", show_default=True, help="Seconds before a retry: 60 or 60,120."
)
@click.option(
    "--max-jobs", type=click.IntRange(min=0), default=0, help="Stop after this many jobs (0 = no limit)."
)
@click.option(
    "--max-time",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Stop after this many seconds (0 = no limit).",
)
@click.option(
    "--memory", type=click.IntRange(min=0), default=128, show_default=True, help="Stop above this RSS in MB."
)
@click.option(
    "--stop-when-empty",
    is_flag=True,
    help="Stop when the queues are empty: nothing waiting, nothing held by another worker.",
)
@click.option("--once", is_flag=True, help="Process one job, then stop.")
@click.option(
    "--lease",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a job stays reserved without a heartbeat: how soon a dead worker's job returns.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Most jobs reserved at once (only fast jobs are batched).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Supervised worker processes.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=lambda: get_config().queue_concurrency,
    show_default="ZWM_QUEUE_CONCURRENCY, 16",
    help="Jobs in flight at once per worker process, each in its own executor child.",
)
@click.option("--name", default=None, help="Worker name in the registry (default host:pid).")
@click.option("--verbose", "-v", is_flag=True, help="Print a line per job: Processing / Processed / Failed.")
def work(
    connection: str | None,
    queue: str,
    sleep: float,
    tries: int,
    timeout: float,
    backoff: list[float],
    max_jobs: int,
    max_time: float,
    memory: int,
    stop_when_empty: bool,
    once: bool,
    lease: float,
    prefetch: int,
    processes: int,
    concurrency: int,
    name: str | None,
    verbose: bool,
) -> None:
    """Process jobs from the queues (strict priority order) until stopped."""
    queues, limits = _queues_with_limits(queue)
    if (connection or _default_connection()) == "sync":
        raise click.UsageError(
            "the sync connection runs jobs when they are dispatched: there is no queue to work"
        )
    if processes > 1:
        from zwm.queue.supervisor import Supervisor

        args = ["--queue", queue, "--sleep", str(sleep), "--tries", str(tries)]
        args += ["--timeout", str(timeout), "--backoff", ",".join(str(b) for b in backoff)]
        args += ["--max-jobs", str(max_jobs), "--max-time", str(max_time), "--memory", str(memory)]
        args += ["--lease", str(lease), "--prefetch", str(prefetch), "--concurrency", str(concurrency)]
        args += [
            flag
            for flag, on in (("--stop-when-empty", stop_when_empty), ("--once", once), ("--verbose", verbose))
            if on
        ]
        if connection:
            args += ["--connection", connection]
        import socket

        supervisor = Supervisor(
            args,
            processes,
            name=name or socket.gethostname(),
            restart_clean_exits=not (stop_when_empty or once),
        )
        sys.exit(supervisor.run())
    setup_django()
    from zwm.queue.policy import Defaults
    from zwm.queue.worker import Worker, WorkerOptions

    options = WorkerOptions(
        connection=connection,
        queues=queues,
        sleep=sleep,
        defaults=Defaults(
            tries=tries,
            backoff=backoff,
            timeout=timeout or None,
            recoveries=get_config().queue_max_recoveries,
        ),
        lease=lease,
        max_jobs=max_jobs,
        max_time=max_time,
        memory=memory,
        stop_when_empty=stop_when_empty,
        once=once,
        verbose=verbose,
        name=name,
        prefetch=prefetch,
        concurrency=concurrency,
        limits=limits,
    )
    code = Worker(options).run()
    if code:
        sys.exit(code)


def _default_connection() -> str:
    return get_config().queue_connection


@click.command("queue:failed")
@click.option("--queue", default=None, help="Only this queue.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Most recent N failed jobs."
)
@json_option
def failed_list(queue: str | None, limit: int, as_json: bool) -> None:
    """List failed jobs, most recent first."""
    setup_django()
    from zwm.queue.failed import list_failed

    rows = list_failed(queue=queue, limit=limit)
    if as_json:
        echo_json(
            [
                {
                    "id": r.id,
                    "uuid": r.uuid,
                    "connection": r.connection,
                    "queue": r.queue,
                    "job_class": r.job_class,
                    "exception_type": r.exception_type,
                    "exception_message": r.exception_message,
                    "failed_at": r.failed_at.isoformat(),
                }
                for r in rows
            ]
        )
        return
    if not rows:
        click.echo("No failed jobs.")
        return
    _table(
        [
            (
                r.id,
                r.uuid,
                r.connection,
                r.queue,
                r.job_class,
                f"{r.failed_at:%Y-%m-%d %H:%M:%S}",
                _first_line(r),
            )
            for r in rows
        ],
        ["ID", "UUID", "Connection", "Queue", "Class", "Failed At", "Exception"],
    )


def _first_line(row: Any) -> str:
    text = f"{row.exception_type.rsplit('.', 1)[-1]}: {row.exception_message}".splitlines()[0]
    return text if len(text) <= 80 else text[:77] + "..."


@click.command("queue:retry")
@click.argument("ids", nargs=-1)
@click.option("--queue", default=None, help="Only failed jobs of this queue.")
@click.option(
    "--since", type=_Duration(), default=None, help="Only jobs failed within this long: 30m, 1h, 2d."
)
@click.option("--range", "range_", type=_Duration(), default=None, help='Alias of --since: "1 hour ago".')
@json_option
def retry(
    ids: tuple[str, ...], queue: str | None, since: timedelta | None, range_: timedelta | None, as_json: bool
) -> None:
    """Push failed jobs back onto their queues: IDs (or uuids), or all."""
    window = since or range_
    if not ids and window is None and queue is None:
        raise click.UsageError("give failed job IDs, 'all', --queue or --since")
    if "all" in ids and len(ids) > 1:
        raise click.UsageError("'all' cannot be combined with IDs")
    setup_django()
    from zwm.queue.failed import FailedJobNotFound
    from zwm.queue.failed import retry as retry_failed

    selection: Any = "all" if not ids or ids == ("all",) else list(ids)
    try:
        uuids = retry_failed(selection, queue=queue, since=window)
    except FailedJobNotFound as exc:
        raise OperationFailed(str(exc)) from None
    if as_json:
        echo_json({"retried": uuids})
        return
    for job_uuid in uuids:
        click.echo(f"Retried {job_uuid}")
    click.echo(f"{len(uuids)} failed job(s) pushed back onto their queues.")


@click.command("queue:retry-batch")
@click.argument("batch_id")
def retry_batch(batch_id: str) -> None:
    """Retry the failed jobs of a batch."""
    setup_django()
    from zwm.queue.batches import BatchNotFound, retry_failed

    try:
        uuids = retry_failed(batch_id)
    except BatchNotFound as exc:
        raise OperationFailed(str(exc)) from None
    click.echo(f"{len(uuids)} failed job(s) of batch {batch_id} pushed back onto their queues.")


@click.command("queue:forget")
@click.argument("job_id")
def forget(job_id: str) -> None:
    """Delete one failed job (by ID or uuid)."""
    setup_django()
    from zwm.queue.failed import forget as forget_failed

    if not forget_failed(job_id):
        raise OperationFailed(f"no failed job with id {job_id}")
    click.echo(f"Failed job {job_id} deleted.")


@click.command("queue:flush")
@click.option("--hours", type=_hours, default=None, help="Only failed jobs older than this many hours.")
def flush(hours: float | None) -> None:
    """Delete all failed jobs (or those older than --hours)."""
    setup_django()
    from zwm.queue.failed import flush as flush_failed

    click.echo(f"Deleted {flush_failed(hours)} failed job(s).")


@click.command("queue:prune-failed")
@click.option(
    "--hours", type=_hours, default=24.0, show_default=True, help="Delete failed jobs older than this."
)
def prune_failed(hours: float) -> None:
    """Delete failed jobs older than --hours."""
    setup_django()
    from zwm.queue.failed import prune

    click.echo(f"Deleted {prune(hours)} failed job(s) older than {hours:g} hour(s).")


@click.command("queue:prune-finished")
@click.option(
    "--hours", type=_hours, default=24.0, show_default=True, help="Delete executions finished before."
)
def prune_finished(hours: float) -> None:
    """Delete finished execution history older than --hours (running ones are kept)."""
    setup_django()
    from zwm.queue.history import prune_finished as prune

    click.echo(f"Deleted {prune(hours)} finished execution(s) older than {hours:g} hour(s).")


@click.command("queue:prune-batches")
@click.option("--hours", type=_hours, default=24.0, show_default=True, help="Delete batches finished before.")
@click.option(
    "--unfinished", type=_hours, default=None, help="Also unfinished batches older than this many hours."
)
@click.option(
    "--cancelled", type=_hours, default=None, help="Also cancelled batches older than this many hours."
)
def prune_batches(hours: float, unfinished: float | None, cancelled: float | None) -> None:
    """Delete finished batches older than --hours."""
    setup_django()
    from zwm.queue.batches import prune

    count = prune(hours, unfinished_hours=unfinished, cancelled_hours=cancelled)
    click.echo(f"Deleted {count} batch(es).")


@click.command("queue:monitor")
@click.argument("queues", required=False)
@_connection_option
@click.option(
    "--max",
    "maximum",
    type=click.IntRange(min=0),
    default=None,
    help="Alert (exit 1) above this many waiting.",
)
@json_option
def monitor(queues: str | None, connection: str | None, maximum: int | None, as_json: bool) -> None:
    """Waiting, delayed, reserved and failed jobs per queue, and execution totals.

    With --json it prints {"queues": {NAME: {"waiting", "delayed", "reserved", "failed"}},
    "totals": {"succeeded", "failed", "failed_jobs"}, "alerts": [...]}: "failed" counts failed
    executions (every way one can end badly), "failed_jobs" what queue:failed lists. With --max N
    it exits 1 when a
    queue has more than N waiting jobs.
    """
    names = _queues(queues) if queues else None
    setup_django()
    from zwm.queue.monitor import stats

    result = stats(names, connection=connection)
    alerts = [
        f"queue {name} has {counts.waiting} waiting jobs (max {maximum})"
        for name, counts in result.queues.items()
        if maximum is not None and counts.waiting > maximum
    ]
    if as_json:
        echo_json({**result.to_json(), "alerts": alerts})
    else:
        _table(
            [(name, s.waiting, s.delayed, s.reserved, s.failed) for name, s in result.queues.items()],
            ["Queue", "Waiting", "Delayed", "Reserved", "Failed"],
        )
        click.echo(
            f"Executions: {result.succeeded} succeeded, {result.failed} failed;"
            f" {result.failed_jobs} failed jobs"
        )
    for alert in alerts:
        click.echo(f"ALERT: {alert}", err=True)
    if alerts:
        sys.exit(1)


@click.command("queue:clear")
@click.argument("queue", required=False, default="default")
@_connection_option
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
def clear(queue: str, connection: str | None, force: bool) -> None:
    """Delete every waiting and delayed job of a queue (reserved ones finish)."""
    _queues(queue)
    if not force:
        click.confirm(f"Delete every waiting job of queue {queue!r}?", abort=True)
    setup_django()
    from zwm.queue.connections import get_driver

    click.echo(f"Cleared {get_driver(connection).clear(queue)} job(s) from queue {queue}.")


def _backlog(connection: str | None) -> Any:
    from zwm.queue.backlog import NoBacklog, backlog_for

    try:
        return backlog_for(connection)
    except NoBacklog as exc:
        raise click.UsageError(str(exc)) from None


@click.command("queue:pause")
@click.argument("queue")
@_connection_option
def pause(queue: str, connection: str | None) -> None:
    """Pause a queue: workers skip it (jobs keep arriving) until queue:resume."""
    _queues(queue)
    setup_django()
    if _backlog(connection).pause(queue):
        click.echo(f"Queue {queue} paused: workers skip it until it is resumed.")
    else:
        click.echo(f"Queue {queue} was already paused.")


@click.command("queue:resume")
@click.argument("queue")
@_connection_option
def resume(queue: str, connection: str | None) -> None:
    """Resume a paused queue."""
    _queues(queue)
    setup_django()
    if _backlog(connection).resume(queue):
        click.echo(f"Queue {queue} resumed.")
    else:
        click.echo(f"Queue {queue} was not paused.")


@click.command("queue:restart")
def restart() -> None:
    """Make every worker exit after its current job (a supervisor starts it again)."""
    setup_django()
    from zwm.queue.registry import signal_restart

    signal_restart()
    click.echo("Broadcasting queue restart signal.")


@click.command("queue:dispatch")
@click.argument("job_class")
@click.option("--args", "raw_args", default="{}", help="Job arguments as a JSON object.")
@click.option(
    "--count",
    type=click.IntRange(min=1, max=1_000_000),
    default=1,
    show_default=True,
    help="How many jobs to queue, each with the same --args.",
)
@click.option("--queue", default=None, help="Queue (default: the job class's).")
@click.option("--delay", type=click.FloatRange(min=0), default=0.0, help="Seconds before the job may run.")
@_connection_option
@json_option
def dispatch_command(
    job_class: str,
    raw_args: str,
    count: int,
    queue: str | None,
    delay: float,
    connection: str | None,
    as_json: bool,
) -> None:
    """Queue COUNT jobs of JOB_CLASS (a dotted path) with --args.

    Diagnostic jobs: zwm.queue.diagnostics.Noop, zwm.queue.diagnostics.Sleep (--args
    '{"seconds": 2}') and zwm.queue.diagnostics.Fail (--args '{"message": "why"}').
    """
    if queue is not None:
        _queues(queue)
    if math.isinf(delay):
        raise click.BadParameter("delay must be finite", param_hint="--delay")
    try:
        arguments = json.loads(raw_args)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--args") from None
    if not isinstance(arguments, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    setup_django()
    from zwm.queue.dispatch import dispatch_many
    from zwm.queue.job import PayloadError, load_job_class

    try:
        cls = load_job_class(job_class)
        jobs = [cls.from_arguments(arguments) for _ in range(count)]
    except PayloadError as exc:
        raise click.BadParameter(str(exc), param_hint="JOB_CLASS") from None
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"arguments do not fit {job_class}: {exc}", param_hint="--args") from None
    try:
        ids = dispatch_many(jobs, queue=queue, delay=delay, connection=connection)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--args") from None
    queued = [i for i in ids if i is not None]
    if as_json:
        echo_json({"queued": queued, "dropped": len(ids) - len(queued)})
        return
    for job_id in queued:
        click.echo(job_id)
    if len(queued) < len(ids):
        click.echo(f"{len(ids) - len(queued)} job(s) dropped: their unique key is held.", err=True)


COMMANDS = [
    work,
    failed_list,
    retry,
    retry_batch,
    forget,
    flush,
    prune_failed,
    prune_finished,
    prune_batches,
    monitor,
    clear,
    pause,
    resume,
    restart,
    dispatch_command,
]
