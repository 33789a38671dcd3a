"""Jobs of operations: check for problems and announce them, deliver one alert, prune.

``CheckAlerts`` runs every minute from the schedule (when any alert channel is configured).
It only *decides*; each message on each channel is then its own ``DeliverAlert`` job, so a
slow or broken channel delays nothing else and is retried with backoff on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from zwm.config import get_config
from zwm.ops import retention
from zwm.ops.alerts import channels, problems, state
from zwm.ops.alerts.message import Message
from zwm.queue.job import Exponential, Job

log = logging.getLogger(__name__)


def check_alerts() -> list[Message]:
    """Find problems and record them; the messages that are due (not yet sent)."""
    config = get_config()
    return state.decide(problems.find(config), window=config.alert_window)


@dataclass
class DeliverAlert(Job):
    """Send one message on one channel. Five tries, backing off up to ten minutes."""

    channel: str
    message: dict[str, Any] = field(default_factory=dict)

    queue = "default"
    tries = 5
    backoff = Exponential(base=30, cap=600)
    timeout = 60
    dont_retry = (channels.UnknownChannel,)

    def handle(self) -> None:
        message = Message.from_json(self.message)
        try:
            channels.send(self.channel, message)
        except channels.DeliveryError as exc:
            attempt = self.context.attempt if self.context is not None else 1
            log.warning(
                "alert %s not delivered (attempt %d of %d): %s", message.key, attempt, self.tries, exc
            )
            raise
        log.info("alert %s sent on %s: %s", message.state, self.channel, message.key)


@dataclass
class CheckAlerts(Job):
    """Look for problems; queue a delivery per channel for each message that is due."""

    queue = "default"
    tries = 1
    timeout = 120

    def unique_key(self) -> str:
        return "ops:check-alerts"

    def handle(self) -> None:
        on = channels.configured()
        for message in check_alerts():
            for channel in on:
                DeliverAlert(channel, message.to_json()).dispatch()


@dataclass
class PruneHistory(Job):
    """Apply the retention ages (:mod:`zwm.ops.retention`); every night from the schedule."""

    queue = "default"
    tries = 3
    backoff = [60, 300]
    timeout = 1800

    def unique_key(self) -> str:
        return "ops:prune-history"

    def handle(self) -> None:
        deleted = retention.run(get_config())
        log.info("retention: deleted %s", ", ".join(f"{n} {what}" for what, n in deleted.items()))
