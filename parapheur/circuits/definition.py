"""Circuit definitions: the YAML format, read strictly, checked as a whole, frozen in dataclasses.

A circuit is a state machine. Working states are steps with an action and who acts; final states
end the run with an outcome. Every defect is reported with its file, line and column.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from yaml.nodes import Node, ScalarNode

from parapheur.circuits.errors import CircuitDefinitionError, Problem
from parapheur.circuits.guards import FIELD_TYPES, FieldSpec, Guard, GuardSyntaxError, parse_guard
from parapheur.circuits.yamlnodes import Reader, did_you_mean, position

ACTIONS = ("visa", "signature", "cachet", "export", "notification")
SIGNING_ACTIONS = ("signature", "cachet")
# Steps the server performs itself when no desk is named (the seal, the export).
AUTOMATIC_ACTIONS = ("cachet", "export")
OUTCOMES = ("approved", "rejected", "cancelled")
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
DEFAULT_LEVEL = "B-LT"
MODES = ("all", "any")
SYSTEM_DESK = "@system"  # who acts on automatic steps
DESKS_FILE = "desks.yaml"
TYPOLOGY_FILE = "typologie.yaml"

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_STATE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DEADLINE = re.compile(r"^\s*(\d+)\s*([dh])\s*$")

TOP_KEYS = ("id", "title", "description", "metadata", "initial", "on_reject", "on_cancel",
            "states")
STEP_KEYS = ("label", "description", "action", "desk", "desks", "mode", "desk_from", "author",
             "next", "on_reject", "deadline", "signature", "exporter", "urgent",
             "mandatory_reading", "sign_annexes")
FINAL_KEYS = ("label", "description", "final", "external_status")
SIGNATURE_KEYS = ("level", "stamp", "certify")
STAMP_KEYS = ("page", "x", "y", "width", "height")
FIELD_KEYS = ("type", "values", "optional", "label")
BRANCH_KEYS = ("if", "to")


#: The longest deadlines the engine computes (about a year): longer ones are refused at check.
MAX_DEADLINE_DAYS = 260
MAX_DEADLINE_HOURS = 8784


@dataclass(frozen=True)
class Deadline:
    """How long a step may wait: `amount` business days ("d") or hours ("h")."""

    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Stamp:
    """Where the visible signature stamp goes: page (1-based, negative from the end), box in pt."""

    page: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SignatureOptions:
    """How a signature/cachet step signs: PAdES level, visible stamp, certification."""

    level: str = DEFAULT_LEVEL
    stamp: Stamp | None = None
    certify: bool = False


@dataclass(frozen=True)
class Actor:
    """Who acts on a step.

    kind "desk": fixed desks (one, or several in parallel with mode all/any); "metadata": the desk
    named by a metadata field; "author": the author's desk; "system": the server itself.
    """

    kind: str
    desks: tuple[str, ...] = ()
    field: str | None = None
    mode: str = "single"


@dataclass(frozen=True)
class Branch:
    """One way out of a step on approval: to `target` when `guard` holds (or always)."""

    target: str
    guard: Guard | None = None
    line: int = 0


@dataclass(frozen=True)
class State:
    """A state of the circuit: a step (action + actor + next) or a final state (outcome)."""

    name: str
    label: str
    line: int = 0
    outcome: str | None = None  # final states only: approved, rejected, cancelled
    external_status: str | None = None
    action: str | None = None
    actor: Actor | None = None
    next: tuple[Branch, ...] = ()
    on_reject: str | None = None
    deadline: Deadline | None = None
    signature: SignatureOptions | None = None
    description: str | None = None
    exporter: str | None = None  # export steps: the registered exporter that does the work
    urgent: bool = False  # its notifications go out even in quiet hours (droit à la déconnexion)
    #: visa/signature only once the actor was shown every page of the current version
    mandatory_reading: bool = False
    #: signature steps: each PDF annex gets its own PAdES signature in the same act
    sign_annexes: bool = False

    @property
    def is_final(self) -> bool:
        """True for a state that ends the run."""
        return self.outcome is not None


@dataclass(frozen=True)
class Circuit:
    """A checked circuit definition; `version` is the hash of its source text."""

    id: str
    version: str
    title: str
    initial: str
    states: Mapping[str, State]
    fields: Mapping[str, FieldSpec] = field(default_factory=lambda: MappingProxyType({}))
    on_cancel: str | None = None
    description: str | None = None
    source: str = ""
    file: str = "<string>"

    def state(self, name: str) -> State:
        """The state of that name (KeyError when undefined)."""
        return self.states[name]

    def desks(self) -> frozenset[str]:
        """Fixed desk slugs the circuit names (metadata-chosen and author desks excluded)."""
        return frozenset(slug for state in self.states.values() if state.actor is not None
                         and state.actor.kind == "desk" for slug in state.actor.desks)


def source_version(text: str) -> str:
    """The version of a circuit source: an edit of the file always makes a new one."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- loading ---------------------------------------------------------------------------------

