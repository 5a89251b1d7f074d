"""Importing invoices into the application: every file kept, blocked ones with their reasons,
the others in the `facture` circuit with their fields as metadata and their status history."""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from flask import render_template
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction
from parapheur.documents.storage import ContentStore
from parapheur.invoices.errors import InvoiceStateError
from parapheur.invoices.models import Invoice, InvoiceStatus
from parapheur.invoices.services import Buyer, import_invoice, record_status

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import SERVICE, make_finance_accounts, xml, xxe  # noqa: E402


@pytest.fixture
def demo(app):
    make_finance_accounts(app)
    return app


@pytest.fixture(scope="module")
def facturx_pdf() -> bytes:
    from weasyprint import HTML

    from parapheur.invoices.generate import facturx_pdf as make

    return make(xml("FX-2026-100", buyer_reference=SERVICE),
                HTML(string="<p>Facture FX-2026-100</p>").write_pdf())


def cli(app, *args: str, **env: str):
    """Run `parapheur ARGS…` in this process (the compiled schematrons are reused)."""
    from click.testing import CliRunner

    from parapheur.cli import main

    return CliRunner().invoke(main, list(args), env={
        "PARAPHEUR_DATABASE_URL": app.config["DATABASE_URL"],
        "PARAPHEUR_DATA_DIR": str(app.config["DATA_DIR"]), **env})


def _import(app, data: bytes, filename: str, buyer: Buyer | None = None):
    with app.app_context(), app.test_request_context():
        session = get_session()
        actor = session.execute(select(User).where(User.username == "finances")).scalar_one()
        store = ContentStore(app.config["DATA_DIR"] / "store")
        with transaction(session):
            result = import_invoice(session, store, data=data, filename=filename, actor=actor,
                                    actor_desk=actor.desks[0], now=app.config["CLOCK"](),
                                    buyer=buyer, render=render_template)
        return result.invoice.id, result.routed, [p.rule_id for p in result.problems]


def _invoice(app, invoice_id: int) -> Invoice:
    with app.app_context():
        invoice = get_session().get(Invoice, invoice_id)
        invoice.document, invoice.problems, invoice.status_history, invoice.attachments  # noqa: B018
        if invoice.document is not None:
            invoice.document.versions, invoice.document.waiting  # noqa: B018
        return invoice


def test_facturx_pdf_enters_the_circuit(demo, facturx_pdf):
    invoice_id, routed, problems = _import(demo, facturx_pdf, "FX-2026-100.pdf")
    assert routed and problems == []
    invoice = _invoice(demo, invoice_id)
    assert (invoice.number, invoice.profile, invoice.container) == ("FX-2026-100", "en16931", "pdf")
    assert invoice.total_gross == Decimal("60.65") and invoice.seller_siren == "732829320"
    assert [c.status for c in invoice.status_history] == [InvoiceStatus.DEPOSEE,
                                                         InvoiceStatus.MISE_A_DISPOSITION]
    document = invoice.document
    assert (document.doc_type, document.doc_subtype) == ("FACTURES", "FACTURE")
    assert document.meta["montant_ttc"] == "60.65" and document.meta["numero_facture"] == \
        "FX-2026-100"
    assert [w.desk_slug for w in document.waiting] == [SERVICE]
    store = ContentStore(demo.config["DATA_DIR"] / "store")
    assert store.read(document.versions[0].sha256) == facturx_pdf


def test_xml_gets_a_visual_with_the_xml_attached(demo):
    data = xml("XML-2026-7", buyer_reference=SERVICE)
    invoice_id, routed, _ = _import(demo, data, "XML-2026-7.xml")
    invoice = _invoice(demo, invoice_id)
    assert routed and invoice.filename == "XML-2026-7.xml"
    store = ContentStore(demo.config["DATA_DIR"] / "store")
    visual = store.read(invoice.document.versions[0].sha256)
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(visual))
    assert reader.attachments["XML-2026-7.xml"][0] == data
    assert "XML-2026-7" in reader.pages[0].extract_text()
    assert store.read(invoice.xml_sha256) == data


