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

from signing.archive import extend_document
from signing.batch import BatchSigner, DocumentOutcome, FileOutcome
from signing.errors import (
    CertificateNotUsable,
    EncryptedPdf,
    SigningError,
    TimestampUnavailable,
    UnreadablePdf,
    WrongPassphrase,
)
from signing.keys import KeySpec, Pkcs11Key, Pkcs12Key, open_key
from signing.pades import Level, SignOptions, Stamp, sign_document, sign_file

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
