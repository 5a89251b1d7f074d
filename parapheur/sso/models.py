"""Each organisation's identity provider, and the accounts linked to an identity there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime
from parapheur.organisations.models import Organisation


class IdentityProvider(Base):
    """The OpenID Connect provider an organisation's agents log in with (ProConnect or its own).

    The client secret is stored encrypted (`sso.secrets`, a key derived from the instance's
    secret key); it is never shown back nor journaled.
    """

    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True)
    label: Mapped[str] = mapped_column(String(100))  # the button: « ProConnect »
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(500), default="openid email")
    # « email » (a verified address) or « sub »: how an identity finds its account the first time.
    match_by: Mapped[str] = mapped_column(String(10), default="email")
    # Create an agent account for an unknown identity (off unless the administrator allows it).
    create_accounts: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether this organisation's agents may still log in with a local password.
    local_passwords: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()

    def __repr__(self) -> str:  # never the secret
        return f"<IdentityProvider {self.organisation_id} {self.issuer}>"


class SsoIdentity(Base):
    """An account's identity at a provider (issuer, sub), linked at its first SSO login."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_sso_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
