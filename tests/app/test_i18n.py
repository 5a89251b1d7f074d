"""French first, English available: the catalogue is complete, the locale is the user's choice,
and amounts, numbers and dates are written for the reader's locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from app_helpers import csrf_from, login, page_text
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import render_template_string
from markupsafe import Markup
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.audit.models import AuditEvent
from parapheur.config import PROJECT_ROOT
from parapheur.db import get_session
from parapheur.i18n import TRANSLATIONS_DIR, format_amount, format_datetime, format_number

#: The template folders babel.cfg extracts (the pages; PDF and mail stay in French).
TRANSLATED_TEMPLATES = ("pages", "documents", "accounting", "admin", "organisations", "webhooks")
NNBSP = "\u202f"  # the narrow no-break space of French thousands and before €


def _catalogue():
    with open(TRANSLATIONS_DIR / "en/LC_MESSAGES/messages.po", "rb") as source:
        return read_po(source)


def _singular(message_id):
    return message_id if isinstance(message_id, str) else message_id[0]


def test_every_sentence_marked_for_translation_has_its_english_and_the_mo_is_compiled():
    catalogue = _catalogue()
    known = {_singular(m.id): m.string for m in catalogue if m.id}
    marked = set()
    method_map = [(f"templates/{folder}/**.html", "jinja2") for folder in TRANSLATED_TEMPLATES]
    method_map.append(("parapheur/**.py", "python"))
    for _, _, message, _, _ in extract_from_dir(PROJECT_ROOT, method_map=method_map):
        marked.add(message if isinstance(message, str) else message[0])
    assert sorted(marked - set(known)) == [], "marked but not in the catalogue (pybabel update)"
    assert sorted(k for k, v in known.items() if not v) == [], "not translated"
    with open(TRANSLATIONS_DIR / "en/LC_MESSAGES/messages.mo", "rb") as compiled:
        mo = {_singular(m.id): tuple(m.string) if isinstance(m.string, list) else m.string
              for m in read_mo(compiled) if m.id}
    assert mo == known, "messages.mo is older than messages.po (pybabel compile)"


def test_french_by_default_english_when_the_browser_prefers_it(app):
    client = app.test_client()
    french = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in french and "Se connecter" in french
    english = app.test_client().get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    text = english.get_data(as_text=True)
    assert '<html lang="en">' in text and "Log in" in text and "Password" in text
    missing = app.test_client().get("/nulle-part", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and "Page not found" in page_text(missing)


def test_a_user_chooses_english_from_any_page_and_keeps_it(demo, client_for):
    maire = client_for("maire")
    page = maire.get("/").get_data(as_text=True)
    assert "Bannettes" in page
    response = maire.post("/langue", data={"csrf_token": csrf_from(page), "locale": "en",
                                           "next": "/documents"})
    assert response.status_code == 302 and response.headers["Location"] == "/documents"
    assert "Trays" in maire.get("/").get_data(as_text=True)
    with demo.app_context():
        session = get_session()
        user = session.execute(select(User).where(User.username == "maire")).scalar_one()
        assert user.locale == "en"
        event = session.execute(select(AuditEvent).where(
            AuditEvent.name == "account:locale:changed")).scalar_one()
        assert event.details == {"locale": "en"}
    # Another browser, French by default, gets her choice once she is logged in.
    other = demo.test_client()
    assert "Se connecter" in other.get("/login").get_data(as_text=True)
    login(other, "maire")
    assert '<html lang="en">' in other.get("/").get_data(as_text=True)


def test_templates_gettext_translates_escapes_and_formats_as_jinja_newstyle_does(app):
    """The templates' `_()` keeps each string once given (parapheur.i18n): French and English
    stay apart, variables are escaped, « %% » reads « % » with or without variables, and a
    text template (no autoescape) gets plain text."""
    template = ("{{ _('Se déconnecter') }}|{{ _('Taux : 100 %%') }}|"
                "{{ _('Sélectionner « %(title)s »', title=title) }}")
    expected = {"fr": "Se déconnecter|Taux : 100 %|Sélectionner « &lt;b&gt; »",
                "en": "Log out|Taux : 100 %|Select “&lt;b&gt;”"}
    for _ in range(2):  # the second time from the kept strings
        for locale, text in expected.items():
            with app.test_request_context("/", headers={"Accept-Language": locale}):
                assert render_template_string(template, title="<b>") == text, locale
    with app.test_request_context("/"):
        plain = app.jinja_env.from_string(  # not autoescaped, as a mail's text part
            "{% autoescape false %}" + template + "{% endautoescape %}")
        assert plain.render(title="<b>") == "Se déconnecter|Taux : 100 %|Sélectionner « <b> »"
        assert not isinstance(plain.render(title="x").split("|")[0], Markup)


def test_an_unknown_language_is_refused(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/langue", data={"csrf_token": csrf_from(page), "locale": "xx"})
    assert response.status_code == 400
    assert "Langues disponibles : Français, English." in page_text(response)


def test_amounts_numbers_and_dates_for_each_locale():
    assert format_amount(Decimal("12000.50"), locale="fr") == f"12{NNBSP}000,50{chr(0xa0)}€"
    assert format_amount(Decimal("12000.50"), locale="en") == "€12,000.50"
    assert format_number(Decimal("5.50"), locale="fr") == "5,5"
    assert format_number(Decimal("12000"), locale="fr") == f"12{NNBSP}000"
    moment = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 18:30 in Paris
    assert format_datetime(moment, locale="fr") == "01/12/2026 18:30"
    assert "6:30" in format_datetime(moment, locale="en") and "12/1/26" in format_datetime(
        moment, locale="en")


def _french_sentences() -> set[str]:
    """The catalogue's French sentences (the stretches between placeholders and tags) whose
    English differs: none of them may remain on a page shown in English."""
    sentences = set()
    for message in _catalogue():
        if not message.id or not isinstance(message.id, str) or message.id == message.string:
            continue
        for piece in re.split(r"%\([^)]*\)s|<code>.*?</code>|<[^>]+>", message.id):
            piece = piece.replace("%%", "%").strip(" ,.:;()—·←→…")
            if len(piece) >= 12 and " " in piece:
                sentences.add(piece)
    return sentences


def _in_english(demo, client_for, username: str):
    client = client_for(username)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/langue", data={"csrf_token": csrf_from(page), "locale": "en",
                                        "next": "/"}).status_code == 302
    return client


def test_the_main_pages_in_english_keep_no_french_sentence(demo, client_for):
    french = _french_sentences()
    assert len(french) > 300  # the catalogue really holds the pages' sentences
    dgs = _in_english(demo, client_for, "dgs")
    inbox = dgs.get("/").get_data(as_text=True)
    items = re.findall(r'name="items" value="([^"]+)"[^>]*data-action="visa"', inbox)
    assert items, "the demo has documents waiting for the DGS's visa"
    document_id = items[0].split(":")[0]
    token = csrf_from(inbox)
    finances = _in_english(demo, client_for, "finances")
    invoices = finances.get("/factures/").get_data(as_text=True)
    invoice_link = re.search(r'href="(/factures/\d+)"', invoices)
    assert invoice_link, "the demo has invoices"
    admin = _in_english(demo, client_for, "admin")
    pages = {
        "inbox": dgs.get("/"),
        "document": dgs.get(f"/documents/{document_id}"),
        "documents": dgs.get("/documents"),
        "batch summary": dgs.post("/bannette/lot", data={"csrf_token": token, "action": "visa",
                                                         "items": items}),
        "invoices": finances.get("/factures/"),
        "invoice": finances.get(invoice_link.group(1)),
        "accounting": finances.get("/comptabilite/"),
        "admin": admin.get("/admin/"),
        "journal": admin.get("/admin/journal/"),
        "circuits": admin.get("/admin/circuits/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = page_text(response)
        assert '<html lang="en">' in text, name
        body = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text.split("<main", 1)[-1]))
        left = sorted(s for s in french if s in body)
        assert left == [], f"French sentences left on the {name} page: {left}"
    assert "To process" in page_text(pages["inbox"])
    assert "Give the visa" in page_text(pages["document"])
    assert "Summary" in page_text(pages["batch summary"])
    assert "Bordereaux of mandats" in page_text(pages["accounting"])
    assert "Audit journal" in page_text(pages["journal"])
