"""`/api/v1/exports` over HTTP: the organisation's PES files (state, bordereaux, file), the
comptable's acquittements uploaded back once, bad input as problems, scopes and organisations."""

from __future__ import annotations

import hashlib
import io

from accounting_helpers import acquit_for, bordereau_in_circuit, demo_invoices, sign_as_maire
from api_helpers import neighbour_account
from app_helpers import db_snapshot
from sqlalchemy import select

from parapheur.accounting.models import BordereauMandats, BordereauState
from parapheur.context import store_for
from parapheur.db import get_session
from parapheur.outbox.services import deliver_due


def _signed_bordereau(demo, client_for, clock) -> int:
    bordereau_id, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2))
    assert sign_as_maire(client_for("maire"), document_id).status_code == 302
    return bordereau_id


def _snapshot(demo) -> dict:
    """The database, but for the tokens' « last used » moments each call refreshes."""
    return {t: rows for t, rows in db_snapshot(demo).items() if t != "api_tokens"}


def _upload(caller, kind: str, data: bytes, filename: str = "acquit.xml"):
    return caller.post("/api/v1/exports/returns", data={"kind": kind,
                                                        "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_an_exported_file_is_listed_read_downloaded_and_its_acquit_applied_once(
        demo, client_for, clock, tmp_path, shared_dir, token_for, api):
    demo.config["PES_DEPOSIT_DIR"] = tmp_path / "depot"
    bordereau_id = _signed_bordereau(demo, client_for, clock)
    assert [r.outcome for r in deliver_due(demo) if r.kind == "circuit.export"] == ["done"]
    finances = api(token_for("finances"))

    listed = finances.get("/api/v1/exports")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    (export,) = [e for e in listed.get_json()["items"]
                 if bordereau_id in [b["id"] for b in e["bordereaux"]]]
    assert export["status"] == "deposited" and export["deposited_at"]
    (deposited,) = (tmp_path / "depot").iterdir()
    assert export["deposited_to"] == str(deposited) and export["filename"] == deposited.name
    assert finances.get("/api/v1/exports?status=pending").get_json()["items"] == [
        e for e in listed.get_json()["items"] if e["status"] == "pending"]
    assert finances.get(f"/api/v1/exports/{export['id']}").get_json() == export

    download = finances.get(f"/api/v1/exports/{export['id']}/file")
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert download.data == deposited.read_bytes()
    assert hashlib.sha256(download.data).hexdigest() == export["sha256"]

    applied = _upload(finances, "acquit", acquit_for(shared_dir, [1]))
    assert applied.status_code == 201, applied.get_data(as_text=True)
    body = applied.get_json()
    assert body["applied_now"] is True and body["kind"] == "acquit"
    assert any("pris en charge" in change for change in body["changes"])
    assert finances.get(applied.headers["Location"]).get_json()["id"] == body["id"]
    with demo.app_context():
        assert get_session().get(BordereauMandats, bordereau_id).state \
            is BordereauState.PRIS_EN_CHARGE
    before = _snapshot(demo)
    again = _upload(finances, "acquit", acquit_for(shared_dir, [1]), "copie.xml")
    assert again.status_code == 201 and again.get_json()["applied_now"] is False
    assert again.get_json()["id"] == body["id"]
    assert _snapshot(demo) == before


def test_a_deposit_given_up_shows_the_export_failed(demo, client_for, clock, tmp_path,
                                                    token_for, api):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the deposit folder should be")
    demo.config.update(PES_DEPOSIT_DIR=blocker, OUTBOX_MAX_ATTEMPTS=1)
    bordereau_id = _signed_bordereau(demo, client_for, clock)
    assert [r.outcome for r in deliver_due(demo) if r.kind == "circuit.export"] != ["done"]
    finances = api(token_for("finances"))
    items = finances.get("/api/v1/exports?status=failed").get_json()["items"]
    (export,) = [e for e in items if bordereau_id in [b["id"] for b in e["bordereaux"]]]
    assert export["status"] == "failed" and export["deposited_at"] is None and export["error"]
    with demo.app_context():
        assert store_for(demo.config).read(export["sha256"])  # the file exists, once


def test_bad_returns_are_problems_that_change_nothing(demo, token_for, api):
    finances = api(token_for("finances"))
    before = _snapshot(demo)
    for kind, data, status in (("acquit", b"", 400), ("acquit", b"%PDF-1.7\n%%EOF\n", 422),
                               ("facture", b"<x/>", 422)):
        refused = _upload(finances, kind, data)
        assert refused.status_code == status, refused.get_data(as_text=True)
        assert refused.mimetype == "application/problem+json" and refused.get_json()["detail"]
    assert _snapshot(demo) == before


def test_scopes_roles_and_organisations_bound_the_exports(demo, token_for, api):
    reader = api(token_for("finances", ("exports:read",)))
    assert _upload(reader, "acquit", b"<x/>").get_json()["code"] == "insufficient_scope"
    assert api(token_for("finances", ("documents:read",))).get("/api/v1/exports").status_code \
        == 403
    assert api(token_for("maire")).get("/api/v1/exports").status_code == 403  # a signataire
    with demo.app_context():
        session = get_session()
        ids = [e.id for e in session.scalars(select(BordereauMandats.export_id)).all() if e]
    neighbour_account(demo, "agent-voisin", "agent")
    other = api(token_for("agent-voisin"))
    assert other.get("/api/v1/exports").get_json()["items"] == []
    for export_id in ids or [1]:
        assert other.get(f"/api/v1/exports/{export_id}").status_code == 404
        assert other.get(f"/api/v1/exports/{export_id}/file").status_code == 404
