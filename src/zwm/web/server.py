"""Serving the web app with gunicorn, the production WSGI server, from inside ``zwm``.

Run in-process (gunicorn's ``BaseApplication``) rather than as a ``gunicorn`` command so
that ``zwm web`` needs no second entry point and takes its settings from ``zwm.config``.
Threaded workers: most requests wait on the database, and a thread is cheaper than a
process on a small machine.
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from zwm.wsgi import application

        return application


def split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def check_bindable(bind: str) -> None:
    """Raise ``OSError`` now if ``bind`` cannot be listened on (busy port, unknown host),
    rather than letting the server die after start-up with a traceback."""
    host, port = split_bind(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def serve(bind: str, workers: int, threads: int) -> None:
    """Serve until SIGTERM/SIGINT (gunicorn finishes requests in flight, then exits)."""
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": "-",
            "errorlog": "-",
            "proc_name": "zwm-web",
        }
    ).run()
