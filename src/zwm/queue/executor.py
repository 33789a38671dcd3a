"""Running one job: in this process, or in an executor child process that can be killed.

Why a child process: a timeout that only raises an exception (a signal, an async
exception in a thread) does not stop a job stuck in C code or a socket read, and a job
that leaks memory or crashes the interpreter takes the worker with it. The worker therefore
keeps one long-lived child per worker process, forked once and fed jobs over a pipe: the
pipe costs tens of microseconds per job, where a fork per job costs milliseconds (RQ's
design), so no-op throughput stays high. When a job outlives its timeout the worker
SIGKILLs the child's whole process group (the job's own subprocesses too) and forks a fresh
one; when the child dies on its own under a job (segfault, ``os._exit``, the OOM killer)
the job fails with that reason and a new child is forked. A child found dead between jobs
is replaced before the next one is sent: nothing was running in it, so nothing fails.

Requests are pipelined: :meth:`Executor.submit` sends several jobs in one message, the child
runs them in order and streams one result per job back, and :meth:`Executor.next_result`
waits for them one at a time. Each job's timeout runs from the arrival of the previous
job's result (when the child started it, give or take the pipe), so no extra message is
needed to say "started". A round trip per job cost more than a no-op job itself; per
batch it is noise. Framing is the pipe's length-prefixed messages carrying JSON (never
pickle: a job's data must not be able to execute code in the worker).

The child ignores SIGINT/SIGTERM -- the worker decides when to stop, after the current
job -- and asks the kernel to SIGKILL it when the worker dies, so a job never keeps running
unsupervised after its worker was killed (its lease lapses and another worker runs it).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import Any, Literal

from zwm.queue.context import JobContext, activate, deactivate
from zwm.queue.failed import FailureInfo
from zwm.queue.job import Envelope, Job, PayloadError

log = logging.getLogger("zwm.queue")

Status = Literal["succeeded", "failed", "timed_out", "crashed"]


class JobTimedOut(Exception):
    """The job ran longer than its timeout and its process was killed."""


class ExecutorCrashed(Exception):
    """The process running the job died under it (a signal, ``os._exit``, the OOM killer)."""


class PoisonJob(Exception):
    """The job's workers were lost while holding it too many times: it is likely what kills them."""


_HOOK_EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls for cls in (JobTimedOut, ExecutorCrashed, PoisonJob)
}


