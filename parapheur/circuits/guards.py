"""Guards: a small, safe expression language on typed document metadata (never Python eval).

    montant_ttc > 25000 and not (nature in ['travaux', 'fournitures'] or urgent == true)

Operators: == != < <= > >=, `in` / `not in` a [list], and/or/not, parentheses. Literals: numbers,
'text' or "text", true, false, null. Names are metadata fields the circuit declares with a type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from parapheur.circuits.errors import GuardError

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date", "desk")
_NUMERIC = {"integer", "decimal"}
_TEXT = {"string", "desk"}
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_DESK_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class FieldSpec:
    """A metadata field a circuit reads: its type, optional allowed values, and whether required."""

    name: str
    type: str
    values: tuple[str, ...] | None = None
    optional: bool = False
    label: str | None = None


class GuardSyntaxError(Exception):
    """A guard does not parse or does not type-check; `offset` is the 0-based column in the text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


# --- AST -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    value: Any  # Decimal, str, bool or None
    kind: str  # number, text, boolean, null
    offset: int


@dataclass(frozen=True)
class Name:
    name: str
    offset: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Literal | Name
    right: Literal | Name
    offset: int


@dataclass(frozen=True)
class Membership:
    negated: bool
    item: Literal | Name
    options: tuple[Literal, ...]
    offset: int


@dataclass(frozen=True)
class Not:
    operand: Node
    offset: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    operands: tuple[Node, ...]
    offset: int


Node = Literal | Name | Compare | Membership | Not | BoolOp


@dataclass(frozen=True)
class Guard:
    """A parsed, type-checked guard; `fields` are the metadata names it reads."""

    source: str
    tree: Node
    fields: frozenset[str]

    def evaluate(self, metadata: Mapping[str, Any], fields: Mapping[str, FieldSpec]) -> bool:
        """True when the guard holds on these metadata (values coerced to their declared type)."""
        return bool(_eval(self.tree, metadata, fields, self.source))

    def __str__(self) -> str:
        return self.source


