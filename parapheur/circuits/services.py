"""The database side of circuits: freezing definitions, starting runs, and `act()`.

The engine (parapheur.circuits.engine) is pure; this module checks who acts, persists the run state
on the document, records the step and the audit events, all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from parapheur.accounts.models import Desk, User
from parapheur.accounts.services import ActingCapacity, acting_capacity
from parapheur.audit import services as audit
from parapheur.circuits import engine
from parapheur.circuits.definition import Circuit, load_directory, parse_circuit
from parapheur.circuits.errors import StepNotCurrent
from parapheur.circuits.typology import Typology, load_typology
from parapheur.circuits.models import StepAction
from parapheur.config import PROJECT_ROOT
from parapheur.documents.models import CircuitVersion, Document, DocumentStatus
from parapheur.errors import Forbidden, NotFound, ParapheurError

WORKFLOWS_DIR = PROJECT_ROOT / "workflows"

_OUTCOME_STATUS = {
    "approved": DocumentStatus.APPROVED,
    "rejected": DocumentStatus.REJECTED,
    "cancelled": DocumentStatus.CANCELLED,
}


@dataclass(frozen=True)
class Catalogue:
    """The circuits and the typology of a workflows directory, as loaded at one moment."""

    circuits: dict[str, Circuit]
    typology: Typology


_catalogue_cache: dict[Path, tuple[tuple, Catalogue]] = {}


def catalogue(directory: Path = WORKFLOWS_DIR) -> Catalogue:
    """The workflows directory's circuits and typology, reloaded whenever a file changes there.

    An edited circuit file gets a new version (the hash of its text); documents already in flight
    keep the frozen copy they started with.
    """
    directory = Path(directory)
    signature = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                             for p in directory.glob("*.yaml")))
    cached = _catalogue_cache.get(directory)
    if cached is not None and cached[0] == signature:
        return cached[1]
    circuits = load_directory(directory)
    loaded = Catalogue(circuits, load_typology(directory / "typologie.yaml", circuits))
    _catalogue_cache[directory] = (signature, loaded)
    return loaded


def circuit_for_typology(doc_type: str, doc_subtype: str,
                         directory: Path = WORKFLOWS_DIR) -> tuple[Circuit, str]:
    """The circuit (and its source text) that documents of this type / sous-type follow."""
    current = catalogue(directory)
    circuit = current.circuits[current.typology.circuit_for(doc_type, doc_subtype)]
    return circuit, circuit.source


def typology_choices(directory: Path = WORKFLOWS_DIR) -> list[tuple[str, str]]:
    """("TYPE/SOUS-TYPE", "Type — Sous-type") pairs for the upload form, in file order."""
    typology = catalogue(directory).typology
    return [(f"{entry.type}/{entry.code}", f"{entry.type_label} — {entry.label}")
            for entry in typology.entries.values()]


@lru_cache(maxsize=256)
def _parse_frozen(version_id: int, source: str) -> Circuit:
    return parse_circuit(source, f"circuit-version-{version_id}")


def circuit_of(document: Document) -> Circuit:
    """The circuit definition the document started with (never a later edit)."""
    version = document.circuit_version
    return _parse_frozen(version.id, version.source)


def freeze(session: Session, circuit: Circuit, source: str, *, now: datetime) -> CircuitVersion:
    """The stored copy of this circuit version, created on first use."""
    existing = session.execute(
        select(CircuitVersion).where(CircuitVersion.circuit_id == circuit.id,
                                     CircuitVersion.version == circuit.version)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    frozen = CircuitVersion(circuit_id=circuit.id, version=circuit.version, title=circuit.title,
                            source=source, loaded_at=now)
    session.add(frozen)
    session.flush()
    return frozen


def run_state(document: Document) -> engine.RunState:
    """The document's current run state."""
    return engine.RunState.from_json(document.run_state)


def pending_steps(document: Document) -> list[engine.PendingStep]:
    """Steps waiting for action on this document."""
    if document.status is not DocumentStatus.IN_PROGRESS:
        return []
    return engine.pending(circuit_of(document), run_state(document))


def find_pending(document: Document, step: str) -> engine.PendingStep:
    """The pending step of that name, or StepNotCurrent ("déjà traité")."""
    for pending in pending_steps(document):
        if pending.state == step:
            return pending
    raise StepNotCurrent(f"L'étape « {step} » n'est pas en attente : elle a déjà été traitée "
                         "ou le document a changé d'état.")


def _desks_by_slug(session: Session, slugs: tuple[str, ...] | list[str]) -> dict[str, Desk]:
    if not slugs:
        return {}
    desks = session.execute(select(Desk).where(Desk.slug.in_(list(slugs)))).scalars()
    return {desk.slug: desk for desk in desks}


def capacity_for(session: Session, document: Document, pending: engine.PendingStep, user: User, *,
                 now: datetime) -> ActingCapacity:
    """How `user` may act on this step (member or delegate of one of its desks), or Forbidden."""
    desks = _desks_by_slug(session, [d for d in pending.desks if d not in pending.acted])
    for slug in pending.desks:
        desk = desks.get(slug)
        if desk is None:
            continue
        capacity = acting_capacity(session, user, desk, doc_type=document.doc_type, now=now)
        if capacity is not None:
            return capacity
    raise Forbidden("Vous n'êtes ni membre ni délégataire du bureau chargé de cette étape.")


def user_can_act(session: Session, document: Document, user: User, *, now: datetime) -> list[
        tuple[engine.PendingStep, ActingCapacity]]:
    """The pending steps this user may act on, with the capacity in which they would act."""
    result = []
    for pending in pending_steps(document):
        try:
            result.append((pending, capacity_for(session, document, pending, user, now=now)))
        except Forbidden:
            continue
    return result


