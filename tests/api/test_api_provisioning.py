"""Invoices, delegations, users and desks through `/api/v1`, over the pages' services."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from parapheur.accounts.models import Desk, User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session


def _invoice_xml(number: str) -> bytes:
    from parapheur.invoices.generate import InvoiceSpec, cii_xml

    return cii_xml(InvoiceSpec(number=number, issue_date=date.today(),
                               buyer_name="Métropole de Démo", buyer_siret="21990001600011",
                               buyer_reference="finances"))


def test_invoice_import_read_and_statuses(demo, token_for, api):
    finances = api(token_for("finances"))
    imported = finances.post("/api/v1/invoices", data={
        "file": (io.BytesIO(_invoice_xml("API-2026-001")), "facture.xml")},
        content_type="multipart/form-data", headers={"Idempotency-Key": "facture-1"})
    assert imported.status_code == 201, imported.get_data(as_text=True)
    result = imported.json
    invoice = result["invoice"]
    assert invoice["number"] == "API-2026-001" and invoice["total_gross"] == "54.00"
    assert result["routed"] is True and invoice["document_id"]
    replay = finances.post("/api/v1/invoices", data={
        "file": (io.BytesIO(_invoice_xml("API-2026-001")), "facture.xml")},
        content_type="multipart/form-data", headers={"Idempotency-Key": "facture-1"})
    assert replay.json["invoice"]["id"] == invoice["id"]  # not a duplicate: the same answer
    read = finances.get(f"/api/v1/invoices/{invoice['id']}")
    assert read.status_code == 200 and read.json["seller_siren"] == "732829320"
    statuses = finances.get(f"/api/v1/invoices/{invoice['id']}/statuses").json
    assert [s["status"] for s in statuses][:1] == ["deposee"]
    duplicate = finances.post("/api/v1/invoices", data={
        "file": (io.BytesIO(_invoice_xml("API-2026-001")), "encore.xml")},
        content_type="multipart/form-data")
    assert duplicate.status_code == 201 and duplicate.json["routed"] is False
    assert "doublon" in duplicate.json["summary"]
    maire = api(token_for("maire"))
    assert maire.get(f"/api/v1/invoices/{invoice['id']}").json["code"] == "forbidden"
    assert finances.get("/api/v1/invoices/999999").status_code == 404


def test_delegations_through_the_api(demo, token_for, api):
    maire = api(token_for("maire"))
    created = maire.post("/api/v1/delegations", json={
        "from_desk": "maire", "to_desk": "adjoint", "first_day": "2026-12-20",
        "last_day": "2026-12-31", "document_types": ["ACTES"]})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["from_desk"] == "maire" and created.json["document_types"] == ["ACTES"]
    assert [d["id"] for d in maire.get("/api/v1/delegations").json] == [created.json["id"]]
    others = maire.post("/api/v1/delegations", json={
        "from_desk": "dgs", "to_desk": "adjoint", "first_day": "2026-12-20",
        "last_day": "2026-12-31"})
    assert others.status_code == 403
    backwards = maire.post("/api/v1/delegations", json={
        "from_desk": "maire", "to_desk": "adjoint", "first_day": "2026-12-31",
        "last_day": "2026-12-20"})
    assert backwards.status_code == 400
    assert maire.post("/api/v1/delegations", json={"from_desk": "maire"}).status_code == 422


def test_users_and_desks_provisioning_by_administrators(demo, token_for, api):
    admin = api(token_for("admin"))
    desk = admin.post("/api/v1/desks", json={"slug": "urbanisme", "name": "Service urbanisme",
                                             "members": ["dgs"]})
    assert desk.status_code == 201 and desk.json["members"] == ["dgs"]
    user = admin.post("/api/v1/users", json={
        "username": "instructeur", "full_name": "Iris Instructrice", "role": "agent",
        "password": "un-mot-de-passe-long", "desks": ["urbanisme"],
        "email": "iris@metropole-demo.test"})
    assert user.status_code == 201, user.get_data(as_text=True)
    assert user.json["desks"] == ["urbanisme"] and "password" not in user.json
    taken = admin.post("/api/v1/users", json={
        "username": "instructeur", "full_name": "Autre", "role": "agent",
        "password": "un-mot-de-passe-long"})
    assert taken.status_code == 409 and "déjà pris" in taken.json["detail"]
    assert "instructeur" in [u["username"] for u in admin.get("/api/v1/users").json]
    assert "urbanisme" in [d["slug"] for d in admin.get("/api/v1/desks").json]
    with demo.app_context():
        session = get_session()
        assert session.execute(select(User).where(User.username == "instructeur")).scalar_one()
        assert session.execute(select(Desk).where(Desk.slug == "urbanisme")).scalar_one()
        created = session.execute(select(AuditEvent).where(
            AuditEvent.name == "account:user:created")).scalars().all()
        assert created[-1].actor_label == "admin"
    # An agent's token never provisions, whatever it asks for.
    agent = api(token_for("dgs"))
    assert agent.post("/api/v1/desks", json={"slug": "x", "name": "X"}).status_code == 403
