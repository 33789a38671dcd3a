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
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

QUEUE_CONNECTIONS = ("database", "redis", "sync")
FAILED_DRIVERS = ("database",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("plain", "json")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting has a value the application cannot use. The message names the variable."""


@dataclass(frozen=True)
class Config:
    """The parsed settings; each field is described by its :data:`SETTINGS` entry."""

    data_dir: Path
    database_url: str
    secret_key: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    queue_connection: str = "database"
    queue_after_commit: bool = True
    queue_failed_driver: str = "database"
    queue_prefix: str = "zwm"
    queue_max_recoveries: int = 3
    queue_concurrency: int = 16
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    log_level: str = "INFO"
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    zuora_timeout: float = 30.0
    zuora_concurrency: int = 16
    zuora_page_length: int = 50
    zuora_max_retries: int = 5
    zuora_allow_http: bool = False
    demo: bool = True
    sync_schedule: str = "0 * * * *"
    sync_max_delete_percent: float = 20.0
    sync_deadline: float = 1500.0
    sync_lock_wait: float = 5.0
    sync_version_history: int = 20
    sync_verify_hours: float = 24.0
    log_format: str = "plain"
    metrics_token: str = field(default="", repr=False)
    health_worker_stale: float = 60.0
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "zwm@localhost"
    smtp_url: str = field(default="", repr=False)
    alert_slack_webhook: str = field(default="", repr=False)
    alert_discord_webhook: str = field(default="", repr=False)
    alert_webhook_url: str = field(default="", repr=False)
    alert_window: float = 3600.0
    alert_backlog_age: float = 900.0
    alert_worker_silence: float = 300.0
    alert_sync_stale: float = 21600.0
    retain_finished_hours: float = 168.0
    retain_failed_hours: float = 72.0
    retain_sync_runs_hours: float = 720.0
    retain_schedule_runs_hours: float = 168.0
    retain_workflow_versions_hours: float = 8760.0
    http_bind: str = "127.0.0.1:8000"
    https: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


Parser = Callable[["Setting", str, Path], Any]
"""Turns one variable's raw text (its default when unset) into a value; ``Path`` is the data
directory, which a few defaults live in. Raises :class:`ConfigError` naming the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes, its default, what it means, how it is parsed.

    Why a table: the meaning sits next to the parsing, and ``docs/reference/settings.md`` is
    generated from it, so the documented default is the one the code uses.
    """

    variable: str
    attribute: str
    """The :class:`Config` field it fills."""
    default: str
    """The text used when the variable is unset, exactly as one would write it."""
    meaning: str
    parse: Parser
    documented_default: str = ""
    """What the reference shows when the effective default is computed (e.g. from the data dir)."""


def _path(setting: Setting, raw: str, data_dir: Path) -> Path:
    return Path(raw.strip() or setting.default).expanduser()


def _bool(setting: Setting, raw: str, data_dir: Path) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{setting.variable} must be true or false, got {raw!r}")


def _number(*, minimum: float, maximum: float | None = None, integer: bool, why_maximum: str = "") -> Parser:
    def parse(setting: Setting, raw: str, data_dir: Path) -> float:
        text = raw.strip() or setting.default
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{setting.variable} must be {kind}, got {raw!r}") from None
        if value != value:  # NaN: no comparison would refuse it
            raise ConfigError(f"{setting.variable} must be a number, got {raw!r}")
        if value < minimum:
            raise ConfigError(f"{setting.variable} must be at least {minimum:g}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{setting.variable} must be at most {maximum:g}{why_maximum}")
        return value

    return parse


def _choice(choices: tuple[str, ...], *, upper: bool = False) -> Parser:
    def parse(setting: Setting, raw: str, data_dir: Path) -> str:
        value = raw.strip() or setting.default
        value = value.upper() if upper else value
        if value not in choices:
            raise ConfigError(f"{setting.variable} must be one of {', '.join(choices)}; got {value!r}")
        return value

    return parse


def _list(setting: Setting, raw: str, data_dir: Path) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


_EVERY = re.compile(r"every\s+(?:(\d+)\s+)?(minute|hour)s?", re.IGNORECASE)
_EVERY_UNITS = {"minute": (60, "*/{n} * * * *", "* * * * *"), "hour": (24, "0 */{n} * * *", "0 * * * *")}


def _every(setting: Setting, value: str) -> str | None:
    """The seed's wording ("every 30 minutes", "every 2 hours", "every hour") as cron.

    Only intervals that divide the hour (or the day) are accepted: cron's ``*/7`` restarts
    at each hour, so "every 7 minutes" would silently mean something else.
    """
    match = _EVERY.fullmatch(value)
    if match is None:
        return None
    n = int(match.group(1) or 1)
    period, template, every_one = _EVERY_UNITS[match.group(2).lower()]
    if n < 1 or period % n:
        raise ConfigError(
            f"{setting.variable}: {value!r} does not divide the {'hour' if period == 60 else 'day'} "
            "evenly; use a cron expression instead"
        )
    return every_one if n == 1 else template.format(n=n)


def _cron(setting: Setting, raw: str, data_dir: Path) -> str:
    from croniter import croniter

    value = raw.strip()
    value = _every(setting, value) or value
    if value and not croniter.is_valid(value):
        raise ConfigError(
            f"{setting.variable} must be a cron expression such as '0 * * * *' or an interval such as "
            f"'every 30 minutes' (or empty to disable), got {value!r}"
        )
    return value


def _http_url(setting: Setting, raw: str, data_dir: Path) -> str:
    """A webhook URL: empty (channel off) or http(s) with a host. The value is never echoed:
    webhook URLs carry their secret in the path."""
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{setting.variable} must be an http:// or https:// URL (got scheme {parts.scheme!r})"
        )
    return value


def _smtp_url(setting: Setting, raw: str, data_dir: Path) -> str:
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            f"{setting.variable} must look like smtp://user:password@host:587 or smtps://... "
            f"(got scheme {parts.scheme!r})"
        )
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ConfigError(f"{setting.variable} has an invalid port") from None
    return value


def _addresses(setting: Setting, raw: str, data_dir: Path) -> tuple[str, ...]:
    addresses = _list(setting, raw, data_dir)
    for address in addresses:
        if "@" not in address:
            raise ConfigError(f"{setting.variable} must list email addresses, got {address!r}")
    return addresses


def _text(setting: Setting, raw: str, data_dir: Path) -> str:
    return raw.strip() or setting.default


def _token(setting: Setting, raw: str, data_dir: Path) -> str:
    token = raw.strip()
    if token and len(token) < 16:
        raise ConfigError(f"{setting.variable} must be at least 16 characters long (or empty to disable)")
    return token


def _queue_prefix(setting: Setting, raw: str, data_dir: Path) -> str:
    prefix = raw.strip()
    if not prefix or any(c in prefix for c in "{}: "):
        raise ConfigError(f"{setting.variable} must be non-empty and contain no braces, colons or spaces")
    return prefix


def parse_bind(value: str, name: str = "ZWM_HTTP_BIND") -> str:
    """Check a ``HOST:PORT`` listening address (``[::1]:8000`` for IPv6); return it stripped."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{name} must be HOST:PORT with a port from 1 to 65535, got {value!r}")
    return text


