"""The Jobs dashboard, server side (SQLite; the queue reads it uses are tested on every backend
in tests/queue): every action for every role, payload privacy, bad
input never a 500, and acting on what someone else already moved -- on the database and
the Redis queue connection alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from zwm.queue.backlog import backlog_for
from zwm.queue.connections import close_drivers
from zwm.queue.diagnostics import Noop, Sleep
from zwm.queue.failed import FailureInfo, record_failure
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob, JobBatch
from zwm.web.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_ARG = "customer-secret-7f3a"
ACTIONS = [
    ("dashboard:waiting-delete", {"job": "x"}),
    ("dashboard:waiting-run-now", {"job": "x"}),
    ("dashboard:failed-one", {"do": "retry", "ids": "1"}),
    ("dashboard:failed-bulk", {"do": "delete", "scope": "matching"}),
    ("dashboard:queue-pause", {"queue": "q"}),
    ("dashboard:queue-resume", {"queue": "q"}),
    ("dashboard:queue-clear", {"queue": "q"}),
    ("dashboard:schedule-run", {"name": "nope"}),
]
BATCH_ACTIONS = ["dashboard:batch-cancel", "dashboard:batch-retry"]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def connection(request: pytest.FixtureRequest, configure: Callable[..., None]) -> Iterator[str]:
    """The queue connection the dashboard shows (``QUEUE_CONNECTION``)."""
    close_drivers()
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        configure(QUEUE_CONNECTION="redis", REDIS_URL=url, ZWM_QUEUE_PREFIX=f"zwm-test-{uuid.uuid4().hex}")
    else:
        configure(QUEUE_CONNECTION="database")
    yield request.param
    if request.param == "redis":
        backlog_for("redis").driver.delete_all_keys()  # type: ignore[attr-defined]
    close_drivers()


def notes(response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def failed_job(message: str = "boom") -> FailedJob:
    envelope = Envelope(job="zwm.queue.diagnostics.Noop", args={"who": SECRET_ARG}, queue="default")
    return record_failure(envelope, "database", FailureInfo("X", message))


@pytest.mark.parametrize(("name", "form"), ACTIONS, ids=[a[0].split(":")[1] for a in ACTIONS])
def test_every_action_needs_the_operator_role(
    client_as: Callable[[Role | None], Client], name: str, form: dict[str, str], connection: str
) -> None:
    for role in (None, Role.VIEWER):
        assert client_as(role).post(reverse(name), form).status_code == 403
    assert Client().post(reverse(name), form).status_code == 302  # signed out: to sign-in
    for role in (Role.OPERATOR, Role.ADMIN):
        client = client_as(role)
        response = client.post(reverse(name), form)
        assert response.status_code in (200, 302), (role, response.status_code)
        assert client.get(reverse(name)).status_code == 405


@pytest.mark.parametrize("name", BATCH_ACTIONS)
def test_batch_actions_need_the_operator_role(client_as: Callable[[Role | None], Client], name: str) -> None:
    JobBatch.objects.create(id="b1", total_jobs=1, pending_jobs=1, created_at=timezone.now())
    url = reverse(name, args=["b1"])
    assert client_as(Role.VIEWER).post(url).status_code == 403
    assert client_as(Role.OPERATOR).post(url).status_code == 302
    gone = client_as(None).post(reverse(name, args=["nope"]), follow=True)
    assert gone.status_code == 403
    gone = client_as(Role.ADMIN).post(reverse(name, args=["nope"]), follow=True)
    assert "is gone" in " ".join(notes(gone))


def test_viewers_never_see_payloads(client_as: Callable[[Role | None], Client], connection: str) -> None:
    envelope = Envelope(job="zwm.queue.diagnostics.Noop", args={"who": SECRET_ARG}, queue="default")
    backlog_for().driver.push([envelope])
    failure = failed_job()
    viewer, operator = client_as(Role.VIEWER), client_as(Role.OPERATOR)
    for url in (
        reverse("dashboard:waiting"),
        reverse("dashboard:job", args=[envelope.id]),
        reverse("dashboard:job", args=[failure.uuid]),
        reverse("dashboard:failed"),
    ):
        page = viewer.get(url)
        assert page.status_code == 200
        assert SECRET_ARG not in page.content.decode(), url
    assert SECRET_ARG in operator.get(reverse("dashboard:waiting")).content.decode()
    assert SECRET_ARG in operator.get(reverse("dashboard:job", args=[envelope.id])).content.decode()
    # a viewer's search does not look into payloads (it would reveal them one guess at a time)
    assert (
        "No failed job matches"
        in viewer.get(reverse("dashboard:failed") + f"?q={SECRET_ARG}").content.decode()
    )
    assert failure.uuid in operator.get(reverse("dashboard:failed") + f"?q={SECRET_ARG}").content.decode()


@pytest.mark.parametrize(
    ("page", "query", "notice"),
    [
        ("dashboard:jobs", "status=exploded", "Ignored the status filter"),
        ("dashboard:jobs", "before=-3", "Ignored the before filter"),
        ("dashboard:jobs", "before=99999999999999999999", "Ignored the before filter"),
        ("dashboard:jobs", "queue=" + "q" * 101, "Ignored the queue filter"),
        ("dashboard:jobs", "since=forever", "Ignored the since filter"),
        ("dashboard:jobs", "q=" + "x" * 201, "Ignored the q filter"),
        ("dashboard:waiting", "state=lost", "Ignored the state filter"),
        ("dashboard:waiting", "page=0", "Ignored the page filter"),
        ("dashboard:waiting", "page=abc", "Ignored the page filter"),
        ("dashboard:waiting", "job_class=" + "c" * 256, "Ignored the job_class filter"),
        ("dashboard:failed", "since=%00", "Ignored the since filter"),
        ("dashboard:failed", "page=-1", "Ignored the page filter"),
        ("dashboard:batches", "state=exploded", "Ignored the state filter"),
    ],
)
def test_malformed_filters_are_ignored_with_a_notice(
    client_as: Callable[[Role | None], Client], page: str, query: str, notice: str, connection: str
) -> None:
    response = client_as(Role.OPERATOR).get(reverse(page) + "?" + query)
    assert response.status_code == 200
    assert notice in response.content.decode()


def test_bad_chart_window_and_unknown_job_or_batch(client_as: Callable[[Role | None], Client]) -> None:
    viewer = client_as(Role.VIEWER)
    assert viewer.get(reverse("dashboard:charts") + "?window=weeks").status_code == 400
    assert viewer.get(reverse("dashboard:charts") + "?window=days").json()["t"]
    assert viewer.get(reverse("dashboard:job", args=["nope"])).status_code == 404
    assert viewer.get(reverse("dashboard:job", args=["x" * 40])).status_code == 404
    assert viewer.get(reverse("dashboard:batch", args=["nope"])).status_code == 404


def test_acting_on_jobs_someone_else_moved_says_so(
    client_as: Callable[[Role | None], Client], connection: str
) -> None:
    operator = client_as(Role.OPERATOR)
    gone = operator.post(reverse("dashboard:waiting-delete"), {"job": uuid.uuid4().hex}, follow=True)
    assert "no longer waiting" in " ".join(notes(gone))
    failure = failed_job()
    FailedJob.objects.filter(pk=failure.pk).delete()
    again = operator.post(reverse("dashboard:failed-one"), {"do": "retry", "ids": failure.pk}, follow=True)
    assert "someone already retried or deleted it" in " ".join(notes(again))
    bad = operator.post(reverse("dashboard:failed-one"), {"do": "explode", "ids": "x"}, follow=True)
    assert "Choose one failed job" in " ".join(notes(bad))


def test_waiting_jobs_delete_and_run_now(client_as: Callable[[Role | None], Client], connection: str) -> None:
    operator = client_as(Role.OPERATOR)
    later = Sleep(0).dispatch(queue="dash", delay=600)
    now = Noop().dispatch(queue="dash")
    page = operator.get(reverse("dashboard:waiting") + "?queue=dash").content.decode()
    assert later in page
    assert now in page
    ran = operator.post(reverse("dashboard:waiting-run-now"), {"job": later}, follow=True)
    assert "is due now" in " ".join(notes(ran))
    ran_again = operator.post(reverse("dashboard:waiting-run-now"), {"job": later}, follow=True)
    assert "already waiting" in " ".join(notes(ran_again))
    deleted = operator.post(reverse("dashboard:waiting-delete"), {"job": now}, follow=True)
    assert f"Job {now} deleted." in notes(deleted)
    assert backlog_for().get(str(now)) is None


def test_failed_bulk_actions_confirm_with_the_count_then_act(
    client_as: Callable[[Role | None], Client], connection: str
) -> None:
    operator = client_as(Role.OPERATOR)
    for n in range(3):
        failed_job(f"refused {n}")
    failed_job("timeout")
    form = {"do": "retry", "scope": "matching", "q": "refused"}
    confirm = operator.post(reverse("dashboard:failed-bulk"), form)
    assert confirm.status_code == 200
    assert "Retry 3 failed job(s)?" in confirm.content.decode()
    assert FailedJob.objects.count() == 4  # nothing done before the confirmation
    done = operator.post(reverse("dashboard:failed-bulk"), {**form, "confirmed": "yes"}, follow=True)
    assert "3 failed job(s) retried." in notes(done)
    assert list(FailedJob.objects.values_list("exception_message", flat=True)) == ["timeout"]
    [left] = FailedJob.objects.all()
    selected = {"do": "delete", "scope": "selected", "ids": [left.pk], "confirmed": "yes"}
    deleted = operator.post(reverse("dashboard:failed-bulk"), selected, follow=True)
    assert "1 failed job(s) deleted." in notes(deleted)
    nothing = operator.post(
        reverse("dashboard:failed-bulk"), {"do": "retry", "scope": "selected"}, follow=True
    )
    assert "Nothing selected" in " ".join(notes(nothing))
    failed_job("keep")
    widened = {"do": "delete", "scope": "matching", "queue": "q" * 101, "confirmed": "yes"}
    refused = operator.post(reverse("dashboard:failed-bulk"), widened, follow=True)
    assert "Nothing done: Ignored the queue filter" in " ".join(notes(refused))
    assert FailedJob.objects.count() == 1  # a malformed filter never widens a bulk action
    too_many = {"do": "retry", "scope": "selected", "ids": [str(i) for i in range(1, 600)]}
    assert "at most 500" in " ".join(
        notes(operator.post(reverse("dashboard:failed-bulk"), too_many, follow=True))
    )


def test_queues_pause_resume_and_clear(client_as: Callable[[Role | None], Client], connection: str) -> None:
    operator = client_as(Role.OPERATOR)
    Noop().dispatch(queue="mail")
    Noop().dispatch(queue="mail")
    paused = operator.post(reverse("dashboard:queue-pause"), {"queue": "mail"}, follow=True)
    assert "Queue mail paused" in " ".join(notes(paused))
    assert "mail" in backlog_for().paused()
    assert "paused" in operator.get(reverse("dashboard:queues")).content.decode()
    resumed = operator.post(reverse("dashboard:queue-resume"), {"queue": "mail"}, follow=True)
    assert "Queue mail resumed." in notes(resumed)
    confirm = operator.post(reverse("dashboard:queue-clear"), {"queue": "mail"})
    assert "deletes <strong>2</strong>" in confirm.content.decode()
    cleared = operator.post(
        reverse("dashboard:queue-clear"), {"queue": "mail", "confirmed": "yes"}, follow=True
    )
    assert "Cleared 2 job(s) from queue mail" in " ".join(notes(cleared))
    bad = operator.post(reverse("dashboard:queue-pause"), {"queue": "q" * 101}, follow=True)
    assert "1-100 characters" in " ".join(notes(bad))


def test_overview_live_fragment_shows_the_counters(
    client_as: Callable[[Role | None], Client], connection: str
) -> None:
    Noop().dispatch(queue="ov")
    failed_job()
    live = client_as(Role.VIEWER).get(reverse("dashboard:live")).content.decode()
    assert 'data-counter="waiting">1<' in live
    assert '<a href="/jobs/failed/">1</a>' in live
    assert 'data-queue="ov"' in live


def test_schedule_run_now_and_unknown_entry(client_as: Callable[[Role | None], Client]) -> None:
    from zwm.queue.schedule import load_entries

    operator = client_as(Role.OPERATOR)
    page = operator.get(reverse("dashboard:schedule")).content.decode()
    for entry in load_entries():
        assert f'data-entry="{entry.name}"' in page
    unknown = operator.post(reverse("dashboard:schedule-run"), {"name": "nope"}, follow=True)
    assert "No schedule entry is named 'nope'." in notes(unknown)
    for entry in load_entries()[:1]:
        ran = operator.post(reverse("dashboard:schedule-run"), {"name": entry.name}, follow=True)
        assert "queued now" in " ".join(notes(ran))
        assert "queued" in operator.get(reverse("dashboard:schedule")).content.decode()


def test_pages_work_on_the_sync_connection(
    client_as: Callable[[Role | None], Client], configure: Callable[..., None]
) -> None:
    configure(QUEUE_CONNECTION="sync")
    viewer = client_as(Role.VIEWER)
    for name in ("web:home", "dashboard:index", "dashboard:live", "dashboard:waiting", "dashboard:queues"):
        assert viewer.get(reverse(name)).status_code == 200, name
    assert "has no queues" in viewer.get(reverse("dashboard:waiting"), follow=True).content.decode()
