"""The database side of circuits: freezing definitions, starting runs, and `act()`.

The engine (parapheur.circuits.engine) is pure; this module checks who acts, persists the run state
on the document, records the step and the audit events, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from parapheur.accounts.models import Desk, User
from parapheur.accounts.services import (
    ActingCapacity,
    ActingRights,
    acting_capacity,
    acting_rights,
)
from parapheur.audit import services as audit
from parapheur.circuits import engine
from parapheur.circuits.definition import SYSTEM_DESK, Circuit, load_directory, parse_circuit
from parapheur.circuits.errors import CircuitError, GuardError, MetadataError, StepNotCurrent
from parapheur.circuits.guards import coerce, expected_value
from parapheur.circuits.models import CircuitActivation, StepAction
from parapheur.circuits.typology import Subtype, Typology, load_typology
from parapheur.db import memoized
from parapheur.documents import reading
from parapheur.documents.models import (
    CircuitVersion,
    Document,
    DocumentStatus,
    DocumentVersion,
    sync_waiting,
)
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError
from parapheur.fields import bounded
from parapheur.notifications.events import queue_for_events
from parapheur.outbox import services as outbox
from parapheur.outbox.models import OutboxStatus

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


def catalogue(directory: Path) -> Catalogue:
    """The workflows directory's circuits and typology, reloaded whenever a file changes there.

    An edited circuit file gets a new version (the hash of its text); documents already in flight
    keep the frozen copy they started with.
    """
    directory = Path(directory)
    signature = tuple(sorted((p.name, stat.st_mtime_ns, stat.st_size)
                             for p in directory.glob("*.yaml") for stat in (p.stat(),)))
    cached = _catalogue_cache.get(directory)
    if cached is not None and cached[0] == signature:
        return cached[1]
    circuits = load_directory(directory)
    loaded = Catalogue(circuits, load_typology(directory / "typologie.yaml", circuits))
    _catalogue_cache[directory] = (signature, loaded)
    return loaded


def circuit_for_typology(directory: Path, doc_type: str, doc_subtype: str, *,
                         session: Session | None = None,
                         organisation_id: int | None = None) -> tuple[Circuit, str]:
    """The circuit (and its source text) that new documents of this type / sous-type follow.

    With a session and an organisation, the circuit version an administrator last activated for
    that type / sous-type (`CircuitActivation`) wins over the workflows directory's typology.
    """
    current = catalogue(directory)
    name = current.typology.circuit_for(doc_type, doc_subtype)  # an unknown typology stops here
    if session is not None and organisation_id is not None:
        active = active_version(session, organisation_id, doc_type, doc_subtype)
        if active is not None:
            return _parse_frozen(active.id, active.source), active.source
    circuit = current.circuits[name]
    return circuit, circuit.source


def active_version(session: Session, organisation_id: int, doc_type: str,
                   doc_subtype: str) -> CircuitVersion | None:
    """The circuit version last activated for this type / sous-type, if any (else the files')."""
    return session.execute(
        select(CircuitVersion).join(CircuitActivation,
                                    CircuitActivation.circuit_version_id == CircuitVersion.id)
        .where(CircuitActivation.organisation_id == organisation_id,
               CircuitActivation.doc_type == doc_type,
               CircuitActivation.doc_subtype == doc_subtype)
        .order_by(CircuitActivation.id.desc()).limit(1)).scalar_one_or_none()


def typology_choices(directory: Path) -> list[tuple[str, str]]:
    """("TYPE/SOUS-TYPE", "Type — Sous-type") pairs for the upload form, in file order."""
    typology = catalogue(directory).typology
    return [(f"{entry.type}/{entry.code}", f"{entry.type_label} — {entry.label}")
            for entry in typology.entries.values()]


def typology_entry(directory: Path, doc_type: str, doc_subtype: str) -> Subtype | None:
    """The typology entry (with its French labels) of a type / sous-type, if still configured."""
    try:
        return catalogue(directory).typology.entries.get((doc_type, doc_subtype))
    except CircuitError:  # a broken workflows directory must not break the pages that list labels
        return None


def typology_label(directory: Path, doc_type: str, doc_subtype: str) -> str:
    """« Type — Sous-type » in French, or the codes when the typology no longer lists them."""
    entry = typology_entry(directory, doc_type, doc_subtype)
    if entry is None:
        return f"{doc_type} / {doc_subtype}"
    return f"{entry.type_label} — {entry.label}"


def clean_metadata(session: Session, circuit: Circuit, raw: Mapping[str, Any], *,
                   organisation_id: int) -> dict[str, Any]:
    """The declared fields of an upload form, checked by the engine and against existing desks.

    Empty values are dropped (the engine then says which required ones are missing); undeclared
    keys are ignored. MetadataError lists every problem in French.
    """
    cleaned: dict[str, Any] = {}
    for name in circuit.fields:
        value = raw.get(name)
        if isinstance(value, str):
            value = bounded(value, field=name, label=circuit.fields[name].label or name,
                            kind="metadata").strip()
        if value is None or value == "":
            continue
        cleaned[name] = value
    # The engine's own check names fields by code; users read the labels of the form.
    problems = []
    for name, spec in circuit.fields.items():
        label = spec.label or name
        if name not in cleaned:
            if not spec.optional:
                problems.append(f"« {label} » est obligatoire")
            continue
        try:
            coerce(spec, cleaned[name])
        except GuardError:
            problems.append(f"« {label} » : « {str(cleaned[name])[:80]} » n'est pas valable, "
                            f"{expected_value(spec)} attendu")
    if problems:
        raise MetadataError(problems)
    engine.check_metadata(circuit, cleaned)
    desk_fields = {name: str(value) for name, value in cleaned.items()
                   if circuit.fields[name].type == "desk"}
    known = _desks_by_slug(session, list(desk_fields.values()), organisation_id)
    unknown = [f"« {circuit.fields[name].label or name} » ({name}) : bureau inconnu « {slug} »"
               for name, slug in desk_fields.items() if slug not in known]
    if unknown:
        raise MetadataError(unknown)
    return cleaned


@lru_cache(maxsize=256)
def _parse_frozen(version_id: int, source: str) -> Circuit:
    return parse_circuit(source, f"circuit-version-{version_id}")


def version_circuit(version: CircuitVersion) -> Circuit:
    """The circuit definition of a stored version (parsed once per version)."""
    return _parse_frozen(version.id, version.source)


def circuit_of(document: Document) -> Circuit:
    """The circuit definition the document started with (never a later edit)."""
    version = document.circuit_version
    return _parse_frozen(version.id, version.source)


def find_frozen(session: Session, circuit_id: str, version: str,
                organisation_id: int | None) -> CircuitVersion | None:
    """The stored copy of that circuit version owned by the organisation (None: a shipped one)."""
    owner = (CircuitVersion.organisation_id.is_(None) if organisation_id is None
             else CircuitVersion.organisation_id == organisation_id)
    return session.execute(select(CircuitVersion).where(
        CircuitVersion.circuit_id == circuit_id, CircuitVersion.version == version,
        owner)).scalar_one_or_none()


def freeze(session: Session, circuit: Circuit, source: str, *, now: datetime,
           organisation_id: int | None = None) -> CircuitVersion:
    """The stored copy of this circuit version, created on first use.

    `organisation_id`: the organisation a version uploaded by its administrator belongs to; None
    for a shipped circuit of the workflows directory (shared by every organisation).
    """
    existing = find_frozen(session, circuit.id, circuit.version, organisation_id)
    if existing is not None:
        return existing
    frozen = CircuitVersion(organisation_id=organisation_id, circuit_id=circuit.id,
                            version=circuit.version, title=circuit.title, source=source,
                            loaded_at=now)
    session.add(frozen)
    session.flush()
    return frozen


def freeze_for_document(session: Session, circuit: Circuit, source: str, *,
                        organisation_id: int, now: datetime) -> CircuitVersion:
    """The copy a new document of that organisation starts with: its own version, else shipped."""
    own = find_frozen(session, circuit.id, circuit.version, organisation_id)
    if own is not None and own.source == source:
        return own
    return freeze(session, circuit, source, now=now)


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
    raise StepNotCurrent(N_("L'étape « %(step)s » n'est plus en attente : déjà traité (un "
                            "autre bureau a agi ou le document a changé d'état)."),
                         step=step)


def _desks_by_slug(session: Session, slugs: tuple[str, ...] | list[str],
                   organisation_id: int) -> dict[str, Desk]:
    """The organisation's desks with these slugs (a slug is unique in its organisation)."""
    if not slugs:
        return {}
    desks = session.execute(select(Desk).where(Desk.organisation_id == organisation_id,
                                               Desk.slug.in_(list(slugs)))).scalars()
    return {desk.slug: desk for desk in desks}


def capacity_for(session: Session, document: Document, pending: engine.PendingStep, user: User, *,
                 now: datetime, rights: ActingRights | None = None) -> ActingCapacity:
    """How `user` may act on this step (member or delegate of one of its desks), or Forbidden.

    `rights` (from `acting_rights`) spares the delegation query when deciding for many documents.
    """
    if rights is None:
        rights = acting_rights(session, user, now=now)
    for slug in pending.waiting:
        capacity = rights.capacity(slug, document.doc_type)
        if capacity is not None:
            return capacity
    raise Forbidden(N_("Vous n'êtes ni membre ni délégataire du bureau chargé de cette étape."))


def user_can_act(session: Session, document: Document, user: User, *, now: datetime,
                 rights: ActingRights | None = None) -> list[
        tuple[engine.PendingStep, ActingCapacity]]:
    """The pending steps this user may act on, with the capacity in which they would act."""
    result = []
    for pending in pending_steps(document):
        try:
            result.append((pending, capacity_for(session, document, pending, user, now=now,
                                                 rights=rights)))
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
        raise StepNotCurrent(N_("Ce document n'est plus en circulation : l'action a déjà été "
                                "traitée."))
    pending = find_pending(document, step)
    if capacity is None:
        capacity = capacity_for(session, document, pending, actor, now=now)
    if capacity.desk.slug in pending.acted:
        raise StepNotCurrent(N_("Ce bureau a déjà agi sur cette étape (déjà traité)."))
    if decision == "approve" and pending.action in ("signature", "cachet") and not allow_signature:
        raise ParapheurError(N_("Cette étape demande une signature électronique : utilisez « "
                                "Signer »."))
    if decision == "approve":
        # A signature has just added the signed version: what was read is the one it signed.
        signed_new = version_id is not None and len(document.versions) > 1 \
            and document.versions[-1].id == version_id
        check_mandatory_reading(session, document, step, actor,
                                version=document.versions[-2] if signed_new else None)
    bounded(reason, field="reason", label="Motif")
    if decision == "reject" and not (reason and reason.strip()):
        raise ParapheurError(N_("Le motif du rejet est obligatoire."))
    reason = reason.strip() if reason and reason.strip() else None
    transition = engine.apply(circuit_of(document), run_state(document), step=step,
                              desk=capacity.desk.slug, decision=decision, metadata=document.meta,
                              reason=reason, now=now)
    return _commit(session, document, transition, step=step, action=pending.action,
                   decision=decision, actor=actor, capacity=capacity, now=now, reason=reason,
                   payload=payload, version_id=version_id,
                   certificate_subject=certificate_subject)


def check_mandatory_reading(session: Session, document: Document, step: str, actor: User, *,
                            version: DocumentVersion | None = None) -> None:
    """A `mandatory_reading` step's visa or signature waits until every page was shown to `actor`.

    `version` is the one acted on (default: the current one).
    """
    state = circuit_of(document).states.get(step)
    if state is not None and state.mandatory_reading:
        reading.check_read(session, version or document.current_version, actor,
                           action=state.action or "visa")


def take_back(session: Session, document: Document, *, actor: User, now: datetime) -> ActResult:
    """"Droit de remords": undo the last visa while the next step has not acted."""
    option = engine.take_back_option(run_state(document)) \
        if document.status is DocumentStatus.IN_PROGRESS else None
    if option is None:
        raise StepNotCurrent(N_("Le droit de remords n'est plus possible : l'étape suivante a "
                                "déjà été traitée."))
    step, desk_slug = option
    desk = _desks_by_slug(session, [desk_slug], document.organisation_id).get(desk_slug)
    capacity = desk and acting_capacity(session, actor, desk, doc_type=document.doc_type, now=now)
    if not capacity:
        raise Forbidden(N_("Seul le bureau qui a donné le visa peut exercer le droit de "
                           "remords."))
    circuit = circuit_of(document)
    transition = engine.apply(circuit, run_state(document), step=step, desk=desk_slug,
                              decision="take_back", metadata=document.meta, now=now)
    return _commit(session, document, transition, step=step,
                   action=circuit.states[step].action or "visa", decision="take_back",
                   actor=actor, capacity=capacity, now=now)


def author_capacity(session: Session, document: Document, user: User, *,
                    now: datetime) -> ActingCapacity | None:
    """Whether `user` acts for the document's author desk now (the author's own rights)."""
    desk = document.author_desk
    if desk is None:
        return None
    return acting_capacity(session, user, desk, doc_type=document.doc_type, now=now)


def can_cancel(session: Session, document: Document, user: User, *, now: datetime) -> bool:
    """Whether the page offers `user` to abandon the document (see `cancel`)."""
    return (document.status is DocumentStatus.IN_PROGRESS
            and circuit_of(document).on_cancel is not None
            and author_capacity(session, document, user, now=now) is not None)


def cancel(session: Session, document: Document, *, actor: User, reason: str | None,
           now: datetime) -> ActResult:
    """Abandon a document in circulation: its circuit goes to its `on_cancel` final state.

    Only its author's desk may, with a reason; journaled (`document:circuit:cancelled`) and the
    desks that were waiting for it are notified. In the caller's transaction.
    """
    if document.status is not DocumentStatus.IN_PROGRESS:
        raise StepNotCurrent(N_("Ce document n'est plus en circulation : il ne peut plus être "
                                "abandonné."))
    capacity = author_capacity(session, document, actor, now=now)
    if capacity is None:
        raise Forbidden(N_("Seul le bureau qui a déposé ce document peut l'abandonner."))
    circuit = circuit_of(document)
    if circuit.on_cancel is None:
        raise ParapheurError(N_("Le circuit « %(title)s » ne prévoit pas l'abandon d'un "
                                "document (pas d'état « on_cancel »)."),
                             title=circuit.title, status=409)
    bounded(reason, field="reason", label="Motif")
    if not (reason and reason.strip()):
        raise ParapheurError(N_("Le motif de l'abandon est obligatoire."))
    state = run_state(document)
    transition = engine.apply(circuit, state, step=state.current, desk=capacity.desk.slug,
                              decision="cancel", metadata=document.meta, reason=reason.strip(),
                              now=now)
    return _commit(session, document, transition, step=state.current, action="abandon",
                   decision="cancel", actor=actor, capacity=capacity, now=now,
                   reason=reason.strip())


def take_back_step(session: Session, document: Document, user: User, *, now: datetime) -> str | None:
    """The step this user could take back now, if any (for the document page)."""
    if document.status is not DocumentStatus.IN_PROGRESS:
        return None
    option = engine.take_back_option(run_state(document))
    if option is None:
        return None
    # Whom she may act for are desks of her organisation (her own, those delegating to them):
    # no need to read the desk itself, only to check it is of the document's organisation.
    capacity = acting_rights(session, user, now=now).capacity(option[1], document.doc_type)
    if capacity is None or capacity.desk.organisation_id != document.organisation_id:
        return None
    return option[0]


def _commit(session: Session, document: Document, transition: engine.Transition, *, step: str,
            action: str, decision: str, actor: User, capacity: ActingCapacity, now: datetime,
            reason: str | None = None, payload: dict[str, Any] | None = None,
            version_id: int | None = None, certificate_subject: str | None = None) -> ActResult:
    """Persist a transition: run state, status, the step's record and its audit events.

    When the move enters automatic steps (cachet, export), the server performs them right away,
    in the same transaction: if one fails, the whole action is rolled back by the caller.
    """
    status = _persist_state(session, document, transition, now)
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
    queue_for_events(session, document.id, transition.events, now=now)
    session.flush()
    tell_step_listeners(session, document, actor=actor, now=now)
    if status is DocumentStatus.IN_PROGRESS:
        run_automatic_steps(session, document, now=now, triggered_by=actor)
    return ActResult(step_action, document.status)


# Key of the step listeners in `Session.info`: callables `(session, document, *, actor, now)`
# told of every recorded step, in the step's transaction (the app factory registers the
# invoices' rule: an invoice's status follows its document's circuit at once).
STEP_LISTENERS_KEY = "parapheur.step_listeners"


def tell_step_listeners(session: Session, document: Document, *, actor: User | None,
                        now: datetime) -> None:
    """Tell the session's application that a step of this document was just recorded."""
    for listener in session.info.get(STEP_LISTENERS_KEY, ()):
        listener(session, document, actor=actor, now=now)


def _persist_state(session: Session, document: Document, transition: engine.Transition,
                   now: datetime) -> DocumentStatus:
    document.run_state = transition.state.to_json()
    status = DocumentStatus.IN_PROGRESS
    if transition.state.is_final:
        status = _OUTCOME_STATUS.get(transition.state.outcome or "", DocumentStatus.APPROVED)
    document.status = status
    document.updated_at = now
    try:
        sync_waiting(document)  # loading the index may autoflush the document's update
        session.flush()  # takes the document's row lock and checks its version first
    except StaleDataError:
        raise StepNotCurrent(N_("Un autre utilisateur vient de traiter cette étape (déjà "
                                "traité).")) \
            from None
    return status


# --- automatic steps (cachet, export) ------------------------------------------------------------

@dataclass(frozen=True)
class AutomaticRun:
    """What an automatic step's handler gets: the document waiting at `step`, and when."""

    session: Session
    document: Document
    step: engine.PendingStep
    now: datetime
    triggered_by: User | None = None


@dataclass(frozen=True)
class AutomaticOutcome:
    """What a handler did: audit details, and the new version of the file it made, if any."""

    details: dict[str, Any] = field(default_factory=dict)
    version_id: int | None = None
    certificate_subject: str | None = None


class AutomaticHandler(Protocol):
    """What performs an automatic step (the seal for `cachet`).

    `begin(run)` runs in the action's transaction: it checks what can be checked without the
    network (raising the handler's error refuses the action, nothing changes), then either does
    the step at once and returns its outcome, or returns None when the step must call remote
    services (a time stamp, revocation data). The step is then written into the outbox under
    `outbox_kind` and waits for the worker, which calls the handler itself.
    """

    outbox_kind: str

    def begin(self, run: AutomaticRun) -> AutomaticOutcome | None: ...

    def __call__(self, run: AutomaticRun) -> AutomaticOutcome: ...


# Key of the automatic-step handlers in `Session.info`: the app factory puts its registry there
# (the seal for `cachet`; exports go through the outbox's exporters instead).
AUTOMATIC_HANDLERS_KEY = "parapheur.automatic_handlers"


def automatic_handler(session: Session, action: str) -> AutomaticHandler:
    """The handler the session's application registered for an automatic action."""
    handler = session.info.get(AUTOMATIC_HANDLERS_KEY, {}).get(action)
    if handler is None:
        raise CircuitError(N_("Aucun traitement automatique n'est défini pour l'action « "
                              "%(action)s »."), action=action)
    return handler


EXPORT_KIND = "circuit.export"


def server_step_key(document: Document, step: str, action: str) -> str:
    """The outbox key of this visit of a server step (a step visited again runs again)."""
    return f"{action}:{document.id}:{step}:{len(run_state(document).trail)}"


def export_key(document: Document, step: str) -> str:
    """The outbox key of this visit of an export step."""
    return server_step_key(document, step, "export")


def _queue_server_step(session: Session, document: Document, step: engine.PendingStep, *,
                       kind: str, now: datetime, triggered_by: User | None) -> None:
    """Write a server step into the outbox: the document waits at the step until it is done."""
    key = server_step_key(document, step.state, step.action)
    if outbox.find_by_key(session, key) is not None:
        return
    payload: dict[str, Any] = {"document_id": document.id, "step": step.state}
    details: dict[str, Any] = {"step": step.state, "actor": "serveur"}
    if step.action == "export":
        payload["exporter"] = details["exporter"] = circuit_of(document).states[step.state].exporter
    outbox.enqueue(session, kind, payload, key=key, now=now, document_id=document.id)
    if triggered_by is not None:
        details["triggered_by"] = triggered_by.username
    audit.record(session, f"document:{step.action}:queued", actor=None, document_id=document.id,
                 details=details, clock=lambda: now)


def _settle_automatic(session: Session, document: Document, *, step: str, action: str,
                      decision: str, now: datetime, outcome: AutomaticOutcome,
                      reason: str | None = None, triggered_by: User | None = None) -> StepAction:
    """Record the server's decision on an automatic step: run state, step record, journal."""
    transition = engine.apply(circuit_of(document), run_state(document), step=step,
                              desk=SYSTEM_DESK, decision=decision, metadata=document.meta,
                              reason=reason, now=now)
    _persist_state(session, document, transition, now)
    record = StepAction(document_id=document.id, step=step, action=action,
                        decision=decision, actor_id=None, desk_id=None, reason=reason,
                        version_id=outcome.version_id,
                        certificate_subject=outcome.certificate_subject, acted_at=now)
    session.add(record)
    extra: dict[str, Any] = {"actor": "serveur", **outcome.details}
    if triggered_by is not None:
        extra["triggered_by"] = triggered_by.username
    for index, (name, details) in enumerate(transition.events):
        merged = {**(details or {}), **extra} if index == 0 else dict(details or {})
        audit.record(session, name, actor=None, document_id=document.id, details=merged,
                     clock=lambda: now)
    queue_for_events(session, document.id, transition.events, now=now)
    session.flush()
    tell_step_listeners(session, document, actor=None, now=now)
    return record


def complete_automatic_step(session: Session, document: Document, *, step: str,
                            outcome: AutomaticOutcome, now: datetime) -> StepAction:
    """A waiting server step (an export, a deferred seal) is done: move on, in the caller's
    transaction."""
    pending = find_pending(document, step)
    record = _settle_automatic(session, document, step=step, action=pending.action,
                               decision="approve", now=now, outcome=outcome)
    if document.status is DocumentStatus.IN_PROGRESS:
        run_automatic_steps(session, document, now=now)
    return record


def fail_automatic_step(session: Session, document: Document, *, step: str, reason: str,
                        now: datetime) -> StepAction:
    """A waiting automatic step failed for good: follow its on_reject with the reason."""
    pending = find_pending(document, step)
    record = _settle_automatic(session, document, step=step, action=pending.action,
                               decision="reject", now=now, outcome=AutomaticOutcome(),
                               reason=reason)
    if document.status is DocumentStatus.IN_PROGRESS:
        run_automatic_steps(session, document, now=now)
    return record


def run_automatic_steps(session: Session, document: Document, *, now: datetime,
                        triggered_by: User | None = None) -> list[StepAction]:
    """Perform the automatic steps the document now waits on, one after the other.

    An export, and a seal that must call remote services (see AutomaticHandler), are written
    into the outbox and the document waits at its step until the worker has done them. A seal
    made without the network is applied at once, in the caller's transaction (a handler's error
    rolls back everything, including the human action that led here).
    """
    done: list[StepAction] = []
    circuit = circuit_of(document)
    for _ in range(len(circuit.states) + 1):  # each state at most once per pass: no endless loop
        if document.status is not DocumentStatus.IN_PROGRESS:
            break
        step = next((p for p in pending_steps(document) if p.automatic), None)
        if step is None:
            break
        if step.action == "export":
            _queue_server_step(session, document, step, kind=EXPORT_KIND, now=now,
                               triggered_by=triggered_by)
            break
        handler = automatic_handler(session, step.action)
        run = AutomaticRun(session, document, step, now, triggered_by)
        outcome = handler.begin(run)
        if outcome is None:
            _queue_server_step(session, document, step, kind=handler.outbox_kind, now=now,
                               triggered_by=triggered_by)
            break
        done.append(_settle_automatic(session, document, step=step.state, action=step.action,
                                      decision="approve", now=now, outcome=outcome,
                                      triggered_by=triggered_by))
    return done


# --- what the document page shows ---------------------------------------------------------------

SYSTEM_DESK_LABEL = "Serveur (automatique)"


@dataclass(frozen=True)
class DeskProgress:
    """One desk of a step: "done" (acted), "waiting", or "settled" (another desk of an `any` step
    acted first: « déjà traité »)."""

    slug: str
    name: str
    status: str
    decision: str | None = None
    actor: str | None = None
    at: datetime | None = None
    on_behalf_of: bool = False


@dataclass(frozen=True)
class StepProgress:
    """A step of the run as the document page shows it."""

    state: str
    label: str
    action: str
    mode: str
    desks: tuple[DeskProgress, ...]
    current: bool
    due: datetime | None = None
    late: bool = False
    note: str | None = None  # « en attente d'export », « échec de l'export : … »


# What the page says of a server step: waiting for the worker, and done.
_SERVER_STEP_NOTES = {"export": ("en attente d'export", "export fait"),
                      "cachet": ("en attente du cachet serveur", "cachet apposé")}


def _server_step_note(session: Session, document: Document, step: str, action: str,
                      current: bool, records: dict[str, StepAction]) -> str | None:
    waiting, done = _SERVER_STEP_NOTES[action]
    if current:
        message = outbox.find_by_key(session, server_step_key(document, step, action))
        if message is None:
            return None if action == "cachet" else waiting
        if message.status is OutboxStatus.PENDING and message.last_error:
            return f"{waiting} (nouvel essai prévu, dernière erreur : {message.last_error})"
        return waiting
    record = records.get(SYSTEM_DESK)
    if record is not None and record.decision == "reject":
        return record.reason
    if record is not None and record.decision == "approve":
        return done
    return None


def desk_labels(session: Session, organisation_id: int) -> dict[str, str]:
    """Desk slug → name for every desk of the organisation (and the server's pseudo-desk)."""
    def read() -> tuple[tuple[str, str], ...]:
        return tuple(session.execute(select(Desk.slug, Desk.name).where(
            Desk.organisation_id == organisation_id)).all())

    # Read once per request (the steps' progress and the circuit diagram both ask).
    labels = dict(memoized(session, ("desk_labels", organisation_id), read))
    labels[SYSTEM_DESK] = SYSTEM_DESK_LABEL
    return labels


def progress(session: Session, document: Document, *, now: datetime,
             actions: list[StepAction] | None = None) -> list[StepProgress]:
    """The steps passed and the current one, with who acted, who is awaited, who is « déjà traité ».

    `actions`: the document's step actions by time (`acted_at`, id), when the caller has them.
    """
    circuit = circuit_of(document)
    state = run_state(document)
    names = desk_labels(session, document.organisation_id)
    if actions is None:
        actions = session.execute(
            select(StepAction).where(StepAction.document_id == document.id)
            .order_by(StepAction.acted_at, StepAction.id)).scalars().all()
    # The latest decision of each desk on each step; a take-back cancels the visa it undoes.
    latest: dict[str, dict[str, StepAction]] = {}
    for record in actions:
        if record.on_behalf_of is not None:
            slug = record.on_behalf_of.slug
        elif record.desk is not None:
            slug = record.desk.slug
        else:
            slug = SYSTEM_DESK
        per_step = latest.setdefault(record.step, {})
        if record.decision == "take_back":
            per_step.pop(slug, None)
        else:
            per_step[slug] = record
    ordered: list[str] = []
    for name in state.trail:
        step = circuit.states.get(name)
        if step is None or step.is_final or step.action == "notification":
            continue
        if name in ordered:
            ordered.remove(name)  # a step visited again (after a rejection) shows its last visit
        ordered.append(name)
    result = []
    for name in ordered:
        step = circuit.states[name]
        is_current = not state.is_final and name == state.current
        mode = state.mode if is_current else (step.actor.mode if step.actor else "single")
        if is_current:
            slugs: tuple[str, ...] = state.desks
        elif step.actor is not None and step.actor.kind in ("desk", "system"):
            slugs = step.actor.desks
        else:
            slugs = tuple(latest.get(name, {}))
        records = latest.get(name, {})
        desks = []
        anyone_done = any(records.get(slug) for slug in slugs)
        for slug in slugs:
            found = records.get(slug)
            acted = slug in state.acted if is_current else found is not None
            if acted and found is not None:
                desks.append(DeskProgress(
                    slug, names.get(slug, slug), "done", found.decision,
                    found.actor.full_name if found.actor else SYSTEM_DESK_LABEL,
                    found.acted_at, found.on_behalf_of is not None))
            elif not is_current and mode == "any" and anyone_done:
                desks.append(DeskProgress(slug, names.get(slug, slug), "settled"))
            elif is_current:
                desks.append(DeskProgress(slug, names.get(slug, slug), "waiting"))
            else:
                desks.append(DeskProgress(slug, names.get(slug, slug), "skipped"))
        note = _server_step_note(session, document, name, step.action, is_current, records) \
            if step.action in _SERVER_STEP_NOTES else None
        result.append(StepProgress(name, step.label, step.action or "", mode, tuple(desks),
                                   is_current, state.due if is_current else None,
                                   is_current and state.is_late(now), note))
    return result


def is_late(document: Document, now: datetime) -> bool:
    """True when the document's current step has passed its deadline."""
    if document.status is not DocumentStatus.IN_PROGRESS:
        return False
    return run_state(document).is_late(now)


def get_document(session: Session, document_id: int) -> Document:
    """The document, or NotFound."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(N_("Ce document n'existe pas."))
    return document
