"""In Chromium: a batch visa of ten invoices from « À traiter », with the keyboard alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from app_helpers import browser_login
from flask import render_template
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.circuits.services import pending_steps
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.invoices.models import Invoice
from parapheur.invoices.services import import_invoice

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import supplier, xml  # noqa: E402

pytestmark = pytest.mark.e2e
DEMO_SIRET = "21990001600011"


def _ten_invoices(app) -> list[int]:
    """Ten invoices for the « services techniques » to certify, imported through the service."""
    with app.app_context(), app.test_request_context():
        session = get_session()
        actor = session.execute(select(User).where(User.username == "finances")).scalar_one()
        documents = []
        for n in range(10):
            with transaction(session):
                result = import_invoice(
                    session, store_for(app.config), filename=f"clavier-{n}.xml",
                    data=xml(f"CLAVIER-{n:02d}", buyer_siret=DEMO_SIRET, buyer_reference="services-techniques",
                             **supplier(70 + n)),
                    actor=actor, actor_desk=actor.desks[0], now=app.config["CLOCK"](),
                    render=render_template, circuits_dir=workflows_dir_for(app.config),
                    schematrons=False)
                assert result.routed, result.problems
                documents.append(result.invoice.document_id)
        return documents


def test_a_batch_visa_of_ten_invoices_with_the_keyboard_alone(demo, live_server, browser_page):
    documents = _ten_invoices(demo)
    page = browser_page
    browser_login(page, live_server, "finances")
    page.keyboard.press("/")
    page.keyboard.type("clavier")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/?q=clavier&*")
    assert page.locator("#a-traiter-liste tbody tr").count() == 10
    for _ in range(10):
        page.keyboard.press("j")
        page.keyboard.press("x")
    assert page.locator("#a-traiter-liste input[name=items]:checked").count() == 10
    page.keyboard.press("?")
    assert page.locator("#raccourcis").get_attribute("open") is not None
    page.keyboard.press("?")
    assert page.locator("#raccourcis").get_attribute("open") is None
    page.keyboard.press("v")
    page.wait_for_url(f"{live_server}/bannette/lot")
    summary = page.locator("main").inner_text()
    assert "Viser 10 document(s)" in summary and summary.count("CLAVIER-") >= 10, summary
    page.keyboard.press("Space")  # « J'ai pris connaissance… », focused on arrival
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/bannette/lot/confirmer")
    assert page.locator("#lot-bilan").inner_text() == "10 document(s) visé(s) sur 10."
    assert page.locator("main").inner_text().count("Fait : Visa donné") == 10
    assert not page.failed, page.failed
    assert not page.console_errors, page.console_errors
    with demo.app_context():
        session = get_session()
        invoices = session.execute(select(Invoice).where(
            Invoice.document_id.in_(documents))).scalars().all()
        assert len(invoices) == 10
        for invoice in invoices:
            assert pending_steps(invoice.document) == []  # service fait, then bon à payer
