"""``queue:work --processes N``: N workers, restarted when they die, stopped together."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from workerkit import Workers, lines, wait_for
from zwm_test_jobs import Mark

from zwm.queue.dispatch import dispatch_many
from zwm.queue.models import Worker

pytestmark = [pytest.mark.backends]


def live_pids() -> set[int]:
    return set(Worker.objects.exclude(status="stopped").values_list("pid", flat=True))


def two_live() -> set[int] | None:
    pids = live_pids()
    return pids if len(pids) == 2 else None


def test_starts_n_workers_restarts_a_dead_one_and_forwards_sigterm(workers: Workers) -> None:
    supervisor = workers.start("queue:work", "--processes", "2", "--sleep", "0.2", "--name", "pool")
    first = wait_for(two_live, what="two workers")
    assert set(Worker.objects.values_list("name", flat=True)) == {"pool-1", "pool-2"}

    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: Worker.objects.exclude(status="stopped").exclude(pid__in=first).exists(),
        what="a replacement worker",
    )
    code, _, err = workers.stop(supervisor, timeout=30)

    assert code == 0, err
    for pid in live_pids() - {victim}:  # every worker still registered as live must be gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert Worker.objects.exclude(pid=victim).exclude(status="stopped").count() == 0


def test_stop_when_empty_pool_exits_when_the_work_is_done(workers: Workers, marker: Path) -> None:
    dispatch_many([Mark(str(marker)) for _ in range(40)])

    result = workers.work("--processes", "2", "--stop-when-empty", "--sleep", "0.2")

    assert result.returncode == 0, result.stderr
    assert len(lines(marker)) == 40
    assert Worker.objects.filter(status="stopped").count() == 2


def test_queue_restart_makes_the_pool_replace_its_workers(workers: Workers) -> None:
    supervisor = workers.start("queue:work", "--processes", "2", "--sleep", "0.2")
    before = wait_for(two_live, what="two workers")

    assert workers.run("queue:restart").returncode == 0

    wait_for(lambda: len(live_pids() - before) == 2, timeout=30, what="two fresh workers")
    assert Worker.objects.filter(pid__in=before, status="stopped").count() == 2
    assert workers.stop(supervisor, timeout=30)[0] == 0
