"""Creating documents (checked upload + circuit start), and reading their versions back."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Desk, User
from parapheur.audit import services as audit
from parapheur.circuits import engine
from parapheur.circuits import services as circuits
from parapheur.documents import search
from parapheur.documents.models import (
    Document,
    DocumentStatus,
    DocumentVersion,
    VersionKind,
    sync_waiting,
)
from parapheur.documents.pdf import inspect_pdf, inspect_pdf_file
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError
from parapheur.fields import bounded
from parapheur.notifications.events import queue_for_events

_UNSAFE_FILENAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


def author_desk(user: User, slug: str | None) -> Desk | None:
    """The desk a user deposits for: the one named (she must be a member), else her first."""
    desks = list(user.desks)
    if slug:
        for desk in desks:
            if desk.slug == slug:
                return desk
        raise Forbidden(N_("Vous n'êtes pas membre de ce bureau."))
    return desks[0] if desks else None


def clean_filename(name: str, default: str = "document.pdf") -> str:
    """A filename safe to store and to send back in Content-Disposition."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE_FILENAME.sub("_", base).strip("._ ")[:200]
    if not base:
        base = default
    if not base.lower().endswith(".pdf"):
        base += ".pdf"
    return base


def create_document(session: Session, store: ContentStore, *, title: str, doc_type: str,
                    doc_subtype: str, data: bytes, filename: str, author: User,
                    author_desk: Desk | None, now: datetime, circuits_dir: Path,
                    metadata: dict[str, Any] | None = None) -> Document:
    """Check the PDF, store it, start the circuit its typology selects; audit `document:created`.

    `circuits_dir` is the workflows directory whose typology picks the circuit.
    """
    title = bounded(title, field="title", label="Titre").strip()
    if not title:
        raise ParapheurError(N_("Le titre du document est obligatoire."))
    bounded(filename, field="file", label="Nom du fichier", kind="filename")
    circuit, source = circuits.circuit_for_typology(circuits_dir, doc_type, doc_subtype,
                                                    session=session,
                                                    organisation_id=author.organisation_id)
    info = inspect_pdf(data)
    metadata = dict(metadata or {})
    frozen = circuits.freeze_for_document(session, circuit, source,
                                          organisation_id=author.organisation_id, now=now)
    if author_desk is None:
        raise ParapheurError(N_("Vous devez être membre d'un bureau pour déposer un document."))
    started = engine.begin(circuit, metadata, author_desk=author_desk.slug, now=now)
    sha256 = store.put(data)
    document = Document(
        organisation_id=author.organisation_id, title=title, doc_type=doc_type, doc_subtype=doc_subtype, meta=metadata,
        status=DocumentStatus.IN_PROGRESS, author=author, author_desk=author_desk,
        circuit_version=frozen, run_state=started.state.to_json(), created_at=now, updated_at=now,
        amount=search.document_amount(circuit, metadata),
        search_text=search.search_text(title, metadata))
    document.versions.append(DocumentVersion(
        number=1, kind=VersionKind.ORIGINAL, filename=clean_filename(filename), sha256=sha256,
        size=len(data), page_count=info.page_count, created_at=now, created_by=author))
    sync_waiting(document)
    session.add(document)
    session.flush()
    audit.record(session, "document:created", actor=author, document_id=document.id,
                 details={"title": title, "type": doc_type, "sous_type": doc_subtype,
                          "circuit": circuit.id, "circuit_version": circuit.version,
                          "sha256": sha256, "size": len(data), "pages": info.page_count},
                 clock=lambda: now)
    for name, details in started.events:
        audit.record(session, name, actor=author, document_id=document.id, details=details,
                     clock=lambda: now)
    queue_for_events(session, document.id, started.events, now=now)
    # A circuit may start with a server step (a seal, an export): done at once, in this transaction.
    circuits.run_automatic_steps(session, document, now=now, triggered_by=author)
    return document


def add_version(session: Session, store: ContentStore, document: Document, *,
                data: bytes | None = None, path: Path | None = None,
                kind: VersionKind, actor: User | None, now: datetime,
                filename: str | None = None) -> DocumentVersion:
    """Store a new version of the document's file (after a signature or a seal).

    Given as `data`, or as `path`: a file in one of the store's scratch directories, checked and
    moved into the store by streaming (a batch of large signed files is never held in memory).
    """
    if (data is None) == (path is None):
        raise ValueError("add_version takes either data or path")
    if path is not None:
        info = inspect_pdf_file(path)
        sha256, size = store.put_file(path)
    else:
        assert data is not None
        info = inspect_pdf(data)
        sha256, size = store.put(data), len(data)
    previous = document.current_version
    version = DocumentVersion(
        number=previous.number + 1, kind=kind, filename=filename or previous.filename,
        sha256=sha256,
        size=size, page_count=info.page_count, created_at=now, created_by=actor)
    document.versions.append(version)
    session.flush()
    return version


def replaceable(session: Session, document: Document) -> bool:
    """Whether the document's file may still be replaced: in circulation, nobody acted yet."""
    from parapheur.circuits.models import StepAction

    if document.status is not DocumentStatus.IN_PROGRESS:
        return False
    acted = session.execute(select(StepAction.id).where(StepAction.document_id == document.id)
                            .limit(1)).first()
    return acted is None


def replace_file(session: Session, store: ContentStore, document: Document, *, data: bytes,
                 filename: str, actor: User, now: datetime) -> DocumentVersion:
    """The author's desk replaces the file before the circuit's first action: a new version.

    The earlier versions are kept; the upload checks of a deposit apply (a real, signable PDF,
    within the size limit); journaled `document:file:replaced`. In the caller's transaction; the
    document's optimistic lock makes a visa given meanwhile win (« déjà traité »).
    """
    from sqlalchemy.orm.attributes import flag_modified
    from sqlalchemy.orm.exc import StaleDataError

    from parapheur.circuits.errors import StepNotCurrent

    if circuits.author_capacity(session, document, actor, now=now) is None:
        raise Forbidden(N_("Seul le bureau qui a déposé ce document peut en remplacer le "
                           "fichier."))
    if not replaceable(session, document):
        raise StepNotCurrent(N_("Le fichier ne peut plus être remplacé : le circuit a déjà "
                                "commencé (une étape a été traitée) ou il est terminé."))
    bounded(filename, field="file", label="Nom du fichier", kind="filename")
    previous = document.current_version
    document.updated_at = now
    flag_modified(document, "updated_at")  # an UPDATE, hence the version check, even if equal
    try:
        session.flush()
    except StaleDataError:
        raise StepNotCurrent(N_("Un autre utilisateur vient de traiter ce document (déjà "
                                "traité) : le fichier n'a pas été remplacé.")) from None
    version = add_version(session, store, document, data=data, kind=VersionKind.REPLACED,
                          actor=actor, now=now, filename=clean_filename(filename))
    audit.record(session, "document:file:replaced", actor=actor, document_id=document.id,
                 details={"previous_version": previous.number, "previous_sha256": previous.sha256,
                          "version": version.number, "sha256": version.sha256,
                          "size": version.size, "pages": version.page_count},
                 clock=lambda: now)
    return version


def get_version(session: Session, document: Document, number: int) -> DocumentVersion:
    """A version of the document by its number, or NotFound."""
    version = session.execute(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id,
                                      DocumentVersion.number == number)
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(N_("Cette version du document n'existe pas."))
    return version
