"""Delegations set in the browser: the official away hands the desk's work over, then takes it back."""

from __future__ import annotations

from datetime import timedelta

from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import select

from parapheur.accounts.models import Delegation, Desk
from parapheur.dates import PARIS
from parapheur.db import get_session


def _desk_id(app, slug: str) -> int:
    with app.app_context():
        return get_session().execute(select(Desk.id).where(Desk.slug == slug)).scalar_one()


def _days(clock, first: int, last: int) -> dict[str, str]:
    today = clock().astimezone(PARIS).date()
    return {"starts": (today + timedelta(days=first)).isoformat(),
            "ends": (today + timedelta(days=last)).isoformat()}


def _post(client, **fields):
    token = csrf_from(client.get("/delegations").get_data(as_text=True))
    return client.post("/delegations", data={"csrf_token": token, **fields})


def test_the_maire_delegates_to_the_adjoint_then_ends_it(demo, client_for, clock):
    maire, adjoint = client_for("maire"), client_for("adjoint")
    assert "Convention de mise à disposition" not in adjoint.get("/").get_data(as_text=True)
    response = _post(maire, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "adjoint"),
                     **_days(clock, 0, 7))
    assert response.status_code == 302
    inbox = page_text(adjoint.get("/"))
    assert "Convention de mise à disposition" in inbox
    assert "en l'absence de son titulaire" in inbox

    with demo.app_context():
        delegation_id = get_session().execute(select(Delegation.id)).scalar_one()
    token = csrf_from(maire.get("/delegations").get_data(as_text=True))
    assert maire.post(f"/delegations/{delegation_id}/end",
                      data={"csrf_token": token}).status_code == 302
    assert "Convention de mise à disposition" not in adjoint.get("/").get_data(as_text=True)


def test_delegation_for_other_types_only_gives_nothing_here(demo, client_for, clock):
    maire, adjoint = client_for("maire"), client_for("adjoint")
    _post(maire, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "adjoint"),
          types="FACTURES", **_days(clock, 0, 7))
    assert "Convention de mise à disposition" not in adjoint.get("/").get_data(as_text=True)


def test_bad_delegations_are_refused_and_change_nothing(demo, client_for, clock):
    maire, dgs = client_for("maire"), client_for("dgs")
    before = db_snapshot(demo)
    ends_before_start = _post(maire, from_desk=_desk_id(demo, "maire"),
                              to_desk=_desk_id(demo, "adjoint"), **_days(clock, 5, 2))
    assert ends_before_start.status_code == 400
    assert "fin de la délégation" in page_text(ends_before_start)
    bad_date = _post(maire, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "adjoint"),
                     starts="demain", ends="2026-13-45")
    assert bad_date.status_code == 400 and "invalide" in page_text(bad_date)
    to_itself = _post(maire, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "maire"),
                      **_days(clock, 0, 2))
    assert to_itself.status_code == 400
    not_my_desk = _post(dgs, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "dgs"),
                        **_days(clock, 0, 2))
    assert not_my_desk.status_code == 403
    unknown_type = _post(maire, from_desk=_desk_id(demo, "maire"),
                         to_desk=_desk_id(demo, "adjoint"), types="INCONNU", **_days(clock, 0, 2))
    assert unknown_type.status_code == 400
    out_of_range = _post(maire, from_desk=_desk_id(demo, "maire"),
                         to_desk=_desk_id(demo, "adjoint"), starts="0001-01-01", ends="9999-12-31")
    assert out_of_range.status_code == 400
    assert db_snapshot(demo) == before


def test_only_the_delegating_desk_may_end_it(demo, client_for, clock):
    maire, adjoint = client_for("maire"), client_for("adjoint")
    _post(maire, from_desk=_desk_id(demo, "maire"), to_desk=_desk_id(demo, "adjoint"),
          **_days(clock, 0, 7))
    with demo.app_context():
        delegation_id = get_session().execute(select(Delegation.id)).scalar_one()
    before = db_snapshot(demo)
    token = csrf_from(adjoint.get("/delegations").get_data(as_text=True))
    assert adjoint.post(f"/delegations/{delegation_id}/end",
                        data={"csrf_token": token}).status_code == 403
    assert db_snapshot(demo) == before
