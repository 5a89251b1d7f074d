"""Mandatory reading: which pages of which version each user has displayed.

Every page image of a document's version served to a user is one row here (the page viewer asks
for each page as it comes into view). A step with `mandatory_reading: true` lets its visa or
signature through only once the user has been served every page of the current version; the
first time that happens is journaled (`document:reading:completed`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from parapheur.accounts.models import User
from parapheur.audit import services as audit
from parapheur.db import Base, UTCDateTime
from parapheur.documents.models import Document, DocumentVersion
from parapheur.errors import N_, Conflict


class PageView(Base):
    """One page of one version shown to one user (the first time)."""

    __tablename__ = "page_views"
    __table_args__ = (UniqueConstraint("user_id", "version_id", "page",
                                       name="uq_page_views_user_version_page"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id",
                                                       ondelete="CASCADE"), index=True)
    page: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReadingIncomplete(Conflict):
    """The step asks for every page to be read first; `missing` lists the pages not yet shown."""

    def __init__(self, version: DocumentVersion, missing: list[int], *, action: str):
        shown = ", ".join(str(p) for p in missing[:15]) + (" …" if len(missing) > 15 else "")
        verb = "signer" if action == "signature" else "viser"
        super().__init__(
            N_("Lecture obligatoire : affichez chacune des %(page_count)s pages du document "
               "(version %(number)s) avant de %(verb)s. Pages pas encore affichées : %(shown)s."),
            page_count=version.page_count, number=version.number, verb=verb, shown=shown)
        self.missing = missing


def seen_pages(session: Session, user: User, version: DocumentVersion) -> set[int]:
    """The pages of `version` already served to `user`."""
    return set(session.execute(select(PageView.page).where(
        PageView.user_id == user.id, PageView.version_id == version.id)).scalars())


def record_page_view(session: Session, document: Document, version: DocumentVersion,
                     page: int, *, user: User, now: datetime) -> bool:
    """Note that `page` was shown to `user` (in its own savepoint); True when it completes the version."""
    if not 1 <= page <= version.page_count:
        return False
    if session.execute(select(PageView.id).where(
            PageView.user_id == user.id, PageView.version_id == version.id,
            PageView.page == page)).first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(PageView(user_id=user.id, version_id=version.id, page=page,
                                 seen_at=now))
    except IntegrityError:
        return False  # a concurrent request of the same page recorded it
    count = session.execute(select(func.count()).select_from(PageView).where(
        PageView.user_id == user.id, PageView.version_id == version.id)).scalar_one()
    if count != version.page_count:
        return False
    audit.record(session, "document:reading:completed", actor=user, document_id=document.id,
                 details={"version": version.number, "version_sha256": version.sha256,
                          "pages": version.page_count}, clock=lambda: now)
    return True


def check_read(session: Session, version: DocumentVersion, user: User, *, action: str) -> None:
    """Raise ReadingIncomplete unless `user` was shown every page of `version`."""
    seen = seen_pages(session, user, version)
    missing = [p for p in range(1, version.page_count + 1) if p not in seen]
    if missing:
        raise ReadingIncomplete(version, missing, action=action)
