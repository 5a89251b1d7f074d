"""Archival refresh: extending already signed documents to B-LT or B-LTA, incrementally.

Adding validation data (certificates, OCSP/CRL in the DSS) and a document timestamp never touches
the signatures already there; a document already at B-LTA gets its timestamp chain renewed.

`archive_state` tells when a B-LTA document's newest time stamp stops proving anything (its TSA
certificate expires): a new document time stamp must be added before that date
(`parapheur archive refresh`, EN 319 102-1 §5.6.3 and EN 319 142-1 B-LTA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation import async_add_validation_info
from pyhanko_certvalidator import ValidationContext

from signing.errors import N_, SignatureFieldError, SigningError, TimestampUnavailable
from signing.fetching import SharedTlsSession, collection_context
from signing.pades import Level, classify_failure, open_pdf, run_sync


@dataclass(frozen=True)
class ArchiveState:
    """What an archival refresh needs to know about a PDF."""

    signatures: int  # signatures proper (not document time stamps)
    document_timestamps: int  # document time stamps after the last signature
    newest_tsa_expiry: datetime | None  # first expiry in the newest time stamp's TSA certificates

    @property
    def is_b_lta(self) -> bool:
        """Signed, with at least one document time stamp over the last signature."""
        return self.signatures > 0 and self.document_timestamps > 0


def archive_state(pdf: bytes) -> ArchiveState:
    """Signatures, document time stamps and when the newest time stamp's TSA certificate expires."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    embedded = sorted(reader.embedded_signatures, key=lambda s: s.signed_revision)
    signatures = [s for s in embedded if not _is_document_timestamp(s)]
    last = signatures[-1].signed_revision if signatures else -1
    stamps = [s for s in embedded if _is_document_timestamp(s) and s.signed_revision > last]
    newest = stamps[-1] if stamps else None
    return ArchiveState(signatures=len(signatures), document_timestamps=len(stamps),
                        newest_tsa_expiry=_tsa_expiry(newest.signed_data) if newest else None)


def _is_document_timestamp(sig: Any) -> bool:
    return sig.sig_object.get("/SubFilter") == "/ETSI.RFC3161" or sig.sig_object_type == "/DocTimeStamp"


def _tsa_expiry(signed_data: Any) -> datetime | None:
    """Expiry of the TSA certificate that signed a time stamp token (the one its signer info names)."""
    from pyhanko.sign.general import extract_certificate_info

    try:
        info = extract_certificate_info(signed_data)
        return info.signer_cert.not_valid_after
    except Exception:  # no usable signer certificate: nothing proves anything past now
        return None


def refresh_archive(pdf: bytes, *, trust_roots: Sequence[Any], timestamper: TimeStamper | str,
                    validation_context: ValidationContext | None = None) -> bytes:
    """Add fresh validation data for the newest time stamp, then a new document time stamp (B-LTA)."""
    state = archive_state(pdf)
    if not state.is_b_lta:
        raise SignatureFieldError(N_("Le document n'est pas au niveau B-LTA : il n'a pas "
                                     "d'horodatage d'archive à renouveler."))
    return extend_document(pdf, Level.B_LTA, trust_roots=trust_roots, timestamper=timestamper,
                           validation_context=validation_context)


def extend_document(pdf: bytes, level: Level, *, trust_roots: Sequence[Any],
                    timestamper: TimeStamper | str | None = None,
                    validation_context: ValidationContext | None = None) -> bytes:
    """Bring every signature of `pdf` to B-LT, or B-LT plus a document timestamp for B-LTA."""
    if level not in (Level.B_LT, Level.B_LTA):
        raise ValueError("only B-LT and B-LTA can be added to a signed document")
    if level is Level.B_LTA and timestamper is None:
        raise TimestampUnavailable(N_("L'archivage B-LTA demande un service d'horodatage : "
                                      "aucun n'est configuré."))
    open_pdf(bytes(pdf))  # the same refusals as signing: unreadable, encrypted, hybrid
    reader = PdfFileReader(BytesIO(pdf))
    if not reader.embedded_signatures:
        raise SignatureFieldError(N_("Le document n'est pas signé : il n'y a rien à archiver."))
    return run_sync(_extend(bytes(pdf), level, list(trust_roots), timestamper,
                            validation_context))


async def _extend(pdf: bytes, level: Level, roots: list[Any], timestamper: Any,
                  validation_context: ValidationContext | None) -> bytes:
    session = SharedTlsSession()
    context = validation_context or collection_context(roots, session=session)
    stamper = (HTTPTimeStamper(timestamper, timeout=10, session=session)
               if isinstance(timestamper, str) else timestamper)
    try:
        current = pdf
        reader = PdfFileReader(BytesIO(current))
        has_doc_timestamp = any(s.sig_object.get("/Type") == "/DocTimeStamp"
                                for s in reader.embedded_signatures)
        if level is Level.B_LTA and has_doc_timestamp:
            # Renew the chain: revocation data for the last timestamp, then a new one.
            out = await signers.PdfTimeStamper(stamper).async_update_archival_timestamp_chain(
                reader, context, in_place=False, output=BytesIO())
            return out.getvalue()
        count = len(reader.embedded_signatures)
        for index in range(count):
            embedded = PdfFileReader(BytesIO(current)).embedded_signatures[index]
            if embedded.sig_object.get("/Type") == "/DocTimeStamp":
                continue
            out = await async_add_validation_info(embedded, context, output=BytesIO())
            current = out.getvalue()
        if level is Level.B_LTA:
            writer = IncrementalPdfFileWriter(BytesIO(current))
            out = await signers.PdfTimeStamper(stamper).async_timestamp_pdf(
                writer, "sha256", validation_context=context, output=BytesIO())
            current = out.getvalue()
        return current
    except SigningError:
        raise
    except Exception as exc:  # classify network/validation failures in French
        raise classify_failure(exc, level) from exc
    finally:
        await session.close()
