"""The catalog's commands, through ``zwm.cli.main`` (exit codes and messages as users see them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.catalog.services import sync_customer
from zwm.cli import main
from zwm.queue.models import QueuedJob
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

pytestmark = pytest.mark.django_db(transaction=True)

MakeCustomer = Callable[..., Customer]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


OUTPUTS: list[str] = []


def zwm(*args: str, stdin: str | None = None) -> Result:
    """Run ``zwm ARGS`` in-process as the console script does; every output is kept for the secret check."""
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main() always exits
            code = 0
        result = Result(code, out.getvalue().decode(), err.getvalue().decode())
    OUTPUTS.append(result.output)
    return result


LEAKS = ("wrong-secret-123", "s3cr3t-argv", "nope-nope", "stale-secret", "rotated-away")


@pytest.fixture(autouse=True)
def _no_secret_is_ever_printed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no output of any command contained a secret it was given."""
    OUTPUTS.clear()
    secrets = list(LEAKS)
    if "tenant" in request.fixturenames:
        secrets.append(request.getfixturevalue("tenant").client_secret)
    yield
    for output in OUTPUTS:
        for secret in secrets:
            assert secret not in output


@pytest.fixture
def tenant(sim: ZuoraSimulator) -> SimTenant:
    return sim.add_tenant("acme", workflows=6)


def create(sim: ZuoraSimulator, tenant: SimTenant, *extra: str, name: str = "Acme") -> Result:
    return zwm(
        "customer:create",
        "--name",
        name,
        "--base-url",
        sim.base_url,
        "--client-id",
        tenant.client_id,
        "--client-secret-stdin",
        *extra,
        stdin=tenant.client_secret + "\n",
    )


