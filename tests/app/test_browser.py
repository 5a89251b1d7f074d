"""End to end in Debian's Chromium, driven by Playwright: the visa, then the Maire signs."""

from __future__ import annotations

import pytest
from app_helpers import browser_login

pytestmark = pytest.mark.e2e


def _logout(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()


def test_visa_and_signature_in_the_browser(live_server, browser_page):
    page = browser_page
    browser_login(page, live_server, "dgs")
    page.locator("section#a-traiter, section[aria-labelledby=a-traiter]").get_by_role(
        "link").first.click()
    title = page.locator("h1").inner_text()
    page.get_by_role("button", name="Donner le visa").click()
    assert "Visa donné" in page.locator("main").inner_text()
    _logout(page)

    browser_login(page, live_server, "maire")
    page.get_by_role("link", name=title).click()
    page.get_by_label("Code de votre certificat").fill("1234")
    page.get_by_role("button", name="Signer").click()
    assert "est signé" in page.locator("main").inner_text()
    page.get_by_role("link", name=title).first.click()
    assert "Terminé" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="v2 — Signé").is_visible()
    assert page.console_errors == [] and page.failed == []
