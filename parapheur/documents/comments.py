"""Comments on a document: public (whoever may see the document) or private to one desk.

A comment is written by someone who may see the document; a private one is read only by the
members of the desk it was written for. Comments appear in the document's history, and each is
journaled (`document:comment:added`, with the text's SHA-256: a private comment's words stay out
of the journal that auditors read).
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, Text, or_, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship

from parapheur.accounts.models import Desk, User
from parapheur.audit import services as audit
from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.documents.models import Document
from parapheur.errors import N_, Forbidden, ParapheurError

#: Longest comment, in characters.
MAX_COMMENT = 4000


class CommentVisibility(enum.StrEnum):
    """Who reads a comment."""

    PUBLIC = "public"
    DESK = "bureau"

    @property
    def label(self) -> str:
        return {"public": "Public", "bureau": "Privé au bureau"}[self.value]


class Comment(Base):
    """A comment on a document."""

    __tablename__ = "document_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"))
    visibility: Mapped[CommentVisibility] = mapped_column(value_enum(CommentVisibility))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version_number: Mapped[int | None] = mapped_column()  # the version read when writing

    author: Mapped[User] = relationship()
    desk: Mapped[Desk | None] = relationship()


def add_comment(session: Session, document: Document, *, author: User, body: str | None,
                visibility: str, desk_slug: str | None, now: datetime) -> Comment:
    """Add a comment (the caller checked that `author` sees the document); journal it."""
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise ParapheurError(N_("Le commentaire est vide."))
    if "\x00" in text:
        raise ParapheurError(N_("Le commentaire contient un caractère interdit (caractère nul)."))
    if len(text) > MAX_COMMENT:
        raise ParapheurError(N_("Le commentaire est trop long : %(MAX_COMMENT)s caractères au "
                                "plus (%(count)s saisis)."),
                             MAX_COMMENT=MAX_COMMENT, count=len(text))
    try:
        chosen = CommentVisibility(visibility or "public")
    except ValueError:
        raise ParapheurError(N_("Visibilité du commentaire inconnue : choisissez « public » ou "
                                "« privé au bureau ».")) from None
    desk = None
    desks = list(author.desks)
    if chosen is CommentVisibility.DESK:
        if not desks:
            raise Forbidden(N_("Un commentaire privé est réservé à un bureau : vous n'êtes "
                               "membre d'aucun bureau."))
        desk = next((d for d in desks if d.slug == desk_slug), None) if desk_slug else desks[0]
        if desk is None:
            raise Forbidden(N_("Vous n'êtes pas membre de ce bureau."))
    elif desk_slug:
        desk = next((d for d in desks if d.slug == desk_slug), None)
    comment = Comment(document_id=document.id, author_id=author.id,
                      desk_id=desk.id if desk else None, visibility=chosen, body=text,
                      created_at=now, version_number=document.current_version.number)
    session.add(comment)
    session.flush()
    audit.record(session, "document:comment:added", actor=author, document_id=document.id,
                 details={"comment_id": comment.id, "visibility": chosen.value,
                          "desk": desk.slug if desk else None, "length": len(text),
                          "text_sha256": hashlib.sha256(text.encode()).hexdigest()},
                 clock=lambda: now)
    return comment


def readable_comments(session: Session, document: Document, user: User) -> list[Comment]:
    """The comments `user` may read on a document they see: public ones and their desks' ones."""
    desk_ids = [d.id for d in user.desks]
    query = select(Comment).where(Comment.document_id == document.id, or_(
        Comment.visibility == CommentVisibility.PUBLIC,
        Comment.desk_id.in_(desk_ids) if desk_ids else False))
    # With their authors and desks, which the document page shows.
    return list(session.execute(query.order_by(Comment.created_at, Comment.id).options(
        joinedload(Comment.author), joinedload(Comment.desk))).scalars())
