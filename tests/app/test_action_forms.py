"""A refused action shows its form again, with the message and what was entered (issue #9, 19)."""

from __future__ import annotations

import re

from app_helpers import all_at_signature, csrf_from, db_snapshot, page_text, without_journal
from sqlalchemy import select

from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document


def _waiting(demo, prefix: str) -> tuple[int, str, str]:
    with demo.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            step = pending_steps(document)[0].state
            if step.startswith(prefix):
                return document.id, step, document.title
    raise AssertionError(f"no demo document waits at a {prefix} step")


def _checked_items(page: str) -> set[str]:
    return set(re.findall(r'name="items" value="([^"]+)"[^>]* checked', page))


def test_a_wrong_code_shows_the_signature_form_again_without_the_code(demo, client_for):
    document_id, step, title = _waiting(demo, "signature")
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    before = db_snapshot(demo)
    response = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                          data={"csrf_token": token, "passphrase": "870412"})
    assert response.status_code == 400
    page = page_text(response)
    assert f"<h1>{title}</h1>" in page  # the document page, not a bare error page
    assert "Action impossible" not in page
    form = page.split(f"/steps/{step}/sign", 1)[1].split("</form>", 1)[0]
    assert 'name="passphrase"' in form
    assert re.search(r'role="alert">[^<]*incorrect', page)
    assert "870412" not in page  # the code is never given back
    assert without_journal(db_snapshot(demo)) == without_journal(before)
    # The form shown again works: the right code signs.
    again = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                       data={"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert again.status_code == 302


def test_an_empty_reason_shows_the_rejection_form_open(demo, client_for):
    document_id, step, title = _waiting(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    response = dgs.post(f"/documents/{document_id}/steps/{step}/reject",
                        data={"csrf_token": token, "reason": "   "})
    assert response.status_code == 400
    page = page_text(response)
    assert f"<h1>{title}</h1>" in page
    assert re.search(r'<details class="reject"[^>]* open>', page)
    assert re.search(r'role="alert">[^<]*[Mm]otif', page)


def test_a_too_long_reason_is_given_back_with_the_message(demo, client_for):
    document_id, step, _ = _waiting(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    reason = "Pièces manquantes : " + "la délibération n'a pas d'annexe. " * 80
    assert len(reason) > 2000
    before = db_snapshot(demo)
    response = dgs.post(f"/documents/{document_id}/steps/{step}/reject",
                        data={"csrf_token": token, "reason": reason})
    assert response.status_code == 400
    page = page_text(response)
    assert f">{reason}</textarea>" in page
    assert re.search(r'<details class="reject"[^>]* open>', page)
    assert without_journal(db_snapshot(demo)) == without_journal(before)


def test_a_refused_batch_keeps_the_ticks_of_the_inbox(demo, client_for):
    items = [f"{d}:{step}" for d, step in all_at_signature(demo, client_for)]
    maire = client_for("maire")
    token = csrf_from(maire.get("/").get_data(as_text=True))
    ticked = items[:2]
    response = maire.post("/signatures/batch", data={
        "csrf_token": token, "passphrase": "556677", "reviewed": "1", "items": ticked})
    assert response.status_code == 400
    page = page_text(response)
    assert "Bannettes" in page and "Signer la sélection" in page
    assert _checked_items(page) == set(ticked)
    assert re.search(r'name="reviewed" value="1" required checked', page)
    assert re.search(r'role="alert">[^<]*incorrect', page)
    assert "556677" not in page
    # Without the confirmation: the ticks stay, the confirmation box is not ticked for the user.
    response = maire.post("/signatures/batch", data={
        "csrf_token": csrf_from(page), "passphrase": "1234", "items": ticked})
    assert response.status_code == 400
    page = page_text(response)
    assert _checked_items(page) == set(ticked)
    assert "Confirmez avoir pris connaissance" in page
    assert not re.search(r'name="reviewed" value="1" required checked', page)
