"""Commands of the catalog: syncs, customers, workflows, sync runs.

Everything the UI does is scriptable here. Rules of this module:

* a client secret is read from stdin (``--client-secret-stdin``) or a hidden prompt, never
  from the command line (it would land in shell history and ``ps``), and never printed;
* what the user typed wrong (unknown customer, environment, malformed URL...) exits 2,
  what failed at Zuora or in the database exits 1 -- both with a one-line reason.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from zwm.cli.base import OperationFailed, echo_json, json_option, setup_django

if TYPE_CHECKING:
    from zwm.catalog.models import Customer, SyncRun, Workflow
    from zwm.catalog.services import CustomerInput


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


Column = tuple[str, str | Callable[[Mapping[str, Any]], Any]]
"""A listing column: its header, and the view's key (or a function of the view) to show."""


def _listing(views: Sequence[Mapping[str, Any]], as_json: bool, columns: Sequence[Column]) -> None:
    """Print ``views`` as JSON, or as a table of ``columns``: what every ``*:list`` does."""
    if as_json:
        echo_json(views)
        return
    _table(
        [[key(v) if callable(key) else v[key] for _, key in columns] for v in views],
        [header for header, _ in columns],
    )


def _refuse_secret_on_argv(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.UsageError(
            "secrets are not accepted on the command line (shell history, ps); "
            "use --client-secret-stdin or answer the hidden prompt"
        )


_secret_on_argv = click.option(
    "--client-secret",
    "--secret",
    "refused_secret",
    hidden=True,
    expose_value=False,
    callback=_refuse_secret_on_argv,
)
_secret_stdin = click.option(
    "--client-secret-stdin", is_flag=True, help="Read the client secret from standard input (one line)."
)


def _read_secret(from_stdin: bool) -> str:
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = str(click.prompt("Client secret", hide_input=True, default="", show_default=False))
    if not secret:
        raise click.UsageError("the client secret must not be empty")
    return secret


def _customer(name: str) -> Customer:
    from zwm.catalog.services import CustomerNotFound, get_customer

    try:
        return get_customer(name)
    except CustomerNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="customer") from None


def _workflow(workflow_id: int) -> Workflow:
    from zwm.catalog.models import Workflow

    workflow = Workflow.objects.select_related("customer").filter(pk=workflow_id).first()
    if workflow is None:
        raise click.BadParameter(
            f"no workflow with id {workflow_id} (see zwm workflow:list)", param_hint="ID"
        )
    return workflow


def _zuora_failed(action: str, exc: Exception) -> NoReturn:
    raise OperationFailed(f"{action}: {exc}") from None


def _save_customer(
    save: Callable[[CustomerInput, bool], Customer], data: CustomerInput, validate: bool
) -> Customer:
    from zwm.catalog.services import CredentialsRejected, CustomerError

    try:
        return save(data, validate)
    except CredentialsRejected as exc:  # Zuora said no: exit 1, with Zuora's reason
        raise OperationFailed(f"{exc} (use --skip-validation to save anyway)") from None
    except CustomerError as exc:
        raise click.UsageError(str(exc)) from None


# -- syncs ------------------------------------------------------------------------------------


def _run_line(run: SyncRun, seconds: float) -> str:
    counts = ", ".join(f"{name} {value}" for name, value in run.counts().items())
    return f"{run.customer.name}: {run.status} in {seconds:.1f} s -- {counts}"


def _sync_now(customers: Sequence[Customer], full: bool, as_json: bool) -> None:
    from zwm.catalog.models import SyncRun
    from zwm.catalog.services import sync_customer

    results: list[dict[str, Any]] = []
    failures = 0
    for customer in customers:
        started = time.monotonic()
        try:
            run = sync_customer(customer, trigger=SyncRun.Trigger.CLI, full=full)
        except Exception:  # recorded on the run and the customer; report and go on with the others
            failures += 1
            run = SyncRun.objects.filter(customer=customer).latest("started_at", "id")
        if as_json:
            results.append(run.as_dict())
            continue
        if run.status == SyncRun.Status.SKIPPED:
            click.echo(f"{customer.name}: {run.error}")
            continue
        click.echo(_run_line(run, time.monotonic() - started))
        for warning in run.warnings:
            click.echo(f"  warning: {warning}")
        if run.error:
            click.echo(f"  error: {run.error}", err=True)
    if as_json:
        echo_json(results)
    if failures:
        raise OperationFailed(f"{failures} of {len(customers)} sync(s) failed")


