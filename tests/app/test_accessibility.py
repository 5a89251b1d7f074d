"""RGAA 4.1 / WCAG 2.1 AA: axe-core (from the npm registry) injected in Debian's Chromium finds no
serious or critical violation on the pages people use, at desktop and phone widths."""

from __future__ import annotations

import json

import pytest
from app_helpers import CHROMIUM_ARGS, browser_login

pytestmark = pytest.mark.e2e

WIDTHS = ((1366, 900), (390, 844))

# (who, path): the daily pages; document 1 waits for the DGS's visa in the demo.
PAGES = (
    (None, "/login"),
    ("dgs", "/"),
    ("dgs", "/documents"),
    ("dgs", "/documents/1"),
    ("dgs", "/documents/new"),
    ("dgs", "/delegations"),
    ("dgs", "/account"),
    ("finances", "/factures/"),
    ("finances", "/factures/delais"),
    ("admin", "/admin/"),
    (None, "/accessibilite"),
)


def _violations(page, axe_source: str) -> list[str]:
    page.add_script_tag(content=axe_source)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [json.dumps(v, ensure_ascii=False) for v in result]


@pytest.fixture
def audited_page(chromium):
    """A Chromium page that lets the test inject axe-core despite the pages' CSP."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR", bypass_csp=True)
        yield context.new_page()
        context.close()
        browser.close()


def test_no_serious_or_critical_violation_on_the_daily_pages(live_server, audited_page,
                                                              axe_source):
    page = audited_page
    found: dict[str, list[str]] = {}
    current = None
    for who, path in PAGES:
        if who != current:
            page.context.clear_cookies()
            if who is not None:
                browser_login(page, live_server, who)
            current = who
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            response = page.goto(live_server + path)
            assert response is not None and response.status == 200, (path, response)
            problems = _violations(page, axe_source)
            # WCAG 1.4.10 (reflow): nothing wider than the screen, no sideways scrolling.
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                problems.append(f"la page fait {scroll_width} px de large pour un écran de {width} px")
            if problems:
                found[f"{path} @ {width}px ({who or 'anonyme'})"] = problems
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)


def test_the_session_warning_is_announced_and_extends_the_session(live_server, demo, audited_page,
                                                                  axe_source):
    demo.config["SESSION_IDLE_MINUTES"] = 1  # under the two minutes' notice: warned at once
    page = audited_page
    browser_login(page, live_server, "maire")
    warning = page.locator("#session-warning")
    warning.wait_for(state="visible")
    assert "Voulez-vous rester connecté" in warning.get_by_role("alert").inner_text()
    assert _violations(page, axe_source) == []
    page.get_by_role("button", name="Rester connecté").click()
    page.get_by_text("Session prolongée.").wait_for()
    assert page.url.endswith("/")  # the script extended it in place: nothing was reloaded
