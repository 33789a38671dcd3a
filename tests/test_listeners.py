"""Hooks never break what they observe."""

from __future__ import annotations

import pytest

from zwm.listeners import Listeners


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[int] = []
    hooks: Listeners[int] = Listeners("test")
    assert not hooks

    def broken(event: int) -> None:
        raise RuntimeError("boom")

    hooks.subscribe(broken)
    hooks.subscribe(heard.append)
    hooks.subscribe(heard.append)  # once is enough
    hooks.emit(7)
    assert heard == [7]
    assert "test listener" in caplog.text
    assert "boom" in caplog.text
    hooks.unsubscribe(broken)
    hooks.unsubscribe(heard.append)
    assert not hooks
