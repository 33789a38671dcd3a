"""In real Chromium against ``zwm up``: the first admin, sign-in, roles, sign-out, dark mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, LiveApp, sign_in

pytestmark = pytest.mark.slow


def test_first_admin_then_sign_in_and_out(
    live_app: LiveApp, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.goto(live_app.url)
    expect(page).to_have_url(f"{live_app.url}setup/")
    screenshot("setup")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".message-success")).to_contain_text("you are the first admin")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    screenshot("home")

    page.locator("details.dropdown summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_app.url}login/")
    page.goto(f"{live_app.url}setup/")
    assert "Page not found" in page.content() or "Not Found" in page.content()

    sign_in(page, live_app.url, "root", "wrong-password")
    expect(page.locator(".errorlist")).to_contain_text("correct username and password")
    screenshot("login-error")
    sign_in(page, live_app.url, "root")
    expect(page).to_have_url(live_app.url)


def test_a_viewer_sees_no_admin_link_and_dark_mode_sticks(live_app: LiveApp, page: Page) -> None:
    live_app.zwm("user:create", "--username", "vera", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    sign_in(page, live_app.url, "vera")
    expect(page.locator("summary")).to_contain_text("vera (viewer)")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    assert page.goto(f"{live_app.url}admin/").url.startswith(f"{live_app.url}admin/login/")

    page.goto(live_app.url)
    before = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    page.keyboard.press("Tab")  # the skip link comes first for keyboard users
    expect(page.locator(".skip-link")).to_be_focused()
    page.get_by_role("button", name="Switch between light and dark mode").click()
    after = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert after != before
    page.reload()
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == after
