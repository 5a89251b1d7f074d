"""The « À traiter » tray's sort and filters, read from the page's query string.

Every filter is a condition on `documents` columns the tray query already reads (type, author,
`amount`, `created_at`, `search_text`), so a filtered page runs the same queries as an unfiltered
one; the order is a keyset order of `access.tray_page`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement

from parapheur.dates import days_period
from parapheur.documents import search
from parapheur.documents.access import TRAY_SORTS
from parapheur.documents.models import Document
from parapheur.errors import N_, ParapheurError

#: French names of the sort orders, in the order the page offers them.
SORT_LABELS = {"echeance": "Échéance", "depot": "Date de dépôt", "montant": "Montant",
               "titre": "Titre"}
#: The natural direction of each order: deadlines and titles ascending, dates and amounts
#: the most recent / the largest first.
DEFAULT_DESCENDING = {"echeance": False, "depot": True, "montant": True, "titre": False}

_MAX_AMOUNT = Decimal("1e15")


class TrayQueryError(ParapheurError):
    """A sort, filter or page of the tray that cannot be read (HTTP 400, in French)."""

    def __init__(self, message: str, *, field: str, **params: Any):
        super().__init__(message, status=400, **params)
        self.field = field


def _amount(raw: str, label: str, name: str) -> Decimal | None:
    text = raw.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    text = text.replace("€", "").replace(",", ".")
    if not text:
        return None
    try:
        value = Decimal(text[:30])
    except InvalidOperation:
        raise TrayQueryError(N_("« %(label)s » : « %(value)s » n'est pas un montant (exemple : "
                                "12 000,50)."), label=label, value=raw[:30], field=name) from None
    if not value.is_finite() or abs(value) >= _MAX_AMOUNT:
        raise TrayQueryError(N_("« %(label)s » : montant hors limites."), label=label, field=name)
    return value


def _day(raw: str, label: str, name: str) -> date | None:
    text = raw.strip()[:20]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TrayQueryError(N_("« %(label)s » : « %(text)s » n'est pas une date (AAAA-MM-JJ)."),
                             label=label, text=text,
                             field=name) from None


@dataclass(frozen=True)
class TrayQuery:
    """What the user asked of the tray: order, direction and filters (all optional)."""

    sort: str = "echeance"
    descending: bool = False
    doc_type: str = ""  # "TYPE" or "TYPE/SOUS-TYPE"
    author_id: int | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    day_from: date | None = None
    day_to: date | None = None
    text: str = ""
    words: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> TrayQuery:
        """Read ?tri=&sens=&type=&auteur=&montant_min=&montant_max=&du=&au=&q=; 400 if wrong."""
        sort = args.get("tri", "") or "echeance"
        if sort not in TRAY_SORTS:
            raise TrayQueryError(N_("Tri inconnu : « %(value)s »."), value=sort[:30], field="tri")
        direction = args.get("sens", "")
        if direction not in ("", "asc", "desc"):
            raise TrayQueryError(N_("Sens de tri inconnu : « %(value)s »."),
                                 value=direction[:30], field="sens")
        descending = DEFAULT_DESCENDING[sort] if not direction else direction == "desc"
        doc_type = args.get("type", "").strip()[:201]
        author = args.get("auteur", "").strip()
        author_id = None
        if author:
            if not author.isascii() or not author.isdigit() or len(author) > 12:
                raise TrayQueryError(N_("« Déposé par » : choix invalide."), field="auteur")
            author_id = int(author)
        amount_min = _amount(args.get("montant_min", ""), "Montant minimum", "montant_min")
        amount_max = _amount(args.get("montant_max", ""), "Montant maximum", "montant_max")
        if amount_min is not None and amount_max is not None and amount_min > amount_max:
            raise TrayQueryError(N_("Le montant minimum dépasse le montant maximum."),
                                 field="montant_min")
        day_from = _day(args.get("du", ""), "Déposé du", "du")
        day_to = _day(args.get("au", ""), "Déposé au", "au")
        if day_from is not None and day_to is not None and day_from > day_to:
            raise TrayQueryError(N_("La date de début est postérieure à la date de fin."),
                                 field="du")
        text = args.get("q", "").strip()[:200]
        return cls(sort=sort, descending=descending, doc_type=doc_type, author_id=author_id,
                   amount_min=amount_min, amount_max=amount_max, day_from=day_from,
                   day_to=day_to, text=text, words=search.query_words(text))

    @property
    def filtered(self) -> bool:
        """Whether any filter narrows the tray."""
        return bool(self.doc_type or self.author_id or self.amount_min is not None
                    or self.amount_max is not None or self.day_from or self.day_to
                    or self.words)

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        """The SQL conditions of the filters, for `access.tray_page(where=…)`."""
        where: list[ColumnElement[bool]] = []
        if self.doc_type:
            doc_type, _, subtype = self.doc_type.partition("/")
            where.append(Document.doc_type == doc_type)
            if subtype:
                where.append(Document.doc_subtype == subtype)
        if self.author_id is not None:
            where.append(Document.author_id == self.author_id)
        if self.amount_min is not None:
            where.append(Document.amount >= self.amount_min)
        if self.amount_max is not None:
            where.append(Document.amount <= self.amount_max)
        if self.day_from is not None or self.day_to is not None:
            start, end = days_period(self.day_from or date(1970, 1, 1),
                                     self.day_to or date(9998, 12, 31))
            if self.day_from is not None:
                where.append(Document.created_at >= start)
            if self.day_to is not None:
                where.append(Document.created_at < end)
        if self.words:
            where.append(search.matches(Document.search_text, self.words, dialect))
        return where

    def args(self) -> dict[str, str]:
        """The query-string arguments that reproduce this view (defaults left out)."""
        result: dict[str, str] = {}
        if self.sort != "echeance":
            result["tri"] = self.sort
        if self.descending != DEFAULT_DESCENDING[self.sort]:
            result["sens"] = "desc" if self.descending else "asc"
        for name, value in (("type", self.doc_type), ("q", self.text)):
            if value:
                result[name] = value
        if self.author_id is not None:
            result["auteur"] = str(self.author_id)
        for name, amount in (("montant_min", self.amount_min), ("montant_max", self.amount_max)):
            if amount is not None:
                result[name] = str(amount)
        for name, day in (("du", self.day_from), ("au", self.day_to)):
            if day is not None:
                result[name] = day.isoformat()
        return result

    def cursor_args(self, last: Document) -> dict[str, str]:
        """The ?apres=ID&cle=VALUE of the page after the one ending with `last`."""
        value = getattr(last, TRAY_SORTS[self.sort].key)
        if isinstance(value, datetime):
            text = value.isoformat()
        else:
            text = "" if value is None else str(value)
        return {"apres": str(last.id), "cle": text}

    def cursor(self, args: Mapping[str, str]) -> tuple[Any, int] | None:
        """The (sort value, id) after which the page starts, from ?apres=&cle= (or ?echeance=)."""
        raw_id = args.get("apres", "")
        if not raw_id:
            return None
        raw = args.get("cle", args.get("echeance", ""))[:300]
        wrong = TrayQueryError(N_("Page de la bannette invalide : revenez à la première page."),
                               field="apres")
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
            raise wrong
        if not raw:
            return None, int(raw_id)
        try:
            if self.sort in ("echeance", "depot"):
                value: Any = datetime.fromisoformat(raw)
                if value.tzinfo is None:
                    raise wrong
            elif self.sort == "montant":
                value = Decimal(raw)
                if not value.is_finite():
                    raise wrong
            else:
                value = raw
        except (ValueError, InvalidOperation):
            raise wrong from None
        return value, int(raw_id)
