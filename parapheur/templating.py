"""Jinja templates outside a request: PDF documents (bordereau, demo documents), later mail.

The web pages use Flask's environment over the same directory (see parapheur.web).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from parapheur.dates import format_datetime
from parapheur.resources import shipped_dir


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja environment of the shipped templates (autoescaped, with the French filters)."""
    env = Environment(loader=FileSystemLoader(str(shipped_dir("templates"))),
                      autoescape=select_autoescape(["html", "xml"]),
                      extensions=["jinja2.ext.i18n"])
    # The sentences marked for translation stay in French here (mail, PDF), as the web pages
    # without a chosen language.
    env.install_null_translations(newstyle=True)
    env.filters["datetime_fr"] = format_datetime
    return env


def render(template: str, **context: Any) -> str:
    """Render a shipped template (e.g. "pdf/bordereau.html") to text."""
    return environment().get_template(template).render(**context)
