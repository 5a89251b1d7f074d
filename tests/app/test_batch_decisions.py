"""Batch visa and batch rejection from « À traiter »: a summary first, then a true line each."""

from __future__ import annotations

from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import select
from test_inbox import _deposit

from parapheur.audit.models import AuditEvent
from parapheur.circuits.models import StepAction
from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus


def _post(client, url, **data):
    token = csrf_from(client.get("/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _state(demo, ids):
    with demo.app_context():
        session = get_session()
        return {d.id: (d.status, [p.state for p in pending_steps(d)]) for d in session.execute(
            select(Document).where(Document.id.in_(ids))).scalars()}


def test_the_summary_lists_the_ticked_documents_and_changes_nothing(demo, client_for, clock,
                                                                   sample_pdf):
    made = _deposit(demo, sample_pdf, clock, 3)
    dgs = client_for("dgs")
    inbox = dgs.get("/").get_data(as_text=True)
    assert 'formaction="/bannette/lot"' in inbox and 'value="visa"' in inbox
    before = db_snapshot(demo)
    items = [f"{n}:visa_dgs" for n in made] + ["3:signature_maire", "999:visa_dgs"]
    response = _post(dgs, "/bannette/lot", action="visa", items=items)
    assert response.status_code == 200
    page = page_text(response)
    for n in made:
        assert f"Pièce ACTES {made.index(n):03d}" in page
    assert "Document n° 999 indisponible." in page
    assert "Viser 3 document(s)" in page
    assert page.count('name="items"') == 3  # only what can take the visa is carried on
    assert db_snapshot(demo) == before


def test_batch_visa_reports_each_document_truly(demo, client_for, clock, sample_pdf):
    made = _deposit(demo, sample_pdf, clock, 3)
    dgs = client_for("dgs")
    # Another DGS session gives the visa on the second one between the summary and the decision.
    other = client_for("dgs")
    token = csrf_from(other.get(f"/documents/{made[1]}").get_data(as_text=True))
    assert other.post(f"/documents/{made[1]}/steps/visa_dgs/visa",
                      data={"csrf_token": token}).status_code == 302
    items = [f"{n}:visa_dgs" for n in made] + ["3:visa_dgs"]  # n° 3 waits for the Maire's desk
    response = _post(dgs, "/bannette/lot/confirmer", action="visa", items=items, reviewed="1")
    assert response.status_code == 200
    page = page_text(response)
    assert "2 document(s) visé(s) sur 4." in page
    assert page.count("Fait : Visa donné (Visa du DGS).") == 2
    assert "déjà traité" in page
    assert page.count("Non fait") == 2
    state = _state(demo, [*made, 3])
    assert state[made[0]][1] == ["signature_maire"] and state[made[2]][1] == ["signature_maire"]
    assert state[3][1] == ["signature_maire"]  # untouched
    with demo.app_context():
        session = get_session()
        acted = session.execute(select(StepAction.document_id).where(
            StepAction.document_id.in_(made), StepAction.decision == "approve")).scalars().all()
        events = session.execute(select(AuditEvent.document_id).where(
            AuditEvent.document_id.in_(made), AuditEvent.name.like("%approved%"))).scalars().all()
    assert sorted(acted) == sorted(made)  # two by the batch, one by the other session
    assert set(events) >= {made[0], made[2]}


def test_batch_reject_gives_every_document_the_same_reason(demo, client_for, clock, sample_pdf):
    made = _deposit(demo, sample_pdf, clock, 2)
    dgs = client_for("dgs")
    items = [f"{n}:visa_dgs" for n in made]
    summary = page_text(_post(dgs, "/bannette/lot", action="rejet", items=items))
    assert "Motif du rejet (le même pour chaque document)" in summary
    before = db_snapshot(demo)
    refused = _post(dgs, "/bannette/lot/confirmer", action="rejet", items=items, reviewed="1",
                    reason="  ")
    assert refused.status_code == 400
    assert "Le motif du rejet est obligatoire." in page_text(refused)
    assert db_snapshot(demo) == before
    unreviewed = _post(dgs, "/bannette/lot/confirmer", action="rejet", items=items,
                       reason="Pièces manquantes")
    assert unreviewed.status_code == 400
    assert "Pièces manquantes" in page_text(unreviewed)  # what was typed comes back
    assert db_snapshot(demo) == before
    done = _post(dgs, "/bannette/lot/confirmer", action="rejet", items=items, reviewed="1",
                 reason="Pièces manquantes")
    assert "2 document(s) rejeté(s) sur 2." in page_text(done)
    with demo.app_context():
        session = get_session()
        rows = session.execute(select(Document.status, StepAction.reason).join(
            StepAction, StepAction.document_id == Document.id).where(
            Document.id.in_(made), StepAction.decision == "reject")).all()
    assert rows == [(DocumentStatus.REJECTED, "Pièces manquantes")] * 2


def test_a_signature_step_is_not_visaed_in_a_batch(demo, client_for):
    maire = client_for("maire")
    with demo.app_context():
        document = get_session().get(Document, 3)
        step = pending_steps(document)[0].state
    summary = page_text(_post(maire, "/bannette/lot", action="visa", items=[f"3:{step}"]))
    assert "cette étape demande une signature : elle ne se vise pas." in summary
    response = _post(maire, "/bannette/lot/confirmer", action="visa", items=[f"3:{step}"],
                     reviewed="1")
    assert "0 document(s) visé(s) sur 1." in page_text(response)
    assert _state(demo, [3])[3][1] == [step]


def test_malformed_batches_are_clear_400s(demo, client_for):
    dgs = client_for("dgs")
    cases = [({"action": "visa"}, "Cochez au moins un document."),
             ({"action": "signer", "items": "1:visa_dgs"}, "Choisissez « Viser la sélection »"),
             ({"action": "visa", "items": "un:visa_dgs"}, "identifiant invalide"),
             ({"action": "visa", "items": [f"{n}:visa_dgs" for n in range(1, 203)]},
              "200 documents au plus")]
    for data, message in cases:
        for url in ("/bannette/lot", "/bannette/lot/confirmer"):
            response = _post(dgs, url, **data)
            assert response.status_code == 400, (url, data)
            assert message in page_text(response)
