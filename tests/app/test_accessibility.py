"""RGAA 4.1 / WCAG 2.1 AA: axe-core (from the npm registry) injected in Debian's Chromium finds no
serious or critical violation on the pages people use, at desktop and phone widths."""

from __future__ import annotations

import json

import pytest
from app_helpers import browser_login

pytestmark = pytest.mark.e2e

WIDTHS = ((1366, 900), (390, 844))

# (who, path): the daily pages; document 1 waits for the DGS's visa in the demo (the test joins
# an annex to it). BATCH is the batch summary, reached by ticking a document of the inbox.
BATCH = "/bannette/lot"
PAGES = (
    (None, "/login"),
    ("dgs", "/"),
    ("dgs", "/documents"),
    ("dgs", "/documents/1"),
    ("dgs", BATCH),
    ("dgs", "/documents/new"),
    ("dgs", "/delegations"),
    ("dgs", "/account"),
    ("finances", "/factures/"),
    ("finances", "/factures/delais"),
    ("admin", "/admin/"),
    ("admin", "/admin/journal/"),
    (None, "/accessibilite"),
)


def _violations(page, axe_source: str) -> list[str]:
    if page.evaluate("typeof axe === 'undefined'"):  # once per page load
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
def audited_page(chromium_browser):
    """A Chromium page that lets the test inject axe-core despite the pages' CSP."""
    context = chromium_browser.new_context(locale="fr-FR", bypass_csp=True)
    yield context.new_page()
    context.close()


def _join_an_annex(demo, sample_pdf) -> None:
    """Its author joins a PDF annex to document 1, as the document page's form does."""
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.clock import now
    from parapheur.context import store_for
    from parapheur.db import get_session, transaction
    from parapheur.documents import annexes
    from parapheur.documents.models import Document

    with demo.app_context():
        session = get_session()
        author = session.execute(select(User).where(User.username == "finances")).scalar_one()
        with transaction(session):
            annexes.add_annexes(session, store_for(demo.config), session.get(Document, 1),
                                [annexes.AnnexFile("plan de financement.pdf", sample_pdf)],
                                actor=author, now=now(), max_bytes=2 << 20)


def _open(page, base: str, path: str):
    """Go to a page; the batch summary by ticking the inbox's first document and « Viser »."""
    if path != BATCH:
        return page.goto(base + path)
    page.goto(base + "/")
    page.locator("#a-traiter-liste input[type=checkbox]").first.check()
    with page.expect_response(lambda r: r.url.endswith(BATCH)) as answer:
        page.get_by_role("button", name="Viser la sélection…").click()
    page.wait_for_load_state()
    return answer.value


def test_no_serious_or_critical_violation_on_the_daily_pages(live_server, demo, sample_pdf,
                                                              audited_page, axe_source):
    _join_an_annex(demo, sample_pdf)
    page = audited_page
    found: dict[str, list[str]] = {}
    current = None
    for who, path in PAGES:
        if who != current:
            page.context.clear_cookies()
            if who is not None:
                browser_login(page, live_server, who)
            current = who
        # Loaded once at the first width, then the window is resized: the media queries apply
        # to the page as they would to one loaded at that width, and it is audited again.
        for index, (width, height) in enumerate(WIDTHS):
            page.set_viewport_size({"width": width, "height": height})
            if index == 0:
                response = _open(page, live_server, path)
                assert response is not None and response.status == 200, (path, response)
            else:
                page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
            if path == BATCH:
                assert page.locator("h1").inner_text() == "Viser les documents sélectionnés"
            elif path == "/documents/1":
                assert "plan de financement.pdf" in page.locator("#annexes").inner_text()
            problems = _violations(page, axe_source)
            # WCAG 1.4.10 (reflow): nothing wider than the screen, no sideways scrolling.
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > w).slice(0, 5)
                    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                         + (e.className ? '.' + e.className : ''))""", width)
                problems.append(f"la page fait {scroll_width} px de large pour un écran de "
                                f"{width} px : {', '.join(wide)}")
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
