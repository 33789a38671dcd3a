"""Alerts end to end: real problems in the stores, real workers delivering to a real SMTP
sink and a real HTTP receiver; de-duplicated, recovered, and never carrying a secret."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from receivers import HttpReceiver, SmtpSink, http_receiver, smtp_sink
from workerkit import Workers

from zwm.catalog import crypto
from zwm.catalog.models import Customer
from zwm.ops.alerts import channels
from zwm.ops.alerts.message import Message
from zwm.ops.jobs import CheckAlerts, DeliverAlert
from zwm.ops.models import Alert
from zwm.queue.connections import get_driver
from zwm.queue.job import Envelope
from zwm.queue.models import QueuedJob
from zwm.queue.models import Worker as WorkerRow
from zwm.queue.registry import Registration, Status

HERE = Path(__file__).resolve().parent
SECRET_KEY = "k" * 20 + "-the-django-secret-key"
LEAKED = "zuora-client-s3cret-9f8e7d"
SLACK_PATH = "/slack/T0001/B0001/slack-webhook-s3cret"
DISCORD_PATH = "/discord/api/webhooks/42/discord-webhook-s3cret"
HOOK_PATH = "/hook"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as server:
        yield server


@pytest.fixture
def alerting(configure: Callable[..., None], sink: SmtpSink, receiver: HttpReceiver) -> dict[str, str]:
    """Every channel configured, pointing at the local sink and receiver."""
    env = {
        "SECRET_KEY": SECRET_KEY,
        "ZWM_SMTP_URL": sink.url,
        "ZWM_ALERT_EMAIL_TO": "ops@example.com",
        "ZWM_ALERT_EMAIL_FROM": "zwm@example.com",
        "ZWM_ALERT_SLACK_WEBHOOK": receiver.url + SLACK_PATH,
        "ZWM_ALERT_DISCORD_WEBHOOK": receiver.url + DISCORD_PATH,
        "ZWM_ALERT_WEBHOOK_URL": receiver.url + HOOK_PATH,
        "ZWM_ALERT_BACKLOG_AGE_SECONDS": "600",
        "ZWM_ALERT_WORKER_SILENCE_SECONDS": "300",
        "ZWM_ALERT_SYNC_STALE_SECONDS": "3600",
    }
    configure(**env)
    return env


def deliver(workers: Workers, env: dict[str, str]) -> None:
    """Run a real worker until the queued deliveries are done."""
    workers.env.update(env)
    workers.env["PYTHONPATH"] = os.pathsep.join([str(HERE), workers.env["PYTHONPATH"]])
    done = workers.work("--queue", "default", "--stop-when-empty", "--sleep", "0")
    assert done.returncode == 0, done.stderr


def everything_delivered(sink: SmtpSink, receiver: HttpReceiver) -> list[str]:
    """Every text any channel received, for the no-secret checks."""
    return sink.raw + [request.raw for request in receiver.requests]


def kinds(receiver: HttpReceiver) -> list[tuple[str, str]]:
    return sorted((body["kind"], body["state"]) for body in receiver.bodies(HOOK_PATH))


def make_problems(tmp_path: Path, workers: Workers, env: dict[str, str]) -> Path:
    """One of each kind: a failing job class, a failing sync, a backed-up queue, silent
    workers, a customer not synced for too long."""
    flag = tmp_path / "failing"
    flag.write_text("on")
    from ops_test_jobs import FailsWhileFlagged

    FailsWhileFlagged(str(flag), LEAKED).dispatch()
    deliver(workers, env)  # the worker runs it: it fails for good, into failed jobs

    crypto.reset_keys()
    broken = Customer.objects.create(
        name="Acme", client_id="acme-client", client_secret_encrypted=crypto.encrypt(LEAKED)
    )
    Customer.objects.filter(pk=broken.pk).update(
        last_sync_status="failed",
        last_sync_error=f"Zuora refused the credentials: invalid_client (client_secret={LEAKED}).",
        last_synced_at=timezone.now(),
    )
    stale = Customer.objects.create(
        name="Globex", client_id="globex", client_secret_encrypted=crypto.encrypt("x" * 12)
    )
    Customer.objects.filter(pk=stale.pk).update(
        last_sync_status="succeeded", last_synced_at=timezone.now() - timedelta(hours=5)
    )
    get_driver("database").push(
        [Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="reports")],
        available_at=time.time() - 1200,
    )
    WorkerRow.objects.update(status=Status.STOPPED)  # the worker above stopped; none is alive
    return flag


def clear_problems(flag: Path, workers: Workers, env: dict[str, str]) -> None:
    flag.unlink()
    from ops_test_jobs import FailsWhileFlagged

    FailsWhileFlagged(str(flag)).dispatch()
    deliver(workers, env)  # now it succeeds: the class recovered
    Customer.objects.update(last_sync_status="succeeded", last_sync_error="", last_synced_at=timezone.now())
    QueuedJob.objects.filter(queue="reports").delete()
    Registration(name=None, connection="database", queues=["default"]).heartbeat(
        Status.IDLE, processed=0, failed=0, current=None
    )


ALL_KINDS = ["backlog", "job_failed", "sync_failed", "sync_stale", "workers_silent"]


def test_each_kind_is_announced_once_on_every_channel_then_recovers(
    workers: Workers, alerting: dict[str, str], sink: SmtpSink, receiver: HttpReceiver, tmp_path: Path
) -> None:
    flag = make_problems(tmp_path, workers, alerting)

    CheckAlerts().handle()
    deliver(workers, alerting)
    assert kinds(receiver) == [(kind, "firing") for kind in ALL_KINDS]
    assert len(sink.messages) == len(receiver.bodies(SLACK_PATH)) == len(receiver.bodies(DISCORD_PATH)) == 5
    subjects = sorted(message["Subject"] for message in sink.messages)
    assert "[zwm] PROBLEM: FailsWhileFlagged failed (1 in the last 60 min)" in subjects
    assert "[zwm] PROBLEM: Sync of customer Acme failed" in subjects
    sync_text = next(b["detail"] for b in receiver.bodies(HOOK_PATH) if b["kind"] == "sync_failed")
    assert "Zuora refused the credentials" in sync_text  # the reason travels with the alert
    assert all(b["text"].startswith("[zwm] PROBLEM") for b in receiver.bodies(SLACK_PATH))
    assert all(b["content"].startswith("[zwm] PROBLEM") for b in receiver.bodies(DISCORD_PATH))

    CheckAlerts().handle()  # the same problems again, inside the window: nothing new is sent
    deliver(workers, alerting)
    assert len(receiver.bodies(HOOK_PATH)) == 5
    assert len(sink.messages) == 5
    assert Alert.objects.filter(state="firing", occurrences=2).count() == 5

    clear_problems(flag, workers, alerting)
    CheckAlerts().handle()
    deliver(workers, alerting)
    resolved = [kind for kind, state in kinds(receiver) if state == "resolved"]
    assert resolved == ALL_KINDS
    assert len(sink.messages) == 10
    assert sum(m["Subject"].startswith("[zwm] RESOLVED") for m in sink.messages) == 5

    for text in everything_delivered(sink, receiver):
        for secret in (LEAKED, SECRET_KEY, sink.password, "slack-webhook-s3cret", "discord-webhook-s3cret"):
            assert secret not in text


@pytest.mark.backends
@pytest.mark.django_db(transaction=True)
def test_a_problem_that_persists_is_reminded_once_per_window(alerting: dict[str, str]) -> None:
    from zwm.ops.alerts import state
    from zwm.ops.alerts.problems import Problem

    problem = Problem("backlog:default", "backlog", "Queue default is backed up", "old")
    start = timezone.now()
    assert [m.state for m in state.decide([problem], window=3600, now=start)] == ["firing"]
    assert state.decide([problem], window=3600, now=start + timedelta(minutes=59)) == []
    reminder = state.decide([problem], window=3600, now=start + timedelta(minutes=61))
    assert [m.state for m in reminder] == ["firing"]
    assert reminder[0].detail.startswith("Still failing (seen by 3 checks")
    # it clears, flaps back and clears again within the window: one resolved, then silence
    assert [m.state for m in state.decide([], window=3600, now=start + timedelta(minutes=62))] == ["resolved"]
    assert state.decide([problem], window=3600, now=start + timedelta(minutes=63)) == []
    assert state.decide([], window=3600, now=start + timedelta(minutes=64)) == []


def a_message() -> Message:
    return Message(
        key="test", kind="test", state="test", title="t", detail="d", at="2026-01-01T00:00:00+00:00"
    )


@pytest.mark.django_db(transaction=True)
def test_a_slack_500_is_a_delivery_error_the_worker_retries(
    workers: Workers, alerting: dict[str, str], receiver: HttpReceiver
) -> None:
    receiver.status[SLACK_PATH] = 500
    with pytest.raises(channels.DeliveryError, match=r"^slack: the webhook answered HTTP 500$"):
        DeliverAlert("slack", a_message().to_json()).handle()

    DeliverAlert("slack", a_message().to_json()).dispatch()
    workers.env.update(alerting, LOG_LEVEL="INFO")
    done = workers.work("--queue", "default", "--once")
    assert "alert test not delivered (attempt 1 of 5): slack: the webhook answered HTTP 500" in done.stderr
    assert "slack-webhook-s3cret" not in done.stderr + done.stdout
    job = QueuedJob.objects.get()
    assert job.attempts == 1
    assert job.available_at > time.time()  # released with backoff


@pytest.mark.django_db(transaction=True)
def test_an_smtp_server_that_refuses_is_a_delivery_error(alerting: dict[str, str], sink: SmtpSink) -> None:
    sink.refuse_data = "554 5.7.1 message rejected"
    with pytest.raises(channels.DeliveryError, match=r"^email: the SMTP server refused \(554\)$"):
        channels.send("email", a_message())
    assert sink.messages == []


def test_an_unreachable_webhook_is_a_delivery_error_naming_no_url(configure: Callable[..., None]) -> None:
    from rediskit import free_port

    configure(ZWM_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hook-s3cret")
    with pytest.raises(channels.DeliveryError) as info:
        channels.send("webhook", a_message())
    assert str(info.value) == "webhook: cannot reach the webhook (ConnectError)"


def test_an_unconfigured_channel_is_refused(configure: Callable[..., None]) -> None:
    configure(ZWM_ALERT_SLACK_WEBHOOK="")
    with pytest.raises(channels.UnknownChannel, match="'slack' is not configured"):
        channels.send("slack", a_message())
    with pytest.raises(channels.UnknownChannel, match="unknown alert channel 'pager'"):
        channels.send("pager", a_message())


def test_alerts_test_sends_one_message_and_reports_failures(
    workers: Workers, alerting: dict[str, str], sink: SmtpSink, receiver: HttpReceiver
) -> None:
    workers.env.update(alerting)
    done = workers.run("alerts:test", "email")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Test alert sent on email."
    assert [m["Subject"] for m in sink.messages] == ["[zwm] TEST: alert channel test"]
    assert sink.messages[0]["To"] == "ops@example.com"

    receiver.status[DISCORD_PATH] = 404
    done = workers.run("alerts:test", "discord")
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "zwm: error: test alert not delivered: discord: the webhook answered HTTP 404"
    )

    done = workers.run("alerts:test", "pager")
    assert done.returncode == 2

    workers.env["ZWM_ALERT_WEBHOOK_URL"] = ""
    done = workers.run("alerts:test", "webhook")
    assert done.returncode == 2
    assert "not configured" in done.stderr


def test_alerts_check_delivers_from_its_own_process(
    workers: Workers, alerting: dict[str, str], receiver: HttpReceiver
) -> None:
    """The watchdog path: no worker runs, yet "no worker is running" gets out."""
    Registration(name=None, connection="database", queues=["default"]).stopped(processed=0, failed=0)
    workers.env.update(alerting)
    done = workers.run("alerts:check", "--json")
    assert done.returncode == 0, done.stderr
    assert [b["key"] for b in receiver.bodies(HOOK_PATH)] == ["workers-silent"]
    assert workers.run("alerts:check").stdout.strip() == "Nothing to announce."
