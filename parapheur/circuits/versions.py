"""Circuit versions kept in the database: uploaded and checked, then activated for a typology.

An administrator uploads a circuit's YAML text; it is checked exactly like
`parapheur workflows check` does (FILE:LINE:COLUMN problems, desks against the database's,
exporters against the installed ones). A circuit without problems is stored as a
`CircuitVersion` (the same frozen copy documents start with; a version is the hash of its text,
so uploading the same text twice stores it once, and a different text under a stored circuit id and
version is refused). A stored version belongs to the organisation that uploaded it: only that
organisation lists, shows and activates it (another one's id answers like a missing one); the
shipped circuits of the workflows directory, frozen when a document starts, are every
organisation's. Activating a version for a type / sous-type
adds a `CircuitActivation`: new documents of that typology follow it, documents in flight keep
the version they started with, and every earlier version and activation stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Desk, User
from parapheur.audit import services as audit
from parapheur.circuits import desks as desk_checks
from parapheur.circuits import services as circuits
from parapheur.circuits.definition import Circuit, parse_circuit, source_version
from parapheur.circuits.errors import CircuitDefinitionError, CircuitError, Problem
from parapheur.circuits.exporters import Exporter, missing_exporters
from parapheur.circuits.models import CircuitActivation
from parapheur.documents.models import CircuitVersion
from parapheur.errors import N_, Conflict, NotFound, ParapheurError

#: Largest circuit file accepted from the page (the shipped ones are under 4 KB).
MAX_CIRCUIT_BYTES = 256 * 1024


@dataclass(frozen=True)
class UploadCheck:
    """The result of checking an uploaded circuit: the circuit, or the problems (sorted)."""

    filename: str
    circuit: Circuit | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.circuit is not None and not self.problems


def decode_upload(data: bytes, filename: str) -> str:
    """The text of an uploaded circuit file, or a clear refusal (size, name, encoding)."""
    if not filename.lower().endswith((".yaml", ".yml")):
        raise ParapheurError(N_("Le fichier de circuit doit être un fichier YAML (.yaml ou "
                                ".yml)."))
    if not data:
        raise ParapheurError(N_("Le fichier de circuit est vide."))
    if len(data) > MAX_CIRCUIT_BYTES:
        raise ParapheurError(N_("Le fichier de circuit dépasse %(value)s Ko."),
                             value=MAX_CIRCUIT_BYTES // 1024,
                             status=413)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParapheurError(N_("Le fichier de circuit n'est pas en UTF-8 (octet %(value)s)."),
                             value=exc.start + 1
                             ) from None
    if "\x00" in text:
        raise ParapheurError(N_("Le fichier de circuit contient un caractère nul."))
    return text


def desk_registry(session: Session, organisation_id: int) -> dict[str, str]:
    """Slug → name of the organisation's desks (what an uploaded circuit may name there)."""
    # Slugs are unique per organisation only: every commune has its « maire ».
    return dict(session.execute(select(Desk.slug, Desk.name).where(
        Desk.organisation_id == organisation_id)).all())


def check_upload(session: Session, text: str, filename: str, *, organisation_id: int,
                 exporters: Mapping[str, Exporter]) -> UploadCheck:
    """Check a circuit's text as `parapheur workflows check` would, against this database."""
    name = Path(filename.replace("\\", "/")).name[:200] or "circuit.yaml"
    registry = desk_registry(session, organisation_id)
    try:
        circuit = parse_circuit(text, name, desks=registry)
    except CircuitDefinitionError as exc:
        return UploadCheck(name, None, sorted(set(exc.problems)))
    problems = desk_checks.check_against([circuit], registry)
    problems += missing_exporters({circuit.id: circuit}, exporters)
    return UploadCheck(name, circuit, sorted(set(problems)))