def test_duplicates_are_blocked_with_a_link_to_the_first(demo):
    first_id, _, _ = _import(demo, xml("DUP-1", buyer_reference=SERVICE), "dup.xml")
    same_file_id, routed, problems = _import(demo, xml("DUP-1", buyer_reference=SERVICE),
                                             "dup-encore.xml")
    assert not routed and problems == ["DOUBLON"]
    # Same seller, number and year in another file (a re-sent invoice) is a duplicate too.
    resent = xml("DUP-1", buyer_reference=SERVICE).replace(b"Classeurs", b"Classeurs bleus")
    resent_id, routed_again, _ = _import(demo, resent, "dup-renvoi.xml")
    assert not routed_again
    for duplicate_id in (same_file_id, resent_id):
        duplicate = _invoice(demo, duplicate_id)
        assert duplicate.blocked and duplicate.duplicate_of_id == first_id
        assert duplicate.document is None
        [problem] = duplicate.problems
        assert problem.location == f"/factures/{first_id}"
        assert f"(facture #{first_id}" in problem.message


@pytest.mark.parametrize("make, rule", [(xxe, "UNSAFE-XML"),
                                        (lambda: xml()[:500], "MALFORMED-XML")])
def test_unreadable_file_is_kept_with_its_reason(demo, make, rule):
    data = make()
    invoice_id, routed, problems = _import(demo, data, "piege.xml")
    assert not routed and problems == [rule]
    invoice = _invoice(demo, invoice_id)
    assert invoice.blocked and invoice.status is InvoiceStatus.DEPOSEE
    assert ContentStore(demo.config["DATA_DIR"] / "store").read(invoice.file_sha256) == data
    with demo.app_context():
        [event] = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "invoice:status:changed")).scalars().all()
    assert event.details["status"] == "deposee" and event.details["readable"] is False
    assert event.details["sha256"] == invoice.file_sha256


def test_misaddressed_invoice_is_blocked(demo):
    invoice_id, routed, problems = _import(demo, xml("MAL-1"), "mal.xml",
                                           Buyer("21690123100011", "Commune de Lyon"))
    assert not routed and "MAL-ADRESSEE" in problems
    invoice = _invoice(demo, invoice_id)
    assert invoice.misaddressed and invoice.blocked and invoice.document is None


def test_faulty_invoice_is_routed_with_its_problems(demo):
    data = xml("ERR-1", buyer_reference=SERVICE).replace(b"<ram:GrandTotalAmount>60.65<",
                                                         b"<ram:GrandTotalAmount>70.65<")
    invoice_id, routed, problems = _import(demo, data, "err.xml")
    assert routed and "BR-CO-15" in problems
    assert any(p.rule_id == "BR-CO-15" for p in _invoice(demo, invoice_id).problems)


def test_suspension_needs_a_reason(demo):
    invoice_id, _, _ = _import(demo, xml("SUS-1", buyer_reference=SERVICE), "sus.xml")
    with demo.app_context():
        session = get_session()
        invoice = session.get(Invoice, invoice_id)
        with pytest.raises(InvoiceStateError) as caught:
            record_status(session, invoice, InvoiceStatus.SUSPENDUE, actor=None,
                          now=demo.config["CLOCK"]())
        session.rollback()
    assert caught.value.message == "Le motif est obligatoire pour passer au statut « Suspendue »."


def test_cli_import_and_history(demo, tmp_path):
    good = tmp_path / "CLI-1.xml"
    good.write_bytes(xml("CLI-1", buyer_reference=SERVICE))
    bad = tmp_path / "bombe.xml"
    bad.write_bytes(xxe())
    result = cli(demo, "invoices", "import", str(good), str(bad), "--as", "finances")
    assert result.exit_code == 1, result.output
    assert "CLI-1.xml : facture #1 importée, en circuit" in result.stdout
    assert "bombe.xml : facture #2 bloquée : illisible" in result.stdout
    history = cli(demo, "invoices", "history", "--format", "json")
    rows = json.loads(history.stdout)
    assert [(r["invoice_id"], r["status"]) for r in rows] == [
        (1, "deposee"), (1, "mise_a_disposition"), (2, "deposee")]


def test_store_maintenance_keeps_invoice_files(demo, facturx_pdf):
    from parapheur.documents.maintenance import unreferenced_files, verify_store

    _import(demo, xml("GC-1", buyer_reference=SERVICE), "GC-1.xml")
    _import(demo, xxe(), "piege.xml")
    _import(demo, facturx_pdf, "FX.pdf")
    with demo.app_context():
        session = get_session()
        store = ContentStore(demo.config["DATA_DIR"] / "store")
        assert unreferenced_files(session, store, older_than_seconds=-60) == []
        report = verify_store(session, store)
        # The XML and its visual, the trap, the Factur-X.
        assert report.ok and report.checked == 4
