"""Helpers of the agent tests (a module of its own: `from conftest import …` is ambiguous)."""

from __future__ import annotations

from app_helpers import csrf_from
from sqlalchemy import select

from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document


def at_signature(app, client_for) -> list[str]:
    """Give the DGS visa where needed: every demo document then waits for the Maire."""
    dgs = client_for("dgs")
    with app.app_context():
        waiting = [(d.id, pending_steps(d)[0].state) for d in
                   get_session().execute(select(Document).order_by(Document.id)).scalars()]
    for document_id, step in waiting:
        if step.startswith("visa"):
            token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
            assert dgs.post(f"/documents/{document_id}/steps/{step}/visa",
                            data={"csrf_token": token}).status_code == 302
    with app.app_context():
        return [f"{d.id}:{pending_steps(d)[0].state}" for d in
                get_session().execute(select(Document).order_by(Document.id)).scalars()]


def load_p12(dev_pki, name: str):
    """(private key, certificate DER, chain DERs) of a dev PKI PKCS#12."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    path = dev_pki.pkcs12_path(name) if name != "seal" else dev_pki.seal_pkcs12_path
    key, cert, chain = pkcs12.load_key_and_certificates(path.read_bytes(),
                                                        dev_pki.passphrase.encode())
    der = serialization.Encoding.DER
    return key, cert.public_bytes(der), [c.public_bytes(der) for c in chain or []]
