"""The server's side of signing with the official's card: prepare, finish, and every refusal."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from agent_helpers import at_signature, load_p12
from app_helpers import csrf_from, db_snapshot, page_text, run_cli
from checks import assert_pdfsig_valid, assert_pyhanko_valid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus
from parapheur.signatures.agent_models import AgentSigningSession, RegisteredCertificate

b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731


@pytest.fixture
def signing_demo(demo, demo_pki):
    """The demo with its CA as trust anchor and every document waiting for the Maire."""
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    return demo


def post_json(client, url: str, body: dict, *, csrf: bool = True):
    headers = {"Accept": "application/json"}
    if csrf:
        headers["X-CSRFToken"] = csrf_from(client.get("/").get_data(as_text=True))
    return client.post(url, data=json.dumps(body), content_type="application/json",
                       headers=headers)


def prepare(client, items, card) -> dict:
    _, cert, chain = card
    response = post_json(client, "/signatures/agent/prepare",
                         {"items": items, "certificate": b64(cert), "chain": [b64(c) for c in chain]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def card_signatures(card, prepared: dict) -> list[dict]:
    """What the agent returns: the card's signature of each prepared hash."""
    key = card[0]
    return [{"document_id": d["document_id"],
             "signature": b64(key.sign(base64.b64decode(d["hash"]), PKCS1v15(),
                                       Prehashed(hashes.SHA256())))}
            for d in prepared["documents"]]


def finish(client, prepared: dict, signatures: list[dict]):
    return post_json(client, "/signatures/agent/finish",
                     {"session": prepared["session"], "signatures": signatures})


@pytest.fixture
def maire_card(demo_pki):
    return load_p12(demo_pki, "maire")


def test_the_maire_signs_three_documents_with_her_card(signing_demo, client_for, maire_card,
                                                       demo_pki, pdfsig, tmp_path):
    items = at_signature(signing_demo, client_for)
    maire = client_for("maire")
    prepared = prepare(maire, items, maire_card)
    assert len(prepared["documents"]) == 3 and prepared["refused"] == []
    # The request for the agent is signed by the server's pairing key, whose public half the
    # pairing endpoint gives.
    pairing = maire.get("/signatures/agent/pairing").get_json()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(pairing["server_key"])).verify(
        base64.b64decode(prepared["request_signature"]), prepared["request"].encode())
    request = json.loads(prepared["request"])
    assert request["origin"] == pairing["origin"] and request["session"] == prepared["session"]
    assert [d["hash"] for d in request["documents"]] == [d["hash"] for d in prepared["documents"]]

    response = finish(maire, prepared, card_signatures(maire_card, prepared))
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["failed"] == [] and len(result["signed"]) == 3
    with signing_demo.app_context():
        session = get_session()
        documents = session.execute(select(Document).order_by(Document.id)).scalars().all()
        assert all(d.status is DocumentStatus.APPROVED for d in documents)
        numbers = [(d.id, d.current_version.number) for d in documents]
        names = session.execute(select(AuditEvent.name)).scalars().all()
        assert "signature:agent-session:prepared" in names
        assert "signature:agent-session:finished" in names
        spent = session.execute(select(AgentSigningSession)).scalar_one()
        assert spent.finished_at is not None
        assert all(item.prepared_pdf is None for item in spent.items)
    for document_id, number in numbers:
        pdf = maire.get(f"/documents/{document_id}/versions/{number}/file").data
        report = assert_pdfsig_valid(pdfsig, pdf, tmp_path, 1)
        assert "Signer Certificate Common Name: Martine Dupont" in report
        assert_pyhanko_valid(pdf, demo_pki.ca_certificate_path, 1)


def test_a_late_finish_is_refused_and_the_delay_is_configurable(signing_demo, client_for,
                                                                 maire_card, clock):
    items = at_signature(signing_demo, client_for)
    maire = client_for("maire")
    prepared = prepare(maire, items[:1], maire_card)
    signatures = card_signatures(maire_card, prepared)
    before = db_snapshot(signing_demo)
    clock.moment += timedelta(minutes=10)
    late = finish(maire, prepared, signatures)
    assert late.status_code == 410 and "expiré" in late.get_json()["error"]
    assert db_snapshot(signing_demo) == before
    signing_demo.config["AGENT_PREPARE_MINUTES"] = 30
    second = prepare(maire, items[1:2], maire_card)
    with signing_demo.app_context():
        # The expired preparation's PDF is dropped by the next one; the new one keeps its own.
        kept = {row.token: [i.prepared_pdf is not None for i in row.items] for row in
                get_session().execute(select(AgentSigningSession)).scalars()}
    assert kept == {prepared["session"]: [False], second["session"]: [True]}
    prepared = second
    clock.moment += timedelta(minutes=20)
    assert finish(maire, prepared, card_signatures(maire_card, prepared)).get_json()["failed"] == []


