"""The database server's clock, for the database driver's leases and delays.

Leases, retry backoffs and delays are epoch times compared by every worker host. Read
from each host's own clock, a host running ahead would see live leases as lapsed (and
steal running jobs) and backoffs as over (and run retries early). The Redis driver reads
the server's ``TIME`` inside its scripts; the database driver gets the same effect with
no extra round trip per call: it measures the offset between the server's clock and this
host's once, then every :data:`REFRESH` seconds (a host whose clock is stepped is followed
within that), and adds it to the local clock.
"""

from __future__ import annotations

import time

from django.db import connections

REFRESH = 30.0
"""Seconds between two measurements of the offset."""

_SERVER_NOW = {
    "postgresql": "SELECT extract(epoch FROM clock_timestamp())",
    "mysql": "SELECT UNIX_TIMESTAMP(NOW(6))",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


class ServerClock:
    """Epoch seconds by the clock of the database behind ``using``."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.offset = 0.0
        """Server clock minus this host's, as last measured."""
        self._due = 0.0

    def now(self) -> float:
        """For what decides a lease, a delay or a lock: measured again when due."""
        if time.monotonic() >= self._due:
            self.measure()
        return time.time() + self.offset

    def estimate(self) -> float:
        """For what is only shown or polled (counts, listings, idle waits): the last measured
        offset, no query -- a page that counts jobs costs no extra round trip."""
        return time.time() + self.offset

    def measure(self) -> None:
        connection = connections[self.using]
        with connection.cursor() as cursor:
            before = time.time()
            cursor.execute(_SERVER_NOW[connection.vendor])
            after = time.time()
            server = float(cursor.fetchone()[0])
        self.offset = server - (before + after) / 2
        self._due = time.monotonic() + REFRESH