@click.command("sync-workflows")
@click.option("--all", "all_customers", is_flag=True, help="Every active customer.")
@click.option("--customer", "customer_name", metavar="NAME", help="One customer, by name.")
@click.option("--sync", "run_now", is_flag=True, help="Run now in this process instead of queueing.")
@click.option("--full", is_flag=True, help="Export every workflow, changed or not (and allow emptying).")
@json_option
def sync_workflows(
    all_customers: bool, customer_name: str | None, run_now: bool, full: bool, as_json: bool
) -> None:
    """Synchronise customers' workflows with Zuora (queued, or now with --sync)."""
    if all_customers == (customer_name is not None):
        raise click.UsageError("give --customer=NAME or --all (not both)")
    setup_django()
    from zwm.catalog.jobs import dispatch_sync, dispatch_sync_all
    from zwm.catalog.models import Customer, SyncRun

    customers = (
        list(Customer.objects.filter(active=True).order_by("name"))
        if all_customers
        else [_customer(customer_name or "")]
    )
    if run_now:
        _sync_now(customers, full, as_json)
        return
    if all_customers:
        batch_id = dispatch_sync_all(trigger=SyncRun.Trigger.CLI, full=full)
        result: dict[str, Any] = {"batch_id": batch_id, "customers": [c.name for c in customers]}
        message = (
            f"Queued a batch of {len(customers)} sync(s): {batch_id}"
            if batch_id
            else "No active customer to sync."
        )
    else:
        job_id = dispatch_sync(customers[0], trigger=SyncRun.Trigger.CLI, full=full)
        result = {"job_id": job_id, "customer": customers[0].name}
        message = (
            f"Queued a sync of {customers[0].name}: job {job_id}"
            if job_id
            else f"A sync of {customers[0].name} is already queued or running."
        )
    if as_json:
        echo_json(result)
    else:
        click.echo(message)
        click.echo("Run `zwm queue:work` to process it; `zwm queue:monitor` shows the queues.")


@click.command("sync-tasks")
@click.option("--workflow", "workflow_id", type=int, metavar="ID", help="One workflow (local id).")
@click.option("--all", "all_workflows", is_flag=True, help="Every workflow with a stored export.")
@json_option
def sync_tasks(workflow_id: int | None, all_workflows: bool, as_json: bool) -> None:
    """Re-extract tasks and linkages from stored exports (no Zuora call)."""
    if all_workflows == (workflow_id is not None):
        raise click.UsageError("give --workflow=ID or --all (not both)")
    setup_django()
    from zwm.catalog.models import Workflow
    from zwm.catalog.services import reextract_many

    if all_workflows:
        workflows = Workflow.objects.exclude(export_json=None).order_by("pk").iterator(chunk_size=200)
    else:
        workflows = iter([_workflow(workflow_id or 0)])
    results = list(reextract_many(workflows))
    done = [r for r in results if r.tasks is not None]
    errors = [r for r in results if r.tasks is None]
    tasks = sum(r.tasks or 0 for r in done)
    if as_json:
        echo_json(
            {
                "workflows": len(done),
                "tasks": tasks,
                "errors": [{"workflow_id": r.workflow_id, "error": r.error} for r in errors],
            }
        )
    else:
        average = tasks / len(done) if done else 0.0
        click.echo(f"Workflows processed: {len(done)}; tasks: {tasks}; average per workflow: {average:.1f}")
        for result in errors:
            click.echo(f"  workflow {result.workflow_id}: {result.error}", err=True)
    if errors or not results:
        raise OperationFailed(
            "no workflow has a stored export" if not results else f"{len(errors)} workflow(s) failed"
        )