def test_a_finish_that_does_not_match_or_finds_a_changed_document(signing_demo, client_for,
                                                                  maire_card, demo_pki):
    items = at_signature(signing_demo, client_for)
    maire = client_for("maire")
    prepared = prepare(maire, items, maire_card)
    signatures = card_signatures(maire_card, prepared)
    adjoint = client_for("adjoint")
    before = db_snapshot(signing_demo)
    # One signature short; one for a document that was not prepared; someone else's finish.
    assert finish(maire, prepared, signatures[:2]).status_code == 409
    assert finish(maire, prepared, [*signatures[:2], {**signatures[2], "document_id": 999}]
                  ).status_code == 409
    assert finish(adjoint, prepared, signatures).status_code == 404
    assert db_snapshot(signing_demo) == before

    # Meanwhile the first document is signed another way (a new version, the step done)...
    first_id, step = items[0].split(":")
    page = maire.get(f"/documents/{first_id}").get_data(as_text=True)
    assert maire.post(f"/documents/{first_id}/steps/{step}/sign", data={
        "csrf_token": csrf_from(page), "passphrase": "1234"}).status_code == 302
    # ... and the second one comes back signed by another key than the prepared certificate's.
    impostor = (load_p12(demo_pki, "adjoint")[0],)
    signatures[1] = card_signatures(impostor, prepared)[1]
    with signing_demo.app_context():
        versions = {d.id: len(d.versions) for d in
                    get_session().execute(select(Document)).scalars()}
    result = finish(maire, prepared, signatures).get_json()
    assert [d["document_id"] for d in result["signed"]] == [int(items[2].split(":")[0])]
    changed, mismatch = result["failed"]
    assert "a changé depuis la préparation" in changed["reason"]
    assert "ne correspond pas au certificat" in mismatch["reason"]
    with signing_demo.app_context():
        after = {d.id: len(d.versions) for d in get_session().execute(select(Document)).scalars()}
    assert after == {**versions, int(items[2].split(":")[0]): versions[int(items[2].split(":")[0])] + 1}
    # And the spent preparation cannot be finished again.
    replay = finish(maire, prepared, signatures)
    assert replay.status_code == 409 and "déjà été terminée" in replay.get_json()["error"]


def test_unacceptable_certificates_prepare_nothing(signing_demo, client_for, demo_pki,
                                                   maire_card):
    items = at_signature(signing_demo, client_for)
    maire = client_for("maire")
    before = db_snapshot(signing_demo)
    for name, says in [("revoked", "révoqué"), ("untrusted", "autorité de confiance"),
                       ("expired", "expiré")]:
        _, cert, chain = load_p12(demo_pki, name)
        response = post_json(maire, "/signatures/agent/prepare",
                             {"items": items, "certificate": b64(cert),
                              "chain": [b64(c) for c in chain]})
        assert response.status_code == 400 and says in response.get_json()["error"], name
    assert db_snapshot(signing_demo) == before

    # She registers another certificate of hers; once the administrator approves it, only
    # that one serves.
    _, other_cert, _ = load_p12(demo_pki, "adjoint")
    registered = post_json(maire, "/signatures/agent/certificates", {"certificate": b64(other_cert)})
    assert registered.status_code == 201, registered.get_data(as_text=True)
    prepare(maire, items[:1], maire_card)  # not approved yet: any acceptable one serves
    listed = run_cli(signing_demo, "certificates", "list")
    assert "en attente d'approbation" in listed.stdout and "maire" in listed.stdout
    approved = run_cli(signing_demo, "certificates", "approve", str(registered.get_json()["id"]),
                       "--admin", "admin")
    assert approved.returncode == 0, approved.stderr
    with signing_demo.app_context():
        session = get_session()
        assert session.execute(select(AuditEvent).where(
            AuditEvent.name == "signature:certificate:approved")).scalar_one()
        assert session.execute(select(RegisteredCertificate)).scalar_one().approved_at
    _, cert, _ = maire_card
    refused = post_json(maire, "/signatures/agent/prepare",
                        {"items": items[:1], "certificate": b64(cert), "chain": []})
    assert refused.status_code == 400 and "enregistrés" in refused.get_json()["error"]


def test_bad_requests_get_clear_refusals(signing_demo, client_for, maire_card):
    items = at_signature(signing_demo, client_for)
    maire = client_for("maire")
    before = db_snapshot(signing_demo)
    _, cert, _ = maire_card
    no_csrf = post_json(maire, "/signatures/agent/prepare",
                        {"items": items, "certificate": b64(cert)}, csrf=False)
    assert no_csrf.status_code == 400 and "CSRF" in no_csrf.get_json()["error"]
    garbage = post_json(maire, "/signatures/agent/prepare",
                        {"items": items, "certificate": "pas du base64!"})
    assert garbage.status_code == 400 and "base64" in garbage.get_json()["error"]
    not_a_cert = post_json(maire, "/signatures/agent/prepare",
                           {"items": items, "certificate": b64(b"\x30\x03\x02\x01\x00")})
    assert not_a_cert.status_code == 400
    no_items = post_json(maire, "/signatures/agent/prepare", {"items": [], "certificate": b64(cert)})
    assert no_items.status_code == 400
    not_json = maire.post("/signatures/agent/finish", data="{", content_type="application/json",
                          headers={"Accept": "application/json",
                                   "X-CSRFToken": csrf_from(maire.get("/").get_data(as_text=True))})
    assert not_json.status_code == 400
    unknown = post_json(maire, "/signatures/agent/finish",
                        {"session": "inconnu", "signatures": [{"document_id": 1,
                                                               "signature": b64(b"x")}]})
    assert unknown.status_code == 404
    # Documents she may not sign are named, the others prepared.
    prepared = prepare(maire, [*items[:1], "999:signature_maire"], maire_card)
    assert prepared["refused"][0]["reason"] == "ce document n'existe pas"
    assert page_text(maire.get("/"))  # the inbox still renders
    del before
