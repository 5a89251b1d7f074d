"""The administrator's side of card signing: approving the certificates users registered from the
agent, and the organisation's policy on server-held keys (officials kept to their own card)."""

from __future__ import annotations

import base64

import pytest
from agent_helpers import at_signature, load_p12
from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import select
from test_agent_server import card_signatures, finish, post_json, prepare

from parapheur.audit.models import AuditEvent
from parapheur.db import get_session
from parapheur.signatures.agent_models import RegisteredCertificate

pytestmark = pytest.mark.slow

b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731


@pytest.fixture
def signing_demo(demo, demo_pki):
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    return demo


@pytest.fixture
def maire_card(demo_pki):
    return load_p12(demo_pki, "maire")


def _events(app, name: str) -> list[dict]:
    with app.app_context():
        return [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.seq)).scalars()]


def _post(client, url: str, **data):
    token = csrf_from(client.get("/admin/signature/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_the_administrator_approves_and_withdraws_registered_certificates(
        signing_demo, client_for, demo_pki, maire_card):
    items = at_signature(signing_demo, client_for)
    maire, admin = client_for("maire"), client_for("admin")
    _, other_cert, _ = load_p12(demo_pki, "adjoint")
    registered = post_json(maire, "/signatures/agent/certificates",
                           {"certificate": b64(other_cert)}).get_json()

    page = page_text(admin.get("/admin/signature/"))
    assert "Martine Dupont" in page and "en attente d'approbation" in page
    assert registered["sha256"][:16] in page
    # Only administrators see or change it.
    assert maire.get("/admin/signature/").status_code == 403
    assert maire.post(f"/admin/signature/certificats/{registered['id']}/approuver",
                      data={"csrf_token": csrf_from(maire.get("/").get_data(as_text=True))}
                      ).status_code == 403
    assert _post(admin, f"/admin/signature/certificats/{registered['id']}/approuver",
                 csrf_token="").status_code == 400  # no CSRF token, no change

    response = _post(admin, f"/admin/signature/certificats/{registered['id']}/approuver")
    assert response.status_code == 302
    assert "approuvé le" in page_text(admin.get("/admin/signature/"))
    [approved] = _events(signing_demo, "signature:certificate:approved")
    assert approved["registration"] == registered["id"]
    again = _post(admin, f"/admin/signature/certificats/{registered['id']}/approuver")
    assert again.status_code == 409 and "déjà approuvé" in page_text(again)
    missing = _post(admin, "/admin/signature/certificats/999/approuver")
    assert missing.status_code == 404 and "Aucun certificat enregistré n° 999" in page_text(missing)

    # From now on her usual card is not one of her approved certificates: refused.
    _, cert, chain = maire_card
    refused = post_json(maire, "/signatures/agent/prepare",
                        {"items": items[:1], "certificate": b64(cert), "chain": []})
    assert refused.status_code == 400 and "enregistrés" in refused.get_json()["error"]

    assert _post(admin, f"/admin/signature/certificats/{registered['id']}/retirer"
                 ).status_code == 302
    [withdrawn] = _events(signing_demo, "signature:certificate:withdrawn")
    assert withdrawn["was_approved"] is True
    with signing_demo.app_context():
        assert get_session().execute(select(RegisteredCertificate)).all() == []
    prepare(maire, items[:1], maire_card)  # no registration left: any acceptable card serves


def test_an_organisation_keeps_its_officials_to_their_own_card(signing_demo, client_for,
                                                               maire_card):
    items = at_signature(signing_demo, client_for)
    maire, admin = client_for("maire"), client_for("admin")
    document_id, step = items[0].split(":")
    assert "Code de votre certificat" in page_text(maire.get(f"/documents/{document_id}"))

    assert _post(admin, "/admin/signature/politique", officials_card_only="peut-être"
                 ).status_code == 400
    assert _post(admin, "/admin/signature/politique", officials_card_only="1").status_code == 302
    assert "uniquement avec leur propre carte" in page_text(admin.get("/admin/signature/"))
    [changed] = _events(signing_demo, "organisation:signing_policy:updated")
    assert changed["officials_card_only"] is True

    # The pages offer only the card …
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "Code de votre certificat" not in page
    assert "réserve la signature des élus à leur propre carte" in page
    assert "Code de votre certificat" not in page_text(maire.get("/"))
    # … and the signing service refuses the server-held key, whatever the page sent.
    before = db_snapshot(signing_demo)
    token = csrf_from(maire.get("/").get_data(as_text=True))
    single = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                        data={"csrf_token": token, "passphrase": "1234"})
    assert single.status_code == 403
    assert "réserve la signature des élus à leur propre carte" in page_text(single)
    batch = maire.post("/signatures/batch", data={"csrf_token": token, "items": items,
                                                  "reviewed": "1", "passphrase": "1234"})
    assert batch.status_code == 403
    assert db_snapshot(signing_demo) == before

    # Her card through the agent still signs.
    prepared = prepare(maire, items[:1], maire_card)
    result = finish(maire, prepared, card_signatures(maire_card, prepared)).get_json()
    assert result["failed"] == [] and len(result["signed"]) == 1

    # Lifted again: the server-held key signs for her.
    assert _post(admin, "/admin/signature/politique", officials_card_only="0").status_code == 302
    document_id, step = items[1].split(":")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    assert maire.post(f"/documents/{document_id}/steps/{step}/sign",
                      data={"csrf_token": token, "passphrase": "1234"}).status_code == 302
