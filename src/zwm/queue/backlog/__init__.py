"""The backlog of a queue connection: its waiting, delayed and reserved jobs, browsed with
filters for the dashboard, plus the connection's paused queues.

Drivers keep the hot path (push, reserve, acknowledge) lean; browsing -- filtering by job
class, searching payloads, counting honestly, pausing -- lives here, one implementation per
storage behind one interface (:class:`~zwm.queue.backlog.base.Backlog`), so the dashboard
and the CLI behave the same on the database and on Redis.
"""

from __future__ import annotations

from zwm.queue.backlog.base import Backlog, BacklogFilter, NoBacklog, PendingJob, State
from zwm.queue.connections import get_driver
from zwm.queue.drivers.base import Driver


def backlog_of(driver: Driver) -> Backlog:
    """The backlog stored by ``driver``."""
    from zwm.queue.drivers.database import DatabaseDriver

    if isinstance(driver, DatabaseDriver):
        from zwm.queue.backlog.database import DatabaseBacklog

        return DatabaseBacklog(driver)
    if type(driver).__name__ == "RedisDriver":  # not imported unless Redis is in use
        from zwm.queue.backlog.redis import RedisBacklog
        from zwm.queue.drivers.redis import RedisDriver

        assert isinstance(driver, RedisDriver)
        return RedisBacklog(driver)
    raise NoBacklog(f"the {driver.name} connection runs jobs when they are dispatched: it has no queues")


def backlog_for(connection: str | None = None) -> Backlog:
    """The backlog of ``connection`` (default ``QUEUE_CONNECTION``)."""
    return backlog_of(get_driver(connection))


__all__ = ["Backlog", "BacklogFilter", "NoBacklog", "PendingJob", "State", "backlog_for", "backlog_of"]