def load_circuit(path: Path, *, desks: Mapping[str, str] | None = None) -> Circuit:
    """Load and check one circuit file; desks default to the desks.yaml beside it, if any."""
    path = Path(path)
    problems: list[Problem] = []
    if desks is None:
        registry = path.parent / DESKS_FILE
        if registry.is_file():
            desks = _collect(problems, load_desks, registry)
    text = _read(path, problems)
    if text is None or problems:
        raise CircuitDefinitionError(problems)
    return parse_circuit(text, str(path), desks=desks)


def parse_circuit(text: str, source: str = "<string>", *,
                  desks: Mapping[str, str] | None = None) -> Circuit:
    """Parse and check a circuit's YAML text; `desks` (slug → label) enables the desk check."""
    reader = Reader(source)
    circuit = _CircuitBuilder(reader, text, desks).build()
    if reader.problems or circuit is None:
        raise CircuitDefinitionError(reader.problems or [Problem(source, 1, 1, "circuit vide")])
    return circuit


def load_directory(path: Path) -> dict[str, Circuit]:
    """Every circuit of a workflows directory keyed by id; all problems raised together."""
    path = Path(path)
    problems: list[Problem] = []
    desks = None
    if (path / DESKS_FILE).is_file():
        desks = _collect(problems, load_desks, path / DESKS_FILE)
    circuits: dict[str, Circuit] = {}
    for file in sorted(path.glob("*.yaml")):
        if file.name in (DESKS_FILE, TYPOLOGY_FILE):
            continue
        circuit = _collect(problems, load_circuit, file, desks=desks or {})
        if circuit is None:
            continue
        if circuit.id in circuits:
            problems.append(Problem(str(file), 1, 1, f"identifiant de circuit « {circuit.id} » "
                                    f"déjà utilisé par {circuits[circuit.id].file}"))
            continue
        circuits[circuit.id] = circuit
    if problems:
        raise CircuitDefinitionError(problems)
    return circuits


def _read(path: Path, problems: list[Problem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(str(path), 1, 1, "fichier introuvable"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), 1, 1, f"le fichier n'est pas en UTF-8 ({exc.reason})"))
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, f"lecture impossible : {exc.strerror}"))
    return None


def _collect(problems: list[Problem], loader, *args, **kwargs):
    try:
        return loader(*args, **kwargs)
    except CircuitDefinitionError as exc:
        problems.extend(exc.problems)
        return None


# --- desks registry --------------------------------------------------------------------------

def load_desks(path: Path) -> dict[str, str]:
    """The desk registry (desks.yaml): `desks: {slug: label}`; CircuitDefinitionError if bad."""
    path = Path(path)
    problems: list[Problem] = []
    text = _read(path, problems)
    if text is None:
        raise CircuitDefinitionError(problems)
    return parse_desks(text, str(path))


def parse_desks(text: str, source: str = "<string>") -> dict[str, str]:
    """Parse a desk registry's text."""
    reader = Reader(source)
    desks: dict[str, str] = {}
    root = reader.compose(text)
    if root is not None:
        top = reader.mapping(root, "le registre des bureaux")
        if top is not None:
            reader.known_keys(top, ("desks",), "le registre des bureaux")
            if "desks" not in top:
                reader.report(root, "clé « desks » manquante (bureaux : slug: libellé)")
            else:
                entries = reader.mapping(top["desks"][1], "« desks »") or {}
                for slug, (key, value) in entries.items():
                    if not _SLUG.match(slug):
                        reader.report(key, f"identifiant de bureau invalide « {slug} » : "
                                           "minuscules, chiffres et tirets")
                        continue
                    label = reader.text(value, f"le libellé du bureau « {slug} »")
                    if label is not None:
                        desks[slug] = label
    elif not reader.problems:
        reader.report(None, "registre des bureaux vide", line=1, column=1)
    if reader.problems:
        raise CircuitDefinitionError(reader.problems)
    return desks


