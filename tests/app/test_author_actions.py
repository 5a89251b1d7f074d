"""Authors abandon a document (circuits with `on_cancel`) and replace its file before the first
action (issue #9, item 22)."""

from __future__ import annotations

import io

from app_helpers import csrf_from, db_snapshot, page_text, without_journal
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus, VersionKind
from parapheur.outbox.models import OutboxMessage
from parapheur.outbox.services import deliver_due


def _at_first_visa(demo) -> int:
    """A demo document waiting for the DGS's visa, nobody having acted on it yet."""
    with demo.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            if pending_steps(document)[0].state == "visa_dgs" and len(document.versions) == 1:
                return document.id
    raise AssertionError("no demo document waits for its first visa")


def _events(demo, name: str, document_id: int) -> list[dict]:
    with demo.app_context():
        return [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == name,
                                     AuditEvent.document_id == document_id)).scalars()]


def _never_quiet(client) -> None:
    page = client.get("/account").get_data(as_text=True)
    response = client.post("/account/notifications", data={
        "csrf_token": csrf_from(page), "mode": "immediat", "digest_hour": "8",
        "own_quiet_hours": "on", "quiet_start": "00:00", "quiet_end": "00:00"})
    assert response.status_code == 302, page_text(response)


def _deliver_everything(app) -> None:
    for _ in range(10):
        if not deliver_due(app):
            return
    raise AssertionError("the outbox never drained")


def test_the_author_abandons_a_document_with_a_reason(demo, client_for, mailbox):
    document_id = _at_first_visa(demo)
    _never_quiet(client_for("dgs"))  # whatever the hour the suite runs at
    finances = client_for("finances")
    page = page_text(finances.get(f"/documents/{document_id}"))
    assert "Abandonner le document" in page
    token = csrf_from(page)
    empty = finances.post(f"/documents/{document_id}/cancel",
                          data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 400
    assert "motif de l'abandon est obligatoire" in page_text(empty)
    with demo.app_context():
        assert get_session().get(Document, document_id).status is DocumentStatus.IN_PROGRESS
    response = finances.post(f"/documents/{document_id}/cancel",
                             data={"csrf_token": token, "reason": "Doublon du dossier 2026-14"})
    assert response.status_code == 302
    with demo.app_context():
        session = get_session()
        document = session.get(Document, document_id)
        assert document.status is DocumentStatus.CANCELLED
        assert pending_steps(document) == []
        notices = [m.payload for m in session.execute(
            select(OutboxMessage).where(OutboxMessage.document_id == document_id)).scalars()
            if m.payload.get("event") == "cancellation"]
    (journaled,) = _events(demo, "document:circuit:cancelled", document_id)
    assert journaled["reason"] == "Doublon du dossier 2026-14"
    assert journaled["actor"] == "finances"
    # The DGS, whose tray held it, is told why.
    assert notices and notices[0]["desks"] == ["dgs"]
    assert notices[0]["reason"] == "Doublon du dossier 2026-14"
    _deliver_everything(demo)
    [mail] = [m for m in mailbox.to("dgs@metropole-demo.test") if "Abandonné" in m["Subject"]]
    assert "abandonné par son auteur" in mailbox.text(mail)
    assert "Doublon du dossier 2026-14" in mailbox.text(mail)
    shown = page_text(finances.get(f"/documents/{document_id}"))
    assert "Abandonné" in shown and "Doublon du dossier 2026-14" in shown
    assert "Abandonner le document" not in shown
    # The DGS can no longer act on it.
    dgs = client_for("dgs")
    visa = dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                    data={"csrf_token": csrf_from(dgs.get("/").get_data(as_text=True))})
    assert visa.status_code == 409


def test_only_the_authors_desk_may_abandon(demo, client_for):
    document_id = _at_first_visa(demo)
    dgs = client_for("dgs")
    page = page_text(dgs.get(f"/documents/{document_id}"))
    assert "Abandonner le document" not in page
    before = db_snapshot(demo)
    response = dgs.post(f"/documents/{document_id}/cancel",
                        data={"csrf_token": csrf_from(page), "reason": "pas le mien"})
    assert response.status_code == 403
    assert without_journal(db_snapshot(demo)) == without_journal(before)


def test_the_author_replaces_the_file_before_the_first_action(demo, client_for, sample_pdf):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    document_id = _at_first_visa(demo)
    finances = client_for("finances")
    page = page_text(finances.get(f"/documents/{document_id}"))
    assert "Remplacer le fichier" in page
    token = csrf_from(page)
    before = db_snapshot(demo)
    broken = finances.post(f"/documents/{document_id}/file", content_type="multipart/form-data",
                           data={"csrf_token": token,
                                 "file": (io.BytesIO(b"%PDF-1.7\n garbage"), "nouveau.pdf")})
    assert broken.status_code == 400  # the checks of a deposit apply
    assert "PDF" in page_text(broken) and "Remplacer le fichier" in page_text(broken)
    assert without_journal(db_snapshot(demo)) == without_journal(before)
    writer = IncrementalPdfFileWriter(io.BytesIO(sample_pdf))  # a corrected file
    writer.root["/Lang"] = generic.TextStringObject("fr-FR")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    new_pdf = out.getvalue()
    assert new_pdf != sample_pdf
    response = finances.post(f"/documents/{document_id}/file",
                             content_type="multipart/form-data",
                             data={"csrf_token": token,
                                   "file": (io.BytesIO(new_pdf), "délibération corrigée.pdf")})
    assert response.status_code == 302, page_text(response)
    with demo.app_context():
        document = get_session().get(Document, document_id)
        versions = [(v.number, v.kind) for v in document.versions]
        assert versions == [(1, VersionKind.ORIGINAL), (2, VersionKind.REPLACED)]
        current = document.current_version
        assert current.filename.endswith(".pdf") and "corrig" in current.filename
        old_sha = document.versions[0].sha256
    assert finances.get(f"/documents/{document_id}/versions/2/file").data == new_pdf
    assert finances.get(f"/documents/{document_id}/versions/1/file").data != new_pdf
    (journaled,) = _events(demo, "document:file:replaced", document_id)
    assert journaled["previous_sha256"] == old_sha and journaled["version"] == 2
    # Once the DGS has given the visa, the file stays.
    dgs = client_for("dgs")
    assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa", data={
        "csrf_token": csrf_from(dgs.get("/").get_data(as_text=True))}).status_code == 302
    page = page_text(finances.get(f"/documents/{document_id}"))
    assert "Remplacer le fichier" not in page
    late = finances.post(f"/documents/{document_id}/file", content_type="multipart/form-data",
                         data={"csrf_token": csrf_from(page),
                               "file": (io.BytesIO(sample_pdf), "encore.pdf")})
    assert late.status_code == 409
    assert "ne peut plus être remplacé" in page_text(late)
