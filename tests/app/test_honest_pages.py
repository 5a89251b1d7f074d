"""Pages say what happened: a rejection is not shown as an approval, sentences have no holes."""

from __future__ import annotations

import re

from app_helpers import csrf_from, page_text


def test_a_rejected_step_reads_as_a_rejection_in_whole_sentences(demo, client_for):
    dgs = client_for("dgs")
    page = dgs.get("/documents/1").get_data(as_text=True)
    response = dgs.post("/documents/1/steps/visa_dgs/reject",
                        data={"csrf_token": csrf_from(page), "reason": "Montant erroné"})
    assert response.status_code == 302
    shown = dgs.get("/documents/1")
    html = shown.get_data(as_text=True)
    assert "desk-rejected" in html and "desk-done" not in html  # a ✘, not the approval's ✔
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page_text(shown)))
    assert "Circuit terminé : le document a été rejeté." in text
    assert "Terminé." not in text
    assert re.search(r"Rejeté \(visa\) — Claire Martin, bureau [^,]+, le \d\d/\d\d/\d{4}", text), text
    assert not re.search(r"\s,|— ,|bureau —", text)


def test_amounts_accept_french_notation_and_messages_use_labels(demo, client_for, sample_pdf):
    from app_helpers import upload
    from sqlalchemy import select

    from parapheur.circuits.services import pending_steps
    from parapheur.db import get_session
    from parapheur.documents.models import Document

    finances = client_for("finances")
    refused = upload(finances, sample_pdf, typology="FACTURES/FACTURE", title="Facture ACME",
                     montant_ttc="douze mille", service_ordonnateur="services-techniques")
    assert refused.status_code == 400
    text = page_text(refused)
    assert "« Montant TTC (€) » : « douze mille » n'est pas valable" in text
    assert "montant_ttc »" not in text and "(montant_ttc)" not in text
    accepted = upload(finances, sample_pdf, typology="FACTURES/FACTURE", title="Facture ACME",
                      montant_ttc="95\u202f000,50", service_ordonnateur="services-techniques")
    assert accepted.status_code == 302, page_text(accepted)
    with demo.app_context():
        document = get_session().execute(
            select(Document).where(Document.title == "Facture ACME")).scalar_one()
        assert document.status.value == "en_cours" and pending_steps(document)
    from decimal import Decimal

    from parapheur.circuits.guards import coerce
    from parapheur.circuits.services import circuit_of

    with demo.app_context():
        spec = circuit_of(get_session().get(Document, document.id)).fields["montant_ttc"]
        assert coerce(spec, document.meta["montant_ttc"]) == Decimal("95000.50")
