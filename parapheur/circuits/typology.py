"""The typologie: which circuit a document of a given type / sous-type follows."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from parapheur.circuits.errors import CircuitDefinitionError, CircuitError, Problem
from parapheur.circuits.yamlnodes import Reader, did_you_mean
from parapheur.errors import N_

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")


@dataclass(frozen=True)
class Subtype:
    """One sous-type of a document type, and the circuit its documents follow."""

    type: str
    type_label: str
    code: str
    label: str
    circuit: str


@dataclass(frozen=True)
class Typology:
    """Every (type, sous-type) and its circuit id."""

    entries: Mapping[tuple[str, str], Subtype]

    def circuit_for(self, doc_type: str, subtype: str) -> str:
        """The circuit id of (type, sous-type); CircuitError when the pair is not configured."""
        entry = self.entries.get((doc_type, subtype))
        if entry is None:
            raise CircuitError(N_("Aucun circuit n'est configuré pour le type « %(doc_type)s » "
                                  "/ sous-type « %(subtype)s »."),
                               doc_type=doc_type, subtype=subtype)
        return entry.circuit

    def types(self) -> dict[str, str]:
        """Type code → label, in file order."""
        return {e.type: e.type_label for e in self.entries.values()}

    def subtypes(self, doc_type: str) -> list[Subtype]:
        """The sous-types of one type, in file order."""
        return [e for e in self.entries.values() if e.type == doc_type]


def load_typology(path: Path, circuits: Collection[str] | None = None) -> Typology:
    """Load typologie.yaml; with `circuits` (ids, or a dict keyed by id), each must be known."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CircuitDefinitionError([Problem(str(path), 1, 1, f"lecture impossible : {exc}")]) from None
    return parse_typology(text, str(path), circuits)


def parse_typology(text: str, source: str = "<string>",
                   circuits: Collection[str] | None = None) -> Typology:
    """Parse the typology's text, reporting every defect with its position."""
    r = Reader(source)
    entries: dict[tuple[str, str], Subtype] = {}
    root = r.compose(text)
    if root is None and not r.problems:
        r.report(None, "typologie vide", line=1, column=1)
    top = r.mapping(root, "la typologie") if root is not None else None
    if top is not None:
        r.known_keys(top, ("types",), "la typologie")
        if "types" not in top:
            r.report(root, "clé « types » manquante")
        types = r.mapping(top["types"][1], "« types »") if "types" in top else None
        for code, (key, node) in (types or {}).items():
            if not _CODE.match(code):
                r.report(key, f"code de type invalide « {code} » : majuscules, chiffres, _ et -")
            spec = r.mapping(node, f"le type « {code} »")
            if spec is None:
                continue
            r.known_keys(spec, ("label", "subtypes"), f"le type « {code} »")
            label = r.text(spec["label"][1], "« label »") if "label" in spec else code
            if "subtypes" not in spec:
                r.report(key, f"le type « {code} » n'a pas de « subtypes »")
                continue
            subtypes = r.mapping(spec["subtypes"][1], "« subtypes »") or {}
            for sub, (sub_key, sub_node) in subtypes.items():
                if not _CODE.match(sub):
                    r.report(sub_key, f"code de sous-type invalide « {sub} » : majuscules, "
                                      "chiffres, _ et -")
                sub_spec = r.mapping(sub_node, f"le sous-type « {sub} »")
                if sub_spec is None:
                    continue
                r.known_keys(sub_spec, ("label", "circuit"), f"le sous-type « {sub} »")
                sub_label = r.text(sub_spec["label"][1], "« label »") \
                    if "label" in sub_spec else sub
                if "circuit" not in sub_spec:
                    r.report(sub_key, f"le sous-type « {sub} » n'indique pas son « circuit »")
                    continue
                circuit_id = r.text(sub_spec["circuit"][1], "« circuit »")
                if circuit_id is None:
                    continue
                if circuits is not None and circuit_id not in circuits:
                    r.report(sub_spec["circuit"][1], f"circuit inconnu « {circuit_id} »"
                                                     f"{did_you_mean(circuit_id, circuits)}")
                    continue
                entries[(code, sub)] = Subtype(code, label or code, sub, sub_label or sub,
                                               circuit_id)
    if r.problems:
        raise CircuitDefinitionError(r.problems)
    return Typology(entries)
