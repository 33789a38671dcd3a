"""Jobs and a helper for the dashboard's browser tests (imported by the app's workers).

``python -m dashboard_jobs batch N SECONDS`` dispatches a batch of N sleeping jobs and
prints its id: the browser tests' app has its own database, so they queue through it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from zwm.queue.job import Job


@dataclass
class FailsUntilFileExists(Job):
    """Fails while ``path`` does not exist: an operator's fix, then a retry, makes it pass."""

    path: str

    def handle(self) -> None:
        if not Path(self.path).exists():
            raise RuntimeError(f"waiting for {self.path}")


def main(argv: list[str]) -> None:
    from zwm.cli.base import setup_django

    setup_django()
    from zwm.queue.batches import Batch
    from zwm.queue.diagnostics import Sleep

    _, count, seconds = argv
    print(Batch([Sleep(float(seconds)) for _ in range(int(count))], name="browser batch").dispatch())


if __name__ == "__main__":
    main(sys.argv[1:])
