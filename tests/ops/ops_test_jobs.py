"""Job classes the operations tests run in real workers (importable by the subprocesses)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from zwm.queue.job import Job


@dataclass
class FailsWhileFlagged(Job):
    """Fails for good while the file ``flag`` exists, quoting ``secret`` as a careless
    exception message would; succeeds once the flag is gone."""

    flag: str
    secret: str = ""

    tries = 1

    def handle(self) -> None:
        if os.path.exists(self.flag):
            raise RuntimeError(
                f"Zuora said no: client_secret={self.secret} Authorization: Bearer {self.secret}"
            )


@dataclass
class LogsASecret(Job):
    """Logs ``secret`` the careless ways a job might, then fails quoting it."""

    secret: str

    tries = 1

    def handle(self) -> None:
        log = logging.getLogger("zwm.catalog.services.sync")
        log.info("calling Zuora with client_secret=%s", self.secret)
        logging.getLogger("zwm.zuora.client").warning("retrying with Authorization: Bearer %s", self.secret)
        raise RuntimeError(f"Zuora rejected password={self.secret}")