# -- customers ------------------------------------------------------------------------------------


@click.command("customer:create")
@click.option("--name", required=True, help="Unique name of the customer.")
@click.option("--environment", metavar="SLUG", help="Zuora environment slug, e.g. us-cloud1-production.")
@click.option("--base-url", metavar="URL", help="Custom REST base URL (https; http only to loopback).")
@click.option("--client-id", required=True, help="OAuth client id.")
@_secret_stdin
@_secret_on_argv
@click.option("--entity-id", default=None, help="Entity id (Multi-entity tenants).")
@click.option("--inactive", is_flag=True, help="Create it inactive (left out of sync --all).")
@click.option("--skip-validation", is_flag=True, help="Do not check the credentials with Zuora first.")
@click.option("--no-sync", is_flag=True, help="Do not queue the first sync.")
@json_option
def customer_create(
    name: str,
    environment: str | None,
    base_url: str | None,
    client_id: str,
    client_secret_stdin: bool,
    entity_id: str | None,
    inactive: bool,
    skip_validation: bool,
    no_sync: bool,
    as_json: bool,
) -> None:
    """Add a customer (Zuora tenant); its first sync is queued."""
    if (environment is None) == (base_url is None):
        raise click.UsageError("give exactly one of --environment or --base-url")
    secret = _read_secret(client_secret_stdin)
    setup_django()
    from zwm.catalog.models import SyncRun
    from zwm.catalog.presenters import customer_view
    from zwm.catalog.services import CustomerInput, create_customer, queue_first_sync

    data = CustomerInput(
        name=name,
        environment=environment,
        base_url=base_url,
        client_id=client_id,
        client_secret=secret,
        entity_id=entity_id,
        active=not inactive,
    )
    customer = _save_customer(lambda d, v: create_customer(d, validate=v), data, not skip_validation)
    job_id = None if no_sync else queue_first_sync(customer, trigger=SyncRun.Trigger.CLI)
    if as_json:
        echo_json({**customer_view(customer), "sync_job_id": job_id})
        return
    click.echo(f"Created customer {customer.name} (id {customer.pk}).")
    if job_id:
        click.echo(f"First sync queued: job {job_id}.")


@click.command("customer:list")
@json_option
def customer_list(as_json: bool) -> None:
    """List customers (never their secrets)."""
    setup_django()
    from django.db.models import Count

    from zwm.catalog.models import Customer
    from zwm.catalog.presenters import customer_view

    customers = Customer.objects.annotate(workflow_count=Count("workflows")).order_by("name")
    views = [customer_view(c, c.workflow_count) for c in customers]
    _listing(
        views,
        as_json,
        [
            ("ID", "id"),
            ("NAME", "name"),
            ("ENVIRONMENT/URL", lambda v: v["environment"] or v["base_url"]),
            ("CLIENT ID", "client_id"),
            ("ACTIVE", lambda v: "yes" if v["active"] else "no"),
            ("WORKFLOWS", "workflows"),
            ("LAST SYNC", lambda v: v["last_sync_status"] or "-"),
            ("SYNCED AT", lambda v: v["last_synced_at"] or "-"),
        ],
    )


