"""Log records: context in every line, secrets out of every line, plain or JSON.

Installed on the console handler by :func:`logging_config` (Django's ``LOGGING``, and the
CLI for commands that never start Django), so every record of every logger -- ours,
Django's, httpx's -- passes :class:`RedactFilter` before any handler writes it.

Context comes from two places: the job being run (:func:`zwm.queue.context.current`: id,
class, queue, attempt) and whatever a layer bound with :func:`zwm.logcontext.bind`
(the catalog binds the customer and the sync run).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from zwm import logcontext
from zwm.config import Config
from zwm.ops.redact import redact
from zwm.queue.context import current as current_job

CONTEXT_FIELDS = ("job_id", "job_class", "queue", "attempt", "customer", "sync_run")


def _context() -> dict[str, object]:
    fields: dict[str, object] = {}
    job = current_job()
    if job is not None:
        fields.update(job_id=job.job_id, job_class=job.job_class, queue=job.queue, attempt=job.attempt)
    fields.update(logcontext.current())
    return fields


class ContextFilter(logging.Filter):
    """Puts the context on the record as ``record.context`` (a dict, possibly empty)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = _context()
        return True


class RedactFilter(logging.Filter):
    """Renders the message, the traceback and the stack once, redacted, so that no
    formatter downstream can put a secret back (it formats what is left)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        context = getattr(record, "context", None)
        if isinstance(context, dict):
            record.context = {k: redact(v) if isinstance(v, str) else v for k, v in context.items()}
        return True


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message {job_id=... queue=...}`` -- greppable for "job", "sync"."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, "context", None)
        if context:
            inline = " ".join(f"{key}={context[key]}" for key in CONTEXT_FIELDS if key in context)
            head, sep, tail = line.partition("\n")
            line = f"{head} {{{inline}}}{sep}{tail}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(getattr(record, "context", None) or {})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str)


def logging_config(config: Config) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of every zwm process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter},
            "redact": {"()": RedactFilter},
        },
        "formatters": {"plain": {"()": PlainFormatter}, "json": {"()": JsonFormatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": config.log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": config.log_level},
        # httpx logs every request at INFO: one line per Zuora call drowns the worker's own lines.
        "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
    }
