"""The outbox: one row per side effect still to happen (or that happened, or gave up)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parapheur.db import Base, UTCDateTime, value_enum


class OutboxStatus(enum.StrEnum):
    """Where a side effect stands."""

    PENDING = "en_attente"  # waiting for its time (first try or a retry)
    CLAIMED = "en_cours"  # a worker took it; its lease says until when
    DONE = "fait"
    FAILED = "echec"  # every attempt failed: given up, the reason is kept

    @property
    def label(self) -> str:
        return {"en_attente": "En attente", "en_cours": "En cours", "fait": "Fait",
                "echec": "Échec"}[self.value]


class OutboxMessage(Base):
    """A side effect to deliver: its kind selects the handler, its key makes it happen once."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True)
    status: Mapped[OutboxStatus] = mapped_column(value_enum(OutboxStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int | None] = mapped_column(Integer)  # None: PARAPHEUR_OUTBOX_MAX_ATTEMPTS
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:  # the payload may name people: keep it out of logs
        return f"<OutboxMessage {self.id} {self.kind} {self.status.value}>"