# --- tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
""", re.VERBOSE)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    offset: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                raise GuardSyntaxError("chaîne de caractères non terminée", pos)
            if char == "=":
                raise GuardSyntaxError("« = » seul n'est pas un opérateur : écrire « == »", pos)
            raise GuardSyntaxError(f"caractère inattendu « {char} »", pos)
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, word, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --- parser ----------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.token
        return token.kind == kind and (text is None or token.text == text)

    def expect(self, kind: str, text: str, what: str) -> _Token:
        if not self.at(kind, text):
            raise GuardSyntaxError(f"{what} attendu, trouvé {self._describe(self.token)}",
                                   self.token.offset)
        return self.take()

    @staticmethod
    def _describe(token: _Token) -> str:
        return "la fin de l'expression" if token.kind == "end" else f"« {token.text} »"

    def parse(self) -> Node:
        if self.at("end"):
            raise GuardSyntaxError("condition vide", 0)
        node = self.parse_or()
        if not self.at("end"):
            raise GuardSyntaxError(f"{self._describe(self.token)} inattendu : opérateur "
                                   "(and, or, ==, <, in…) manquant ?", self.token.offset)
        return node

    def parse_or(self) -> Node:
        first = self.parse_and()
        operands = [first]
        while self.at("keyword", "or"):
            self.take()
            operands.append(self.parse_and())
        return first if len(operands) == 1 else BoolOp("or", tuple(operands), _offset(first))

    def parse_and(self) -> Node:
        first = self.parse_not()
        operands = [first]
        while self.at("keyword", "and"):
            self.take()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else BoolOp("and", tuple(operands), _offset(first))

    def parse_not(self) -> Node:
        if self.at("keyword", "not"):
            token = self.take()
            return Not(self.parse_not(), token.offset)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        if self.at("op", "("):
            self.take()
            inner = self.parse_or()
            self.expect("op", ")", "« ) »")
            return inner
        left = self.parse_operand()
        if self.at("op") and self.token.text in _COMPARISONS:
            op = self.take().text
            right = self.parse_operand()
            return Compare(op, left, right, left.offset)
        if self.at("keyword", "in"):
            self.take()
            return Membership(False, left, self.parse_list(), left.offset)
        if self.at("keyword", "not") and self.tokens[self.pos + 1].text == "in":
            self.take()
            self.take()
            return Membership(True, left, self.parse_list(), left.offset)
        return left

    def parse_operand(self) -> Literal | Name:
        token = self.token
        if token.kind == "number":
            self.take()
            return Literal(Decimal(token.text), "number", token.offset)
        if token.kind == "string":
            self.take()
            return Literal(_unquote(token.text), "text", token.offset)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.take()
            return Literal(token.text == "true", "boolean", token.offset)
        if token.kind == "keyword" and token.text == "null":
            self.take()
            return Literal(None, "null", token.offset)
        if token.kind == "name":
            self.take()
            return Name(token.text, token.offset)
        raise GuardSyntaxError(f"valeur ou champ attendu, trouvé {self._describe(token)}",
                               token.offset)

    def parse_list(self) -> tuple[Literal, ...]:
        self.expect("op", "[", "« [ » (liste de valeurs après in)")
        items: list[Literal] = []
        while True:
            operand = self.parse_operand()
            if not isinstance(operand, Literal):
                raise GuardSyntaxError("une liste après « in » ne contient que des valeurs",
                                       operand.offset)
            items.append(operand)
            if self.at("op", ","):
                self.take()
                continue
            self.expect("op", "]", "« , » ou « ] »")
            return tuple(items)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _offset(node: Node) -> int:
    return node.offset


# --- type checking ---------------------------------------------------------------------------

def parse_guard(text: str, fields: Mapping[str, FieldSpec]) -> Guard:
    """Parse and type-check a guard against declared fields; GuardSyntaxError on any defect."""
    tree = _Parser(text).parse()
    names: set[str] = set()
    _check(tree, fields, names, top=True)
    return Guard(text, tree, frozenset(names))


def _check(node: Node, fields: Mapping[str, FieldSpec], names: set[str], *, top: bool) -> None:
    if isinstance(node, BoolOp):
        for operand in node.operands:
            _check(operand, fields, names, top=True)
    elif isinstance(node, Not):
        _check(node.operand, fields, names, top=True)
    elif isinstance(node, Compare):
        left = _operand_type(node.left, fields, names)
        right = _operand_type(node.right, fields, names)
        _check_comparable(node.op, node.left, left, node.right, right, fields)
    elif isinstance(node, Membership):
        item = _operand_type(node.item, fields, names)
        for option in node.options:
            _check_comparable("==", node.item, item, option, _operand_type(option, fields, names),
                              fields)
    elif isinstance(node, Name):
        kind = _operand_type(node, fields, names)
        if kind != "boolean":
            raise GuardSyntaxError(f"le champ « {node.name} » ({kind}) n'est pas un booléen : "
                                   "le comparer (==, >, in…)", node.offset)
    elif isinstance(node, Literal) and node.kind != "boolean":
        raise GuardSyntaxError("une valeur seule n'est pas une condition", node.offset)


def _operand_type(node: Literal | Name, fields: Mapping[str, FieldSpec], names: set[str]) -> str:
    if isinstance(node, Literal):
        return node.kind
    spec = fields.get(node.name)
    if spec is None:
        from difflib import get_close_matches

        hint = get_close_matches(node.name, list(fields), n=1)
        message = f"champ de métadonnées inconnu « {node.name} »"
        if hint:
            message += f" (vouliez-vous dire « {hint[0]} » ?)"
        elif fields:
            message += f" ; champs déclarés : {', '.join(sorted(fields))}"
        else:
            message += " : déclarez-le dans « metadata »"
        if not hint:
            message += f" (un texte s'écrit entre apostrophes : '{node.name}')"
        raise GuardSyntaxError(message, node.offset)
    names.add(node.name)
    return spec.type


def _category(kind: str) -> str:
    if kind in _NUMERIC or kind == "number":
        return "number"
    if kind in _TEXT or kind == "text":
        return "text"
    return kind  # boolean, date, null


def _check_comparable(op: str, left: Literal | Name, left_type: str, right: Literal | Name,
                      right_type: str, fields: Mapping[str, FieldSpec]) -> None:
    if isinstance(left, Literal) and isinstance(right, Literal):
        raise GuardSyntaxError("comparaison de deux valeurs fixes : un champ est attendu",
                               left.offset)
    if "null" in (left_type, right_type):
        if op not in ("==", "!="):
            raise GuardSyntaxError("null ne se compare qu'avec == ou !=", left.offset)
        return
    # A date field compares with an ISO date written as text.
    for field_type, other, other_type in ((left_type, right, right_type),
                                          (right_type, left, left_type)):
        if field_type == "date" and isinstance(other, Literal) and other_type == "text":
            try:
                date.fromisoformat(other.value)
            except ValueError:
                raise GuardSyntaxError(f"date invalide « {other.value} » (format AAAA-MM-JJ)",
                                       other.offset) from None
            return
    left_cat, right_cat = _category(left_type), _category(right_type)
    if left_cat != right_cat:
        raise GuardSyntaxError(f"types incompatibles : {_type_label(left, left_type)} {op} "
                               f"{_type_label(right, right_type)}", right.offset)
    if op in ("<", "<=", ">", ">=") and left_cat in ("text", "boolean"):
        raise GuardSyntaxError(f"« {op} » ne s'applique pas à un {_french(left_type)}",
                               left.offset)
    # A literal compared to a field with a closed list of values must be one of them.
    for field_node, other in ((left, right), (right, left)):
        if isinstance(field_node, Name) and isinstance(other, Literal):
            spec = fields[field_node.name]
            if spec.values is not None and other.value not in spec.values:
                raise GuardSyntaxError(
                    f"valeur « {other.value} » impossible pour « {spec.name} » "
                    f"(valeurs : {', '.join(spec.values)})", other.offset)
            if spec.type == "integer" and other.kind == "number" and \
                    other.value != other.value.to_integral_value():
                raise GuardSyntaxError(f"« {spec.name} » est un entier", other.offset)


def _type_label(node: Literal | Name, kind: str) -> str:
    if isinstance(node, Name):
        return f"{node.name} ({kind})"
    return _french(kind)


def _french(kind: str) -> str:
    return {"number": "nombre", "text": "texte", "string": "texte", "desk": "bureau",
            "boolean": "booléen", "date": "date", "integer": "entier",
            "decimal": "décimal"}.get(kind, kind)


# --- evaluation ------------------------------------------------------------------------------

_DIGIT_GROUPS = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(?!\d))")


def _french_number(text: str) -> str:
    """« 12 000,50 » (spaces, non-breaking spaces, decimal comma) as « 12000.50 »."""
    return _DIGIT_GROUPS.sub("", text.strip()).replace(",", ".")


def expected_value(spec: FieldSpec) -> str:
    """What a value of this field looks like, in French, for form messages."""
    expected = _french(spec.type)
    if spec.type == "desk":
        expected = "identifiant de bureau (ex. services-techniques)"
    if spec.type == "decimal":
        expected += " (ex. 12 000,50)"
    if spec.values is not None:
        expected += f" parmi {', '.join(spec.values)}"
    return expected


def coerce(spec: FieldSpec, raw: Any) -> Any:
    """The metadata value as its declared type (Decimal, int, str, bool, date), or GuardError."""
    if raw is None:
        return None
    kind = spec.type
    try:
        if kind == "decimal":
            if isinstance(raw, bool):
                raise ValueError
            value: Any = Decimal(_french_number(raw)) if isinstance(raw, str) \
                else Decimal(str(raw))
            if not value.is_finite():
                raise ValueError
            return value
        if kind == "integer":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(_french_number(raw)) if isinstance(raw, str) else int(raw)
        if kind in ("string", "desk"):
            if not isinstance(raw, str):
                raise ValueError
            if kind == "desk" and not _DESK_SLUG.match(raw):
                raise ValueError
            if spec.values is not None and raw not in spec.values:
                raise ValueError
            return raw
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError
        if kind == "date":
            if isinstance(raw, datetime):
                return raw.date()
            if isinstance(raw, date):
                return raw
            return date.fromisoformat(str(raw))
    except (ValueError, InvalidOperation, TypeError):
        pass
    expected = _french(kind)
    if kind == "desk":
        expected = "identifiant de bureau (ex. services-techniques)"
    if spec.values is not None:
        expected += f" parmi {', '.join(spec.values)}"
    raise GuardError(f"la métadonnée « {spec.name} » vaut {raw!r} : {expected} attendu")


def _value(node: Literal | Name, metadata: Mapping[str, Any],
           fields: Mapping[str, FieldSpec]) -> Any:
    if isinstance(node, Literal):
        return node.value
    return coerce(fields[node.name], metadata.get(node.name))


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        # An absent optional field equals only null; ordering with it is false.
        if op == "==":
            return left is right
        if op == "!=":
            return left is not right
        return False
    if isinstance(left, date) and isinstance(right, str):
        right = date.fromisoformat(right)
    if isinstance(right, date) and isinstance(left, str):
        left = date.fromisoformat(left)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _eval(node: Node, metadata: Mapping[str, Any], fields: Mapping[str, FieldSpec],
          source: str) -> Any:
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(_eval(op, metadata, fields, source) for op in node.operands)
        return any(_eval(op, metadata, fields, source) for op in node.operands)
    if isinstance(node, Not):
        return not _eval(node.operand, metadata, fields, source)
    if isinstance(node, Compare):
        return _compare(node.op, _value(node.left, metadata, fields),
                        _value(node.right, metadata, fields))
    if isinstance(node, Membership):
        item = _value(node.item, metadata, fields)
        found = any(_compare("==", item, option.value) for option in node.options)
        return found != node.negated
    if isinstance(node, Name):
        return _value(node, metadata, fields) is True
    return node.value