# --- the circuit builder ---------------------------------------------------------------------

class _CircuitBuilder:
    def __init__(self, reader: Reader, text: str, desks: Mapping[str, str] | None):
        self.r = reader
        self.text = text
        self.known_desks = desks
        self.fields: dict[str, FieldSpec] = {}
        self.state_keys: dict[str, ScalarNode] = {}
        self.state_entries: dict[str, dict] = {}
        # (node where it is written, target name, what it is) for every reference to a state
        self.references: list[tuple[Node, str, str]] = []

    def build(self) -> Circuit | None:
        r = self.r
        root = r.compose(self.text)
        if root is None:
            if not r.problems:
                r.report(None, "fichier vide : un circuit est attendu", line=1, column=1)
            return None
        top = r.mapping(root, "le circuit")
        if top is None:
            return None
        # x-… keys hold YAML anchors to reuse (`<<: *visa_dgs`); the engine ignores them.
        top = {k: v for k, v in top.items() if not k.startswith("x-")}
        r.known_keys(top, TOP_KEYS, "le circuit")
        for required in ("id", "title", "initial", "states"):
            if required not in top:
                r.report(root, f"clé obligatoire « {required} » manquante dans le circuit")
        circuit_id = self._id(top)
        title = r.text(top["title"][1], "« title »") if "title" in top else None
        description = r.text(top["description"][1], "« description »") \
            if "description" in top else None
        if "metadata" in top:
            self._fields(top["metadata"][1])
        on_reject = self._reference(top, "on_reject", "la destination des rejets (on_reject)")
        on_cancel = self._reference(top, "on_cancel", "la destination des abandons (on_cancel)")
        initial = self._reference(top, "initial", "l'état initial")
        states: dict[str, State] = {}
        entries = None
        if "states" in top:
            entries = r.mapping(top["states"][1], "« states »")
            for name, (key, value) in (entries or {}).items():
                self.state_keys[name] = key
                state = self._state(name, key, value, on_reject)
                if state is not None:
                    states[name] = state
            if entries == {}:
                r.report(top["states"][1], "aucun état dans « states »")
        if entries is not None:
            self._check_references(states)
        if r.problems:
            # Whole-graph checks on a partly read circuit would only repeat the same defects.
            return None
        assert circuit_id is not None and title is not None and initial is not None
        self._check_graph(states, initial, on_cancel, top)
        if r.problems:
            return None
        return Circuit(id=circuit_id, version=source_version(self.text), title=title,
                       initial=initial, states=MappingProxyType(states),
                       fields=MappingProxyType(dict(self.fields)), on_cancel=on_cancel,
                       description=description, source=self.text, file=r.file)

    def _id(self, top) -> str | None:
        if "id" not in top:
            return None
        value = self.r.text(top["id"][1], "« id »")
        if value is not None and not _SLUG.match(value):
            self.r.report(top["id"][1], f"identifiant de circuit invalide « {value} » : "
                                        "minuscules, chiffres et tirets (ex. bordereau-mandats)")
            return None
        return value

    def _reference(self, mapping, key: str, what: str) -> str | None:
        if key not in mapping:
            return None
        node = mapping[key][1]
        name = self.r.text(node, what)
        if name is not None:
            self.references.append((node, name, what))
        return name

    # metadata fields
    def _fields(self, node: Node) -> None:
        r = self.r
        entries = r.mapping(node, "« metadata »") or {}
        for name, (key, value) in entries.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name in (
                    "and", "or", "not", "in", "true", "false", "null"):
                r.report(key, f"nom de champ invalide « {name} » : lettres, chiffres et _")
                continue
            what = f"le type du champ « {name} »"
            kind, values, optional, label = None, None, False, None
            if isinstance(value, ScalarNode):
                kind = r.text(value, what)
                type_node = value
            else:
                spec = r.mapping(value, f"le champ « {name} »")
                if spec is None:
                    continue
                r.known_keys(spec, FIELD_KEYS, f"le champ « {name} »")
                if "type" not in spec:
                    r.report(key, f"clé « type » manquante pour le champ « {name} »")
                    continue
                type_node = spec["type"][1]
                kind = r.text(type_node, what)
                if "optional" in spec:
                    optional = bool(r.boolean(spec["optional"][1], "« optional »"))
                if "label" in spec:
                    label = r.text(spec["label"][1], "« label »")
                if "values" in spec:
                    items = r.sequence(spec["values"][1], "« values »") or []
                    values = tuple(v for v in (r.text(i, "une valeur de « values »",
                                                      allow_numbers=True) for i in items) if v)
                    if not items:
                        r.report(spec["values"][1], "« values » ne doit pas être vide")
            if kind is None:
                continue
            if kind not in FIELD_TYPES:
                r.report(type_node, f"type de champ inconnu « {kind} »"
                                    f"{did_you_mean(kind, FIELD_TYPES)} (types : "
                                    f"{', '.join(FIELD_TYPES)})")
                continue
            if values is not None and kind not in ("string", "desk"):
                r.report(type_node, "« values » ne s'applique qu'aux champs string ou desk")
                continue
            self.fields[name] = FieldSpec(name, kind, values, optional, label)

    # states
    def _state(self, name: str, key: ScalarNode, node: Node, default_reject: str | None
               ) -> State | None:
        r = self.r
        if not _STATE_NAME.match(name):
            r.report(key, f"nom d'état invalide « {name} » : lettres, chiffres, _ et -")
        what = f"l'état « {name} »"
        entries = r.mapping(node, what)
        if entries is None:
            return None
        self.state_entries[name] = entries
        line = key.start_mark.line + 1
        label = name
        if "label" in entries:
            label = r.text(entries["label"][1], "« label »") or name
        description = r.text(entries["description"][1], "« description »") \
            if "description" in entries else None
        if "final" in entries:
            r.known_keys(entries, FINAL_KEYS, f"l'état final « {name} »")
            outcome = r.text(entries["final"][1], "« final »")
            if outcome is not None and outcome not in OUTCOMES:
                r.report(entries["final"][1], f"issue inconnue « {outcome} »"
                                              f"{did_you_mean(outcome, OUTCOMES)} (issues : "
                                              f"{', '.join(OUTCOMES)})")
                return None
            external = r.text(entries["external_status"][1], "« external_status »") \
                if "external_status" in entries else None
            if outcome is None:
                return None
            return State(name, label, line, outcome=outcome, external_status=external,
                         description=description)
        r.known_keys(entries, STEP_KEYS, what)
        # Without a valid action the step is still read, so its other defects are reported too.
        action: str | None = None
        if "action" not in entries:
            r.report(key, f"l'étape « {name} » n'a pas d'« action » ({', '.join(ACTIONS)}) ni "
                          "de « final » (état final)")
        else:
            action = r.text(entries["action"][1], "« action »")
            if action is not None and action not in ACTIONS:
                r.report(entries["action"][1], f"action inconnue « {action} »"
                                               f"{did_you_mean(action, ACTIONS)} (actions : "
                                               f"{', '.join(ACTIONS)})")
                action = None
        if action is None:
            self._actor(name, key, "visa", entries, quiet_missing=True)
            self._next(name, key, entries)
            if "on_reject" in entries:
                self._reference(entries, "on_reject", "la destination du rejet")
            if "deadline" in entries:
                self._deadline(entries["deadline"][1])
            return None
        actor = self._actor(name, key, action, entries)
        next_branches = self._next(name, key, entries)
        on_reject = default_reject if action != "notification" else None
        if "on_reject" in entries and action == "notification":
            r.report(entries["on_reject"][0], "une notification n'attend personne : elle ne se "
                                              "rejette pas (pas de « on_reject »)")
        elif "on_reject" in entries:
            on_reject = self._reference(entries, "on_reject", "la destination du rejet")
        elif default_reject is None and action != "notification":
            r.report(key, f"l'étape « {name} » ne dit pas où va un rejet : ajouter « on_reject » "
                          "à l'étape ou au circuit")
        deadline = self._deadline(entries["deadline"][1]) if "deadline" in entries else None
        signature = None
        if action in SIGNING_ACTIONS:
            signature = self._signature(entries["signature"][1]) if "signature" in entries \
                else SignatureOptions()
        elif "signature" in entries:
            r.report(entries["signature"][0], f"« signature » ne s'applique qu'aux actions "
                                              f"signature et cachet, pas à « {action} »")
        if action == "notification" and "deadline" in entries:
            r.report(entries["deadline"][0], "une notification n'attend personne : pas de délai")
        exporter = None
        if "exporter" in entries:
            if action != "export":
                r.report(entries["exporter"][0], f"« exporter » ne s'applique qu'aux étapes "
                                                 f"export, pas à « {action} »")
            else:
                exporter = r.text(entries["exporter"][1], "« exporter »")
                if exporter is not None and not _SLUG.match(exporter):
                    r.report(entries["exporter"][1], f"nom d'exportateur invalide « {exporter} » "
                                                     ": minuscules, chiffres et tirets")
                    exporter = None
        urgent = bool(r.boolean(entries["urgent"][1], "« urgent »")) if "urgent" in entries \
            else False
        mandatory_reading = self._step_flag(entries, "mandatory_reading", action,
                                            ("visa", "signature"), "visa et signature")
        sign_annexes = self._step_flag(entries, "sign_annexes", action, ("signature",),
                                       "signature")
        return State(name, label, line, action=action, actor=actor, next=next_branches,
                     on_reject=on_reject, deadline=deadline, signature=signature,
                     description=description, exporter=exporter, urgent=urgent,
                     mandatory_reading=mandatory_reading, sign_annexes=sign_annexes)

    def _step_flag(self, entries, key: str, action: str, allowed: tuple[str, ...],
                   allowed_label: str) -> bool:
        """A true/false option of a step that only some actions take."""
        if key not in entries:
            return False
        value = bool(self.r.boolean(entries[key][1], f"« {key} »"))
        if action not in allowed:
            self.r.report(entries[key][0], f"« {key} » ne s'applique qu'aux étapes "
                                           f"{allowed_label}, pas à « {action} »")
            return False
        return value

    def _actor(self, name: str, key: ScalarNode, action: str, entries, *,
               quiet_missing: bool = False) -> Actor | None:
        r = self.r
        given = [k for k in ("desk", "desks", "desk_from", "author") if k in entries]
        if len(given) > 1:
            r.report(entries[given[1]][0], f"un seul de desk, desks, desk_from, author par étape "
                                           f"(« {given[0]} » et « {given[1]} »)")
            return None
        if "mode" in entries and given != ["desks"]:
            r.report(entries["mode"][0], "« mode » (all/any) ne s'applique qu'à « desks »")
        if not given:
            if action in AUTOMATIC_ACTIONS or quiet_missing:
                return Actor("system", (SYSTEM_DESK,))
            r.report(key, f"l'étape « {name} » ne dit pas qui agit : desk, desks, desk_from ou "
                          "author")
            return None
        which = given[0]
        node = entries[which][1]
        if which == "desk":
            slug = r.text(node, "« desk »")
            return Actor("desk", (slug,)) if slug and self._desk(node, slug) else None
        if which == "desks":
            items = r.sequence(node, "« desks »")
            if items is None:
                return None
            slugs = []
            for item in items:
                slug = r.text(item, "un bureau de « desks »")
                if slug is None or not self._desk(item, slug):
                    continue
                if slug in slugs:
                    r.report(item, f"bureau « {slug} » en double dans « desks »")
                    continue
                slugs.append(slug)
            if len(items) < 2:
                r.report(node, "« desks » demande au moins deux bureaux (sinon écrire « desk »)")
                return None
            if "mode" not in entries:
                r.report(entries["desks"][0], "« mode » manquant : all (tous doivent agir) ou "
                                              "any (le premier suffit)")
                return None
            mode = r.text(entries["mode"][1], "« mode »")
            if mode is not None and mode not in MODES:
                r.report(entries["mode"][1], f"mode inconnu « {mode} »{did_you_mean(mode, MODES)}"
                                             " : all ou any")
                return None
            if mode is None or len(slugs) != len(items):
                return None
            return Actor("desk", tuple(slugs), mode=mode)
        if which == "desk_from":
            field_name = r.text(node, "« desk_from »")
            if field_name is None:
                return None
            spec = self.fields.get(field_name)
            if spec is None:
                r.report(node, f"champ de métadonnées inconnu « {field_name} »"
                               f"{did_you_mean(field_name, self.fields)} : le déclarer dans "
                               "« metadata » avec le type desk")
                return None
            if spec.type != "desk":
                r.report(node, f"le champ « {field_name} » est de type {spec.type} : desk_from "
                               "demande un champ de type desk")
                return None
            return Actor("metadata", field=field_name)
        # author
        if r.boolean(node, "« author »") is not True:
            if not r.problems or r.problems[-1].message.find("« author »") < 0:
                r.report(node, "« author » ne peut valoir que true")
            return None
        return Actor("author")

    def _desk(self, node: Node, slug: str) -> bool:
        if not _SLUG.match(slug):
            self.r.report(node, f"identifiant de bureau invalide « {slug} » : minuscules, "
                                "chiffres et tirets")
            return False
        if slug == SYSTEM_DESK:
            return True
        if self.known_desks is not None and slug not in self.known_desks:
            self.r.report(node, f"bureau inconnu « {slug} »"
                                f"{did_you_mean(slug, self.known_desks)} : le déclarer dans "
                                f"{DESKS_FILE}")
            return False
        return True

    def _next(self, name: str, key: ScalarNode, entries) -> tuple[Branch, ...]:
        r = self.r
        if "next" not in entries:
            r.report(key, f"l'étape « {name} » n'a pas de suite : ajouter « next » (un état non "
                          "final doit mener quelque part)")
            return ()
        node = entries["next"][1]
        if isinstance(node, ScalarNode):
            target = r.text(node, "« next »")
            if target is None:
                return ()
            self.references.append((node, target, "la suite (next)"))
            return (Branch(target, None, position(node)[0]),)
        items = r.sequence(node, "« next » (un état, ou une liste de « - if: … to: … »)")
        if items is None:
            return ()
        if not items:
            r.report(node, "« next » ne doit pas être vide")
            return ()
        branches: list[Branch] = []
        for index, item in enumerate(items):
            spec = r.mapping(item, "une branche de « next »")
            if spec is None:
                continue
            r.known_keys(spec, BRANCH_KEYS, "une branche de « next »")
            if "to" not in spec:
                r.report(item, "clé « to » manquante dans la branche")
                continue
            target = r.text(spec["to"][1], "« to »")
            if target is None:
                continue
            self.references.append((spec["to"][1], target, "la suite (to)"))
            guard = None
            last = index == len(items) - 1
            if "if" in spec:
                guard = self._guard(spec["if"][1])
                if last:
                    r.report(spec["if"][0], "la dernière branche de « next » ne doit pas avoir de "
                                            "condition : elle s'applique quand aucune autre ne "
                                            "vaut (sinon le document resterait bloqué)")
            elif not last:
                r.report(item, "seule la dernière branche de « next » peut être sans condition "
                               "(les suivantes ne seraient jamais prises)")
            branches.append(Branch(target, guard, position(item)[0]))
        return tuple(branches)

    def _guard(self, node: Node) -> Guard | None:
        r = self.r
        text = r.text(node, "la condition « if »", allow_numbers=False)
        if text is None:
            return None
        try:
            return parse_guard(text, self.fields)
        except GuardSyntaxError as exc:
            line, column = position(node)
            if isinstance(node, ScalarNode) and node.start_mark.line == node.end_mark.line \
                    and node.style in (None, "", "'", '"'):
                column += exc.offset + (1 if node.style in ("'", '"') else 0)
            r.report(node, f"condition invalide : {exc.message}", line=line, column=column)
            return None

    def _deadline(self, node: Node) -> Deadline | None:
        text = self.r.text(node, "« deadline »")
        if text is None:
            return None
        match = _DEADLINE.match(text)
        if not match or int(match.group(1)) == 0:
            self.r.report(node, f"délai invalide « {text} » : écrire par exemple 5d (jours "
                                "ouvrés) ou 48h (heures)")
            return None
        amount, unit = int(match.group(1)), match.group(2)
        longest = MAX_DEADLINE_DAYS if unit == "d" else MAX_DEADLINE_HOURS
        if amount > longest:
            self.r.report(node, f"délai trop long « {text} » : au plus {MAX_DEADLINE_DAYS}d "
                                f"(jours ouvrés) ou {MAX_DEADLINE_HOURS}h")
            return None
        return Deadline(amount, unit)

    def _signature(self, node: Node) -> SignatureOptions | None:
        r = self.r
        entries = r.mapping(node, "« signature »")
        if entries is None:
            return None
        r.known_keys(entries, SIGNATURE_KEYS, "« signature »")
        level = DEFAULT_LEVEL
        if "level" in entries:
            level = r.text(entries["level"][1], "« level »") or DEFAULT_LEVEL
            if level not in LEVELS:
                r.report(entries["level"][1], f"niveau PAdES inconnu « {level} »"
                                              f"{did_you_mean(level, LEVELS)} (niveaux : "
                                              f"{', '.join(LEVELS)})")
        certify = False
        if "certify" in entries:
            certify = bool(r.boolean(entries["certify"][1], "« certify »"))
        stamp = self._stamp(entries["stamp"][1]) if "stamp" in entries else None
        return SignatureOptions(level, stamp, certify)

    def _stamp(self, node: Node) -> Stamp | None:
        r = self.r
        entries = r.mapping(node, "« stamp »")
        if entries is None:
            return None
        r.known_keys(entries, STAMP_KEYS, "« stamp »")
        values: dict[str, float] = {}
        for key in STAMP_KEYS:
            if key not in entries:
                r.report(node, f"clé « {key} » manquante dans « stamp » (page, x, y, width, "
                               "height en points)")
                continue
            value_node = entries[key][1]
            if key == "page":
                if isinstance(value_node, ScalarNode) and value_node.value == "last":
                    values[key] = -1
                    continue
                page = r.integer(value_node, "« page » (numéro, négatif depuis la fin, ou last)")
                if page == 0:
                    r.report(value_node, "« page » commence à 1 (ou -1 / last pour la dernière)")
                elif page is not None:
                    values[key] = page
                continue
            number = r.number(value_node, f"« {key} »")
            if number is None:
                continue
            if number < 0 or (key in ("width", "height") and number == 0):
                r.report(value_node, f"« {key} » doit être positif")
                continue
            values[key] = number
        if len(values) != len(STAMP_KEYS):
            return None
        return Stamp(int(values["page"]), values["x"], values["y"], values["width"],
                     values["height"])

    # whole-circuit checks
    def _check_references(self, states: Mapping[str, State]) -> None:
        names = list(self.state_keys)
        for node, target, what in self.references:
            if target not in self.state_keys:
                self.r.report(node, f"état non défini « {target} » dans {what}"
                                    f"{did_you_mean(target, names)}")

    def _check_graph(self, states: Mapping[str, State], initial: str, on_cancel: str | None,
                     top) -> None:
        r = self.r
        if states[initial].is_final:
            r.report(top["initial"][1], f"l'état initial « {initial} » est un état final")
            return
        if on_cancel is not None and states[on_cancel].outcome != "cancelled":
            r.report(top["on_cancel"][1], f"« on_cancel » doit désigner un état final "
                                          f"« cancelled », pas « {on_cancel} »")
        if not any(s.outcome == "approved" for s in states.values()):
            r.report(top["states"][0], "aucun état final « approved » : le circuit ne peut "
                                       "jamais aboutir")
        forward = {name: [b.target for b in s.next] for name, s in states.items()}
        edges = {name: list(forward[name]) for name in states}
        for name, s in states.items():
            if s.on_reject is not None:
                edges[name].append(s.on_reject)
            if on_cancel is not None and not s.is_final:
                edges[name].append(on_cancel)
        reachable = _reach([initial], edges)
        for name in states:
            if name not in reachable:
                r.report(self.state_keys[name], f"état « {name} » inaccessible depuis l'état "
                                                f"initial « {initial} »")
        self._check_cycles(states, forward)
        self._check_rejections(states, forward, top)
        self._check_certify(states, forward)

    def _check_cycles(self, states: Mapping[str, State], forward: dict[str, list[str]]) -> None:
        # A step whose approvals can never reach a final state traps documents forever.
        reverse: dict[str, list[str]] = {name: [] for name in states}
        for name, targets in forward.items():
            for target in targets:
                reverse[target].append(name)
        # Steps without `next` were reported already; treat them as ends to avoid echoes.
        ends = [n for n, s in states.items() if s.is_final or not s.next]
        can_finish = _reach(ends, reverse)
        trapped = {n for n in states if n not in can_finish}
        for component in _cycles(trapped, forward):
            ordered = sorted(component, key=lambda n: states[n].line)
            loop = " → ".join([*ordered, ordered[0]])
            self.r.report(self.state_keys[ordered[0]], f"cycle sans issue : {loop} (aucune "
                                                       "suite ne mène à un état final)")
        notifications = {n for n, s in states.items() if s.action == "notification"}
        for component in _cycles(notifications, forward):
            ordered = sorted(component, key=lambda n: states[n].line)
            self.r.report(self.state_keys[ordered[0]], "boucle de notifications sans étape "
                                                       f"d'attente : {' → '.join(ordered)}")

    def _check_rejections(self, states: Mapping[str, State], forward: dict[str, list[str]],
                          top) -> None:
        for name, s in states.items():
            target = s.on_reject
            if target is None or s.is_final:
                continue
            goal = states[target]
            if goal.is_final:
                if goal.outcome != "rejected":
                    node = self._reject_node(name, top)
                    self.r.report(node, f"le rejet de « {name} » mène à « {target} », un état "
                                        f"final « {goal.outcome} » : il faut un état final "
                                        "« rejected » ou une étape antérieure")
            elif name not in _reach([target], forward):
                node = self._reject_node(name, top)
                self.r.report(node, f"le rejet de « {name} » doit ramener à une étape "
                                    f"antérieure ; « {target} » ne précède pas « {name} »")
            elif approved := self._approved_without_anyone(states, forward, target):
                # Notifications pass through at once: a rejection must meet a step that waits
                # for someone before it can end approved.
                node = self._reject_node(name, top)
                self.r.report(node, f"le rejet de « {name} » mène à « {target} », d'où des "
                                    f"notifications passent directement à « {approved} », un "
                                    "état final « approved » : un document rejeté aboutirait "
                                    "sans nouvelle approbation")

    @staticmethod
    def _approved_without_anyone(states: Mapping[str, State], forward: dict[str, list[str]],
                                 start: str) -> str | None:
        """An approved final state reached from `start` through notification steps only."""
        seen, todo = {start}, [start]
        while todo:
            name = todo.pop()
            state = states[name]
            if state.outcome == "approved":
                return name
            if state.action != "notification":
                continue
            for target in forward.get(name, []):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return None

    def _reject_node(self, name: str, top) -> Node:
        # The step's own on_reject if written there, else the circuit-level default.
        state_node = self._state_entries(name)
        if state_node is not None and "on_reject" in state_node:
            return state_node["on_reject"][1]
        return top["on_reject"][1] if "on_reject" in top else self.state_keys[name]

    def _state_entries(self, name: str):
        return self.state_entries.get(name)

    def _check_certify(self, states: Mapping[str, State], forward: dict[str, list[str]]) -> None:
        signing = [n for n, s in states.items() if s.action in SIGNING_ACTIONS]
        for name in signing:
            s = states[name]
            if not (s.signature and s.signature.certify):
                continue
            if s.actor is not None and s.actor.mode == "all":
                self.r.report(self.state_keys[name], f"« {name} » : une certification ne peut "
                                                     "pas être faite par plusieurs bureaux (all)")
                continue
            for other in signing:
                if other != name and name in _reach(forward[other], forward):
                    self.r.report(self.state_keys[name], f"seule la première signature peut "
                                                         f"certifier le document : « {name} » "
                                                         f"peut suivre « {other} »")
                    break
            else:
                if name in _reach(forward[name], forward):
                    self.r.report(self.state_keys[name], f"« {name} » certifie mais peut être "
                                                         "signée une seconde fois (boucle)")


def _reach(starts: Iterable[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen or name not in edges:
            continue
        seen.add(name)
        stack.extend(edges[name])
    return seen


def _cycles(nodes: set[str], edges: Mapping[str, list[str]]) -> list[set[str]]:
    """Strongly connected components of the subgraph on `nodes` that contain a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        # Iterative Tarjan: circuits are small but recursion limits are not worth the risk.
        work = [(start, iter([t for t in edges.get(start, []) if t in nodes]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter([t for t in edges.get(child, []) if t in nodes])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, []):
                    result.append(component)

    for name in sorted(nodes):
        if name not in index:
            visit(name)
    return result