@dataclass(frozen=True)
class ActResult:
    """What an action changed."""

    step_action: StepAction
    status: DocumentStatus


def act(session: Session, document: Document, *, step: str, actor: User, decision: str,
        now: datetime, reason: str | None = None, payload: dict[str, Any] | None = None,
        version_id: int | None = None, certificate_subject: str | None = None,
        capacity: ActingCapacity | None = None, allow_signature: bool = False) -> ActResult:
    """Take a decision on a step: check the actor, move the run, record the step and audit it.

    Runs in the caller's transaction; the document's optimistic lock makes concurrent actions on
    the same step fail at commit, so exactly one wins.
    """
    if document.status is not DocumentStatus.IN_PROGRESS:
        raise StepNotCurrent("Ce document n'est plus en circulation : l'action a déjà été traitée.")
    pending = find_pending(document, step)
    if capacity is None:
        capacity = capacity_for(session, document, pending, actor, now=now)
    if capacity.desk.slug in pending.acted:
        raise StepNotCurrent("Ce bureau a déjà agi sur cette étape (déjà traité).")
    if decision == "approve" and pending.action in ("signature", "cachet") and not allow_signature:
        raise ParapheurError("Cette étape demande une signature électronique : utilisez « Signer ».")
    if decision == "reject" and not (reason and reason.strip()):
        raise ParapheurError("Le motif du rejet est obligatoire.")
    reason = reason.strip() if reason and reason.strip() else None
    transition = engine.apply(circuit_of(document), run_state(document), step=step,
                              desk=capacity.desk.slug, decision=decision, metadata=document.meta,
                              reason=reason, now=now)
    return _commit(session, document, transition, step=step, action=pending.action,
                   decision=decision, actor=actor, capacity=capacity, now=now, reason=reason,
                   payload=payload, version_id=version_id,
                   certificate_subject=certificate_subject)


def take_back(session: Session, document: Document, *, actor: User, now: datetime) -> ActResult:
    """"Droit de remords": undo the last visa while the next step has not acted."""
    option = engine.take_back_option(run_state(document)) \
        if document.status is DocumentStatus.IN_PROGRESS else None
    if option is None:
        raise StepNotCurrent("Le droit de remords n'est plus possible : l'étape suivante a déjà "
                             "été traitée.")
    step, desk_slug = option
    desk = _desks_by_slug(session, [desk_slug]).get(desk_slug)
    capacity = desk and acting_capacity(session, actor, desk, doc_type=document.doc_type, now=now)
    if not capacity:
        raise Forbidden("Seul le bureau qui a donné le visa peut exercer le droit de remords.")
    circuit = circuit_of(document)
    transition = engine.apply(circuit, run_state(document), step=step, desk=desk_slug,
                              decision="take_back", metadata=document.meta, now=now)
    return _commit(session, document, transition, step=step,
                   action=circuit.states[step].action or "visa", decision="take_back",
                   actor=actor, capacity=capacity, now=now)


def take_back_step(session: Session, document: Document, user: User, *, now: datetime) -> str | None:
    """The step this user could take back now, if any (for the document page)."""
    if document.status is not DocumentStatus.IN_PROGRESS:
        return None
    option = engine.take_back_option(run_state(document))
    if option is None:
        return None
    desk = _desks_by_slug(session, [option[1]]).get(option[1])
    if desk is None or acting_capacity(session, user, desk, doc_type=document.doc_type,
                                       now=now) is None:
        return None
    return option[0]


def _commit(session: Session, document: Document, transition: engine.Transition, *, step: str,
            action: str, decision: str, actor: User, capacity: ActingCapacity, now: datetime,
            reason: str | None = None, payload: dict[str, Any] | None = None,
            version_id: int | None = None, certificate_subject: str | None = None) -> ActResult:
    """Persist a transition: run state, status, the step's record and its audit events."""
    document.run_state = transition.state.to_json()
    status = DocumentStatus.IN_PROGRESS
    if transition.state.is_final:
        status = _OUTCOME_STATUS.get(transition.state.outcome or "", DocumentStatus.APPROVED)
    document.status = status
    document.updated_at = now
    try:
        session.flush()  # takes the document's row lock and checks its version first
    except StaleDataError:
        raise StepNotCurrent("Un autre utilisateur vient de traiter cette étape (déjà traité).") \
            from None
    step_action = StepAction(
        document_id=document.id, step=step, action=action, decision=decision,
        actor_id=actor.id, desk_id=(capacity.via or capacity.desk).id,
        on_behalf_of_desk_id=capacity.desk.id if capacity.delegated else None,
        reason=reason, version_id=version_id, certificate_subject=certificate_subject,
        acted_at=now)
    session.add(step_action)
    who: dict[str, Any] = {"actor": actor.username, **(payload or {})}
    if capacity.delegated:
        who["en_l_absence_de"] = capacity.desk.slug
        who["via_desk"] = capacity.via.slug if capacity.via else None
    for index, (name, details) in enumerate(transition.events):
        # The first event is the decision itself: it says who acted and in which capacity.
        merged = {**(details or {}), **who} if index == 0 else dict(details or {})
        audit.record(session, name, actor=actor, document_id=document.id, details=merged,
                     clock=lambda: now)
    session.flush()
    return ActResult(step_action, status)


def get_document(session: Session, document_id: int) -> Document:
    """The document, or NotFound."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound("Ce document n'existe pas.")
    return document