def _bind(setting: Setting, raw: str, data_dir: Path) -> str:
    return parse_bind(raw, setting.variable)


def _secret_key(setting: Setting, raw: str, data_dir: Path) -> str:
    """The given key, else one generated once into the data directory.

    Generating it (rather than shipping a default) means no two installations share a key,
    and keeping it in the data directory means restarts keep sessions and encrypted
    secrets readable.
    """
    key = raw.strip()
    if key:
        if len(key) < 32:
            raise ConfigError(f"{setting.variable} must be at least 32 characters long")
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


def _database_url(setting: Setting, raw: str, data_dir: Path) -> str:
    url = raw.strip()
    if not url:
        return f"sqlite:///{(data_dir / 'zwm.sqlite3').resolve()}"
    scheme = url.split(":", 1)[0].lower()
    known = {"sqlite", "postgres", "postgresql", "pgsql", "mysql", "mariadb"}
    if ":" not in url or scheme not in known:
        raise ConfigError(
            f"{setting.variable} must start with sqlite://, postgres:// or mysql:// (got scheme {scheme!r})"
        )
    return url


def _redis_url(setting: Setting, raw: str, data_dir: Path) -> str:
    url = raw.strip()
    if not url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://")):
        raise ConfigError(
            f"{setting.variable} must start with redis://, rediss://, unix:// or redis+sentinel://"
        )
    return url


DATA_DIR = Setting(
    "ZWM_DATA_DIR",
    "data_dir",
    "./var",
    "Directory of the SQLite database, the generated secret key and collected static files.",
    _path,
)

