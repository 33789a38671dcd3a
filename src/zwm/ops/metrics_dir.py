"""Where the processes of one installation share their metric values.

``prometheus_client``'s multi-process mode keeps each process's counters in memory-mapped
files of one directory and sums them when ``/metrics`` is scraped: workers, the scheduler
and every web process count into it, whichever of them serves the scrape. The library reads
``PROMETHEUS_MULTIPROC_DIR`` when it is first imported, so this runs before that import
(from the app's ``ready()``): an operator's own value wins, else ``$ZWM_DATA_DIR/metrics``.
"""

from __future__ import annotations

import os
from pathlib import Path

from zwm.config import get_config

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> Path:
    """Make sure the directory is chosen (in the environment, inherited by children) and exists."""
    path = Path(os.environ.get(VARIABLE) or get_config().data_dir / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    os.environ[VARIABLE] = str(path)
    return path


def current() -> Path:
    return Path(os.environ[VARIABLE])
