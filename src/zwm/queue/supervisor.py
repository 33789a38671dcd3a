"""``queue:work --processes N``: N worker processes, kept running.

The supervisor is a plain process manager with no database access of its own: it starts
``zwm queue:work`` N times (fresh interpreters, so a restart also loads new code), restarts
a worker that exits -- at once after a planned exit (``--max-jobs``, ``--max-time``,
``--memory``, ``queue:restart``), with exponential backoff when a worker keeps crashing
soon after it started -- forwards SIGTERM/SIGINT to every worker and exits once all have
stopped. With ``--stop-when-empty`` or ``--once`` a worker that exits cleanly is done and
is not restarted.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("zwm.queue")

STABLE_AFTER = 10.0
"""A worker that ran at least this long before exiting is not crash-looping."""
MAX_BACKOFF = 60.0


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    crashes: int = 0
    done: bool = False


class Supervisor:
    def __init__(
        self, worker_args: list[str], processes: int, *, name: str, restart_clean_exits: bool
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.worker_args = worker_args
        self.name = name
        self.restart_clean_exits = restart_clean_exits
        self.slots = [_Slot(i + 1) for i in range(processes)]
        self.stopping = False

    def _command(self, slot: _Slot) -> list[str]:
        return [
            sys.executable,
            "-m",
            "zwm",
            "queue:work",
            *self.worker_args,
            "--name",
            f"{self.name}-{slot.index}",
        ]

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(self._command(slot))
        slot.started = time.monotonic()
        log.info("supervisor: worker %d started (pid %d)", slot.index, slot.process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signum)

    def _exited(self, slot: _Slot, code: int) -> None:
        ran = time.monotonic() - slot.started
        slot.process = None
        log.log(
            logging.INFO if code == 0 else logging.WARNING,
            "supervisor: worker %d exited with code %d after %.1f s",
            slot.index,
            code,
            ran,
        )
        if self.stopping:
            slot.done = True
            return
        if code == 0 and not self.restart_clean_exits:
            slot.done = True
            return
        if code in (0, 12) or ran >= STABLE_AFTER:
            slot.crashes = 0
            slot.restart_at = time.monotonic()
            return
        slot.crashes += 1
        delay = min(MAX_BACKOFF, 0.5 * 2 ** (slot.crashes - 1))
        log.warning("supervisor: worker %d is crashing; restarting in %.1f s", slot.index, delay)
        slot.restart_at = time.monotonic() + delay

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._start(slot)
            while not all(slot.done for slot in self.slots):
                for slot in self.slots:
                    if slot.process is not None:
                        code = slot.process.poll()
                        if code is not None:
                            self._exited(slot, code)
                    elif not slot.done and not self.stopping and time.monotonic() >= slot.restart_at:
                        self._start(slot)
                    elif self.stopping:
                        slot.done = True
                time.sleep(0.1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
