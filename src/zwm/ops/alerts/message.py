"""An alert message, as every channel receives it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from zwm.ops.redact import redact

State = Literal["firing", "resolved", "test"]


@dataclass(frozen=True)
class Message:
    key: str
    """The problem's identity, e.g. ``job-failed:zwm.catalog.jobs.SyncCustomerWorkflows``."""
    kind: str
    state: State
    title: str
    detail: str
    at: str
    """ISO 8601 time the message was decided."""

    def __post_init__(self) -> None:
        # Redacted here, once, so no channel and no queued delivery ever holds a secret.
        object.__setattr__(self, "title", redact(self.title))
        object.__setattr__(self, "detail", redact(self.detail))

    @property
    def headline(self) -> str:
        prefix = {"firing": "[zwm] PROBLEM", "resolved": "[zwm] RESOLVED", "test": "[zwm] TEST"}[self.state]
        return f"{prefix}: {self.title}"

    def text(self) -> str:
        return f"{self.headline}\n{self.detail}".strip()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(**data)
