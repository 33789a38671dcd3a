"""Every setting of the application, read once from the environment (and ``.env``).

Why one module: a setting read in ten places is ten chances to disagree on its default
or its parsing. Everything that configures ``zwm`` is a field of :class:`Config`, parsed
and validated here, so a bad value is reported once, at start-up, as a one-line
:class:`ConfigError` naming the variable -- never as a traceback from deep inside a worker.

Precedence: real environment variables win over the ``.env`` file of the current
directory (or the file named by ``ZWM_ENV_FILE``), which wins over the defaults below.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from dotenv import dotenv_values

QUEUE_CONNECTIONS = ("database", "redis", "sync")
FAILED_DRIVERS = ("database",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting has a value the application cannot use. The message names the variable."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    secret_key: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    queue_connection: str = "database"
    queue_after_commit: bool = True
    queue_failed_driver: str = "database"
    queue_prefix: str = "zwm"
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    log_level: str = "INFO"
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    zuora_timeout: float = 30.0
    zuora_concurrency: int = 16
    """Zuora requests in flight per tenant. Zuora allows 40 per tenant; 16 leaves 24 for the
    customer's other integrations, and is what a first sync of 1,000 workflows needs to finish
    in under 10 s at 100 ms per call (at 8 the calls alone take 1,000 x 0.1 / 8 = 12.5 s)."""
    zuora_page_length: int = 50
    zuora_max_retries: int = 5
    demo: bool = True
    sync_schedule: str = "0 * * * *"
    """Cron expression of the automatic "sync all customers"; empty disables it."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default).strip() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    from croniter import croniter

    value = env.get(name, default).strip()
    if value and not croniter.is_valid(value):
        raise ConfigError(
            f"{name} must be a cron expression such as '0 * * * *' (or empty to disable), got {value!r}"
        )
    return value


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    """``SECRET_KEY`` from the environment, else one generated once into the data directory.

    Generating it (rather than shipping a default) means no two installations share a key,
    and keeping it in the data directory means restarts keep sessions and encrypted
    secrets readable.
    """
    key = env.get("SECRET_KEY", "").strip()
    if key:
        if len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{(data_dir / 'zwm.sqlite3').resolve()}"
    scheme = url.split(":", 1)[0].lower()
    known = {"sqlite", "postgres", "postgresql", "pgsql", "mysql", "mariadb"}
    if ":" not in url or scheme not in known:
        raise ConfigError(
            f"DATABASE_URL must start with sqlite://, postgres:// or mysql:// (got scheme {scheme!r})"
        )
    return url


def _redis_url(env: Mapping[str, str]) -> str:
    url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0").strip()
    if not url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss://, unix:// or redis+sentinel://")
    return url


def load(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = None) -> Config:
    """Parse a configuration. ``environ`` defaults to ``os.environ`` merged over ``.env``."""
    if environ is None:
        path = env_file or os.environ.get("ZWM_ENV_FILE", ".env")
        file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        env: Mapping[str, str] = {**file_values, **os.environ}
    else:
        env = environ
    data_dir = Path(env.get("ZWM_DATA_DIR", "./var")).expanduser()
    secret_key = _secret_key(env, data_dir)
    keys = tuple(k.strip() for k in env.get("ZWM_ENCRYPTION_KEYS", "").split(",") if k.strip())
    hosts = tuple(h.strip() for h in env.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip())
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {log_level!r}")
    prefix = env.get("ZWM_QUEUE_PREFIX", "zwm").strip()
    if not prefix or any(c in prefix for c in "{}: "):
        raise ConfigError("ZWM_QUEUE_PREFIX must be non-empty and contain no braces, colons or spaces")
    page_length = int(_number(env, "ZWM_ZUORA_PAGE_LENGTH", 50, minimum=1, integer=True))
    if page_length > 50:
        raise ConfigError("ZWM_ZUORA_PAGE_LENGTH must be at most 50 (Zuora's maximum page length)")
    return Config(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        secret_key=secret_key,
        encryption_keys=keys,
        queue_connection=_choice(env, "QUEUE_CONNECTION", "database", QUEUE_CONNECTIONS),
        queue_after_commit=_bool(env, "QUEUE_AFTER_COMMIT", True),
        queue_failed_driver=_choice(env, "QUEUE_FAILED_DRIVER", "database", FAILED_DRIVERS),
        queue_prefix=prefix,
        redis_url=_redis_url(env),
        log_level=log_level,
        debug=_bool(env, "DEBUG", False),
        allowed_hosts=hosts,
        zuora_timeout=_number(env, "ZWM_ZUORA_TIMEOUT", 30.0, minimum=0.1, integer=False),
        zuora_concurrency=int(_number(env, "ZWM_ZUORA_CONCURRENCY", 16, minimum=1, integer=True)),
        zuora_page_length=page_length,
        zuora_max_retries=int(_number(env, "ZWM_ZUORA_MAX_RETRIES", 5, minimum=0, integer=True)),
        demo=_bool(env, "ZWM_DEMO", True),
        sync_schedule=_cron(env, "ZWM_SYNC_SCHEDULE", "0 * * * *"),
    )


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process-wide configuration, read on first use."""
    return load()
