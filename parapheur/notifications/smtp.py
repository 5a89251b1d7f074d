"""Where mail goes: PARAPHEUR_SMTP_URL read into settings (standard library only, so that the
configuration can check the URL without loading the application)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand mail over; the password never appears in repr or messages."""

    host: str
    port: int
    security: str = "plain"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """smtp://host:25, smtp+starttls://user:password@host:587 or smtps://host:465."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"schéma « {parts.scheme} » inconnu (smtp, smtp+starttls, smtps)")
        if not parts.hostname:
            raise ValueError("hôte SMTP manquant")
        security = SCHEMES[parts.scheme]
        default_port = {"plain": 25, "starttls": 587, "tls": 465}[security]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ValueError("port SMTP invalide") from None
        return cls(parts.hostname, port, security,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)
