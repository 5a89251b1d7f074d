"""API tokens (personal and service) and the answers kept for idempotency keys."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.accounts.models import User
from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.organisations.models import Organisation


class TokenKind(enum.StrEnum):
    """Who a token speaks for: a person (created by herself) or a service (created by an admin)."""

    PERSONAL = "personnel"
    SERVICE = "service"

    @property
    def label(self) -> str:
        return {"personnel": "Personnel", "service": "Service"}[self.value]


class ApiToken(Base):
    """A bearer token of the REST API; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(value_enum(TokenKind))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))  # shown in lists: « pph_ab12cd34… »
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def __repr__(self) -> str:  # never the hash either
        return f"<ApiToken {self.id} {self.prefix} {self.kind.value}>"


class IdempotencyRecord(Base):
    """The answer given to a creating POST under an `Idempotency-Key`, replayed on a retry."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_api_idempotency_token_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))  # method, path and parsed body
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: the first call is running
    content_type: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


__all__ = ["ApiToken", "IdempotencyRecord", "TokenKind"]
