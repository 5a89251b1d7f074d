"""Evidence bundles: a document's files, its bordereau de signature and its journal slice, checkable offline.

The journal slice holds every event of the document in full, and for the whole stretch of the chain
between its first and its last event the (seq, prev_hash, hash) of every event: enough to prove that
the document's events chain up with each other and with the chain's head, without disclosing the
other documents' events.

The manifest lists and hashes every file of the bundle; it is sealed: `sceau.pdf`, a one-page
attestation carrying the manifest's SHA-256 in its catalog, is signed (PAdES, B-LT when a time
stamping service is configured) with the organisation's seal (PARAPHEUR_SEAL_PKCS12). Whoever
recomputes every hash after changing a file cannot make that seal again.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.audit.bordereau import render_bordereau
from parapheur.audit.bundle import BUNDLE_FORMAT, EVIDENCE_KEY, MANIFEST_NAME, SEAL_NAME
from parapheur.audit.models import AuditChainHead, AuditEvent
from parapheur.audit.services import canonical_content
from parapheur.documents.annexes import annexes_of
from parapheur.documents.models import Document
from parapheur.documents.storage import ContentStore
from parapheur.signatures.reports import validation_report
from parapheur.signatures.seal import SealingFailed, seal_key
from signing import errors as signing_errors


def event_to_json(event: AuditEvent) -> dict[str, Any]:
    """An event as stored, with the canonical content its hash covers."""
    return {"seq": event.seq, "prev_hash": event.prev_hash, "hash": event.hash,
            "content": json.loads(canonical_content(event))}


def journal_slice(session: Session, document_id: int) -> dict[str, Any]:
    """The document's events in full, plus the hash skeleton of the chain stretch they span."""
    events = session.execute(select(AuditEvent).where(AuditEvent.document_id == document_id)
                             .order_by(AuditEvent.seq)).scalars().all()
    skeleton: list[dict[str, Any]] = []
    chain = events[0].chain if events else 0  # the document's organisation's chain
    if events:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
            .where(AuditEvent.chain == chain,
                   AuditEvent.seq >= events[0].seq, AuditEvent.seq <= events[-1].seq)
            .order_by(AuditEvent.seq)).all()
        skeleton = [{"seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash} for r in rows]
    head = session.get(AuditChainHead, chain)
    return {"format": BUNDLE_FORMAT, "document_id": document_id,
            "events": [event_to_json(e) for e in events], "chain": skeleton,
            "head": {"seq": head.seq, "hash": head.hash} if head else None}


def build_bundle(session: Session, store: ContentStore, document: Document, *, organisation: str,
                 render_bordereau, seal: Callable[[bytes], bytes],
                 validation: dict[str, Any] | None = None, now: datetime | None = None) -> bytes:
    """The evidence bundle of a document as ZIP bytes; `seal` signs the attestation PDF it is given."""
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
    annexes: dict[str, str] = {}
    for annex in annexes_of(session, document):
        stored = [("", annex.sha256)] + ([("signe-", annex.signed_sha256)]
                                         if annex.signed_sha256 else [])
        for prefix, sha256 in stored:
            name = f"annexes/{annex.position:02d}-{prefix}{annex.filename}"
            files[name] = store.read(sha256)
            annexes[name] = sha256
    journal_bytes = json.dumps(journal, ensure_ascii=False, indent=2).encode()
    files["journal.json"] = journal_bytes
    files["bordereau.pdf"] = render_bordereau(document, journal_bytes)
    if validation is not None:
        files["validation.json"] = json.dumps(validation, ensure_ascii=False, indent=2).encode()
    manifest = {"format": BUNDLE_FORMAT, "document_id": document.id, "title": document.title,
                "organisation": organisation, "generated_at": moment.isoformat(),
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
                "versions": versions, "annexes": annexes}
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    sealed = seal(seal_attestation(manifest_bytes, document_id=document.id, title=document.title,
                                   organisation=organisation, moment=moment))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(MANIFEST_NAME, manifest_bytes)
        archive.writestr(SEAL_NAME, sealed)
    return buffer.getvalue()


def seal_attestation(manifest: bytes, *, document_id: int, title: str, organisation: str,
                     moment: datetime) -> bytes:
    """The unsigned one-page attestation whose catalog carries the manifest's SHA-256 (then sealed)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    digest = hashlib.sha256(manifest).hexdigest()
    writer = PdfFileWriter(stream_xrefs=False)
    font = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"), pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding")})
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): writer.add_object(font)})})
    lines = ["Attestation de scellement d'un dossier de preuve", "",
             f"Organisation : {organisation}", f"Document n° {document_id} : {title}",
             f"Dossier produit le {moment:%d/%m/%Y à %H:%M:%S} UTC", "",
             "Empreinte SHA-256 du manifeste (manifest.json) :", digest[:32], digest[32:], "",
             "Le manifeste énumère et empreinte chaque fichier du dossier ; ce document est",
             "signé avec le cachet de l'organisation. parapheur verify --bundle le vérifie."]
    content = b"BT /F1 11 Tf 14 TL 56 780 Td " + b" ".join(
        b"(" + _pdf_text(line) + b") Tj T*" for line in lines) + b" ET"
    page = PageObject(contents=writer.add_object(generic.StreamObject(stream_data=content)),
                      media_box=(0, 0, 595, 842), resources=resources)
    writer.insert_page(page)
    writer.root[pdf_name(EVIDENCE_KEY)] = generic.DictionaryObject({
        pdf_name("/ManifestSHA256"): generic.TextStringObject(digest),
        pdf_name("/DocumentId"): generic.NumberObject(document_id)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def export_document(session: Session, store: ContentStore, document: Document, *,
                    organisation: str, trust_anchors: Sequence[Path],
                    seal_config: Mapping[str, Any], now: datetime) -> bytes:
    """The document's sealed evidence bundle, with the bordereau and the validation report against
    `trust_anchors`; `seal_config` (the application's settings) names the organisation's seal."""
    return build_bundle(
        session, store, document, organisation=organisation,
        render_bordereau=lambda doc, journal: render_bordereau(
            session, doc, journal, organisation=organisation, now=now),
        seal=lambda pdf: seal_with_organisation_seal(seal_config, pdf, now=now),
        validation=validation_report(store.read(document.current_version.sha256),
                                     trust_anchors=trust_anchors),
        now=now)


def seal_with_organisation_seal(config: Mapping[str, Any], pdf: bytes, *, now: datetime) -> bytes:
    """Sign `pdf` with the organisation's seal: B-LT with the configured TSA, B-B without one."""
    # pyHanko and its HTTP client load when a bundle is sealed, not with every process that
    # imports the journal (the web app, the worker, each command): half a second of start-up.
    from signing.batch import sign_document
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions

    key_source = seal_key(config)
    tsa_url = config.get("TSA_URL")
    level = Level.B_LT if tsa_url else Level.B_B
    try:
        key = Pkcs12Key.open(key_source.pkcs12, key_source.passphrase)
        return sign_document(pdf, key, SignOptions(level=level, field_name="Sceau",
                                                   reason="Scellement du dossier de preuve"),
                             signed_at=now, timestamper=tsa_url if level.needs_timestamp else None)
    except signing_errors.SigningError as exc:
        raise SealingFailed(exc) from None
