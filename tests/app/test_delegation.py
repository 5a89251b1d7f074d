"""Delegations: a desk acts « en l'absence de » another between two dates; droit de remords."""

from __future__ import annotations

from datetime import timedelta

import pytest
from app_helpers import csrf_from
from sqlalchemy import select

from parapheur.accounts.models import Desk
from parapheur.accounts.services import create_delegation
from parapheur.audit.models import AuditEvent
from parapheur.circuits import services as circuits
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document
from parapheur.errors import ParapheurError


def _delegate(app, clock, from_slug, to_slug, *, days=(-1, 5), types=None):
    with app.app_context():
        session = get_session()
        desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
        with transaction(session):
            create_delegation(session, from_desk=desks[from_slug], to_desk=desks[to_slug],
                              starts_at=clock() + timedelta(days=days[0]),
                              ends_at=clock() + timedelta(days=days[1]), document_types=types,
                              now=clock())


def _first(app, action):
    with app.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = circuits.pending_steps(document)
            if pending and pending[0].action == action:
                return document.id, pending[0].state
    raise AssertionError(action)


def test_delegate_gives_the_visa_in_the_absence_of_the_desk(demo, client_for, clock):
    _delegate(demo, clock, "dgs", "finances")
    document_id, step = _first(demo, "visa")
    finances = client_for("finances")
    page = finances.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "en l'absence de son titulaire" in page
    response = finances.post(f"/documents/{document_id}/steps/{step}/visa",
                             data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    with demo.app_context():
        event = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "document:step:approved",
            AuditEvent.document_id == document_id)).scalar_one()
        assert event.details["en_l_absence_de"] == "dgs"
        assert event.details["actor"] == "finances"


def test_expired_or_other_type_delegation_gives_no_right(demo, client_for, clock):
    _delegate(demo, clock, "dgs", "finances", days=(-10, -2))
    _delegate(demo, clock, "dgs", "finances", types=["FACTURES"])
    document_id, step = _first(demo, "visa")
    finances = client_for("finances")
    token = csrf_from(finances.get("/").get_data(as_text=True))
    response = finances.post(f"/documents/{document_id}/steps/{step}/visa",
                             data={"csrf_token": token})
    assert response.status_code == 403


def test_delegation_dates_are_checked(demo, clock):
    with demo.app_context():
        session = get_session()
        desk = session.execute(select(Desk).where(Desk.slug == "dgs")).scalar_one()
        with pytest.raises(ParapheurError):
            create_delegation(session, from_desk=desk, to_desk=desk, starts_at=clock(),
                              ends_at=clock() + timedelta(days=1), now=clock())


def test_droit_de_remords_then_too_late(demo, client_for):
    document_id, step = _first(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    dgs.post(f"/documents/{document_id}/steps/{step}/visa", data={"csrf_token": token})
    page = dgs.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "Reprendre mon visa" in page
    response = dgs.post(f"/documents/{document_id}/take-back", data={"csrf_token": token})
    assert response.status_code == 302
    with demo.app_context():
        document = get_session().get(Document, document_id)
        assert circuits.pending_steps(document)[0].state == step
    # Visa again; the other desks cannot take it back, and once refused it is final.
    dgs.post(f"/documents/{document_id}/steps/{step}/visa", data={"csrf_token": token})
    maire = client_for("maire")
    maire_token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    response = maire.post(f"/documents/{document_id}/take-back", data={"csrf_token": maire_token})
    assert response.status_code == 403
