"""Annexes: the files a document carries beside its main PDF (PDF or office files, images, text).

An annex is added at upload, or later by the author while no step has been acted on; it is
listed on the document page, previewed page by page when it is a PDF, downloadable, part of the
evidence bundle, and signed with the main PDF when the step says `sign_annexes: true` (each PDF
annex gets its own PAdES signature in the same act: `signed_sha256`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from parapheur.accounts.models import User
from parapheur.audit import services as audit
from parapheur.circuits.models import StepAction
from parapheur.db import Base, UTCDateTime
from parapheur.documents.errors import InvalidUpload
from parapheur.documents.models import Document, DocumentStatus
from parapheur.documents.pdf import inspect_pdf
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, Forbidden, NotFound
from parapheur.fields import bounded

#: Most annexes one document carries.
MAX_ANNEXES = 20

PDF = "application/pdf"

#: Accepted kinds of annex, by extension: (media type, check of the first bytes or None for text).
KINDS: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": (PDF, (b"%PDF-",)),
    "odt": ("application/vnd.oasis.opendocument.text", (b"PK\x03\x04",)),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", (b"PK\x03\x04",)),
    "odp": ("application/vnd.oasis.opendocument.presentation", (b"PK\x03\x04",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             (b"PK\x03\x04",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             (b"PK\x03\x04",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",
             (b"PK\x03\x04",)),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "txt": ("text/plain", None),
    "csv": ("text/csv", None),
    "xml": ("application/xml", None),
}

_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


class Annex(Base):
    """A file the document carries beside its main PDF."""

    __tablename__ = "document_annexes"
    __table_args__ = (UniqueConstraint("document_id", "position",
                                       name="uq_document_annexes_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int | None] = mapped_column(Integer)  # PDF annexes only
    #: The annex as last signed (PDF annexes of a `sign_annexes` step), else None.
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    document: Mapped[Document] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def is_pdf(self) -> bool:
        """Whether the annex is a PDF (previewed page by page, signable)."""
        return self.media_type == PDF

    @property
    def current_sha256(self) -> str:
        """The file as it stands now: signed when it was signed."""
        return self.signed_sha256 or self.sha256


@dataclass(frozen=True)
class AnnexFile:
    """An uploaded file offered as an annex."""

    filename: str
    data: bytes


def annex_filename(name: str) -> str:
    """A safe stored name for an uploaded annex (its extension kept)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).strip("._ ")[:200]
    return base or "annexe"


