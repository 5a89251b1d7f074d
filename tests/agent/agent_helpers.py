"""Helpers of the agent tests (a module of its own: `from conftest import …` is ambiguous)."""

from __future__ import annotations

from app_helpers import all_at_signature


def at_signature(app, client_for) -> list[str]:
    """Give the DGS visa where needed: every demo document then waits for the Maire
    ("document_id:step" of each, as the batch forms send them)."""
    return [f"{document_id}:{step}" for document_id, step in all_at_signature(app, client_for)]


def load_p12(dev_pki, name: str):
    """(private key, certificate DER, chain DERs) of a dev PKI PKCS#12."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    path = dev_pki.pkcs12_path(name) if name != "seal" else dev_pki.seal_pkcs12_path
    key, cert, chain = pkcs12.load_key_and_certificates(path.read_bytes(),
                                                        dev_pki.passphrase.encode())
    der = serialization.Encoding.DER
    return key, cert.public_bytes(der), [c.public_bytes(der) for c in chain or []]
