"""The channels alerts go out on: SMTP email, Slack and Discord webhooks, a generic webhook.

Each delivery either succeeds or raises :class:`DeliveryError` with a message fit for a log
line: it names the channel and what went wrong (an SMTP code, an HTTP status), never the
webhook URL or the SMTP credentials, which are secrets.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from zwm.config import Config, get_config
from zwm.ops.alerts.message import Message

TIMEOUT = 10.0
"""Seconds any one delivery may take: a hung channel must not hold a worker for long."""
DISCORD_LIMIT = 2000
"""Discord rejects message content longer than this."""
CHANNELS = ("email", "slack", "discord", "webhook")


class DeliveryError(Exception):
    """A channel did not accept the message (the text is safe to log)."""


class UnknownChannel(ValueError):
    """A channel name that does not exist or is not configured."""


def configured(config: Config | None = None) -> tuple[str, ...]:
    """The channels that have their settings, in :data:`CHANNELS` order."""
    config = config or get_config()
    on = {
        "email": bool(config.alert_email_to and config.smtp_url),
        "slack": bool(config.alert_slack_webhook),
        "discord": bool(config.alert_discord_webhook),
        "webhook": bool(config.alert_webhook_url),
    }
    return tuple(name for name in CHANNELS if on[name])


def send_email(message: Message, config: Config) -> None:
    url = urlsplit(config.smtp_url)
    email = EmailMessage()
    email["Subject"] = message.headline
    email["From"] = config.alert_email_from
    email["To"] = ", ".join(config.alert_email_to)
    email.set_content(message.text())
    secure = url.scheme == "smtps"
    port = url.port or (465 if secure else 25)
    try:
        server: smtplib.SMTP
        if secure:
            server = smtplib.SMTP_SSL(
                url.hostname or "", port, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(url.hostname or "", port, timeout=TIMEOUT)
        with server:
            server.ehlo()
            if not secure and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if url.username:
                server.login(unquote(url.username), unquote(url.password or ""))
            server.send_message(email)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"email: the SMTP server refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("email: the SMTP server refused every recipient") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email: cannot talk to the SMTP server ({type(exc).__name__})") from None


def _post(channel: str, url: str, body: dict[str, Any]) -> None:
    try:
        response = httpx.post(url, json=body, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{channel}: cannot reach the webhook ({type(exc).__name__})") from None
    if not response.is_success:
        raise DeliveryError(f"{channel}: the webhook answered HTTP {response.status_code}")


def send_slack(message: Message, config: Config) -> None:
    _post("slack", config.alert_slack_webhook, {"text": message.text()})


def send_discord(message: Message, config: Config) -> None:
    text = message.text()
    if len(text) > DISCORD_LIMIT:
        text = text[: DISCORD_LIMIT - 1] + "…"
    _post("discord", config.alert_discord_webhook, {"content": text})


def send_webhook(message: Message, config: Config) -> None:
    _post("webhook", config.alert_webhook_url, message.to_json())


SENDERS: dict[str, Callable[[Message, Config], None]] = {
    "email": send_email,
    "slack": send_slack,
    "discord": send_discord,
    "webhook": send_webhook,
}
assert tuple(SENDERS) == CHANNELS


def send(channel: str, message: Message) -> None:
    """Deliver ``message`` on ``channel`` now; :class:`DeliveryError` if it was not accepted."""
    config = get_config()
    if channel not in SENDERS:
        raise UnknownChannel(f"unknown alert channel {channel!r} (channels: {', '.join(CHANNELS)})")
    if channel not in configured(config):
        raise UnknownChannel(f"alert channel {channel!r} is not configured (see docs/deployment.md)")
    SENDERS[channel](message, config)
