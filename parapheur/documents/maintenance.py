"""Store maintenance: re-checking every version's file, and removing files no version references."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounting.models import PesExport, PesReturnFile
from parapheur.documents.annexes import Annex
from parapheur.documents.models import DocumentVersion
from parapheur.documents.storage import ContentStore, stored_digests
from parapheur.invoices.models import Invoice, InvoiceAttachment


@dataclass
class StoreReport:
    """What a check of the store found."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.altered


def referenced_digests(session: Session) -> set[str]:
    """Every stored file something references: document versions and their annexes (as
    deposited and as signed), invoices' own files (the file as received, blocked ones included,
    and their attachments), PES exports, and the comptable's acquittements and returns."""
    referenced = set(session.execute(select(DocumentVersion.sha256)).scalars())
    referenced |= set(session.execute(select(Invoice.file_sha256)).scalars())
    referenced |= {sha256 for sha256 in session.execute(
        select(InvoiceAttachment.sha256)).scalars() if sha256}
    referenced |= set(session.execute(select(PesExport.sha256)).scalars())
    referenced |= set(session.execute(select(PesReturnFile.sha256)).scalars())
    for sha256, signed in session.execute(select(Annex.sha256, Annex.signed_sha256)):
        referenced |= {sha256, signed or ""}
    referenced.discard("")
    return referenced


def verify_store(session: Session, store: ContentStore) -> StoreReport:
    """Re-hash every referenced file (versions, invoices); list the missing and the altered."""
    report = StoreReport()
    for sha256 in sorted(referenced_digests(session)):
        report.checked += 1
        path = store.path_for(sha256)
        if not path.exists():
            report.missing.append(sha256)
        elif not store.verify(sha256):
            report.altered.append(sha256)
    return report


def unreferenced_files(session: Session, store: ContentStore, *,
                       older_than_seconds: float) -> list[str]:
    """Stored files no version references, untouched for `older_than_seconds`.

    A file is written before the transaction that references it commits (and stays when that
    transaction rolls back): the age limit keeps files of transactions still in flight.
    """
    referenced = referenced_digests(session)
    limit = time.time() - older_than_seconds
    return sorted(sha256 for sha256, path in stored_digests(store.root).items()
                  if sha256 not in referenced and path.stat().st_mtime < limit)
