"""The circuit engine: pure functions from (circuit, run state, decision) to a new run state.

No database, no Flask: the service stores `RunState.to_json()` on the document, calls `apply` with
the desk the user acts for, and records the returned events. Time is always passed in (`now`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from parapheur.circuits.calendar import add_business_days
from parapheur.circuits.definition import (
    SYSTEM_DESK,
    Circuit,
    Deadline,
    SignatureOptions,
    State,
)
from parapheur.circuits.errors import (
    ActionNotAllowed,
    CircuitError,
    GuardError,
    MetadataError,
    StepNotCurrent,
)
from parapheur.circuits.guards import coerce
from parapheur.errors import N_

DECISIONS = ("approve", "reject", "take_back", "cancel")
APPROVE_VERBS = {"visa": "approved", "signature": "signed", "cachet": "sealed",
                 "export": "exported", "notification": "notified"}
# Notification states pass through; a bound stops a definition the checker did not see.
_MAX_HOPS = 1000
_JSON_FORMAT = 1


@dataclass(frozen=True)
class TakeBack:
    """What "droit de remords" would undo: `desk`'s action on `step`, back to `previous`."""

    step: str
    desk: str
    at: datetime
    previous: RunState


@dataclass(frozen=True)
class RunState:
    """Where one document stands in its circuit; JSON-serialisable with to_json/from_json."""

    circuit_id: str
    circuit_version: str
    current: str
    author_desk: str
    entered_at: datetime
    desks: tuple[str, ...] = ()
    mode: str = "single"
    acted: tuple[str, ...] = ()
    due: datetime | None = None
    outcome: str | None = None  # approved, rejected, cancelled once final
    trail: tuple[str, ...] = ()  # every state entered, in order
    undo: TakeBack | None = None

    @property
    def is_final(self) -> bool:
        """True once the run has reached a final state (which absorbs every later action)."""
        return self.outcome is not None

    def is_late(self, now: datetime) -> bool:
        """True when the current step has passed its deadline."""
        return not self.is_final and self.due is not None and now > self.due

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (datetimes as ISO 8601 text)."""
        data: dict[str, Any] = {
            "format": _JSON_FORMAT,
            "circuit_id": self.circuit_id,
            "circuit_version": self.circuit_version,
            "current": self.current,
            "author_desk": self.author_desk,
            "entered_at": self.entered_at.isoformat(),
            "desks": list(self.desks),
            "mode": self.mode,
            "acted": list(self.acted),
            "due": self.due.isoformat() if self.due else None,
            "outcome": self.outcome,
            "trail": list(self.trail),
            "undo": None,
        }
        if self.undo is not None:
            data["undo"] = {"step": self.undo.step, "desk": self.undo.desk,
                            "at": self.undo.at.isoformat(),
                            "previous": self.undo.previous.to_json()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        """Rebuild a state from `to_json()` output; CircuitError when it is malformed."""
        try:
            if data.get("format") != _JSON_FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            undo = None
            if data.get("undo"):
                raw = data["undo"]
                undo = TakeBack(str(raw["step"]), str(raw["desk"]),
                                datetime.fromisoformat(raw["at"]),
                                cls.from_json(raw["previous"]))
            return cls(
                circuit_id=str(data["circuit_id"]),
                circuit_version=str(data["circuit_version"]),
                current=str(data["current"]),
                author_desk=str(data["author_desk"]),
                entered_at=datetime.fromisoformat(data["entered_at"]),
                desks=tuple(str(d) for d in data["desks"]),
                mode=str(data["mode"]),
                acted=tuple(str(d) for d in data["acted"]),
                due=datetime.fromisoformat(data["due"]) if data.get("due") else None,
                outcome=data.get("outcome"),
                trail=tuple(str(s) for s in data.get("trail", ())),
                undo=undo,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CircuitError(N_("État de circuit illisible (%(detail)s)."), detail=exc) from None


@dataclass(frozen=True)
class PendingStep:
    """A step waiting for action: which desks, how many must act, who already did, by when."""

    state: str
    action: str
    label: str
    desks: tuple[str, ...]
    mode: str  # single, all, any
    acted: tuple[str, ...]
    due: datetime | None
    signature: SignatureOptions | None = None
    automatic: bool = False  # the server acts (desk SYSTEM_DESK): cachet, export

    @property
    def waiting(self) -> tuple[str, ...]:
        """Desks that may still act."""
        return tuple(d for d in self.desks if d not in self.acted)


Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Transition:
    """The new state and the audit events the move produced, in order."""

    state: RunState
    events: list[Event] = field(default_factory=list)


# --- public functions ------------------------------------------------------------------------

def check_metadata(circuit: Circuit, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The declared fields coerced to their types; MetadataError listing every bad or missing one."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, spec in circuit.fields.items():
        raw = metadata.get(name)
        if raw is None or raw == "":
            if not spec.optional:
                problems.append(f"« {spec.label or name} » ({name}) est obligatoire")
            continue
        try:
            values[name] = coerce(spec, raw)
        except GuardError as exc:
            problems.append(exc.message)
    if problems:
        raise MetadataError(problems)
    return values


def begin(circuit: Circuit, metadata: Mapping[str, Any], *, author_desk: str,
          now: datetime) -> Transition:
    """Start a run at the initial state; the transition carries the start events."""
    check_metadata(circuit, metadata)
    if not author_desk:
        raise CircuitError(N_("Le bureau de l'auteur est obligatoire pour démarrer un circuit."))
    blank = RunState(circuit.id, circuit.version, circuit.initial, author_desk, now)
    events: list[Event] = [("document:circuit:started",
                            {"circuit": circuit.id, "version": circuit.version})]
    state = _enter(circuit, blank, circuit.initial, metadata, now, events, trail=())
    return Transition(state, events)


def start(circuit: Circuit, metadata: Mapping[str, Any], *, author_desk: str,
          now: datetime) -> RunState:
    """The run state of a new document at the initial state of `circuit`."""
    return begin(circuit, metadata, author_desk=author_desk, now=now).state


def pending(circuit: Circuit, state: RunState) -> list[PendingStep]:
    """The steps waiting for action (none once final)."""
    _check_version(circuit, state)
    if state.is_final:
        return []
    step = circuit.states[state.current]
    return [PendingStep(state=step.name, action=step.action or "", label=step.label,
                        desks=state.desks, mode=state.mode, acted=state.acted, due=state.due,
                        signature=step.signature, automatic=state.desks == (SYSTEM_DESK,))]


def take_back_option(state: RunState) -> tuple[str, str] | None:
    """(step, desk) that may still exercise the "droit de remords", or None."""
    if state.undo is None or state.is_final:
        return None
    return state.undo.step, state.undo.desk


def apply(circuit: Circuit, state: RunState, *, step: str, desk: str, decision: str,
          metadata: Mapping[str, Any], reason: str | None = None, now: datetime) -> Transition:
    """Take `decision` on `step` for `desk`; StepNotCurrent / ActionNotAllowed when it cannot."""
    _check_version(circuit, state)
    if decision not in DECISIONS:
        raise ActionNotAllowed(N_("Décision inconnue « %(decision)s » (approve, reject, "
                                  "take_back, cancel)."), decision=decision, step=step, desk=desk)
    if state.is_final:
        raise StepNotCurrent(N_("Le circuit de ce document est terminé : l'action a déjà été "
                                "traitée."), step=step, current=state.current)
    if decision == "take_back":
        return _take_back(state, step=step, desk=desk, now=now)
    if decision == "cancel":
        return _cancel(circuit, state, desk=desk, reason=reason, metadata=metadata, now=now)
    if step != state.current:
        raise StepNotCurrent(N_("L'étape « %(step)s » n'est pas en attente : elle a déjà été "
                                "traitée (déjà traité)."),
                             step=step, current=state.current)
    if desk not in state.desks:
        raise ActionNotAllowed(N_("Le bureau « %(desk)s » n'intervient pas à l'étape « "
                                  "%(step)s »."), desk=desk, step=step,
                               status=403)
    if desk in state.acted:
        raise StepNotCurrent(N_("Le bureau « %(desk)s » a déjà agi sur l'étape « %(step)s » "
                                "(déjà traité)."),
                             desk=desk, step=step, current=state.current)
    definition = circuit.states[step]
    events: list[Event] = []
    if decision == "reject":
        if not (reason and reason.strip()):
            raise ActionNotAllowed(N_("Le motif du rejet est obligatoire."), step=step, desk=desk)
        target = definition.on_reject
        if target is None:  # notification steps are never pending; kept for type safety
            raise ActionNotAllowed(N_("L'étape « %(step)s » ne peut pas être rejetée."),
                                   step=step,
                                   desk=desk)
        events.append(("document:step:rejected", {"step": step, "desk": desk,
                                                  "reason": reason.strip(), "to": target}))
        new = _enter(circuit, state, target, metadata, now, events, trail=state.trail)
        return Transition(new, events)
    # approve
    action = definition.action or "visa"
    acted = (*state.acted, desk)
    complete = state.mode != "all" or all(d in acted for d in state.desks)
    events.append((f"document:step:{APPROVE_VERBS[action]}",
                   {"step": step, "action": action, "desk": desk, "complete": complete}))
    remorse = action == "visa"  # a signature, a seal or an export cannot be undone
    previous = replace(state, undo=None)
    if not complete:
        undo = TakeBack(step, desk, now, previous) if remorse else None
        return Transition(replace(state, acted=acted, undo=undo), events)
    target = _follow(circuit, definition, metadata)
    new = _enter(circuit, state, target, metadata, now, events, trail=state.trail)
    if remorse and not new.is_final:
        new = replace(new, undo=TakeBack(step, desk, now, previous))
    return Transition(new, events)


def is_late(state: RunState, now: datetime) -> bool:
    """True when the current step has passed its deadline."""
    return state.is_late(now)


def due_date(deadline: Deadline, entered: datetime) -> datetime:
    """When a step entered at `entered` becomes late."""
    if deadline.unit == "h":
        return entered + timedelta(hours=deadline.amount)
    return add_business_days(entered, deadline.amount)


# --- internals -------------------------------------------------------------------------------

def _check_version(circuit: Circuit, state: RunState) -> None:
    if state.circuit_id != circuit.id or state.circuit_version != circuit.version:
        raise CircuitError(N_("Ce document suit le circuit « %(circuit_id)s » version "
                              "%(circuit_version)s, pas « %(circuit_id2)s » version "
                              "%(version)s."),
                           circuit_id=state.circuit_id, circuit_version=state.circuit_version, circuit_id2=circuit.id, version=circuit.version)


def _follow(circuit: Circuit, step: State, metadata: Mapping[str, Any]) -> str:
    for branch in step.next:
        try:
            if branch.guard is None or branch.guard.evaluate(metadata, circuit.fields):
                return branch.target
        except GuardError as exc:
            raise CircuitError(N_("Condition « %(guard)s » de l'étape « %(step_name)s » "
                                  "impossible à évaluer : %(detail)s."),
                               guard=branch.guard, step_name=step.name, detail=exc) from None
    # The checker requires an unconditional last branch; this guards hand-built circuits.
    raise CircuitError(N_("Aucune suite possible après l'étape « %(step_name)s »."),
                       step_name=step.name)


def _resolve_desks(circuit: Circuit, step: State, state: RunState,
                   metadata: Mapping[str, Any]) -> tuple[str, ...]:
    actor = step.actor
    if actor is None:
        raise CircuitError(N_("L'étape « %(step_name)s » n'a pas d'acteur."), step_name=step.name)
    if actor.kind == "author":
        return (state.author_desk,)
    if actor.kind == "metadata":
        assert actor.field is not None
        value = metadata.get(actor.field)
        if not isinstance(value, str) or not value.strip():
            spec = circuit.fields.get(actor.field)
            label = spec.label if spec and spec.label else actor.field
            raise MetadataError([f"« {label} » ({actor.field}) doit désigner un bureau pour "
                                 f"l'étape « {step.label} »"])
        return (value.strip(),)
    return actor.desks


def _enter(circuit: Circuit, state: RunState, name: str, metadata: Mapping[str, Any],
           now: datetime, events: list[Event], *, trail: tuple[str, ...]) -> RunState:
    for _ in range(_MAX_HOPS):
        target = circuit.states[name]
        trail = (*trail, name)
        if target.is_final:
            events.append(("document:circuit:completed",
                           {"state": name, "outcome": target.outcome,
                            "external_status": target.external_status}))
            return replace(state, current=name, entered_at=now, desks=(), mode="single",
                           acted=(), due=None, outcome=target.outcome, trail=trail, undo=None)
        desks = _resolve_desks(circuit, target, state, metadata)
        if target.action == "notification":
            # Only queued here: the outbox sends it, and journals the sending when it happens.
            events.append(("document:notification:queued",
                           {"step": name, "desks": list(desks), "urgent": target.urgent}))
            name = _follow(circuit, target, metadata)
            continue
        due = due_date(target.deadline, now) if target.deadline else None
        assert target.actor is not None
        events.append(("document:step:entered",
                       {"step": name, "action": target.action, "desks": list(desks),
                        "mode": target.actor.mode, "due": due.isoformat() if due else None}))
        return replace(state, current=name, entered_at=now, desks=desks,
                       mode=target.actor.mode, acted=(), due=due, outcome=None, trail=trail,
                       undo=None)
    raise CircuitError(N_("Boucle de notifications sans fin dans le circuit."))


def _take_back(state: RunState, *, step: str, desk: str, now: datetime) -> Transition:
    undo = state.undo
    if undo is None or undo.step != step:
        raise StepNotCurrent(N_("Le droit de remords n'est plus possible : l'étape suivante a "
                                "déjà été traitée (déjà traité)."),
                             step=step, current=state.current)
    if undo.desk != desk:
        raise ActionNotAllowed(N_("Seul le bureau qui a agi peut exercer le droit de remords."),
                               status=403, step=step, desk=desk)
    restored = undo.previous
    events: list[Event] = [("document:step:taken_back",
                            {"step": step, "desk": desk, "from": state.current})]
    return Transition(replace(restored, trail=(*state.trail, step)), events)


def _cancel(circuit: Circuit, state: RunState, *, desk: str, reason: str | None,
            metadata: Mapping[str, Any], now: datetime) -> Transition:
    if desk != state.author_desk:
        raise ActionNotAllowed(N_("Seul le bureau de l'auteur peut abandonner ce document."),
                               status=403, desk=desk)
    if circuit.on_cancel is None:
        raise ActionNotAllowed(N_("Le circuit « %(circuit_id)s » ne prévoit pas d'abandon "
                                  "(on_cancel)."), circuit_id=circuit.id, desk=desk)
    # `waiting`: the desks that had the document in their tray (told of the abandonment).
    waiting = [d for d in state.desks if d not in state.acted and d != SYSTEM_DESK]
    events: list[Event] = [("document:circuit:cancelled",
                            {"step": state.current, "desk": desk, "reason": reason,
                             "waiting": waiting})]
    new = _enter(circuit, state, circuit.on_cancel, metadata, now, events, trail=state.trail)
    return Transition(new, events)
