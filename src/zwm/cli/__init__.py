"""The ``zwm`` command line.

Commands live in one module per concern (``core``, ``queue``, ``zuora``, ``catalog``); this
module only assembles them into one :mod:`click` group and turns the errors every command
can meet (a bad setting, an unreachable service) into a one-line message and an exit code:
0 success, 1 the operation failed, 2 usage error.
"""

from __future__ import annotations

import importlib
import sys

import click

from zwm import __version__
from zwm.cli.base import OperationFailed
from zwm.config import ConfigError

COMMAND_MODULES = (
    "zwm.cli.core",
    "zwm.cli.queue",
    "zwm.cli.schedule",
    "zwm.cli.zuora",
    "zwm.cli.catalog",
    "zwm.cli.ops",
    "zwm.cli.web",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="zwm")
def cli() -> None:
    """Zuora Workflow Manager: catalog every Zuora Workflow of every tenant, kept in sync."""
    _configure_logging()


def _configure_logging() -> None:
    """The same log handling (context, redaction, ZWM_LOG_FORMAT) for commands that never
    start Django as for those that do (Django applies it again, identically, at set-up).
    Left alone when the host process already has handlers (a test runner, an embedding
    application) or when the settings are unusable (the command reports that itself)."""
    import logging
    import logging.config

    from zwm.config import get_config
    from zwm.ops.logs import logging_config

    if logging.getLogger().handlers:
        return
    try:
        logging.config.dictConfig(logging_config(get_config()))
    except ConfigError:
        return


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not built yet
                continue
            raise
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register()


def _unavailable(exc: Exception) -> str | None:
    """One line for a database or queue server that cannot serve the command, else None.

    The classes are looked up in ``sys.modules`` rather than imported: a command that never
    loaded Django or the Redis driver cannot have raised their errors, and importing them
    here would slow down every command, ``--help`` included. Connection failures and a
    missing schema are the operator's to fix, so they get the reason, not a traceback.
    """
    db = sys.modules.get("django.db")
    if db is not None and isinstance(exc, db.OperationalError | db.ProgrammingError):
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        return f"database: {reason} (is the server up, and the schema migrated with `zwm migrate`?)"
    safety = sys.modules.get("zwm.queue.redis_safety")
    if safety is not None and isinstance(exc, safety.QueueConnectionError):
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``zwm`` console script."""
    try:
        cli.main(args=argv, prog_name="zwm", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"zwm: configuration error: {exc}", err=True)
        sys.exit(2)
    except OperationFailed as exc:
        click.echo(f"zwm: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        reason = _unavailable(exc)
        if reason is None:
            raise
        click.echo(f"zwm: error: {reason}", err=True)
        sys.exit(1)
    sys.exit(0)
