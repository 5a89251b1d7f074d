"""Webhook subscriptions of an organisation and each delivery of an event to one of them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.organisations.models import Organisation


class WebhookSubscription(Base):
    """An organisation's receiver: its URL, the events it wants, the secret its signatures use."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))  # HMAC key, shown once at creation
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"<WebhookSubscription {self.id} active={self.active}>"


class DeliveryStatus(enum.StrEnum):
    """Where one delivery stands."""

    PENDING = "en_attente"
    DELIVERED = "livre"
    FAILED = "echec"  # given up after a day of retries (the subscription is then disabled)

    @property
    def label(self) -> str:
        return {"en_attente": "En attente", "livre": "Livré", "echec": "Échec"}[self.value]


class WebhookDelivery(Base):
    """One event for one subscription; `ordering_key` keeps a document's events in order."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_order", "subscription_id", "ordering_key",
                            "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(60))  # stable across re-sends: « evt_… »
    event: Mapped[str] = mapped_column(String(60))
    ordering_key: Mapped[str] = mapped_column(String(100))  # « document:12 », « invoice:3 »
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(value_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    outbox_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[WebhookSubscription] = relationship()


__all__ = ["DeliveryStatus", "WebhookDelivery", "WebhookSubscription"]
