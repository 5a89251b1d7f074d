"""Checking that uploaded bytes are a PDF we can carry through a circuit and sign."""

from __future__ import annotations

import io
from dataclasses import dataclass

from parapheur.documents.errors import InvalidUpload


@dataclass(frozen=True)
class PdfInfo:
    """What the checks learnt about an accepted PDF."""

    page_count: int
    signature_count: int


def inspect_pdf(data: bytes) -> PdfInfo:
    """Accept a real, parseable, unencrypted PDF; raise InvalidUpload saying what is wrong."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    if not data:
        raise InvalidUpload("Le fichier est vide.", reason="empty")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise InvalidUpload("Ce fichier n'est pas un PDF (en-tête %PDF absent).", reason="not_pdf")
    if b"%%EOF" not in data[-2048:]:
        raise InvalidUpload("Le PDF est incomplet ou tronqué (marque de fin %%EOF absente).",
                            reason="truncated")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise InvalidUpload("Le PDF est chiffré ou protégé par mot de passe : il ne peut pas "
                                "être signé. Déposez une version sans protection.",
                                reason="encrypted")
        pages = int(reader.root["/Pages"]["/Count"])
        signatures = len(reader.embedded_signatures)
    except InvalidUpload:
        raise
    except (PdfError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidUpload(f"Le PDF est illisible ou endommagé ({exc}).", reason="unreadable") from None
    if pages < 1:
        raise InvalidUpload("Le PDF ne contient aucune page.", reason="no_pages")
    return PdfInfo(page_count=pages, signature_count=signatures)
