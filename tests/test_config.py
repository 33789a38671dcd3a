from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from zwm.config import SETTINGS, Config, ConfigError, load


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"ZWM_DATA_DIR": str(tmp_path), **values}


def test_defaults_use_sqlite_in_data_dir_and_generate_a_secret_key(tmp_path: Path) -> None:
    config = load(env(tmp_path))
    assert config.database_url == f"sqlite:///{(tmp_path / 'zwm.sqlite3').resolve()}"
    assert config.queue_connection == "database"
    assert config.queue_after_commit is True
    assert len(config.secret_key) >= 32
    assert load(env(tmp_path)).secret_key == config.secret_key  # kept across restarts
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_never_in_repr(tmp_path: Path) -> None:
    config = load(env(tmp_path, SECRET_KEY="s" * 40, REDIS_URL="redis://:hunter2@localhost/0"))
    assert "s" * 40 not in repr(config)
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("QUEUE_CONNECTION", "rabbit", "QUEUE_CONNECTION must be one of"),
        ("QUEUE_AFTER_COMMIT", "maybe", "QUEUE_AFTER_COMMIT must be true or false"),
        ("QUEUE_FAILED_DRIVER", "file", "QUEUE_FAILED_DRIVER must be one of"),
        ("DATABASE_URL", "oracle://x/y", "DATABASE_URL must start with"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL must start with"),
        ("REDIS_URL", "http://localhost", "REDIS_URL must start with"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("ZWM_ZUORA_TIMEOUT", "soon", "ZWM_ZUORA_TIMEOUT must be a number"),
        ("ZWM_ZUORA_CONCURRENCY", "0", "ZWM_ZUORA_CONCURRENCY must be at least 1"),
        ("ZWM_ZUORA_CONCURRENCY", "2.5", "ZWM_ZUORA_CONCURRENCY must be a whole number"),
        ("ZWM_ZUORA_PAGE_LENGTH", "51", "at most 50"),
        ("ZWM_SYNC_SCHEDULE", "every fortnight", "ZWM_SYNC_SCHEDULE must be a cron expression"),
        ("ZWM_SYNC_SCHEDULE", "every 7 minutes", "does not divide the hour evenly"),
        ("ZWM_SYNC_SCHEDULE", "every 5 hours", "does not divide the day evenly"),
        ("ZWM_SYNC_SCHEDULE", "every 0 minutes", "does not divide the hour evenly"),
        ("ZWM_ALERT_SLACK_WEBHOOK", "ftp://hooks.example/x", "must be an http:// or https:// URL"),
        ("ZWM_ALERT_DISCORD_WEBHOOK", "discord.com/api/webhooks/1/t", "must be an http:// or https:// URL"),
        ("ZWM_ALERT_WEBHOOK_URL", "javascript:alert(1)", "must be an http:// or https:// URL"),
        ("ZWM_SMTP_URL", "http://mail.example", "ZWM_SMTP_URL must look like"),
        ("ZWM_SMTP_URL", "smtp://mail.example:port", "ZWM_SMTP_URL has an invalid port"),
        ("ZWM_ALERT_EMAIL_TO", "ops-team", "ZWM_ALERT_EMAIL_TO must list email addresses"),
        ("ZWM_ALERT_WINDOW_SECONDS", "0", "ZWM_ALERT_WINDOW_SECONDS must be at least 1"),
        ("ZWM_METRICS_TOKEN", "short", "ZWM_METRICS_TOKEN must be at least 16"),
        ("ZWM_LOG_FORMAT", "xml", "ZWM_LOG_FORMAT must be one of"),
        ("ZWM_HEALTH_WORKER_STALE_SECONDS", "soon", "must be a number"),
        ("ZWM_RETAIN_FAILED_HOURS", "0", "ZWM_RETAIN_FAILED_HOURS must be at least 1"),
        ("ZWM_QUEUE_PREFIX", "a:b", "ZWM_QUEUE_PREFIX"),
        ("ZWM_HTTP_BIND", "8000", "ZWM_HTTP_BIND must be HOST:PORT"),
        ("ZWM_HTTP_BIND", "localhost:http", "ZWM_HTTP_BIND must be HOST:PORT"),
        ("ZWM_HTTP_BIND", "localhost:65536", "ZWM_HTTP_BIND must be HOST:PORT"),
        ("ZWM_HTTPS", "sometimes", "ZWM_HTTPS must be true or false"),
        ("ZWM_SYNC_MAX_DELETE_PERCENT", "101", "ZWM_SYNC_MAX_DELETE_PERCENT must be at most 100"),
        ("ZWM_SYNC_MAX_DELETE_PERCENT", "nan", "ZWM_SYNC_MAX_DELETE_PERCENT must be a number"),
        ("ZWM_SYNC_MAX_DELETE_PERCENT", "-1", "ZWM_SYNC_MAX_DELETE_PERCENT must be at least 0"),
        ("ZWM_SYNC_MAX_DELETE_PERCENT", "lots", "ZWM_SYNC_MAX_DELETE_PERCENT must be a number"),
        ("ZWM_SYNC_DEADLINE", "0.5", "ZWM_SYNC_DEADLINE must be at least 1"),
        ("ZWM_SYNC_DEADLINE", "7200", "ZWM_SYNC_DEADLINE must be at most 3600"),
        ("ZWM_SYNC_DEADLINE", "soon", "ZWM_SYNC_DEADLINE must be a number"),
        ("ZWM_SYNC_VERSION_HISTORY", "-1", "ZWM_SYNC_VERSION_HISTORY must be at least 0"),
        ("ZWM_SYNC_VERSION_HISTORY", "2.5", "ZWM_SYNC_VERSION_HISTORY must be a whole number"),
        ("ZWM_SYNC_VERIFY_HOURS", "daily", "ZWM_SYNC_VERIFY_HOURS must be a number"),
        ("ZWM_SYNC_VERIFY_HOURS", "-3", "ZWM_SYNC_VERIFY_HOURS must be at least 0"),
        ("ZWM_ZUORA_ALLOW_HTTP", "perhaps", "ZWM_ZUORA_ALLOW_HTTP must be true or false"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_variable(
    tmp_path: Path, name: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        load(env(tmp_path, **{name: value}))
    assert "\n" not in str(info.value)


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("QUEUE_CONNECTION=sync\nLOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("ZWM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("QUEUE_CONNECTION", raising=False)
    config = load(env_file=dotenv)
    assert config.queue_connection == "sync"
    assert config.log_level == "WARNING"


def test_every_config_field_has_exactly_one_setting() -> None:
    attributes = [setting.attribute for setting in SETTINGS]
    assert sorted(attributes) == sorted(f.name for f in fields(Config))
    assert len({setting.variable for setting in SETTINGS}) == len(SETTINGS)


def test_each_documented_default_is_the_one_load_applies(tmp_path: Path) -> None:
    """A Config field's own default and its setting's default text must agree."""
    config = load(env(tmp_path))
    for f in fields(Config):
        if f.default is not MISSING:
            assert getattr(config, f.name) == f.default, f.name
    assert all(setting.meaning.strip() for setting in SETTINGS)


@pytest.mark.parametrize(
    ("wording", "cron"),
    [
        ("every 30 minutes", "*/30 * * * *"),
        ("Every 15 Minutes", "*/15 * * * *"),
        ("every minute", "* * * * *"),
        ("every hour", "0 * * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("*/10 * * * *", "*/10 * * * *"),
    ],
)
def test_sync_schedule_accepts_the_seeds_interval_wording(tmp_path: Path, wording: str, cron: str) -> None:
    assert load(env(tmp_path, ZWM_SYNC_SCHEDULE=wording)).sync_schedule == cron


def test_alert_channels_and_their_secrets(tmp_path: Path) -> None:
    secret_hook = "https://hooks.slack.example/services/T000/B000/s3cr3t-path"
    config = load(
        env(
            tmp_path,
            ZWM_ALERT_SLACK_WEBHOOK=secret_hook,
            ZWM_SMTP_URL="smtp://ops:mail-pa55@127.0.0.1:2525",
            ZWM_ALERT_EMAIL_TO="a@example.com, b@example.com",
            ZWM_METRICS_TOKEN="m" * 24,
        )
    )
    assert config.alert_slack_webhook == secret_hook
    assert config.alert_email_to == ("a@example.com", "b@example.com")
    for secret in ("s3cr3t-path", "mail-pa55", "m" * 24):
        assert secret not in repr(config)
    with pytest.raises(ConfigError) as info:
        load(env(tmp_path, ZWM_ALERT_WEBHOOK_URL="ftp://user:hunter2@example.com/hook"))
    assert "hunter2" not in str(info.value)