def test_create_validates_with_zuora_encrypts_the_secret_and_queues_the_first_sync(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    result = create(sim, tenant)

    assert result.code == 0, result.output
    customer = Customer.objects.get(name="Acme")
    assert customer.client_secret == tenant.client_secret
    assert tenant.client_secret not in customer.client_secret_encrypted
    assert sim.stats("acme")["token"] == 1
    job = QueuedJob.objects.get()
    assert job.job_class.endswith("SyncCustomerWorkflows")
    assert json.loads(job.payload)["args"] == {"customer_id": customer.pk, "trigger": "cli", "full": False}
    assert "First sync queued" in result.stdout


def test_create_with_no_sync_queues_nothing(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    assert create(sim, tenant, "--no-sync").code == 0
    assert not QueuedJob.objects.exists()


def test_create_with_refused_credentials_fails_and_stores_nothing(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    result = zwm(
        "customer:create",
        "--name",
        "Acme",
        "--base-url",
        sim.base_url,
        "--client-id",
        tenant.client_id,
        "--client-secret-stdin",
        stdin="wrong-secret-123\n",
    )

    assert result.code == 1
    assert "Zuora did not accept the credentials" in result.stderr
    assert "wrong-secret-123" not in result.output
    assert not Customer.objects.exists()


def test_skip_validation_saves_without_calling_zuora(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    result = create(sim, tenant, "--skip-validation", "--no-sync", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["name"] == "Acme"
    assert sim.stats("acme")["token"] == 0


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--name", "A", "--environment", "mars-prod", "--client-id", "c", "--client-secret-stdin"],
            "s\n",
            "unknown Zuora environment",
        ),
        (
            [
                "--name",
                "A",
                "--base-url",
                "http://zuora.example.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            "s\n",
            "must use https",
        ),
        (
            [
                "--name",
                "A",
                "--base-url",
                "https://rest.api.zuora.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            "s\n",
            "is not a Zuora host",
        ),
        (
            ["--name", "  ", "--environment", "eu-production", "--client-id", "c", "--client-secret-stdin"],
            "s\n",
            "name must not be empty",
        ),
        (
            [
                "--name",
                "A",
                "--environment",
                "eu-production",
                "--client-id",
                "c",
                "--client-secret",
                "s3cr3t-argv",
            ],
            None,
            "not accepted on the command line",
        ),
        (
            [
                "--name",
                "A",
                "--environment",
                "eu-production",
                "--base-url",
                "https://x.example.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            "s\n",
            "exactly one of --environment or --base-url",
        ),
        (
            ["--name", "A", "--client-id", "c", "--client-secret-stdin"],
            "s\n",
            "exactly one of --environment or --base-url",
        ),
        (
            ["--name", "A", "--environment", "eu-production", "--client-id", "c", "--client-secret-stdin"],
            "\n",
            "client secret must not be empty",
        ),
        (
            [
                "--name",
                "A",
                "--environment",
                "eu-production",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--entity-id",
                "not-a-uuid",
            ],
            "s\n",
            "entity_id must be a UUID",
        ),
        (["--name", "A", "--environment", "eu-production", "--client-secret-stdin"], "s\n", "--client-id"),
        (["--name", "A", "--environment", "eu-production", "--client-id", "c", "--bogus"], None, "--bogus"),
    ],
)
def test_create_rejects_bad_input_with_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    result = zwm("customer:create", *args, "--skip-validation", "--no-sync", stdin=stdin)

    assert result.code == 2, result.output
    assert message in result.output
    assert "s3cr3t-argv" not in result.output
    assert not Customer.objects.exists()


def test_duplicate_name_is_refused(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    assert create(sim, tenant, "--no-sync").code == 0
    result = create(sim, tenant, "--no-sync", name=" Acme ")
    assert result.code == 2
    assert "already exists" in result.output
    assert Customer.objects.count() == 1


def test_list_shows_customers_without_secrets(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")

    table = zwm("customer:list")
    listed = zwm("customer:list", "--json")

    assert table.code == listed.code == 0
    assert "Acme" in table.stdout
    (view,) = json.loads(listed.stdout)
    assert view["name"] == "Acme"
    assert view["client_id"] == tenant.client_id
    assert not any("secret" in key for key in view)


def test_update_renames_rechecks_a_new_secret_and_refuses_bad_ones(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    create(sim, tenant, "--no-sync")

    renamed = zwm("customer:update", "Acme", "--name", "Acme Corp", "--inactive")
    refused = zwm("customer:update", "Acme Corp", "--client-secret-stdin", stdin="nope-nope\n")
    unknown = zwm("customer:update", "Nobody", "--inactive")
    bad_url = zwm("customer:update", "Acme Corp", "--base-url", "ftp://x")

    assert renamed.code == 0, renamed.output
    customer = Customer.objects.get()
    assert (customer.name, customer.active) == ("Acme Corp", False)
    assert refused.code == 1
    assert "nope-nope" not in refused.output
    assert Customer.objects.get().client_secret == tenant.client_secret
    assert unknown.code == 2
    assert "no customer named 'Nobody'" in unknown.output
    assert bad_url.code == 2


def test_update_to_another_host_needs_the_secret_again(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    elsewhere = sim.base_url.replace("127.0.0.1", "localhost")

    refused = zwm("customer:update", "Acme", "--base-url", elsewhere)
    moved = zwm(
        "customer:update",
        "Acme",
        "--base-url",
        elsewhere,
        "--client-secret-stdin",
        stdin=tenant.client_secret + "\n",
    )

    assert refused.code == 2
    assert "needs the client secret again" in refused.stderr
    assert moved.code == 0, moved.output
    assert Customer.objects.get().base_url == elsewhere


def test_a_sync_skipped_for_a_running_one_says_so(
    sim: ZuoraSimulator, tenant: SimTenant, configure: Callable[..., None]
) -> None:
    from django.utils import timezone

    from zwm.catalog.services.sync_lock import sync_lock

    configure(ZWM_SYNC_LOCK_WAIT="0")
    create(sim, tenant, "--no-sync")
    customer = Customer.objects.get()
    with sync_lock(customer, lifetime=60, wait=0) as lock:
        running = SyncRun.objects.create(customer=customer, trigger="ui", started_at=timezone.now())
        lock.attach(running)
        result = zwm("sync-workflows", "--customer", "Acme", "--sync")

    assert result.code == 0, result.output
    assert f"Acme: skipped: a sync of Acme is running (run {running.pk})" in result.stdout


def test_delete_asks_unless_yes(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")

    declined = zwm("customer:delete", "Acme", stdin="n\n")
    assert declined.code == 1
    assert Customer.objects.exists()

    deleted = zwm("customer:delete", "Acme", "--yes")
    assert deleted.code == 0
    assert not Customer.objects.exists()
    assert zwm("customer:delete", "Acme", "--yes").code == 2


def test_customer_test_checks_credentials(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    assert zwm("customer:test", "Acme").code == 0

    customer = Customer.objects.get()
    customer.client_secret = "rotated-away"
    customer.save()
    result = zwm("customer:test", "Acme")
    assert result.code == 1
    assert "were not accepted" in result.stderr


def test_sync_workflows_needs_exactly_one_target(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    assert zwm("sync-workflows").code == 2
    assert zwm("sync-workflows", "--all", "--customer", "Acme").code == 2
    unknown = zwm("sync-workflows", "--customer", "Nobody", "--sync")
    assert unknown.code == 2
    assert "no customer named 'Nobody'" in unknown.output


def test_sync_workflows_in_process_prints_the_counts(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")

    first = zwm("sync-workflows", "--customer", "Acme", "--sync")
    again = zwm("sync-workflows", "--customer=Acme", "--sync", "--json")

    assert first.code == 0, first.output
    assert "Acme: succeeded" in first.stdout
    assert "created 6" in first.stdout
    (run,) = json.loads(again.stdout)
    assert (run["unchanged"], run["trigger"], run["status"]) == (6, "cli", "succeeded")
    assert Workflow.objects.count() == 6


def test_sync_workflows_reports_a_failed_customer_with_exit_1(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    customer = Customer.objects.get()
    customer.client_secret = "stale-secret"
    customer.save()
    sim.expire_tokens("acme")  # the old secret was revoked at Zuora: its token stops working

    result = zwm("sync-workflows", "--all", "--sync")

    assert result.code == 1
    assert "Zuora refused the credentials" in result.stderr
    assert "stale-secret" not in result.output
    assert SyncRun.objects.get().status == "failed"


def test_sync_workflows_queues_one_customer(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")

    queued = zwm("sync-workflows", "--customer", "Acme", "--json")
    duplicate = zwm("sync-workflows", "--customer", "Acme")

    assert queued.code == 0
    assert json.loads(queued.stdout)["job_id"] == QueuedJob.objects.get().uuid
    assert "already queued or running" in duplicate.stdout
    assert QueuedJob.objects.count() == 1


def test_sync_workflows_all_queues_a_batch_of_active_customers(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    create(sim, tenant, "--no-sync")
    other = sim.add_tenant("globex", workflows=1)
    create(sim, other, "--no-sync", "--inactive", name="Globex")

    queued = zwm("sync-workflows", "--all", "--json")

    assert queued.code == 0, queued.output
    result = json.loads(queued.stdout)
    assert result["customers"] == ["Acme"]
    assert result["batch_id"]
    (job,) = QueuedJob.objects.all()
    assert json.loads(job.payload)["batch_id"] == result["batch_id"]


def test_workflow_commands_list_show_and_export(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    sync_customer(Customer.objects.get())
    workflow = Workflow.objects.order_by("pk").first()
    assert workflow is not None

    listed = json.loads(zwm("workflow:list", "--customer", "Acme", "--json").stdout)
    found = json.loads(zwm("workflow:list", "--search", workflow.name, "--json").stdout)
    shown = json.loads(zwm("workflow:show", str(workflow.pk), "--json").stdout)
    exported = zwm("workflow:export", str(workflow.pk))

    assert len(listed) == 6
    assert workflow.pk in [view["id"] for view in found]
    assert shown["zuora_id"] == workflow.zuora_id
    assert len(shown["task_list"]) == workflow.tasks.count() == shown["tasks"]
    assert json.loads(exported.stdout) == workflow.export
    assert zwm("workflow:list").code == 0
    assert zwm("workflow:show", str(workflow.pk)).code == 0


def test_workflow_commands_refuse_unknown_ids_and_missing_exports(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    create(sim, tenant, "--no-sync")
    bare = Workflow.objects.create(customer=Customer.objects.get(), zuora_id="1", name="never exported")

    assert zwm("workflow:show", "999999").code == 2
    assert zwm("workflow:show", "abc").code == 2
    assert zwm("workflow:export", "999999").code == 2
    assert zwm("workflow:list", "--customer", "Nobody").code == 2
    missing = zwm("workflow:export", str(bare.pk))
    assert missing.code == 1
    assert "no stored export" in missing.stderr


def test_sync_tasks_reextracts_from_stored_exports(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    assert zwm("sync-tasks", "--all").code == 1  # nothing stored yet
    sync_customer(Customer.objects.get())
    workflow = Workflow.objects.order_by("pk").first()
    assert workflow is not None
    expected = workflow.tasks.count()
    workflow.tasks.all().delete()

    one = zwm("sync-tasks", "--workflow", str(workflow.pk))
    every = zwm("sync-tasks", "--all", "--json")

    assert one.code == 0, one.output
    assert workflow.tasks.count() == expected
    assert json.loads(every.stdout)["workflows"] == 6
    assert zwm("sync-tasks").code == 2
    assert zwm("sync-tasks", "--all", "--workflow", "1").code == 2
    assert zwm("sync-tasks", "--workflow", "999999").code == 2


def test_sync_runs_list_and_prune(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    create(sim, tenant, "--no-sync")
    customer = Customer.objects.get()
    sync_customer(customer)
    sync_customer(customer)

    listed = json.loads(zwm("sync-runs:list", "--customer", "Acme", "--json").stdout)
    pruned = zwm("sync-runs:prune", "--hours", "0")

    assert len(listed) == 2
    assert pruned.code == 0
    assert "Deleted 1 sync run(s)" in pruned.stdout
    assert SyncRun.objects.count() == 1  # the latest is always kept
