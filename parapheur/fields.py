"""Limits on what users type: one table of lengths, and the checks the services call.

Every free text is bounded where it enters a service, so that a page, a command and a future API
refuse the same input with the same message naming the field.
"""

from __future__ import annotations

from typing import Any

from parapheur.errors import N_, ParapheurError

#: Longest accepted value of each kind of free text, in characters.
LIMITS: dict[str, int] = {
    "username": 80,
    "full_name": 200,
    "title": 300,        # a document's title
    "quality": 200,      # « Maire », « Adjointe aux finances »
    "email": 200,
    "desk_name": 200,
    "reason": 2000,      # a rejection's motive
    "metadata": 1000,    # one value of a circuit's metadata field
    "filename": 300,
    "label": 200,        # token and key labels
}

#: Largest id a form or a URL may name (the databases' 32-bit integer keys).
MAX_ID = 2**31 - 1


class FieldError(ParapheurError):
    """A value typed in a form field cannot be accepted; `field` names the field."""

    status = 400

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


def bounded(value: str | None, *, field: str, label: str, kind: str | None = None) -> str | None:
    """`value` if it fits its limit and has no NUL character, else FieldError naming `label`."""
    if value is None:
        return None
    limit = LIMITS[kind or field]
    if "\x00" in value:
        raise FieldError(field, N_("« %(label)s » contient un caractère interdit (caractère "
                                   "nul)."), label=label)
    if len(value) > limit:
        raise FieldError(field, N_("« %(label)s » est trop long : %(limit)s caractères au plus "
                                   "(%(count)s saisis)."),
                                label=label, limit=limit, count=len(value))
    return value


def parse_id(value: str | None, *, field: str, label: str) -> int:
    """A positive database id typed or chosen in a form, else FieldError naming `label`."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise FieldError(field, N_("« %(label)s » : identifiant invalide."), label=label)
    return int(text)
