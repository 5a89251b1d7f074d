"""The demo's invoices: Factur-X, UBL and CII in every kind of state, from the product's own
writers (nothing outside the package is read), shown on the « Factures » and « Délais » pages."""

from __future__ import annotations

from app_helpers import login, page_text
from sqlalchemy import select

from parapheur.db import get_session
from parapheur.invoices.models import Invoice, InvoiceStatus


def test_the_demo_has_invoices_in_every_state(app, demo_pki, sample_pdf):
    from parapheur.demo.seed import seed_demo

    with app.app_context():
        assert seed_demo(app, pki=demo_pki, pdf_factory=lambda spec: sample_pdf)
        invoices = {i.filename: i for i in get_session().execute(select(Invoice)).scalars()}
        year = next(iter(invoices.values())).received_at.year
        states = {name: (i.container, i.syntax, i.status, i.blocked)
                  for name, i in invoices.items()}
        assert states == {
            "PM-2026-0311.pdf": ("pdf", "cii", InvoiceStatus.MISE_A_DISPOSITION, False),
            "TPS-2026-118.xml": ("xml", "ubl", InvoiceStatus.MISE_A_DISPOSITION, False),
            "EGM-2026-0457.xml": ("xml", "cii", InvoiceStatus.SERVICE_FAIT, False),
            "BM-2026-0460.xml": ("xml", "cii", InvoiceStatus.SUSPENDUE, False),
            "EVD-2026-099.xml": ("xml", "ubl", InvoiceStatus.MISE_A_DISPOSITION, False),
            "EVD-2026-100.xml": ("xml", "cii", InvoiceStatus.DEPOSEE, True),
            "PM-2026-0311.xml": ("xml", "ubl", InvoiceStatus.DEPOSEE, True),
            # The two invoices of the demo's signed bordereau de mandats, ready for export.
            f"facture-DEMO-{year}-001.pdf": ("pdf", None, InvoiceStatus.MANDATEE, False),
            f"facture-DEMO-{year}-002.pdf": ("pdf", None, InvoiceStatus.MANDATEE, False),
        }
        # The routed ones passed every check (XSD, EN 16931 and BR-FR schematrons, arithmetic,
        # identifiers); the blocked ones say why.
        problems = {name: [p.rule_id for p in i.problems] for name, i in invoices.items()}
        assert problems["EVD-2026-100.xml"] == ["MAL-ADRESSEE"]
        assert problems["PM-2026-0311.xml"] == ["DOUBLON"]
        assert all(not problems[n] for n in states if not states[n][3] and states[n][1])
        assert invoices["PM-2026-0311.pdf"].engagement is not None
        roadworks = invoices["TPS-2026-118.xml"]
        assert roadworks.document.run_state["current"] == "visa_finances"
        suspended = invoices["BM-2026-0460.xml"].status_history[-1]
        assert suspended.reason.startswith("Bon de livraison non signé")

    client = app.test_client()
    assert login(client, "finances").status_code == 302
    listing = page_text(client.get("/factures/"))
    assert "PM-2026-0311" in listing and "TPS-2026-118" in listing
    deadlines = page_text(client.get("/factures/delais"))
    assert "EVD-2026-099" in deadlines and "j de retard" in deadlines
