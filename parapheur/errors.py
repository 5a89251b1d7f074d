"""The application's error base: domain errors carry an HTTP status, a stable code and a sentence
to translate.

An error is raised with its French sentence as a template — marked for extraction with `N_`, so
it is a msgid of the catalogue — and the parameters that fill it:

    raise Conflict(N_("Le document « %(title)s » a déjà été traité."), title=document.title)

`message` is the French sentence filled in: what the command line (French, whatever the
environment's locale), the logs and the journal show. The web layer and the API show
`localized(exc)`: the template translated for the reader's locale, filled with the same
parameters (a parameter may itself be an error, translated in turn). The errors of the signing
layer (`signing.errors`, which has no Flask nor Babel) have the same `template` / `params` /
`message`, so they are translated the same way. `code` is the stable machine code the API answers
(`parapheur.api.problems.code_of`).
"""

from __future__ import annotations

from typing import Any

from signing.errors import N_, fill

__all__ = ["N_", "ParapheurError", "NotFound", "Forbidden", "Conflict", "fill", "localized"]


class ParapheurError(Exception):
    """Base of every domain error; `status` maps it to HTTP, `message` is the French sentence."""

    status: int = 400
    #: The French sentence when the error is raised without one (a msgid, marked with N_).
    default_message: str = N_("Action impossible")

    def __init__(self, message: str | None = None, *, status: int | None = None,
                 **params: Any):
        self.template = message or self.default_message
        self.params = params
        self.message = fill(self.template, params)
        super().__init__(self.message)
        if status is not None:
            self.status = status


def localized(error: Any) -> str:
    """The sentence of an error (or of anything with `template` and `params`, or a plain string)
    in the locale of the current request; French outside a request."""
    template = getattr(error, "template", None)
    if not isinstance(template, str):
        message = getattr(error, "message", error)
        return message if isinstance(message, str) else str(message)
    params = getattr(error, "params", None) or {}
    from flask import has_request_context

    if not has_request_context():
        return fill(template, params)
    from flask_babel import gettext

    if not params or "%(" not in template:  # nothing to fill in: no « % » to interpret
        return gettext(template)
    translated = {name: localized(value) if hasattr(value, "template") else value
                  for name, value in params.items()}
    try:
        return gettext(template, **translated)
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
        return fill(template, params)


class NotFound(ParapheurError):
    """The thing asked for does not exist."""

    status = 404


class Forbidden(ParapheurError):
    """The user may not do this."""

    status = 403


class Conflict(ParapheurError):
    """The action no longer applies (already done, state changed)."""

    status = 409