SETTINGS: tuple[Setting, ...] = (
    DATA_DIR,
    Setting(
        "DATABASE_URL",
        "database_url",
        "",
        "The database: `sqlite:///path`, `postgres://user:password@host:port/name` or "
        "`mysql://user:password@host:port/name` (MariaDB).",
        _database_url,
        documented_default="`sqlite:///$ZWM_DATA_DIR/zwm.sqlite3`",
    ),
    Setting(
        "SECRET_KEY",
        "secret_key",
        "",
        "Django's secret (sessions, CSRF), at least 32 characters; also derives the encryption "
        "key when `ZWM_ENCRYPTION_KEYS` is unset. Back it up: losing it loses the stored secrets.",
        _secret_key,
        documented_default="generated once into `$ZWM_DATA_DIR/secret_key`",
    ),
    Setting(
        "ZWM_ENCRYPTION_KEYS",
        "encryption_keys",
        "",
        "Comma-separated Fernet keys for secrets at rest: the first encrypts, every key decrypts "
        "(rotation: put a new key first, run `zwm customer:rotate-key`, then drop the old ones).",
        _list,
        documented_default="a key derived from `SECRET_KEY`",
    ),
    Setting(
        "QUEUE_CONNECTION",
        "queue_connection",
        "database",
        "Where jobs wait: `database` (the application database), `redis`, or `sync` "
        "(run each job at once, in the process that dispatches it).",
        _choice(QUEUE_CONNECTIONS),
    ),
    Setting(
        "QUEUE_AFTER_COMMIT",
        "queue_after_commit",
        "true",
        "Queue a job only once the surrounding database transaction commits, so a worker never "
        "sees a job whose data was rolled back.",
        _bool,
    ),
    Setting(
        "QUEUE_FAILED_DRIVER",
        "queue_failed_driver",
        "database",
        "Where failed jobs are kept (`database`).",
        _choice(FAILED_DRIVERS),
    ),
    Setting(
        "ZWM_QUEUE_PREFIX",
        "queue_prefix",
        "zwm",
        "Prefix of every Redis key of the queue, so several installations can share one Redis "
        "(no braces, colons or spaces).",
        _queue_prefix,
    ),
    Setting(
        "ZWM_QUEUE_MAX_RECOVERIES",
        "queue_max_recoveries",
        "3",
        "Times a job may be recovered from a worker lost while holding it (killed, out of memory, "
        "host gone) before it fails as poison. A recovery uses none of the job's tries; a job class "
        "can set its own `max_recoveries`.",
        _number(minimum=0, integer=True),
    ),
    Setting(
        "ZWM_QUEUE_CONCURRENCY",
        "queue_concurrency",
        "16",
        "Jobs a worker process runs at once unless `queue:work --concurrency` says, each in its own "
        "executor child (forked when there is work for it). The jobs queued here mostly wait on the "
        "network, where a waiting child costs memory, not CPU; 16 matches `ZWM_ZUORA_CONCURRENCY`.",
        _number(minimum=1, integer=True),
    ),
    Setting(
        "REDIS_URL",
        "redis_url",
        "redis://127.0.0.1:6379/0",
        "The Redis server of the `redis` queue: `redis://`, `rediss://` (TLS), `unix://` or "
        "`redis+sentinel://`, with user, password and database number (see [redis.md](../redis.md)).",
        _redis_url,
    ),
    Setting(
        "LOG_LEVEL",
        "log_level",
        "INFO",
        f"Level of the log lines written to standard error: {', '.join(LOG_LEVELS)}.",
        _choice(LOG_LEVELS, upper=True),
    ),
    Setting(
        "DEBUG",
        "debug",
        "false",
        "Django's debug mode (detailed error pages). Never in production.",
        _bool,
    ),
    Setting(
        "ALLOWED_HOSTS",
        "allowed_hosts",
        "127.0.0.1,localhost",
        "Comma-separated host names the web application answers to.",
        _list,
    ),
    Setting(
        "ZWM_ZUORA_TIMEOUT",
        "zuora_timeout",
        "30",
        "Seconds each phase of one Zuora HTTP request (connect, read, write) may take; a timeout is retried.",
        _number(minimum=0.1, integer=False),
    ),
    Setting(
        "ZWM_ZUORA_CONCURRENCY",
        "zuora_concurrency",
        "16",
        "Zuora requests in flight per tenant. Zuora allows 40 per tenant; 16 leaves 24 for the "
        "customer's other integrations, and is what a first sync of 1,000 workflows needs to finish "
        "in under 10 s at 100 ms per call (at 8 the calls alone take 1,000 x 0.1 / 8 = 12.5 s).",
        _number(minimum=1, integer=True),
    ),
    Setting(
        "ZWM_ZUORA_PAGE_LENGTH",
        "zuora_page_length",
        "50",
        "Workflows per page when listing a tenant's workflows (1 to 50, Zuora's maximum).",
        _number(minimum=1, maximum=50, integer=True, why_maximum=" (Zuora's maximum page length)"),
    ),
    Setting(
        "ZWM_ZUORA_MAX_RETRIES",
        "zuora_max_retries",
        "5",
        "Retries of one Zuora request after a timeout, a connection error, a 429 or a 500/502/503/504, "
        "with exponential backoff and jitter (honouring `Retry-After`).",
        _number(minimum=0, integer=True),
    ),
    Setting(
        "ZWM_ZUORA_ALLOW_HTTP",
        "zuora_allow_http",
        "false",
        "Accept plain-http Zuora base URLs, to loopback hosts only (`127.0.0.1`, `::1`, `localhost`): "
        "for the Zuora simulator and development, never for a real tenant -- the secret and the "
        "token would cross the wire unencrypted. `zwm up` turns it on for its demo.",
        _bool,
    ),
    Setting(
        "ZWM_DEMO",
        "demo",
        "true",
        "Whether `zwm up` starts the Zuora simulator with demo tenants and syncs their customers.",
        _bool,
    ),
    Setting(
        "ZWM_SYNC_SCHEDULE",
        "sync_schedule",
        "0 * * * *",
        'Cron expression of the automatic "sync all customers" (run by `zwm schedule:work` or '
        '`zwm schedule:run`), or an interval such as "every 30 minutes" or "every 2 hours"; '
        "empty disables it.",
        _cron,
    ),
    Setting(
        "ZWM_SYNC_MAX_DELETE_PERCENT",
        "sync_max_delete_percent",
        "20",
        "A sync that would delete more than this share (0 to 100) of a customer's workflows deletes "
        "none and records a warning; a full sync (`--full`) may. A listing that lost most of a "
        "catalog is more likely a fault than the truth.",
        _number(minimum=0, maximum=100, integer=False),
    ),
    Setting(
        "ZWM_SYNC_DEADLINE",
        "sync_deadline",
        "1500",
        "Seconds one sync of one customer may run, whoever started it (queue, `--sync`, batch): "
        "past it the sync stops, keeps what it exported and fails, so no run stays running. Below "
        "the sync job's 30-minute timeout, so the sync ends itself with its reason first.",
        _number(minimum=1, maximum=3600, integer=False),
    ),
    Setting(
        "ZWM_SYNC_LOCK_WAIT",
        "sync_lock_wait",
        "5",
        "Seconds a sync waits for a running sync of the same customer to finish before it ends "
        "as `skipped` (naming the running one).",
        _number(minimum=0, maximum=600, integer=False),
    ),
    Setting(
        "ZWM_SYNC_VERSION_HISTORY",
        "sync_version_history",
        "20",
        "Replaced exports kept per workflow, newest first, each distinct export once (by content "
        "hash); older ones are pruned as new ones are written. 0 keeps none.",
        _number(minimum=0, maximum=10000, integer=True),
    ),
    Setting(
        "ZWM_SYNC_VERIFY_HOURS",
        "sync_verify_hours",
        "24",
        "A workflow whose listing shows no change is still re-exported when its export is older "
        "than this many hours, and its content hash compared: Zuora can change a workflow without "
        "moving its `updatedAt` or version. 0 turns verification off (a full sync still compares all).",
        _number(minimum=0, integer=False),
    ),
    Setting(
        "ZWM_LOG_FORMAT",
        "log_format",
        "plain",
        "`plain` log lines for people, or `json`: one JSON object per line (with the job, queue, "
        "attempt, customer and sync run in context) for log shippers.",
        _choice(LOG_FORMATS),
    ),
    Setting(
        "ZWM_METRICS_TOKEN",
        "metrics_token",
        "",
        "Bearer token `GET /metrics` requires (`Authorization: Bearer ...`), at least 16 characters; "
        "empty disables the endpoint. Keep it secret.",
        _token,
    ),
    Setting(
        "ZWM_HEALTH_WORKER_STALE_SECONDS",
        "health_worker_stale",
        "60",
        "A worker whose heartbeat is older than this no longer counts as alive for `/health` "
        "(workers beat every 5 s).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_ALERT_EMAIL_TO",
        "alert_email_to",
        "",
        "Comma-separated addresses that receive failure alerts by email (needs `ZWM_SMTP_URL`).",
        _addresses,
    ),
    Setting(
        "ZWM_ALERT_EMAIL_FROM",
        "alert_email_from",
        "zwm@localhost",
        "Sender address of alert emails.",
        _text,
    ),
    Setting(
        "ZWM_SMTP_URL",
        "smtp_url",
        "",
        "Mail server for alert emails: `smtp://user:password@host:587` (STARTTLS when the server "
        "offers it) or `smtps://...` (TLS from the start).",
        _smtp_url,
    ),
    Setting(
        "ZWM_ALERT_SLACK_WEBHOOK",
        "alert_slack_webhook",
        "",
        "Slack incoming-webhook URL for alerts (a secret: it is never logged).",
        _http_url,
    ),
    Setting(
        "ZWM_ALERT_DISCORD_WEBHOOK",
        "alert_discord_webhook",
        "",
        "Discord webhook URL for alerts (a secret: it is never logged).",
        _http_url,
    ),
    Setting(
        "ZWM_ALERT_WEBHOOK_URL",
        "alert_webhook_url",
        "",
        "Any http(s) endpoint that receives each alert as a JSON object.",
        _http_url,
    ),
    Setting(
        "ZWM_ALERT_WINDOW_SECONDS",
        "alert_window",
        "3600",
        "One problem sends at most one message per this many seconds (and one when it clears).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_ALERT_BACKLOG_AGE_SECONDS",
        "alert_backlog_age",
        "900",
        "Alert when a queue's oldest waiting job has waited longer than this.",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_ALERT_WORKER_SILENCE_SECONDS",
        "alert_worker_silence",
        "300",
        "Alert when no worker has sent a heartbeat for this long.",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_ALERT_SYNC_STALE_SECONDS",
        "alert_sync_stale",
        "21600",
        "Alert when an active customer has not synced successfully for this long.",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_RETAIN_FINISHED_HOURS",
        "retain_finished_hours",
        "168",
        "The scheduled prune deletes execution history and finished batches older than this "
        "(the seed's 7 days).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_RETAIN_FAILED_HOURS",
        "retain_failed_hours",
        "72",
        "The scheduled prune deletes failed jobs older than this (the seed's 72 hours).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_RETAIN_SYNC_RUNS_HOURS",
        "retain_sync_runs_hours",
        "720",
        "The scheduled prune deletes sync runs older than this (each customer's latest is kept).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_RETAIN_SCHEDULE_RUNS_HOURS",
        "retain_schedule_runs_hours",
        "168",
        "The scheduled prune deletes records of fired schedule slots older than this.",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_RETAIN_WORKFLOW_VERSIONS_HOURS",
        "retain_workflow_versions_hours",
        "8760",
        "The scheduled prune deletes replaced workflow versions older than this (a year; each "
        "workflow's most recent previous version is kept).",
        _number(minimum=1, integer=False),
    ),
    Setting(
        "ZWM_HTTP_BIND",
        "http_bind",
        "127.0.0.1:8000",
        "`HOST:PORT` the web app listens on (`zwm web`, `zwm up`; `--bind` overrides it).",
        _bind,
    ),
    Setting(
        "ZWM_HTTPS",
        "https",
        "false",
        "The web app is reached over HTTPS (directly, or behind a proxy that sets "
        "`X-Forwarded-Proto`): cookies are sent over HTTPS only, HTTP is redirected, HSTS is on.",
        _bool,
    ),
)
"""Every setting, in the order the reference lists them. ``ZWM_DATA_DIR`` comes first: other
defaults live in it."""


def load(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = None) -> Config:
    """Parse a configuration. ``environ`` defaults to ``os.environ`` merged over ``.env``."""
    if environ is None:
        path = env_file or os.environ.get("ZWM_ENV_FILE", ".env")
        file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        env: Mapping[str, str] = {**file_values, **os.environ}
    else:
        env = environ
    data_dir: Path = DATA_DIR.parse(DATA_DIR, env.get(DATA_DIR.variable, DATA_DIR.default), Path())
    values = {
        setting.attribute: setting.parse(setting, env.get(setting.variable, setting.default), data_dir)
        for setting in SETTINGS
    }
    return Config(**values)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process-wide configuration, read on first use."""
    return load()