def check_annex(upload: AnnexFile, *, max_bytes: int) -> tuple[str, str, int | None]:
    """(stored name, media type, page count) of an acceptable annex, else InvalidUpload saying why."""
    bounded(upload.filename, field="file", label="Nom de l'annexe", kind="filename")
    name = annex_filename(upload.filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in KINDS:
        raise InvalidUpload(N_("Annexe « %(name)s » : type de fichier non accepté. Types "
                               "acceptés : %(kinds)s."), reason="annex_type", name=name,
                            kinds=", ".join(sorted(KINDS)))
    if not upload.data:
        raise InvalidUpload(N_("Annexe « %(name)s » : le fichier est vide."),
                            name=name, reason="empty")
    if len(upload.data) > max_bytes:
        raise InvalidUpload(N_("Annexe « %(name)s » : le fichier dépasse %(value)s Mo."),
                            name=name, value=max_bytes // (1024 * 1024), reason="too_large")
    media_type, magic = KINDS[extension]
    if magic is None:
        if b"\x00" in upload.data[:65536]:
            raise InvalidUpload(N_("Annexe « %(name)s » : ce n'est pas un fichier texte."),
                                name=name,
                                reason="annex_type")
    elif not any(upload.data.startswith(m) for m in magic) and not (
            media_type == PDF and upload.data[:1024].lstrip().startswith(b"%PDF-")):
        raise InvalidUpload(N_("Annexe « %(name)s » : le contenu ne correspond pas à "
                               "l'extension .%(extension)s."),
                            name=name, extension=extension, reason="annex_type")
    pages = None
    if media_type == PDF:
        try:
            pages = inspect_pdf(upload.data).page_count
        except InvalidUpload as exc:
            raise InvalidUpload(N_("Annexe « %(name)s » : %(detail)s"),
                                name=name, detail=exc, reason=exc.reason) from None
    return name, media_type, pages


def check_annexes(uploads: list[AnnexFile], *, already: int,
                  max_bytes: int) -> list[tuple[str, str, int | None]]:
    """Check annexes offered to a document that carries `already` of them, storing nothing."""
    if not uploads:
        raise InvalidUpload(N_("Choisissez au moins un fichier à joindre."), reason="missing")
    if already + len(uploads) > MAX_ANNEXES:
        raise InvalidUpload(N_("Un document porte au plus %(MAX_ANNEXES)s annexes (%(count)s "
                               "déjà jointes, %(count2)s proposées)."),
                            MAX_ANNEXES=MAX_ANNEXES, count=already, count2=len(uploads),
                            reason="too_many")
    return [check_annex(upload, max_bytes=max_bytes) for upload in uploads]


def download_name(annex: Annex, *, signed: bool) -> str:
    """The name an annex is downloaded under: its own, « -signe » before the extension when
    it is the signed copy."""
    if not signed:
        return annex.filename
    stem, dot, extension = annex.filename.rpartition(".")
    return f"{stem}-signe{dot}{extension}" if dot else f"{annex.filename}-signe"


def annexes_of(session: Session, document: Document) -> list[Annex]:
    """The document's annexes, in the order they were added."""
    return list(session.execute(select(Annex).where(Annex.document_id == document.id)
                                .order_by(Annex.position)).scalars())


def get_annex(session: Session, document: Document, annex_id: int) -> Annex:
    """One annex of the document, or NotFound."""
    annex = session.get(Annex, annex_id)
    if annex is None or annex.document_id != document.id:
        raise NotFound(N_("Cette annexe n'existe pas."))
    return annex


def may_add_annexes(session: Session, document: Document, user: User) -> bool:
    """Only the author adds annexes, while the document is in progress and nobody has acted."""
    if document.author_id != user.id or document.status is not DocumentStatus.IN_PROGRESS:
        return False
    acted = session.execute(select(func.count()).select_from(StepAction)
                            .where(StepAction.document_id == document.id)).scalar_one()
    return acted == 0


def add_annexes(session: Session, store: ContentStore, document: Document,
                uploads: list[AnnexFile], *, actor: User, now: datetime, max_bytes: int,
                at_creation: bool = False) -> list[Annex]:
    """Check and store annexes, each journaled (`document:annex:added`), in the caller's transaction."""
    if not at_creation and not may_add_annexes(session, document, actor):
        raise Forbidden(N_("Seul l'auteur ajoute des annexes, et seulement avant la première "
                           "action sur le document."))
    existing = session.execute(select(func.count(), func.max(Annex.position))
                               .where(Annex.document_id == document.id)).one()
    count, last = existing[0], existing[1] or 0
    checked = check_annexes(uploads, already=count, max_bytes=max_bytes)
    added = []
    for offset, (upload, (name, media_type, pages)) in enumerate(zip(uploads, checked,
                                                                     strict=True), start=1):
        sha256 = store.put(upload.data)
        annex = Annex(document_id=document.id, position=last + offset, filename=name,
                      media_type=media_type, sha256=sha256, size=len(upload.data),
                      page_count=pages, created_at=now, created_by_id=actor.id)
        session.add(annex)
        session.flush()
        audit.record(session, "document:annex:added", actor=actor, document_id=document.id,
                     details={"annex_id": annex.id, "filename": name, "media_type": media_type,
                              "file_sha256": sha256, "size": len(upload.data), "pages": pages},
                     clock=lambda: now)
        added.append(annex)
    return added


def record_signed_annex(session: Session, store: ContentStore, annex: Annex, signed: bytes, *,
                        actor: User | None, step: str, now: datetime) -> None:
    """Keep an annex's signed file (same act as the main PDF's signature) and journal it."""
    sha256 = store.put(signed)
    annex.signed_sha256 = sha256
    annex.signed_size = len(signed)
    session.flush()
    audit.record(session, "document:annex:signed", actor=actor, document_id=annex.document_id,
                 details={"annex_id": annex.id, "filename": annex.filename, "step": step,
                          "file_sha256": sha256, "size": len(signed)}, clock=lambda: now)
