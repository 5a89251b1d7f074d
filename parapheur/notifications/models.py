"""What each user wants to receive, and every notification planned for someone."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.accounts.models import User
from parapheur.db import Base, UTCDateTime, value_enum


class DeliveryMode(enum.StrEnum):
    """How a user wants their notifications."""

    IMMEDIATE = "immediat"
    DIGEST = "resume"  # one mail a day, at the hour the user chose
    URGENT_ONLY = "urgent"

    @property
    def label(self) -> str:
        return {"immediat": "Immédiatement (hors heures de déconnexion)",
                "resume": "Un résumé quotidien, à l'heure choisie",
                "urgent": "Seulement les notifications urgentes"}[self.value]


class NotificationStatus(enum.StrEnum):
    """Where a planned notification stands."""

    HELD = "retenue"  # waits for the next allowed window or the daily digest
    QUEUED = "a_envoyer"
    SENT = "envoyee"
    SKIPPED = "ignoree"  # not mailed: no address, or the user asked for urgent ones only
    FAILED = "echec"


class NotificationPreference(Base):
    """A user's choice of delivery and, when set, their own quiet hours."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    mode: Mapped[DeliveryMode] = mapped_column(value_enum(DeliveryMode))
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    # None: the organisation's quiet hours apply.
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quiet_weekends: Mapped[bool | None] = mapped_column(Boolean)
    quiet_holidays: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrganisationQuietHours(Base):
    """An organisation's own quiet hours (else PARAPHEUR_QUIET_HOURS, weekends and holidays)."""

    __tablename__ = "organisation_quiet_hours"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    quiet_start: Mapped[str] = mapped_column(String(5))
    quiet_end: Mapped[str] = mapped_column(String(5))
    quiet_weekends: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_holidays: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """One message planned for one user: sent at once, held for a window, or skipped."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_status", "user_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[NotificationStatus] = mapped_column(value_enum(NotificationStatus))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()