@click.command("customer:update")
@click.argument("name")
@click.option("--name", "new_name", help="Rename the customer.")
@click.option("--environment", metavar="SLUG", help="Switch to a Zuora environment.")
@click.option("--base-url", metavar="URL", help="Switch to a custom base URL.")
@click.option("--client-id", help="New OAuth client id.")
@_secret_stdin
@click.option("--prompt-secret", is_flag=True, help="Ask for a new client secret (hidden prompt).")
@_secret_on_argv
@click.option("--entity-id", help="New entity id ('' clears it).")
@click.option("--active/--inactive", default=None, help="Include in or leave out of sync --all.")
@click.option("--skip-validation", is_flag=True, help="Do not check changed credentials with Zuora.")
@json_option
def customer_update(
    name: str,
    new_name: str | None,
    environment: str | None,
    base_url: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
    prompt_secret: bool,
    entity_id: str | None,
    active: bool | None,
    skip_validation: bool,
    as_json: bool,
) -> None:
    """Change a customer's settings (credentials are re-checked with Zuora)."""
    if environment is not None and base_url is not None:
        raise click.UsageError("give at most one of --environment or --base-url")
    secret = _read_secret(client_secret_stdin) if (client_secret_stdin or prompt_secret) else None
    setup_django()
    from zwm.catalog.presenters import customer_view
    from zwm.catalog.services import CustomerInput, update_customer

    customer = _customer(name)
    data = CustomerInput(
        name=new_name,
        environment=environment if environment is not None else ("" if base_url is not None else None),
        base_url=base_url if base_url is not None else ("" if environment is not None else None),
        client_id=client_id,
        client_secret=secret,
        entity_id=entity_id,
        active=active,
    )
    customer = _save_customer(
        lambda d, v: update_customer(customer, d, validate=v), data, not skip_validation
    )
    if as_json:
        echo_json(customer_view(customer))
    else:
        click.echo(f"Updated customer {customer.name} (id {customer.pk}).")


