"""Evidence bundles: a document's files, its bordereau de signature and its journal slice, checkable offline.

The journal slice holds every event of the document in full, and for the whole stretch of the chain
between its first and its last event the (seq, prev_hash, hash) of every event: enough to prove that
the document's events chain up with each other and with the chain's head, without disclosing the
other documents' events.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.audit.bordereau import render_bordereau
from parapheur.audit.bundle import BUNDLE_FORMAT
from parapheur.audit.models import AuditChainHead, AuditEvent
from parapheur.audit.services import canonical_content
from parapheur.documents.models import Document
from parapheur.documents.storage import ContentStore
from parapheur.signatures.reports import validation_report


def event_to_json(event: AuditEvent) -> dict[str, Any]:
    """An event as stored, with the canonical content its hash covers."""
    return {"seq": event.seq, "prev_hash": event.prev_hash, "hash": event.hash,
            "content": json.loads(canonical_content(event))}


def journal_slice(session: Session, document_id: int) -> dict[str, Any]:
    """The document's events in full, plus the hash skeleton of the chain stretch they span."""
    events = session.execute(select(AuditEvent).where(AuditEvent.document_id == document_id)
                             .order_by(AuditEvent.seq)).scalars().all()
    skeleton: list[dict[str, Any]] = []
    if events:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
            .where(AuditEvent.seq >= events[0].seq, AuditEvent.seq <= events[-1].seq)
            .order_by(AuditEvent.seq)).all()
        skeleton = [{"seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash} for r in rows]
    head = session.get(AuditChainHead, 1)
    return {"format": BUNDLE_FORMAT, "document_id": document_id,
            "events": [event_to_json(e) for e in events], "chain": skeleton,
            "head": {"seq": head.seq, "hash": head.hash} if head else None}


def build_bundle(session: Session, store: ContentStore, document: Document, *, organisation: str,
                 render_bordereau, validation: dict[str, Any] | None = None,
                 now: datetime | None = None) -> bytes:
    """The evidence bundle of a document as ZIP bytes."""
    moment = now or datetime.now(UTC)
    journal = journal_slice(session, document.id)
    files: dict[str, bytes] = {}
    versions: dict[str, str] = {}
    for version in document.versions:
        name = f"versions/v{version.number}-{version.kind.value}.pdf"
        files[name] = store.read(version.sha256)
        versions[name] = version.sha256
    files["document.pdf"] = files[f"versions/v{document.current_version.number}-"
                                  f"{document.current_version.kind.value}.pdf"]
    journal_bytes = json.dumps(journal, ensure_ascii=False, indent=2).encode()
    files["journal.json"] = journal_bytes
    files["bordereau.pdf"] = render_bordereau(document, journal_bytes)
    if validation is not None:
        files["validation.json"] = json.dumps(validation, ensure_ascii=False, indent=2).encode()
    manifest = {"format": BUNDLE_FORMAT, "document_id": document.id, "title": document.title,
                "organisation": organisation, "generated_at": moment.isoformat(),
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
                "versions": versions}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def export_document(session: Session, store: ContentStore, document: Document, *,
                    organisation: str, trust_anchors: Sequence[Path], now: datetime) -> bytes:
    """The document's evidence bundle, with the bordereau and the validation report against
    `trust_anchors`."""
    return build_bundle(
        session, store, document, organisation=organisation,
        render_bordereau=lambda doc, journal: render_bordereau(
            session, doc, journal, organisation=organisation, now=now),
        validation=validation_report(store.read(document.current_version.sha256),
                                     trust_anchors=trust_anchors),
        now=now)
