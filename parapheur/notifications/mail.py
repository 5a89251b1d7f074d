"""Sending mail over SMTP (PARAPHEUR_SMTP_URL), the only notifier shipped."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import unquote, urlsplit

from parapheur.outbox.services import DeliveryError

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


@dataclass(frozen=True)
class OutgoingMail:
    """One message: French text and HTML, a Message-ID made from the outbox key."""

    to: str
    to_name: str
    subject: str
    text: str
    html: str
    message_id: str


class MailNotifier:
    """Sends OutgoingMail through one SMTP server from one sender address."""

    def __init__(self, settings: SmtpSettings | None, sender: str):
        self.settings = settings
        self.sender = sender

    def __repr__(self) -> str:
        where = f"{self.settings.host}:{self.settings.port}" if self.settings else "non configuré"
        return f"<MailNotifier {where}>"

    def build(self, mail: OutgoingMail) -> EmailMessage:
        """The MIME message (text + HTML alternative)."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = formataddr((mail.to_name, mail.to))
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    def send(self, mail: OutgoingMail) -> None:
        """Hand the message to the SMTP server; DeliveryError (retried) when it fails."""
        if self.settings is None:
            raise DeliveryError("Aucun serveur de messagerie n'est configuré "
                                "(PARAPHEUR_SMTP_URL) : le message n'a pas été envoyé.",
                                permanent=True)
        s = self.settings
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.username:
                    client.login(s.username, s.password or "")
                client.send_message(self.build(mail))
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise DeliveryError(f"Le serveur de messagerie a refusé le message "
                                f"({exc.smtp_code}).", permanent=permanent) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("Le serveur de messagerie a refusé le destinataire.",
                                permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"Serveur de messagerie injoignable ({s.host}:{s.port} : "
                                f"{type(exc).__name__}).") from None


def message_id(key: str, domain: str = "parapheur.local") -> str:
    """A stable Message-ID for an outbox key, so that a repeat after a crash is recognisable."""
    safe = "".join(c if c.isalnum() or c in "-." else "." for c in key)
    return f"<{safe}@{domain}>"

