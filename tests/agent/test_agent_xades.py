"""A bordereau de mandats signed with the official's card through the agent: the PAdES of its PDF
and the XAdES of its PES in one act, both two-phase; `xmlsec1 --verify` accepts the exported PES."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import pytest
from agent_helpers import load_p12
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import select
from test_accounting_flow import _store, make_invoices
from test_agent_server import finish, post_json, prepare

from parapheur.accounting.models import BordereauMandats, BordereauState
from parapheur.accounting.pes.validation import check_aller
from parapheur.accounting.services import (
    budget_setup,
    create_bordereaux,
    create_mandats,
    export_pes,
    start_bordereau_circuit,
)
from parapheur.accounts.models import User
from parapheur.context import workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "signing"))
from xades_checks import xmlsec_verify  # noqa: E402

b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731


@pytest.fixture
def bordereau_documents(demo, demo_pki, clock) -> list[int]:
    """Two bordereaux de mandats waiting for the maire's signature, as documents."""
    return make_bordereau_documents(demo, demo_pki, clock)


def make_bordereau_documents(demo, demo_pki, clock) -> list[int]:
    """Two bordereaux de mandats (budget 01) waiting for the maire's signature, as documents."""
    from flask import render_template

    from parapheur.accounts.models import Desk, User
    from parapheur.organisations.services import sole_organisation

    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    make_invoices(demo, clock, 12)
    with demo.app_context():
        session = get_session()
        organisation = sole_organisation(session)
        setup = budget_setup(organisation, "01")  # budget 00 holds the demo's own bordereau
        finances = session.scalars(select(User).where(User.username == "finances")).one()
        desk = session.scalars(select(Desk).where(Desk.slug == "finances")).one()
        with transaction(session):
            create_mandats(session, setup, exercice=2026, actor=finances, now=clock())
            bordereaux = create_bordereaux(session, setup, exercice=2026,
                                           issued_on=clock().date(), actor=finances,
                                           now=clock(), per_bordereau=6)
            return [start_bordereau_circuit(
                session, _store(demo), b, organisation, author=finances, author_desk=desk,
                render=render_template, circuits_dir=workflows_dir_for(demo.config),
                now=clock()).id for b in bordereaux]


def _card_sign(card, prepared: dict, *, spoil: str | None = None) -> list[dict]:
    """What the agent returns: the card's RSA signature of each prepared SHA-256 hash."""
    key = card[0]
    signatures = []
    for d in prepared["documents"]:
        digest = base64.b64decode(d["hash"])
        if spoil == d["part"]:
            digest = hashlib.sha256(b"something else").digest()
        signatures.append({"document_id": d["document_id"], "part": d["part"],
                           "signature": b64(key.sign(digest, PKCS1v15(),
                                                     Prehashed(hashes.SHA256())))})
    return signatures


def test_the_maire_signs_bordereaux_with_her_card_pades_and_xades(
        demo, client_for, bordereau_documents, demo_pki, clock, system_tool, tmp_path):
    xmlsec1 = system_tool("xmlsec1", "xmlsec1")
    card = load_p12(demo_pki, "maire")
    maire = client_for("maire")
    items = [f"{d}:signature_ordonnateur" for d in bordereau_documents]
    prepared = prepare(maire, items, card)
    assert prepared["refused"] == []
    # Each bordereau asks the card for two signatures: its PDF and its PES bordereau.
    assert [(d["document_id"], d["part"]) for d in prepared["documents"]] == [
        (d, part) for d in bordereau_documents for part in ("pades", "xades")]
    xades = [d for d in prepared["documents"] if d["part"] == "xades"]
    assert all("signature XAdES du bordereau" in d["title"] for d in xades)
    assert all(d["signature_algorithm"] == "rsassa_pkcs1v15" for d in xades)

    response = finish(maire, prepared, _card_sign(card, prepared))
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["failed"] == [] and len(result["signed"]) == 2
    store = _store(demo)
    with demo.app_context():
        session = get_session()
        signed = session.scalars(select(BordereauMandats).where(
            BordereauMandats.document_id.in_(bordereau_documents))
            .order_by(BordereauMandats.id)).all()
        assert [b.state for b in signed] == [BordereauState.SIGNE] * 2
        assert all(b.signer_name == "Martine Dupont" for b in signed)
        from parapheur.organisations.services import sole_organisation

        setup = budget_setup(sole_organisation(session), "01")
        maire_user = session.scalars(select(User).where(User.username == "maire")).one()
        with transaction(session):
            exported = export_pes(session, store, setup, actor=maire_user, now=clock())
    assert check_aller(exported.content) == []
    for bordereau_id in ("BORD-2026-01-1", "BORD-2026-01-2"):
        accepted, output = xmlsec_verify(xmlsec1, exported.content, f"{bordereau_id}-SIG",
                                         demo_pki.ca_certificate_path, tmp_path)
        assert accepted, output


def test_a_bad_xades_value_signs_neither_half(demo, client_for, bordereau_documents, demo_pki):
    card = load_p12(demo_pki, "maire")
    maire = client_for("maire")
    items = [f"{d}:signature_ordonnateur" for d in bordereau_documents[:1]]
    prepared = prepare(maire, items, card)
    result = finish(maire, prepared, _card_sign(card, prepared, spoil="xades")).get_json()
    assert result["signed"] == []
    [failure] = result["failed"]
    assert "la signature XAdES du bordereau n'a pas abouti" in failure["reason"]
    assert "ne correspond pas à son certificat" in failure["reason"]
    with demo.app_context():
        session = get_session()
        bordereau = session.scalars(select(BordereauMandats).where(
            BordereauMandats.document_id == bordereau_documents[0])).one()
        assert bordereau.state is BordereauState.A_SIGNER and bordereau.signed_element is None
        assert len(session.get(Document, bordereau_documents[0]).versions) == 1

    # A finish that leaves out the XAdES half does not match the preparation.
    prepared = prepare(maire, items, card)
    pades_only = [s for s in _card_sign(card, prepared) if s["part"] == "pades"]
    response = post_json(maire, "/signatures/agent/finish",
                         {"session": prepared["session"], "signatures": pades_only})
    assert response.status_code == 409
    assert "ne correspondent pas aux documents" in response.get_json()["error"]
