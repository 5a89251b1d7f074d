"""SMTP settings: URL forms, and a password that never shows."""

from __future__ import annotations

import pytest

from parapheur.config import ConfigError, load_settings
from parapheur.notifications.mail import MailNotifier
from parapheur.notifications.smtp import SmtpSettings


@pytest.mark.parametrize("url,expected", [
    ("smtp://mail.example", ("mail.example", 25, "plain", None)),
    ("smtp+starttls://agent:p%40ss@mail.example", ("mail.example", 587, "starttls", "agent")),
    ("smtps://mail.example:2465", ("mail.example", 2465, "tls", None)),
])
def test_smtp_urls(url, expected):
    settings = SmtpSettings.from_url(url)
    assert (settings.host, settings.port, settings.security, settings.username) == expected


def test_the_password_never_shows():
    settings = SmtpSettings.from_url("smtp+starttls://agent:tres-secret@mail.example")
    assert settings.password == "tres-secret"
    assert "tres-secret" not in repr(settings)
    assert "tres-secret" not in repr(MailNotifier(settings, "a@b.test"))
    with pytest.raises(ConfigError) as refused:
        load_settings({"PARAPHEUR_SMTP_URL": "imap://agent:tres-secret@mail.example"})
    assert "tres-secret" not in str(refused.value) and "PARAPHEUR_SMTP_URL" in str(refused.value)
