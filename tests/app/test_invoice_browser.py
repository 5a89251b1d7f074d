"""In Chromium: invoices imported through the page (one request per file, a result each), then
service fait given from the keyboard on the list."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from app_helpers import browser_login

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import supplier, xml, xxe  # noqa: E402

pytestmark = pytest.mark.e2e
DEMO_SIRET = "21990001600011"


def test_import_then_service_fait_from_the_keyboard(live_server, browser_page, tmp_path):
    page = browser_page
    files = []
    for i in (1, 2):
        path = tmp_path / f"K-{i}.xml"
        path.write_bytes(xml(f"K-{i}", buyer_siret=DEMO_SIRET, buyer_reference="services-techniques",
                             **supplier(40 + i)))
        files.append(str(path))
    trap = tmp_path / "piege.xml"
    trap.write_bytes(xxe())
    files.append(str(trap))
    browser_login(page, live_server, "finances")
    page.get_by_role("link", name="Factures").click()
    page.get_by_label("Factur-X (PDF), UBL ou CII (XML)", exact=False).set_input_files(files)
    page.get_by_role("button", name="Importer").click()
    results = page.locator("#import-results li")
    results.nth(2).filter(has_text="bloquée").wait_for()
    texts = results.all_inner_texts()
    assert texts[0].startswith("K-1.xml : importée, en circuit") and "(voir)" in texts[0]
    assert texts[1].startswith("K-2.xml : importée, en circuit")
    assert texts[2] == "piege.xml : bloquée : illisible (voir) — 1 problème(s)"
    assert page.locator("#import-progress").get_attribute("value") == "3"
    page.reload()
    # The newest first: the trap (blocked: no box), K-2, K-1. Tick K-2 and K-1.
    for key in ("j", "j", "x", "j", "x", "v"):
        page.keyboard.press(key)
    page.wait_for_url(f"{live_server}/factures/lot")
    main = page.locator("main").inner_text()
    assert main.count("Constatation du service fait : fait (Service fait).") == 2, main
    assert not page.failed, page.failed
    assert not page.console_errors, page.console_errors
