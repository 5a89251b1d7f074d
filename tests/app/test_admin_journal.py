"""The audit journal page: filters, keyset pages, chain verification, checkable export."""

from __future__ import annotations

import re
from datetime import timedelta

from app_helpers import csrf_from, page_text
from sqlalchemy import select, update
from test_inbox import _deposit

from parapheur.accounts.models import User
from parapheur.audit.bundle import check_journal_slice
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction

SEQ = re.compile(r"<tr><td>(\d+)</td>")
NEXT = re.compile(r'href="(/admin/journal/\?[^"]+)" rel="next"')


def _seqs(client, url: str) -> list[int]:
    seqs: list[int] = []
    for _ in range(50):
        response = client.get(url)
        assert response.status_code == 200, page_text(response)[:500]
        body = response.get_data(as_text=True)
        seqs += [int(n) for n in SEQ.findall(body)]
        found = NEXT.search(body)
        if not found:
            return seqs
        url = found.group(1).replace("&amp;", "&")
    raise AssertionError("too many pages")


def _events(demo, *where):
    """The events of the demo organisation's own chain (n° 1) matching `where`."""
    with demo.app_context():
        return get_session().execute(select(AuditEvent).where(AuditEvent.chain == 1, *where)
                                     .order_by(AuditEvent.seq.desc())).scalars().all()


def test_filters_and_pages_show_each_matching_event_once_newest_first(demo, client_for, clock,
                                                                     sample_pdf):
    _deposit(demo, sample_pdf, clock, 20)
    admin = client_for("admin")
    everything = _seqs(admin, "/admin/journal/")
    assert everything == [e.seq for e in _events(demo)]  # the organisation's whole chain
    assert len(everything) > 50  # so that pages were followed
    assert _seqs(admin, "/admin/journal/?document=1") == [
        e.seq for e in _events(demo, AuditEvent.document_id == 1)]
    assert _seqs(admin, "/admin/journal/?evenement=document:created") == [
        e.seq for e in _events(demo, AuditEvent.name == "document:created")]
    assert _seqs(admin, "/admin/journal/?evenement=document:") == [
        e.seq for e in _events(demo, AuditEvent.name.like("document:%"))]
    with demo.app_context():
        dgs = get_session().execute(select(User.id).where(User.username == "dgs")).scalar_one()
    admin_events = _seqs(admin, f"/admin/journal/?utilisateur={dgs}")
    assert admin_events == [e.seq for e in _events(demo, AuditEvent.actor_id == dgs)]
    tomorrow = (clock() + timedelta(days=2)).date().isoformat()
    assert _seqs(admin, f"/admin/journal/?du={tomorrow}") == []
    response = admin.get("/admin/journal/?du=hier")
    assert response.status_code == 400
    assert "« Du » : « hier » n'est pas une date" in page_text(response)


def test_verification_from_the_page_finds_a_tampered_event_and_is_journaled(demo, client_for):
    admin = client_for("admin")
    token = csrf_from(admin.get("/admin/journal/").get_data(as_text=True))
    assert admin.post("/admin/journal/verifier", data={}).status_code == 400  # CSRF
    page = page_text(admin.post("/admin/journal/verifier", data={"csrf_token": token}))
    assert "Chaîne intacte" in page
    original = _events(demo, AuditEvent.seq == 3)[0].details

    def set_details(details) -> None:
        with demo.app_context():
            session = get_session()
            with transaction(session):
                session.execute(update(AuditEvent).where(AuditEvent.seq == 3)
                                .values(details=details))

    set_details({"falsifié": True})
    page = page_text(admin.post("/admin/journal/verifier", data={"csrf_token": token}))
    assert "Chaîne rompue à l'événement n° 3 : le contenu de l'événement a été modifié" in page
    set_details(original)  # the demo fixture checks the chain at the end
    verified = _events(demo, AuditEvent.name == "audit:chain:verified")
    assert [e.details["intact"] for e in verified] == [False, True]


def test_an_exported_slice_checks_offline_and_the_export_is_journaled(demo, client_for):
    admin = client_for("admin")
    response = admin.get("/admin/journal/export.json?evenement=document:")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = response.get_json()
    assert [e["seq"] for e in data["events"]] == sorted(
        e.seq for e in _events(demo, AuditEvent.name.like("document:%")))
    assert check_journal_slice(data, one_document=False) == []
    one = admin.get("/admin/journal/export.json?document=1").get_json()
    assert one["document_id"] == 1 and check_journal_slice(one) == []
    data["events"][0]["content"]["details"] = {"autre": 1}
    assert check_journal_slice(data, one_document=False)  # a changed event is caught
    exports = _events(demo, AuditEvent.name == "audit:journal:exported")
    assert [e.details["filters"] for e in exports] == [{"document": "1"},
                                                       {"evenement": "document:"}]


def test_the_journal_pages_are_for_administrators_only(demo, client_for):
    for username in ("auditeur", "dgs"):
        client = client_for(username)
        assert client.get("/admin/journal/").status_code == 403
        assert client.get("/admin/journal/export.json").status_code == 403
        assert client.get("/admin/circuits/").status_code == 403
