"""Sending mail over SMTP (PARAPHEUR_SMTP_URL), the only notifier shipped."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr

from parapheur.notifications.smtp import SmtpSettings
from parapheur.outbox.services import DeliveryError


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

