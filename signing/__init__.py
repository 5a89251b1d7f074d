"""Parapheur's signing layer: PAdES signatures with pyHanko, with no Flask and no database.

Usable alone; the web application, the bulk `parapheur sign` command and the browser flow all go
through it::

    from signing import Level, SignOptions, Stamp, sign_document
    from signing.keys import Pkcs12Key

    key = Pkcs12Key.open(Path("maire.p12"), "passphrase")
    signed = sign_document(pdf_bytes, key, SignOptions(
        level=Level.B_B, stamp=Stamp(signer_name="Martine Dupont", quality="Le Maire")))

Every refusal is a `signing.errors.SigningError` subclass with a French `.message`; the input is
never modified.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public names → defining module. They are imported on first use (PEP 562), so that a tool which
# only validates (`signing.validation`, `parapheur verify`) does not load the whole signing stack.
_EXPORTS = {
    "extend_document": "signing.archive",
    "BatchSigner": "signing.batch",
    "DocumentOutcome": "signing.batch",
    "FileOutcome": "signing.batch",
    "CertificateNotUsable": "signing.errors",
    "EncryptedPdf": "signing.errors",
    "SigningError": "signing.errors",
    "TimestampUnavailable": "signing.errors",
    "UnreadablePdf": "signing.errors",
    "WrongPassphrase": "signing.errors",
    "KeySpec": "signing.keys",
    "Pkcs11Key": "signing.keys",
    "Pkcs12Key": "signing.keys",
    "open_key": "signing.keys",
    "Level": "signing.pades",
    "SignOptions": "signing.pades",
    "Stamp": "signing.pades",
    "sign_document": "signing.batch",
    "sign_file": "signing.batch",
}

if TYPE_CHECKING:
    from signing.archive import extend_document
    from signing.batch import BatchSigner, DocumentOutcome, FileOutcome, sign_document, sign_file
    from signing.errors import (
        CertificateNotUsable,
        EncryptedPdf,
        SigningError,
        TimestampUnavailable,
        UnreadablePdf,
        WrongPassphrase,
    )
    from signing.keys import KeySpec, Pkcs11Key, Pkcs12Key, open_key
    from signing.pades import Level, SignOptions, Stamp


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'signing' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "BatchSigner",
    "CertificateNotUsable",
    "DocumentOutcome",
    "FileOutcome",
    "KeySpec",
    "Pkcs11Key",
    "Pkcs12Key",
    "extend_document",
    "open_key",
    "EncryptedPdf",
    "Level",
    "SignOptions",
    "SigningError",
    "Stamp",
    "TimestampUnavailable",
    "UnreadablePdf",
    "WrongPassphrase",
    "sign_document",
    "sign_file",
]
