"""Languages: French first, English available (Flask-Babel), and how numbers, amounts and dates
are written for the reader's locale (« 12 000,50 € » in French, "€12,000.50" in English).

The locale is the user's choice (`users.locale`, set from any page's footer), else the one chosen
before logging in (kept in the session), else the browser's preferred language among those the
catalogues have, else French. Times are shown in Paris time whatever the language.
"""

from __future__ import annotations

import weakref
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask, g, has_app_context, has_request_context, request
from flask import session as cookie
from flask_babel import Babel, get_locale, get_translations
from jinja2 import pass_context, pass_eval_context
from markupsafe import Markup

from parapheur import dates
from parapheur.dates import PARIS

LOCALES = {"fr": "Français", "en": "English"}
DEFAULT_LOCALE = "fr"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
_SESSION_KEY = "locale"


def select_locale() -> str:
    """The locale of this request (see the module's docstring)."""
    if not has_request_context():
        return DEFAULT_LOCALE
    from flask_login import current_user

    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    return visitor_locale()


def visitor_locale() -> str:
    """The locale of this request without reading the user from the database: the visitor's
    choice, else the browser's preferred language, else French."""
    chosen = cookie.get(_SESSION_KEY)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(tuple(LOCALES), default=DEFAULT_LOCALE)


def remember_locale(locale: str) -> None:
    """Keep the choice of a visitor not logged in (a user's goes to `users.locale` too)."""
    cookie[_SESSION_KEY] = locale


def current_locale() -> str:
    """The request's locale code (« fr »), found once per request and locale.

    Kept beside the locale in Flask-Babel's per-context namespace, as `_translations` does:
    every date and amount of a page asks (a hundred times on a tray page).
    """
    if not has_request_context():
        return DEFAULT_LOCALE
    ctx = g.get("_flask_babel")
    locale = getattr(ctx, "babel_locale", None)
    cached = getattr(ctx, "parapheur_locale", None)
    if locale is not None and cached is not None and cached[0] is locale:
        return cached[1]
    locale = get_locale()
    code = str(locale or DEFAULT_LOCALE)
    ctx = g.get("_flask_babel")
    if ctx is not None and locale is not None:
        ctx.parapheur_locale = (locale, code)
    return code


def format_amount(value: Decimal | float | int | None, currency: str = "EUR",
                  locale: str | None = None) -> str:
    """An amount with its currency, written for the locale (« 12 000,50 € »)."""
    if value is None:
        return "—"
    return babel_numbers.format_currency(value, currency, locale=locale or current_locale())


def format_number(value: Decimal | float | int | None, locale: str | None = None) -> str:
    """A number written for the locale, without trailing zeros (« 5,5 », « 12 000 »)."""
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        value = value.normalize()
        exponent = value.as_tuple().exponent  # "n", "N" or "F" for NaN and infinities
        places = max(0, -exponent) if isinstance(exponent, int) else 0
        pattern = "#,##0" + ("." + "#" * places if places else "")
        return babel_numbers.format_decimal(value, format=pattern,
                                            locale=locale or current_locale())
    return babel_numbers.format_decimal(value, locale=locale or current_locale())


def format_datetime(value: datetime | None, with_seconds: bool = False,
                    locale: str | None = None) -> str:
    """A UTC datetime as Paris local time, written for the locale (« 01/12/2026 18:30 »)."""
    locale = locale or current_locale()
    if value is None or locale == "fr":  # the collectivités' usage: day/month/year, 24 h
        return dates.format_datetime(value, with_seconds)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return babel_dates.format_datetime(value.astimezone(PARIS),
                                       "medium" if with_seconds else "short", tzinfo=PARIS,
                                       locale=locale)


def format_date(value: date | datetime | None, locale: str | None = None) -> str:
    """A day, written for the locale (« 1 décembre 2026 »)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(PARIS).date()
    return babel_dates.format_date(value, "long", locale=locale or current_locale())


def _translations():
    """Flask-Babel's catalogue for the current locale, kept beside its locale in Flask-Babel's
    own per-context namespace: a change of locale (`flask_babel.refresh`) finds it again."""
    if not has_app_context():
        return get_translations()
    ctx = g.get("_flask_babel")
    cached = getattr(ctx, "parapheur_translations", None)
    if cached is not None and cached[0] is getattr(ctx, "babel_locale", None):
        return cached[1]
    translations = get_translations()
    ctx = g.get("_flask_babel")
    if ctx is not None:
        ctx.parapheur_translations = (getattr(ctx, "babel_locale", None), translations)
    return translations


# Per catalogue, its strings as the templates' `_()` gave them once (the catalogues do not change
# while the process runs; a catalogue dropped by Flask-Babel drops its entry).
_TEMPLATE_STRINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@pass_eval_context
def _template_gettext(eval_ctx, string: str, /, **variables):
    """The templates' `_()` and `gettext()`, as Jinja's newstyle gettext gives them (translated,
    marked safe when the template autoescapes, then `%`-formatted with its escaped variables),
    each string kept once translated (and, without variables, formatted): a tray page asks for a
    hundred and more. It takes the render's evaluation context, not its context: Jinja copies
    the whole context for a function taking it that is called in a loop (a table's rows)."""
    translations, strings = _render_catalogue(eval_ctx)
    autoescape = eval_ctx.autoescape
    key = (string, autoescape, bool(variables))
    given = strings.get(key)
    if given is None:
        text = translations.ugettext(string)
        text = Markup(text) if autoescape else text
        given = strings[key] = text if variables else text % {}
    return given % variables if variables else given


def _render_catalogue(context) -> tuple:
    """The catalogue of a template's render and its kept strings, found once per render (kept on
    its Jinja evaluation context), not at each string."""
    found = getattr(context, "_parapheur_catalogue", None)
    if found is None:
        translations = _translations()
        strings = _TEMPLATE_STRINGS.get(translations)
        if strings is None:
            strings = _TEMPLATE_STRINGS[translations] = {}
        found = context._parapheur_catalogue = (translations, strings)
    return found


def render_locale(context) -> str:
    """`current_locale()` of a template's render, found once per render (its Jinja context):
    the filters of a tray page's hundred dates and amounts ask it."""
    found = getattr(context, "_parapheur_locale", None)
    if found is None:
        found = context._parapheur_locale = current_locale()
    return found


@pass_context
def _datetime_filter(context, value: datetime | None, with_seconds: bool = False) -> str:
    return format_datetime(value, with_seconds, locale=render_locale(context))


@pass_context
def _amount_filter(context, value, currency: str = "EUR") -> str:
    return format_amount(value, currency, locale=render_locale(context))


@pass_context
def _number_filter(context, value) -> str:
    return format_number(value, locale=render_locale(context))


@pass_context
def _day_filter(context, value) -> str:
    return format_date(value, locale=render_locale(context))


def init_app(app: Flask) -> None:
    """Flask-Babel with our catalogues, and the formatting filters every template uses."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Paris")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_locale)
    # The templates' `_()`: Flask-Babel finds the request's locale and catalogue again at every
    # string (a hundred and more on a tray page); the same catalogue, found once per request.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.globals["gettext"] = app.jinja_env.globals["_"] = _template_gettext
    app.jinja_env.filters["datetime_fr"] = _datetime_filter
    app.jinja_env.filters["amount"] = _amount_filter
    app.jinja_env.filters["number"] = _number_filter
    app.jinja_env.filters["day"] = _day_filter
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["available_locales"] = LOCALES