@click.command("customer:delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def customer_delete(name: str, yes: bool) -> None:
    """Delete a customer with its workflows, tasks and sync history."""
    setup_django()
    customer = _customer(name)
    count = customer.workflows.count()
    if not yes:
        click.confirm(f"Delete customer {customer.name} and its {count} workflow(s)?", abort=True)
    customer.delete()
    click.echo(f"Deleted customer {name} and its {count} workflow(s).")


@click.command("customer:test")
@click.argument("name")
def customer_test(name: str) -> None:
    """Check a customer's credentials with Zuora (asks for a new token)."""
    setup_django()
    from zwm.catalog.services import InvalidCustomerConfiguration, check_credentials, credentials_for
    from zwm.zuora import ZuoraError

    customer = _customer(name)
    try:
        credentials = credentials_for(customer)
        check_credentials(credentials)
    except InvalidCustomerConfiguration as exc:
        raise OperationFailed(str(exc)) from None
    except ZuoraError as exc:
        _zuora_failed(f"credentials of {customer.name} were not accepted", exc)
    click.echo(f"Credentials of {customer.name} accepted by Zuora at {credentials.base_url}.")


@click.command("customer:rotate-key")
def customer_rotate_key() -> None:
    """Re-encrypt every stored secret with the first key of ZWM_ENCRYPTION_KEYS."""
    setup_django()
    from zwm.catalog.crypto import SecretDecryptionError
    from zwm.catalog.services import rotate_secrets

    try:
        count = rotate_secrets()
    except SecretDecryptionError as exc:
        raise OperationFailed(f"{exc}; nothing was changed") from None
    click.echo(f"Re-encrypted {count} customer secret(s) with the current key.")


# -- workflows ------------------------------------------------------------------------------------


@click.command("workflow:list")
@click.option("--customer", "customer_name", metavar="NAME", help="Only this customer's workflows.")
@click.option("--search", metavar="TEXT", help="Match name, description or Zuora id.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most this many (0: all).")
@json_option
def workflow_list(customer_name: str | None, search: str | None, limit: int, as_json: bool) -> None:
    """List workflows."""
    setup_django()
    from django.db.models import Count, Q

    from zwm.catalog.models import Workflow
    from zwm.catalog.presenters import workflow_view

    workflows = Workflow.objects.select_related("customer").annotate(task_count=Count("tasks"))
    if customer_name is not None:
        workflows = workflows.filter(customer=_customer(customer_name))
    if search:
        text = search.strip()
        workflows = workflows.filter(
            Q(name__icontains=text) | Q(description__icontains=text) | Q(zuora_id=text)
        )
    workflows = workflows.order_by("customer__name", "name", "pk")
    if limit:
        workflows = workflows[:limit]
    views = [workflow_view(w, w.task_count) for w in workflows]
    _listing(
        views,
        as_json,
        [
            ("ID", "id"),
            ("CUSTOMER", "customer"),
            ("ZUORA ID", "zuora_id"),
            ("NAME", "name"),
            ("STATUS", "status"),
            ("VERSION", "version"),
            ("TASKS", "tasks"),
            ("SYNCED AT", lambda v: v["last_synced_at"] or "-"),
        ],
    )


@click.command("workflow:show")
@click.argument("workflow_id", metavar="ID", type=int)
@json_option
def workflow_show(workflow_id: int, as_json: bool) -> None:
    """Show a workflow with its tasks and linkages."""
    setup_django()
    from zwm.catalog.presenters import linkage_view, task_view, workflow_view

    workflow = _workflow(workflow_id)
    tasks = [task_view(t) for t in workflow.tasks.order_by("pk")]
    view = workflow_view(workflow, len(tasks))
    if as_json:
        echo_json(
            {
                **view,
                "task_list": tasks,
                "linkages": [linkage_view(link) for link in workflow.linkages.order_by("pk")],
                "versions": list(workflow.versions.values("version", "content_hash", "replaced_at")),
            }
        )
        return
    for key, value in view.items():
        click.echo(f"{key:>18}: {'' if value is None else value}")
    click.echo("")
    _table(
        [(t["zuora_task_id"], t["name"], t["action_type"], t["parent_task_id"] or "-") for t in tasks],
        ["TASK ID", "NAME", "ACTION", "PARENT"],
    )


@click.command("workflow:export")
@click.argument("workflow_id", metavar="ID", type=int)
def workflow_export(workflow_id: int) -> None:
    """Print a workflow's stored export (JSON)."""
    setup_django()
    workflow = _workflow(workflow_id)
    if workflow.export_json is None:
        raise OperationFailed(f"workflow {workflow_id} has no stored export yet; sync its customer first")
    click.echo(json.dumps(json.loads(workflow.export_json), indent=2, ensure_ascii=False))


# -- sync runs ------------------------------------------------------------------------------------


@click.command("sync-runs:list")
@click.option("--customer", "customer_name", metavar="NAME", help="Only this customer's runs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, help="Most recent N runs.")
@json_option
def sync_runs_list(customer_name: str | None, limit: int, as_json: bool) -> None:
    """List recent sync runs with their counts."""
    setup_django()
    from zwm.catalog.models import SyncRun

    runs = SyncRun.objects.select_related("customer")
    if customer_name is not None:
        runs = runs.filter(customer=_customer(customer_name))
    views = [run.as_dict() for run in runs.order_by("-started_at", "-id")[:limit]]
    _listing(
        views,
        as_json,
        [
            ("ID", "id"),
            ("CUSTOMER", "customer"),
            ("TRIGGER", "trigger"),
            ("STATUS", "status"),
            ("STARTED", "started_at"),
            ("LISTED", "listed"),
            ("NEW", "created"),
            ("UPD", "updated"),
            ("SAME", "unchanged"),
            ("DEL", "deleted"),
            ("FAILED", "failed"),
        ],
    )


@click.command("sync-runs:prune")
@click.option(
    "--hours", type=click.FloatRange(min=0), default=24 * 7, show_default=True, help="Keep newer runs."
)
def sync_runs_prune(hours: float) -> None:
    """Delete finished sync runs older than --hours (each customer's latest is kept)."""
    setup_django()
    from zwm.catalog.services import prune_sync_runs

    click.echo(f"Deleted {prune_sync_runs(older_than_hours=hours)} sync run(s).")


COMMANDS = [
    sync_workflows,
    sync_tasks,
    customer_create,
    customer_list,
    customer_update,
    customer_delete,
    customer_test,
    customer_rotate_key,
    workflow_list,
    workflow_show,
    workflow_export,
    sync_runs_list,
    sync_runs_prune,
]
