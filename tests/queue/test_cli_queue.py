"""The queue:* commands: results, --json, and one clear line plus the right exit code on bad input."""

from __future__ import annotations

import io
import json
import time

import pytest
from zwm_test_jobs import Mark

from zwm.cli import main
from zwm.queue import diagnostics
from zwm.queue.dispatch import dispatch
from zwm.queue.failed import FailureInfo, record_failure
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob, QueuedJob, QueueSignal

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def zwm(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def failed_job(queue: str = "default", message: str = "boom") -> FailedJob:
    return record_failure(
        Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue=queue),
        "database",
        FailureInfo("X", message),
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["queue:dispatch", "no.such.Job"], "cannot import module 'no.such'"),
        (["queue:dispatch", "zwm.queue.job.Envelope"], "is not a job class"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--args", "{nope"], "not valid JSON"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--args", "[1]"], "must be a JSON object"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--args", '{"x": 1}'], "arguments do not fit"),
        (["queue:dispatch", "zwm.queue.diagnostics.Sleep", "--args", '{"seconds": -1}'], "non-negative"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--count", "0"], "--count"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--delay", "-1"], "--delay"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--delay", "soon"], "--delay"),
        (["queue:dispatch", "zwm.queue.diagnostics.Noop", "--connection", "nope"], "--connection"),
        (["queue:work", "--tries", "0"], "--tries"),
        (["queue:work", "--timeout", "-1"], "--timeout"),
        (["queue:work", "--sleep", "abc"], "--sleep"),
        (["queue:work", "--backoff", "60,x"], "backoff"),
        (["queue:work", "--memory", "-5"], "--memory"),
        (["queue:work", "--queue", "high,,default"], "queue names"),
        (["queue:work", "--connection", "sync"], "sync connection"),
        (["queue:work", "--processes", "0"], "--processes"),
        (["queue:retry"], "give failed job IDs"),
        (["queue:retry", "--since", "yesterday"], "not a duration"),
        (["queue:retry", "all", "3"], "cannot be combined"),
        (["queue:flush", "--hours", "-1"], "--hours"),
        (["queue:prune-failed", "--hours", "x"], "--hours"),
        (["queue:prune-finished", "--hours", "-2"], "--hours"),
        (["queue:prune-batches", "--hours", "many"], "--hours"),
        (["queue:monitor", "--max", "-1"], "--max"),
        (["queue:pause"], "Missing argument"),
        (["queue:pause", "q" * 101], "queue names"),
        (["queue:resume", ""], "queue names"),
        (["queue:pause", "mail", "--connection", "sync"], "no queues"),
        (["queue:resume", "mail", "--connection", "nope"], "--connection"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = zwm(capsys, *args)
    assert code == 2, (out, err)
    assert needle in err
    assert "Traceback" not in err
    assert QueuedJob.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["queue:retry", "999"], "no failed job with id 999"),
        (["queue:forget", "999"], "no failed job with id 999"),
        (["queue:retry-batch", "nope"], "no batch with id nope"),
    ],
)
def test_unknown_ids_exit_1(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    code, _, err = zwm(capsys, *args)
    assert code == 1
    assert err.strip() == f"zwm: error: {needle}"


def test_dispatch_queues_jobs_with_queue_delay_and_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = zwm(
        capsys, "queue:dispatch", "zwm.queue.diagnostics.Sleep", "--args", '{"seconds": 0.5}',
        "--count", "3", "--queue", "ops", "--delay", "60", "--json",
    )  # fmt: skip
    assert code == 0
    queued = json.loads(out)["queued"]
    assert len(queued) == 3
    rows = QueuedJob.objects.filter(uuid__in=queued)
    assert {r.queue for r in rows} == {"ops"}
    assert all(r.available_at > time.time() + 50 for r in rows)
    assert json.loads(rows[0].payload)["args"] == {"seconds": 0.5}


def test_failed_lists_without_payloads_and_filters_by_queue(capsys: pytest.CaptureFixture[str]) -> None:
    first = failed_job("default", "first")
    failed_job("other", "second")

    code, out, _ = zwm(capsys, "queue:failed", "--queue", "default", "--json")

    assert code == 0
    listed = json.loads(out)
    assert [row["uuid"] for row in listed] == [first.uuid]
    assert listed[0]["exception_message"] == "first"
    assert "payload" not in listed[0]
    code, out, _ = zwm(capsys, "queue:failed")
    assert code == 0
    assert "first" in out
    assert "second" in out


def test_retry_forget_flush(capsys: pytest.CaptureFixture[str]) -> None:
    one, two, three = failed_job(), failed_job(), failed_job("other")

    assert zwm(capsys, "queue:retry", str(one.id))[0] == 0
    assert QueuedJob.objects.filter(uuid=one.uuid, attempts=0).exists()
    code, out, _ = zwm(capsys, "queue:retry", "--range", "1 hour ago", "--queue", "other", "--json")
    assert code == 0
    assert json.loads(out) == {"retried": [three.uuid]}
    assert zwm(capsys, "queue:forget", two.uuid)[0] == 0
    assert not FailedJob.objects.exists()

    failed_job()
    code, out, _ = zwm(capsys, "queue:flush")
    assert (code, out.strip()) == (0, "Deleted 1 failed job(s).")


def test_monitor_json_and_max_alert(capsys: pytest.CaptureFixture[str]) -> None:
    dispatch(diagnostics.Noop(), queue="busy")
    dispatch(diagnostics.Noop(), queue="busy", delay=60)
    failed_job("busy")

    code, out, _ = zwm(capsys, "queue:monitor", "busy,idle", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["queues"] == {
        "busy": {"waiting": 1, "delayed": 1, "reserved": 0, "failed": 1},
        "idle": {"waiting": 0, "delayed": 0, "reserved": 0, "failed": 0},
    }
    assert data["totals"] == {"succeeded": 0, "failed": 0, "failed_jobs": 1}

    code, out, err = zwm(capsys, "queue:monitor", "busy", "--max", "0")
    assert code == 1
    assert "ALERT: queue busy has 1 waiting jobs (max 0)" in err
    assert zwm(capsys, "queue:monitor", "busy", "--max", "1")[0] == 0


def test_clear_needs_confirmation_or_force(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch(Mark("/dev/null"), queue="junk")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no answer: not confirmed
    code, _, err = zwm(capsys, "queue:clear", "junk")
    assert code == 1
    assert "Aborted" in err
    assert QueuedJob.objects.count() == 1
    code, out, _ = zwm(capsys, "queue:clear", "junk", "--force")
    assert (code, out.strip()) == (0, "Cleared 1 job(s) from queue junk.")
    assert QueuedJob.objects.count() == 0


def test_restart_and_prune_commands(capsys: pytest.CaptureFixture[str]) -> None:
    before = time.time()
    assert zwm(capsys, "queue:restart")[0] == 0
    assert QueueSignal.objects.get(name="restart").value >= before
    for command in ("queue:prune-failed", "queue:prune-finished", "queue:prune-batches"):
        code, out, _ = zwm(capsys, command, "--hours", "1")
        assert code == 0
        assert out.startswith("Deleted 0")


def test_pause_and_resume_a_queue(capsys: pytest.CaptureFixture[str]) -> None:
    from zwm.queue.models import PausedQueue

    assert zwm(capsys, "queue:pause", "mail")[:2] == (
        0,
        "Queue mail paused: workers skip it until it is resumed.\n",
    )
    assert zwm(capsys, "queue:pause", "mail")[1] == "Queue mail was already paused.\n"
    assert list(PausedQueue.objects.values_list("name", flat=True)) == ["mail"]
    assert zwm(capsys, "queue:resume", "mail")[:2] == (0, "Queue mail resumed.\n")
    assert zwm(capsys, "queue:resume", "mail")[1] == "Queue mail was not paused.\n"
    assert not PausedQueue.objects.exists()