def store(session: Session, check: UploadCheck, text: str, *, organisation_id: int,
          actor: User, now: datetime) -> tuple[CircuitVersion, bool]:
    """Keep a checked circuit as the organisation's version; (version, whether it is new).

    The same text again gives the stored version back (nothing journaled); another text under a
    stored circuit id and version is refused (Conflict), nothing stored. A new one is journaled
    `circuit:version:uploaded`.
    """
    if not check.ok or check.circuit is None:
        raise ParapheurError(N_("Ce circuit a des problèmes : corrigez-les avant de "
                                "l'enregistrer."))
    circuit = check.circuit
    existing = circuits.find_frozen(session, circuit.id, circuit.version, organisation_id)
    if existing is not None:
        if existing.source != text:
            raise Conflict(N_("Une version « %(version)s » du circuit « %(circuit)s » est déjà "
                              "enregistrée avec un autre texte : rien n'a été enregistré."),
                           version=circuit.version, circuit=circuit.id[:100])
        return existing, False
    version = circuits.freeze(session, circuit, text, now=now, organisation_id=organisation_id)
    audit.record(session, "circuit:version:uploaded", actor=actor,
                 details={"circuit": circuit.id, "version": circuit.version,
                          "version_id": version.id, "organisation_id": organisation_id,
                          "file": check.filename,
                          "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()},
                 clock=lambda: now)
    return version, True


def visible_to(organisation_id: int) -> ColumnElement[bool]:
    """SQL condition on `CircuitVersion`: the organisation's own versions and the shipped ones."""
    return or_(CircuitVersion.organisation_id == organisation_id,
               CircuitVersion.organisation_id.is_(None))


def get_version(session: Session, version_id: int, organisation_id: int) -> CircuitVersion:
    """A circuit version the organisation may see, or NotFound (another's is answered alike)."""
    version = session.execute(select(CircuitVersion).where(
        CircuitVersion.id == version_id, visible_to(organisation_id))).scalar_one_or_none()
    if version is None:
        raise NotFound(N_("Version de circuit n° %(version_id)s introuvable."),
                       version_id=version_id)
    return version


def parsed(version: CircuitVersion) -> Circuit:
    """The circuit of a stored version."""
    return circuits.version_circuit(version)


def check_version(session: Session, version: CircuitVersion, *, organisation_id: int,
                  exporters: Mapping[str, Exporter]) -> UploadCheck:
    """A stored version checked again now (a desk or an exporter may have gone since)."""
    return check_upload(session, version.source, f"{version.circuit_id}.yaml",
                        organisation_id=organisation_id, exporters=exporters)


def activate(session: Session, version: CircuitVersion, *, doc_type: str, doc_subtype: str,
             actor: User, now: datetime, directory: Path,
             exporters: Mapping[str, Exporter]) -> CircuitActivation:
    """New documents of this type / sous-type follow `version`; journaled, history kept.

    The version is checked again first: one naming a desk or an exporter that no longer exists
    is refused with its problems.
    """
    if version.organisation_id not in (None, actor.organisation_id):
        raise NotFound(N_("Version de circuit n° %(version_id)s introuvable."),
                       version_id=version.id)
    entry = circuits.typology_entry(directory, doc_type, doc_subtype)
    if entry is None:
        raise ParapheurError(N_("Type / sous-type inconnu : « %(value)s / %(value2)s »."),
                             value=doc_type[:100], value2=doc_subtype[:100])
    try:
        circuit = parsed(version)
    except CircuitError as exc:
        raise ParapheurError(N_("Cette version ne se lit plus : %(detail)s"),
                             detail=exc) from None
    if source_version(version.source) != version.version:
        raise ParapheurError(N_("Cette version a été modifiée depuis son enregistrement : elle "
                                "ne peut pas être activée."), status=409)
    check = check_version(session, version, organisation_id=actor.organisation_id,
                          exporters=exporters)
    if not check.ok:
        raise ParapheurError(N_("Cette version a %(count)s problème(s) aujourd'hui (premier : "
                                "%(value)s) : elle ne peut pas être activée."),
                             count=len(check.problems), value=check.problems[0])
    previous = circuits.active_version(session, actor.organisation_id, doc_type, doc_subtype)
    if previous is None:
        previous_label = f"{entry.circuit} (fichiers)"
    else:
        previous_label = f"{previous.circuit_id} {previous.version}"
    activation = CircuitActivation(organisation_id=actor.organisation_id, doc_type=doc_type,
                                   doc_subtype=doc_subtype, circuit_version_id=version.id,
                                   activated_at=now, activated_by_id=actor.id)
    session.add(activation)
    session.flush()
    audit.record(session, "circuit:version:activated", actor=actor,
                 details={"type": doc_type, "sous_type": doc_subtype, "circuit": circuit.id,
                          "version": version.version, "version_id": version.id,
                          "previous": previous_label},
                 clock=lambda: now)
    return activation


@dataclass(frozen=True)
class TypologyCircuit:
    """A type / sous-type and the circuit its new documents follow now."""

    doc_type: str
    doc_subtype: str
    label: str
    circuit_id: str
    version: str | None  # None: the workflows directory's file decides
    version_id: int | None
    activated_at: datetime | None
    activated_by: str | None


def typology_circuits(session: Session, organisation_id: int,
                      directory: Path) -> list[TypologyCircuit]:
    """Every type / sous-type with the circuit version new documents of it follow."""
    latest: dict[tuple[str, str], CircuitActivation] = {}
    for row in session.execute(
            select(CircuitActivation).where(CircuitActivation.organisation_id == organisation_id)
            .order_by(CircuitActivation.id)).scalars():
        latest[(row.doc_type, row.doc_subtype)] = row
    result = []
    for entry in circuits.catalogue(directory).typology.entries.values():
        activation = latest.get((entry.type, entry.code))
        label = f"{entry.type_label} — {entry.label}"
        if activation is None:
            result.append(TypologyCircuit(entry.type, entry.code, label, entry.circuit, None,
                                          None, None, None))
        else:
            version = activation.circuit_version
            result.append(TypologyCircuit(
                entry.type, entry.code, label, version.circuit_id, version.version, version.id,
                activation.activated_at,
                activation.activated_by.full_name if activation.activated_by else None))
    return result


def all_versions(session: Session, organisation_id: int) -> list[CircuitVersion]:
    """The organisation's versions and the shipped ones, by circuit then newest first (none is
    ever deleted)."""
    return list(session.execute(select(CircuitVersion).where(visible_to(organisation_id))
                                .order_by(CircuitVersion.circuit_id,
                                          CircuitVersion.loaded_at.desc(),
                                          CircuitVersion.id.desc())).scalars())


def activations_of(session: Session, organisation_id: int,
                   version_id: int) -> list[CircuitActivation]:
    """The activations of a version in this organisation, oldest first."""
    return list(session.execute(select(CircuitActivation).where(
        CircuitActivation.organisation_id == organisation_id,
        CircuitActivation.circuit_version_id == version_id).order_by(
        CircuitActivation.id)).scalars())