@dataclass
class Result:
    """How one execution ended, in a form that crosses the pipe as JSON."""

    status: Status
    failure: FailureInfo | None = None
    dont_retry: bool = False
    """The exception is one the job declares non-retryable, or the payload is unusable."""
    hook_ran: bool = False
    """``Job.failed()`` was already called (the attempt was final)."""
    progress: int | None = None

    def to_json(self) -> dict[str, Any]:
        failure = None
        if self.failure is not None:
            failure = {
                "type": self.failure.type,
                "message": self.failure.message,
                "tb": self.failure.traceback,
            }
        return {
            "status": self.status,
            "failure": failure,
            "dont_retry": self.dont_retry,
            "hook_ran": self.hook_ran,
            "progress": self.progress,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        raw = data.get("failure")
        failure = FailureInfo(raw["type"], raw["message"], raw["tb"]) if raw else None
        return cls(data["status"], failure, data["dont_retry"], data["hook_ran"], data.get("progress"))


def _call_failed_hook(job: Job, exc: BaseException) -> None:
    """``Job.failed`` must not turn one failure into two: its own errors are only logged."""
    try:
        job.failed(exc)
    except Exception:
        log.exception("failed() hook of %s raised", type(job).class_path())


def execute(
    envelope: Envelope,
    *,
    connection: str,
    max_tries: int,
    reporter: Callable[[int], None] | None = None,
) -> tuple[Result, BaseException | None]:
    """Run ``envelope``'s job here and now; never raises what the job raises.

    ``Job.failed()`` is called here when this attempt is the job's last (out of tries, or
    a ``dont_retry`` exception), while the exception object still exists. The exception is
    returned too, for a caller in the same process that wants to re-raise it.
    """
    context = JobContext(
        job_id=envelope.id,
        attempt=envelope.attempts,
        connection=connection,
        queue=envelope.queue,
        batch_id=envelope.batch_id,
        max_tries=max_tries,
        job_class=envelope.job,
        _reporter=reporter,
    )
    job: Job | None = None
    token = activate(context)
    try:
        job = envelope.build()
        job.context = context
        job.handle()
    except Exception as exc:
        dont_retry = isinstance(exc, PayloadError) or (
            job is not None and isinstance(exc, type(job).dont_retry)
        )
        final = dont_retry or envelope.attempts >= max_tries
        if final and job is not None:
            _call_failed_hook(job, exc)
        failure = FailureInfo.from_exception(exc)
        return Result("failed", failure, dont_retry, final and job is not None, context.progress), exc
    finally:
        deactivate(token)
    return Result("succeeded", progress=context.progress), None


def run_failed_hook(envelope: Envelope, exc_type: str, message: str) -> None:
    """Call ``Job.failed()`` for a failure that happened outside the job (timeout, crash)."""
    try:
        job = envelope.build()
    except PayloadError:
        return
    _call_failed_hook(job, _HOOK_EXCEPTIONS.get(exc_type, ExecutorCrashed)(message))


# -- the child process -----------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel SIGKILL us when the worker dies (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(0)


def _reset_db_connections() -> None:
    """Drop connections a job left broken, so the next job starts on a healthy one.

    Healthy connections are kept across jobs: reconnecting per job would cost more than
    most jobs do.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and (conn.errors_occurred or conn.in_atomic_block):
            if conn.in_atomic_block or not conn.is_usable():
                conn.close()
            conn.errors_occurred = False


def _child_main(channel: Connection, parent_pid: int) -> None:
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # a group of its own: a timeout kills what the job started, too
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    random.seed()  # do not share the parent's random sequence (jitter)

    def report(percent: int) -> None:
        channel.send_bytes(json.dumps({"progress": percent}).encode())

    while True:
        try:
            batch = json.loads(channel.recv_bytes())
        except (EOFError, OSError):
            return
        for message in batch:
            channel.send_bytes(json.dumps(_serve(message, report)).encode())


def _serve(message: dict[str, Any], report: Callable[[int], None]) -> dict[str, Any]:
    """One request in the child: run a job, or call a ``failed()`` hook."""
    # The envelope travels as a JSON object inside the request, not as a JSON string: one
    # encode in the worker and one decode here, instead of two of each per job.
    envelope = Envelope.from_dict(message["envelope"])
    reply: dict[str, Any]
    if message["op"] == "run":
        result, _ = execute(
            envelope, connection=message["connection"], max_tries=message["max_tries"], reporter=report
        )
        reply = {"result": result.to_json()}
    else:
        run_failed_hook(envelope, message["type"], message["message"])
        reply = {"result": None}
    _reset_db_connections()
    return reply


_OPEN: set[Connection] = set()
"""This process's ends of the pipes to its live executor children. A child forked later
closes its copies of them: a sibling holding one would keep that pipe open after the
worker closed it, and the child behind it would never see the end of its input."""


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"killed by signal {number} ({signal.Signals(number).name})"
        return f"killed by signal {number}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


class Executor:
    """The worker's side of one executor child: send jobs, wait for each, kill on timeout."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._channel: Connection | None = None
        self._in_flight = 0
        self._exit_status: int | None = None
        """How the child ended, when :meth:`_exited` reaped it before :meth:`_reap` ran."""
        self._since = 0.0
        """When the child started the request at the head of the pipeline (monotonic)."""

    @property
    def in_flight(self) -> int:
        """Requests sent whose result has not been read yet."""
        return self._in_flight

    def _spawn(self) -> None:
        from django.db import connections

        # The child must not share the parent's database sockets: close them so both
        # processes reconnect on their own (closing an inherited one in the child would
        # end the parent's session).
        connections.close_all()
        ours, theirs = Pipe(duplex=True)
        parent_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the worker tests
            code = 0
            try:
                ours.close()
                for sibling in _OPEN:
                    sibling.close()
                _child_main(theirs, parent_pid)
            except BaseException:
                log.exception("executor process crashed")
                code = 70
            finally:
                os._exit(code)
        theirs.close()
        _OPEN.add(ours)
        with contextlib.suppress(OSError):  # also here: whichever runs first makes the group
            os.setpgid(pid, pid)
        self.pid, self._channel = pid, ours
        log.debug("executor process %d started", pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid) if self.pid is not None else 0

    def submit(self, messages: Sequence[dict[str, Any]]) -> None:
        """Send requests for the child to run in order, in one message; read each result
        with :meth:`next_result`. A crash or a timeout loses the requests behind the one
        that failed (:attr:`in_flight` drops to 0): the caller submits them again."""
        if not messages:
            return
        if self._channel is not None and self._in_flight == 0 and self._exited():
            log.warning("executor process %s while idle; starting a new one", self._reap())
        if self._channel is None:
            self._spawn()
        assert self._channel is not None
        if self._in_flight == 0:
            self._since = time.monotonic()
        self._in_flight += len(messages)
        with contextlib.suppress(OSError):  # the child is gone: next_result reports the crash
            self._channel.send_bytes(json.dumps(messages).encode())

    @property
    def channel(self) -> Connection | None:
        """The pipe to the child (``None`` before the first submit), for waiting on several
        executors at once (:func:`multiprocessing.connection.wait`)."""
        return self._channel

    @property
    def started_at(self) -> float:
        """When the child started the request at the head of the pipeline (monotonic)."""
        return self._since

    def poll(
        self, *, timeout: float | None, on_progress: Callable[[int], None]
    ) -> tuple[bool, Result | None]:
        """Without blocking: ``(True, result)`` once the oldest request in flight has ended --
        the child's result (``None`` for a hook request), a ``timed_out`` result after
        killing the child, or a ``crashed`` result if the child died -- else ``(False, None)``.

        ``timeout`` counts from when the child started that request (the previous result's
        arrival).
        """
        assert self._channel is not None, "nothing was submitted"
        assert self._in_flight > 0, "nothing was submitted"
        channel = self._channel
        try:
            while channel.poll(0):
                reply = json.loads(channel.recv_bytes())
                if "progress" in reply:
                    on_progress(int(reply["progress"]))
                    continue
                self._in_flight -= 1
                self._since = time.monotonic()
                raw = reply["result"]
                return True, None if raw is None else Result.from_json(raw)
        except (EOFError, OSError):
            reason = self._reap()
            return True, Result(
                "crashed", FailureInfo(_qualified(ExecutorCrashed), f"executor process {reason}")
            )
        if timeout is not None and time.monotonic() >= self._since + timeout:
            self.kill()
            return True, Result(
                "timed_out", FailureInfo(_qualified(JobTimedOut), f"timed out after {timeout:g} s")
            )
        return False, None

    def next_result(
        self,
        *,
        timeout: float | None,
        tick: Callable[[], None],
        on_progress: Callable[[int], None],
        tick_every: float = 0.25,
    ) -> Result | None:
        """Wait for the result of the oldest request in flight (see :meth:`poll`), calling
        ``tick`` while waiting.

        ``tick`` (which renews the leases) runs every ``tick_every`` seconds by the clock,
        not only when the pipe is quiet: a job that reports progress many times a second
        must not starve its own heartbeat and lose its lease.
        """
        next_tick = time.monotonic() + tick_every
        while True:
            done, result = self.poll(timeout=timeout, on_progress=on_progress)
            if done:
                return result
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + tick_every
                tick()
                now = time.monotonic()
            wait = next_tick - now if timeout is None else min(next_tick, self._since + timeout) - now
            assert self._channel is not None
            with contextlib.suppress(EOFError, OSError):  # poll() reads the crash next
                self._channel.poll(max(0.0, wait))

    def run(
        self,
        message: dict[str, Any],
        *,
        timeout: float | None,
        tick: Callable[[], None],
        on_progress: Callable[[int], None],
        tick_every: float = 0.25,
    ) -> Result | None:
        """Send one request and wait for its reply (nothing else may be in flight)."""
        assert self._in_flight == 0, "a pipelined batch is still in flight"
        self.submit([message])
        return self.next_result(timeout=timeout, tick=tick, on_progress=on_progress, tick_every=tick_every)

    def _exited(self) -> bool:
        """Has the child died? (Reaped if so; :meth:`_reap` then reports how.)"""
        assert self.pid is not None
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            self._exit_status = status
        return bool(done)

    def kill(self) -> None:
        """SIGKILL the child and every process of its group (a job past its timeout, and
        whatever it started); the next job forks a new one."""
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        self._reap()

    def _close_channel(self) -> None:
        if self._channel is not None:
            _OPEN.discard(self._channel)
            self._channel.close()
            self._channel = None

    def _reap(self) -> str:
        reason = "died"
        self._in_flight = 0
        self._close_channel()
        if self.pid is not None:
            status = self._exit_status
            if status is None:
                with contextlib.suppress(ChildProcessError):
                    _, status = os.waitpid(self.pid, 0)
            if status is not None:
                reason = _describe_exit(status)
            self.pid, self._exit_status = None, None
        return reason

    def close(self, grace: float = 5.0) -> None:
        """Stop the child: closing the pipe makes an idle child exit; a stuck one is killed."""
        if self.pid is None:
            return
        self._in_flight = 0
        self._close_channel()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done = self.pid
            if done:
                self.pid = None
                return
            time.sleep(0.01)
        self.kill()


def _qualified(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
