"""Django settings, derived entirely from :mod:`zwm.config`.

Nothing here reads the environment directly: ``zwm.config`` is the one place that does.
"""

from __future__ import annotations

from typing import Any

import dj_database_url

from zwm.config import get_config
from zwm.ops.alerts.channels import configured as alert_channels
from zwm.ops.logs import logging_config

_config = get_config()

if not _config.is_sqlite and _config.database_url.split(":", 1)[0] in {"mysql", "mariadb"}:
    import pymysql

    pymysql.install_as_MySQLdb()

SECRET_KEY = _config.secret_key
DEBUG = _config.debug
ALLOWED_HOSTS = list(_config.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "zwm.queue",
    "zwm.catalog",
    "zwm.ops",
    "zwm.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "zwm.web.middleware.SignInRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "zwm.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "zwm.web.context.navigation",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        # WAL lets readers run beside the single writer; a generous timeout makes
        # concurrent workers wait for the write lock instead of failing.
        db["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        db["TEST"] = {"NAME": f"{db['NAME']}.test"}
    elif engine == "django.db.backends.mysql":
        db["OPTIONS"] = {"charset": "utf8mb4", "isolation_level": "read committed"}
        db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return db


DATABASES = {"default": _database(_config.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = str(_config.data_dir / "static")  # only `collectstatic` writes here
(_config.data_dir / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
# WhiteNoise serves the apps' static folders straight from the installed package, so
# neither `zwm up` nor `zwm web` needs a collectstatic step on a fresh install.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# Paths anyone may reach signed out (besides the sign-in and first-admin pages, whose
# views say so themselves): probes and scrapers cannot sign in.
ZWM_PUBLIC_PATHS = ("/health", "/metrics")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses sign-in while locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling: 5 failures for one username from one address lock that pair out for
# 15 minutes; a success resets the count.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if _config.https:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # probes inside the network speak HTTP

# Cron entries fired by `zwm schedule:work` (see zwm.queue.schedule): the seed's hourly
# "sync all customers", on ZWM_SYNC_SCHEDULE; the nightly prune (ZWM_RETAIN_*); and, when
# an alert channel is configured, the check for problems to announce, every minute.
ZWM_SCHEDULE: list[dict[str, Any]] = []
if _config.sync_schedule:
    ZWM_SCHEDULE.append(
        {
            "name": "sync-customer-workflows",
            "cron": _config.sync_schedule,
            "job": "zwm.catalog.jobs.SyncAllCustomers",
            "args": {"trigger": "schedule"},
        }
    )
ZWM_SCHEDULE.append({"name": "ops-prune-history", "cron": "30 3 * * *", "job": "zwm.ops.jobs.PruneHistory"})
if alert_channels(_config):
    ZWM_SCHEDULE.append({"name": "ops-check-alerts", "cron": "* * * * *", "job": "zwm.ops.jobs.CheckAlerts"})

LOGGING = logging_config(_config)
# django-axes logs every sign-in at INFO; failures and lock-outs are WARNING.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
