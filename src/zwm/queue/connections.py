"""Queue connections by name: ``database``, ``redis`` and ``sync``.

One driver per name and per process: drivers hold connections (a LISTEN socket, a Redis
pool) that are costly to open and must not be shared across ``fork``, so the cache is
dropped in a forked child. Drivers are imported lazily, so using the database queue never
imports Redis code. The ``sync`` connection runs jobs in the dispatching process, so it is
provided from above by :mod:`zwm.queue.inprocess` (:func:`register_connection`), which the
app's ``ready()`` loads: nothing here or in the drivers imports the code that runs jobs.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from typing import cast

from zwm.config import QUEUE_CONNECTIONS, get_config
from zwm.queue.drivers.base import Driver


class UnknownConnection(ValueError):
    """A queue connection name that is not configured."""


def _database() -> Driver:
    from zwm.queue.drivers.database import DatabaseDriver

    return DatabaseDriver(using="default", name="database")


def _redis() -> Driver:
    module = importlib.import_module("zwm.queue.drivers.redis")
    return cast(Driver, module.RedisDriver.from_config(get_config()))


_BUILDERS: dict[str, Callable[[], Driver]] = {"database": _database, "redis": _redis}


def register_connection(name: str, builder: Callable[[], Driver]) -> None:
    """Provide connection ``name`` (one of the configured names) from a layer above this one."""
    if name not in QUEUE_CONNECTIONS:
        raise UnknownConnection(f"{name!r} is not a queue connection name")
    _BUILDERS[name] = builder


_lock = threading.Lock()
_drivers: dict[str, Driver] = {}
_pid = os.getpid()


def check_connection(name: str) -> str:
    """Return ``name`` if it is a queue connection, else raise :class:`UnknownConnection`."""
    if name not in QUEUE_CONNECTIONS:
        known = ", ".join(QUEUE_CONNECTIONS)
        raise UnknownConnection(f"unknown queue connection {name!r} (known: {known})")
    return name


def get_driver(name: str | None = None) -> Driver:
    """The driver of connection ``name`` (default: ``QUEUE_CONNECTION``), created once."""
    global _pid
    name = check_connection(name or get_config().queue_connection)
    with _lock:
        if _pid != os.getpid():  # forked: the parent's sockets are not ours to use
            _drivers.clear()
            _pid = os.getpid()
        driver = _drivers.get(name)
        if driver is None:
            driver = _drivers[name] = _BUILDERS[name]()
        return driver


def close_drivers() -> None:
    """Close and forget every driver of this process (worker shutdown, tests)."""
    with _lock:
        drivers = list(_drivers.values())
        _drivers.clear()
    for driver in drivers:
        driver.close()
