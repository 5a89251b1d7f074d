"""Acting on steps through HTTP: only the right desk, only once, with the passphrase it needs."""

from __future__ import annotations

from app_helpers import csrf_from, db_snapshot, first_waiting, page_text, upload, without_journal
from sqlalchemy import select

from parapheur.audit.services import verify_chain
from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document


def test_second_visa_on_the_same_step_is_already_processed(demo, client_for):
    document_id, step = first_waiting(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    assert dgs.post(f"/documents/{document_id}/steps/{step}/visa",
                    data={"csrf_token": token}).status_code == 302
    before = db_snapshot(demo)
    again = dgs.post(f"/documents/{document_id}/steps/{step}/visa", data={"csrf_token": token})
    assert again.status_code == 409
    assert "déjà" in page_text(again)
    assert db_snapshot(demo) == before


def _deposit_as(client, sample_pdf, title: str) -> int:
    """A délibération deposited by this client's user (so that they may see it), at visa_dgs."""
    assert upload(client, sample_pdf, title=title).status_code == 302
    with client.application.app_context():
        return get_session().execute(select(Document.id).where(Document.title == title)).scalar_one()


def test_user_of_another_desk_gets_403(demo, client_for, sample_pdf):
    adjoint = client_for("adjoint")  # member of the adjoint desk, not of the DGS desk
    document_id = _deposit_as(adjoint, sample_pdf, "Délibération de l'adjoint")
    page = adjoint.get(f"/documents/{document_id}")
    assert page.status_code == 200  # the author sees it: the refusal below is about the desk
    before = db_snapshot(demo)
    response = adjoint.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                            data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 403
    assert "ni membre ni délégataire du bureau" in page_text(response)
    assert db_snapshot(demo) == before


def test_maire_cannot_sign_before_the_visa(demo, client_for, sample_pdf):
    maire = client_for("maire")
    document_id = _deposit_as(maire, sample_pdf, "Délibération déposée par le Maire")
    with demo.app_context():
        document = get_session().get(Document, document_id)
        assert [p.state for p in pending_steps(document)] == ["visa_dgs"]
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    sign = {"csrf_token": token, "passphrase": "1234"}
    before = db_snapshot(demo)
    response = maire.post(f"/documents/{document_id}/steps/signature_maire/sign", data=sign)
    assert response.status_code == 409
    assert "« signature_maire » n'est plus en attente" in page_text(response)
    assert db_snapshot(demo) == before
    # The very same request, once the DGS has given the visa, signs: the step was the right one.
    dgs = client_for("dgs")
    page = dgs.get(f"/documents/{document_id}").get_data(as_text=True)
    assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                    data={"csrf_token": csrf_from(page)}).status_code == 302
    assert maire.post(f"/documents/{document_id}/steps/signature_maire/sign",
                      data=sign).status_code == 302
    with demo.app_context():
        assert get_session().get(Document, document_id).current_version.kind.value == "signature"


def test_wrong_certificate_passphrase_leaves_the_document_unsigned(demo, client_for):
    document_id, step = first_waiting(demo, "signature")
    maire = client_for("maire")
    page = maire.get(f"/documents/{document_id}").get_data(as_text=True)
    before = db_snapshot(demo)
    store_before = sorted(p.name for p in (demo.config["DATA_DIR"] / "store").glob("*/*"))
    response = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                          data={"csrf_token": csrf_from(page), "passphrase": "0000"})
    assert response.status_code == 400
    assert "incorrect" in page_text(response)
    assert without_journal(db_snapshot(demo)) == without_journal(before)
    assert sorted(p.name for p in (demo.config["DATA_DIR"] / "store").glob("*/*")) == store_before


def test_rejection_needs_a_reason_and_then_ends_the_circuit(demo, client_for):
    document_id, step = first_waiting(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    before = db_snapshot(demo)
    response = dgs.post(f"/documents/{document_id}/steps/{step}/reject",
                        data={"csrf_token": token, "reason": "  "})
    assert response.status_code == 400
    assert "motif" in page_text(response).lower()
    assert db_snapshot(demo) == before
    response = dgs.post(f"/documents/{document_id}/steps/{step}/reject",
                        data={"csrf_token": token, "reason": "Montant erroné à l'article 1"})
    assert response.status_code == 302
    with demo.app_context():
        document = get_session().get(Document, document_id)
        assert not pending_steps(document) or document.status.value != "en_cours"
        assert verify_chain(get_session()).intact


def test_anonymous_users_are_sent_to_login(demo):
    client = demo.test_client()
    response = client.get("/documents/1")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_download_of_a_missing_version_is_404(demo, client_for):
    document_id, _ = first_waiting(demo, "visa")
    response = client_for("dgs").get(f"/documents/{document_id}/versions/99/file")
    assert response.status_code == 404


def test_tampered_stored_file_is_never_served(demo, client_for):
    document_id, _ = first_waiting(demo, "visa")
    with demo.app_context():
        sha = get_session().get(Document, document_id).current_version.sha256
    path = demo.config["DATA_DIR"] / "store" / sha[:2] / sha[2:]
    path.chmod(0o640)
    path.write_bytes(path.read_bytes() + b"% altered\n")
    response = client_for("dgs").get(f"/documents/{document_id}/versions/1/file")
    assert response.status_code == 500
    assert "altéré" in page_text(response)
