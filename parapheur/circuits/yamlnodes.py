"""Line-aware YAML reading: nodes with positions, duplicate keys and wrong types reported, not lost.

PyYAML's constructors silently keep the last of duplicate keys; composing to nodes and reading them
ourselves keeps every key with its line and column, so each defect is reported where it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from parapheur.circuits.errors import Problem

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"

#: libyaml's parser when PyYAML was built with it (about ten times faster), else PyYAML's own.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Reads one scalar node by its resolved tag (the constructors are stateless for scalars).
_SCALARS = yaml.constructor.SafeConstructor()

_KIND = {STR: "un texte", INT: "un entier", FLOAT: "un nombre", BOOL: "un booléen",
         NULL: "une valeur vide"}


def kind_of(node: Node) -> str:
    """How a node reads in a message: "un texte", "une liste"…"""
    if isinstance(node, MappingNode):
        return "un dictionnaire"
    if isinstance(node, SequenceNode):
        return "une liste"
    return _KIND.get(node.tag, "une valeur")


def _scalar(node: ScalarNode) -> Any:
    """The value of a scalar node of a bool, int or float tag."""
    return _SCALARS.yaml_constructors[node.tag](_SCALARS, node)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (vouliez-vous dire « x » ?)" for the closest choice, or ""."""
    match = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (vouliez-vous dire « {match[0]} » ?)" if match else ""


class Reader:
    """Collects problems of one file while typed accessors read its nodes."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def report(self, node: Node | None, message: str, *, line: int | None = None,
               column: int | None = None) -> None:
        """Record a problem at a node (or an explicit 1-based position)."""
        if node is not None:
            line = node.start_mark.line + 1 if line is None else line
            column = node.start_mark.column + 1 if column is None else column
        self.problems.append(Problem(self.file, line or 1, column or 1, message))

    def compose(self, text: str) -> Node | None:
        """The document's root node, or None after reporting a syntax error."""
        try:
            return yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:
            pass
        # PyYAML's own parser names what it found (the tab, the alias): read the faulty file again
        # with it for the message.
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "erreur de syntaxe"
            if exc.context:
                problem = f"{exc.context}, {problem}"
            self.problems.append(Problem(self.file, (mark.line + 1) if mark else 1,
                                         (mark.column + 1) if mark else 1,
                                         f"erreur de syntaxe YAML : {problem}"))
        except yaml.YAMLError as exc:  # e.g. a reader error on bad bytes
            self.problems.append(Problem(self.file, 1, 1, f"erreur de syntaxe YAML : {exc}"))
        return None

    def mapping(self, node: Node, what: str) -> dict[str, tuple[ScalarNode, Node]] | None:
        """The keys of a mapping node, in order; duplicates and non-text keys are reported."""
        if not isinstance(node, MappingNode):
            self.report(node, f"{what} doit être un dictionnaire (clé: valeur), trouvé "
                              f"{kind_of(node)}")
            return None
        result: dict[str, tuple[ScalarNode, Node]] = {}
        merged: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag == MERGE:
                # `<<: *anchor` reuses another mapping; keys written here take precedence.
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, MappingNode):
                        merged.extend(source.value)
                    else:
                        self.report(source, f"« << » dans {what} attend un dictionnaire "
                                            "(ancre &nom) ou une liste de dictionnaires")
                continue
            if not isinstance(key, ScalarNode):
                self.report(key, f"clé invalide dans {what} : un nom simple est attendu")
                continue
            name = key.value
            if name in result:
                first = result[name][0].start_mark.line + 1
                self.report(key, f"clé en double « {name} » dans {what} (déjà définie ligne "
                                 f"{first})")
                continue
            result[name] = (key, value)
        for key, value in merged:
            if isinstance(key, ScalarNode) and key.value not in result:
                result[key.value] = (key, value)
        return result

    def known_keys(self, keys: dict[str, tuple[ScalarNode, Node]], allowed: Iterable[str],
                   what: str) -> None:
        """Report every key that is not allowed, with the closest allowed one."""
        allowed = list(allowed)
        for name, (key, _value) in keys.items():
            if name not in allowed:
                hint = did_you_mean(name, allowed)
                if not hint:
                    hint = f" (clés possibles : {', '.join(allowed)})"
                self.report(key, f"clé inconnue « {name} » dans {what}{hint}")

    def text(self, node: Node, what: str, *, allow_numbers: bool = False) -> str | None:
        """A non-empty text scalar."""
        tags = (STR, INT, FLOAT) if allow_numbers else (STR,)
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            self.report(node, f"{what} doit être un texte, trouvé {kind_of(node)}")
            return None
        if not node.value.strip():
            self.report(node, f"{what} ne doit pas être vide")
            return None
        return node.value

    def boolean(self, node: Node, what: str) -> bool | None:
        """true or false."""
        if not isinstance(node, ScalarNode) or node.tag != BOOL:
            self.report(node, f"{what} doit valoir true ou false, trouvé {kind_of(node)}")
            return None
        return _scalar(node) is True

    def number(self, node: Node, what: str) -> float | None:
        """An integer or decimal number."""
        if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
            self.report(node, f"{what} doit être un nombre, trouvé {kind_of(node)}")
            return None
        return float(_scalar(node))

    def integer(self, node: Node, what: str) -> int | None:
        """An integer."""
        if not isinstance(node, ScalarNode) or node.tag != INT:
            self.report(node, f"{what} doit être un entier, trouvé {kind_of(node)}")
            return None
        return int(_scalar(node))

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        """The items of a list node."""
        if not isinstance(node, SequenceNode):
            self.report(node, f"{what} doit être une liste, trouvé {kind_of(node)}")
            return None
        return list(node.value)


def position(node: Node) -> tuple[int, int]:
    """1-based line and column of a node."""
    return node.start_mark.line + 1, node.start_mark.column + 1
