"""The one job body every system runs, so that only the job system differs.

Plain functions of the standard library: each system wraps them in its own task or job
declaration (``peer_*.py``).
"""

from __future__ import annotations

import os
import time


def append(path: str, mark: str = ".", sleep: float = 0.0) -> None:
    """Append ``mark`` to ``path`` (one byte by default), after sleeping ``sleep`` seconds.

    ``sleep`` makes the job I/O-bound (a stand-in for an HTTP call); a ``{pid}`` in ``mark``
    becomes the id of the process running the job, so a crash scenario knows whom to kill.
    Appends of a few bytes to a file opened with ``O_APPEND`` are atomic, so any number of
    processes can share the file.
    """
    if sleep:
        time.sleep(sleep)
    if "{" in mark:
        mark = mark.replace("{pid}", str(os.getpid()))
    with open(path, "a") as out:
        out.write(mark)


def stamp(path: str, sent: float) -> None:
    """Append how long ago (seconds) the job was enqueued: the enqueue-to-start latency."""
    started = time.time()
    with open(path, "a") as out:
        out.write(f"{started - sent:.6f}\n")
