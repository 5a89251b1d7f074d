"""Accent-insensitive search on titles and metadata, and the amount the trays sort by.

One normalisation, in Python, for both databases: the title and the metadata values are
lower-cased, stripped of their accents and ligatures (« Délibération », « DELIBERATION » and
« deliberation » are one word; « œuvre » is « oeuvre ») and kept in `documents.search_text`, filled
by the service that creates the document. The query's words get the same treatment, so both
databases agree on what matches.

- PostgreSQL: full-text search over that column (`to_tsvector('simple', search_text)`, a GIN
  index from migration 0016), each word matching the start of a word (« delib » finds
  « délibération »).
- SQLite: each word must appear in the column (`LIKE '%mot%'`), a scan that is fine at the size
  a SQLite instance serves.

The normalisation is done here rather than with PostgreSQL's `unaccent()` because `unaccent()`
is not IMMUTABLE (it cannot appear in an index expression) and SQLite has no equivalent: one rule
in one place gives the same results on both databases.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, true

from parapheur.circuits.definition import Circuit

#: Longest normalised text kept per document (titles are at most 300 characters; metadata a few).
MAX_SEARCH_TEXT = 4000
#: Words of a query taken into account.
MAX_QUERY_WORDS = 10

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Lower-case words without accents or ligatures, separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(bare.casefold()))


def search_text(title: str, metadata: Mapping[str, Any] | None) -> str:
    """What the search reads of a document: its title and its metadata values, normalised."""
    values = [title]
    for value in (metadata or {}).values():
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            values.append(str(value))
    return normalise(" ".join(values))[:MAX_SEARCH_TEXT]


def query_words(query: str) -> list[str]:
    """The normalised words of a search query (at most MAX_QUERY_WORDS)."""
    return normalise(query[:500]).split()[:MAX_QUERY_WORDS]


def matches(column, words: list[str], dialect: str) -> ColumnElement[bool]:
    """SQL condition: every word is found in the normalised `column` (see the module's rule)."""
    if not words:
        return true()
    if dialect == "postgresql":
        # Words are letters and digits only (normalise), so the tsquery syntax cannot be injected.
        query = " & ".join(f"{word}:*" for word in words)
        return func.to_tsvector(literal_column("'simple'"), column).op("@@")(
            func.to_tsquery(literal_column("'simple'"), query))
    return and_(*(column.like(f"%{word}%") for word in words))


def document_amount(circuit: Circuit, metadata: Mapping[str, Any] | None) -> Decimal | None:
    """The amount of the circuit's first `decimal` field named « montant… », if filled in."""
    for name, spec in circuit.fields.items():
        if spec.type != "decimal" or not name.startswith("montant"):
            continue
        value = (metadata or {}).get(name)
        if value is None or value == "":
            return None
        try:
            amount = Decimal(str(value).replace(" ", "").replace(",", "."))
        except InvalidOperation:
            return None
        return amount.quantize(Decimal("0.01")) if amount.is_finite() else None
    return None
