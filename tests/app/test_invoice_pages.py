"""« Factures » pages: import (many files, a result each), list with filters, invoice page,
actions, batch service fait / visa, « À rapprocher », « Délais », export; access rules."""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from app_helpers import csrf_from, login, page_text
from sqlalchemy import select

from parapheur.db import get_session
from parapheur.invoices.models import Invoice, InvoiceStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import SERVICE, make_finance_accounts, supplier, xml, xxe  # noqa: E402


@pytest.fixture
def finance_app(app):
    make_finance_accounts(app)
    return app


def _client(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _import(client, *files: tuple[bytes, str], json_answer: bool = False):
    token = csrf_from(client.get("/factures/").get_data(as_text=True))
    headers = {"Accept": "application/json"} if json_answer else {}
    return client.post("/factures/import", content_type="multipart/form-data", headers=headers,
                       data={"csrf_token": token,
                             "files": [(io.BytesIO(data), name) for data, name in files]})


def test_import_many_files_with_a_result_each(finance_app):
    client = _client(finance_app, "finances")
    response = _import(client, (xml("P-1", buyer_reference=SERVICE), "P-1.xml"),
                       (xxe(), "piege.xml"), (b"%PDF-1.4 not really", "faux.pdf"))
    assert response.status_code == 200
    text = page_text(response)
    assert "<strong>P-1.xml</strong> : <a href=\"/factures/1\">facture #1</a> importée, en circuit (document #1)" in text
    assert "bloquée : illisible" in text and "UNSAFE-XML" in text
    with finance_app.app_context():
        assert len(get_session().execute(select(Invoice)).scalars().all()) == 3


def test_drag_and_drop_import_answers_json(finance_app):
    client = _client(finance_app, "finances")
    response = _import(client, (xml("J-1", buyer_reference=SERVICE), "J-1.xml"),
                       json_answer=True)
    [result] = response.get_json()["results"]
    assert result["routed"] and result["url"] == "/factures/1" and result["problems"] == []


def test_the_file_as_received_is_sent_under_its_own_name_with_its_digest(finance_app):
    """A name outside Latin-1 (« œ ») is written as RFC 6266 filename*, not as raw bytes."""
    import hashlib

    data = xml("Œ-1", buyer_reference=SERVICE)
    client = _client(finance_app, "finances")
    assert _import(client, (data, "facture-œuvre.xml")).status_code == 200
    response = client.get("/factures/1/fichier")
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "application/xml"
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=facture-uvre.xml; filename*=UTF-8''facture-%C5%93uvre.xml")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    response.headers["Content-Disposition"].encode("latin-1")  # sendable by a WSGI server


def test_invoice_page_actions_and_history(finance_app):
    finances = _client(finance_app, "finances")
    _import(finances, (xml("A-1", buyer_reference=SERVICE, **supplier(3)), "A-1.xml"))
    page = page_text(finances.get("/factures/1"))
    assert "Fournisseur 3" in page and "60,65 €" in page
    assert "30 jours restants" in page and "Aucun problème." in page
    token = csrf_from(page)
    refused = finances.post("/factures/1/suspendre", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 409
    assert "Le motif est obligatoire" in page_text(refused)
    finances.post("/factures/1/suspendre", data={"csrf_token": token,
                                                 "reason": "Attestation manquante"})
    page = page_text(finances.get("/factures/1"))
    assert "Suspendu" in page and "Attestation manquante" in page
    finances.post("/factures/1/reprendre", data={"csrf_token": token})
    done = finances.post("/factures/1/action", data={"csrf_token": token,
                                                      "decision": "approve"},
                         follow_redirects=True)
    assert "Constatation du service fait : fait (statut « Service fait »)." in page_text(done)
    with finance_app.app_context():
        invoice = get_session().get(Invoice, 1)
        assert invoice.status is InvoiceStatus.SERVICE_FAIT
    csv_export = finances.get("/factures/historique.csv").get_data(as_text=True)
    assert csv_export.splitlines()[0] == ("invoice_id;number;seller_siren;seq;status;"
                                          "status_label;occurred_at;reason")
    assert ";suspendue;Suspendue;" in csv_export
    data = json.loads(finances.get("/factures/historique.json").get_data(as_text=True))
    assert [row["status"] for row in data] == ["deposee", "mise_a_disposition", "suspendue",
                                               "mise_a_disposition", "service_fait"]


def test_batch_service_fait_and_filters(finance_app):
    big = (("Travaux", Decimal("1"), Decimal("30000"), Decimal("20")),)
    finances = _client(finance_app, "finances")
    _import(finances, *[(xml(f"B-{i}", buyer_reference=SERVICE, lines=big, **supplier(i)),
                         f"B-{i}.xml") for i in range(1, 4)])
    technicien = _client(finance_app, "technicien")
    listing = page_text(technicien.get("/factures/"))
    assert "Forbidden" not in listing
    token = csrf_from(finances.get("/factures/").get_data(as_text=True))
    batch = finances.post("/factures/lot", data={"csrf_token": token, "ids": ["1", "2", "3"],
                                                 "decision": "approve"})
    text = page_text(batch)
    assert text.count("Constatation du service fait : fait (Mise à disposition).") == 3
    batch = finances.post("/factures/lot", data={"csrf_token": token, "ids": ["1", "2"],
                                                 "decision": "approve"})
    assert page_text(batch).count("Visa du service finances : fait (Service fait).") == 2
    filtered = page_text(finances.get("/factures/?status=service_fait"))
    assert "2 factures" in filtered
    assert "1 facture" in page_text(finances.get("/factures/?supplier=Fournisseur 3"))
    assert "0 facture" in page_text(finances.get("/factures/?min=100000"))
    assert "Montant « abc » invalide" in page_text(finances.get("/factures/?max=abc"))
    deadlines = page_text(finances.get("/factures/delais"))
    # Same days left for all three: the oldest first.
    assert deadlines.index(">B-1<") < deadlines.index(">B-2<") < deadlines.index(">B-3<")
    assert deadlines.count("<td><span class=\"\">30</span></td>") == 3


def test_to_match_page(finance_app):
    finances = _client(finance_app, "finances")
    _import(finances, (xml("M-1", **supplier(5)), "M-1.xml"))
    page = page_text(finances.get("/factures/a-rapprocher"))
    assert "M-1" in page
    token = csrf_from(page)
    refused = finances.post("/factures/1/rapprocher", data={"csrf_token": token})
    assert refused.status_code == 409 and "nature M57" in page_text(refused)
    finances.post("/factures/1/rapprocher", data={"csrf_token": token, "nature": "6064",
                                                  "fonction": "020", "next": "a-rapprocher"})
    assert "Aucune facture à rapprocher." in page_text(finances.get("/factures/a-rapprocher"))


def test_access_rules(finance_app):
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_user
    from parapheur.db import transaction
    from parapheur.organisations.services import create_organisation

    finances = _client(finance_app, "finances")
    _import(finances, (xml("S-1", buyer_reference=SERVICE), "S-1.xml"))
    with finance_app.app_context():
        session = get_session()
        with transaction(session):
            now = finance_app.config["CLOCK"]()
            other = create_organisation(session, slug="autre", name="Autre commune", now=now)
            create_user(session, organisation=other, username="voisin", full_name="Voisin",
                        password="demo-voisin", role=Role.AGENT, now=now)
            org = finances_org = session.get(Invoice, 1).organisation
            create_user(session, organisation=finances_org, username="elu", full_name="Élu",
                        password="demo-elu", role=Role.SIGNATAIRE, now=now)
            assert org.slug == "demo"
    assert _client(finance_app, "voisin").get("/factures/1").status_code == 404
    assert _client(finance_app, "elu").get("/factures/").status_code == 403
    token = csrf_from(finances.get("/factures/").get_data(as_text=True))
    assert finances.post("/factures/1/action", data={"decision": "approve"}).status_code == 400
    assert finances.post("/factures/lot", data={"csrf_token": token}).status_code == 400


def test_a_decision_taken_on_the_document_page_reaches_the_invoice_at_once(finance_app):
    from parapheur.audit.models import AuditEvent

    finances = _client(finance_app, "finances")
    _import(finances, (xml("D-1", buyer_reference=SERVICE), "D-1.xml"))
    token = csrf_from(finances.get("/documents/1").get_data(as_text=True))
    finances.post("/documents/1/steps/service_fait/reject",
                  data={"csrf_token": token, "reason": "Prestation non réalisée"})
    # No invoice page was shown: the status moved with the step, in its transaction.
    with finance_app.app_context():
        session = get_session()
        invoice = session.get(Invoice, 1)
        assert invoice.status is InvoiceStatus.REJETEE
        assert invoice.status_history[-1].reason == "Prestation non réalisée"
        assert invoice.status_history[-1].actor.username == "finances"
        events = [e.name for e in session.execute(
            select(AuditEvent).where(AuditEvent.document_id == 1)
            .order_by(AuditEvent.id)).scalars()]
        rejected = events.index("document:step:rejected")
        assert "invoice:status:changed" in events[rejected:]
    page = page_text(finances.get("/factures/1"))
    assert "Rejetée" in page and "Prestation non réalisée" in page
