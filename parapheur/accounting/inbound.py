"""Acquittements and returns uploaded by finance agents: checked, kept, applied once.

A PES_ACQUIT or spending PES_Retour is read safely (no entities, no network, bounded size) and
schema-checked, must be addressed to the uploader's collectivité, is kept in the content store,
and applied with `import_acquit` / `import_retour` in the caller's transaction, with a
`PesReturnFile` row that records what it changed. The same file again (same SHA-256) is
recognised: nothing changes and the first application is shown.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounting.models import PesReturnFile
from parapheur.accounting.pes.returns import UnreadableReturn, read_acquit, read_retour
from parapheur.accounting.services import AccountingError, import_acquit, import_retour
from parapheur.audit import services as audit
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_
from parapheur.organisations.models import Organisation

_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
KINDS = {"acquit": "PES_ACQUIT (acquittement)", "retour": "PES_Retour (retour de dépense)"}


@dataclass(frozen=True)
class AppliedReturn:
    """A return file and whether this upload applied it (False: it had been applied before)."""

    record: PesReturnFile
    applied_now: bool


def apply_return_file(session: Session, store: ContentStore, organisation: Organisation, *,
                      kind: str, data: bytes, filename: str, max_bytes: int, actor: Any,
                      now: datetime) -> AppliedReturn:
    """Check and apply an uploaded acquittement or retour once; AccountingError / UnreadableReturn
    in French when it cannot be (nothing changes then, once the caller rolls back)."""
    if kind not in KINDS:
        raise AccountingError("unknown_kind", N_("Type de fichier inconnu : choisissez un "
                                                 "acquittement ou un retour."))
    what = KINDS[kind]
    name = (filename or "fichier").replace("\x00", "")[-255:]
    if not data:
        raise AccountingError("empty_file", N_("Le fichier « %(name)s » est vide : déposez le "
                                               "%(what)s reçu du comptable."), name=name, what=what)
    if len(data) > max_bytes:
        raise AccountingError("too_large", N_("Le fichier « %(name)s » dépasse la taille "
                                              "maximale acceptée (%(value)s Mo)."),
                                           name=name, value=max_bytes // (1024 * 1024), status=413)
    if _DECLARATIONS.search(data):
        raise AccountingError("dtd_refused", N_("« %(name)s » déclare une DTD ou des entités "
                                                "(<!DOCTYPE>, <!ENTITY>) : un fichier PES n'en "
                                                "a pas, il est refusé par sécurité."),
                                             name=name, status=422)
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = session.scalars(select(PesReturnFile).where(
        PesReturnFile.organisation_id == organisation.id, PesReturnFile.kind == kind,
        PesReturnFile.sha256 == sha256)).one_or_none()
    if earlier is not None:
        return AppliedReturn(earlier, applied_now=False)
    try:
        parsed = read_acquit(data) if kind == "acquit" else read_retour(data)
    except UnreadableReturn as exc:
        other = "retour" if kind == "acquit" else "acquit"
        hint = ""
        try:
            (read_retour if kind == "acquit" else read_acquit)(data)
            hint = f" Ce fichier est un {KINDS[other]} : déposez-le dans le formulaire prévu."
        except UnreadableReturn:
            pass
        raise UnreadableReturn(N_("« %(name)s » : %(detail)s%(hint)s"),
                               name=name, detail=exc, hint=hint, status=422) from None
    if organisation.siret and parsed.id_coll != organisation.siret:
        raise AccountingError("other_collectivite", N_("« %(name)s » est adressé à la "
                                                       "collectivité de SIRET %(id_coll)s, pas "
                                                       "à %(organisation_name)s (SIRET "
                                                       "%(siret)s) : rien n'a été modifié."),
                                                    name=name, id_coll=parsed.id_coll, organisation_name=organisation.name, siret=organisation.siret)
    if kind == "acquit":
        changes = import_acquit(session, parsed, actor=actor, now=now)  # type: ignore[arg-type]
    else:
        changes = import_retour(session, parsed, actor=actor, now=now)  # type: ignore[arg-type]
    store.put(data)
    record = PesReturnFile(organisation_id=organisation.id, kind=kind, sha256=sha256,
                           size=len(data), filename=name, pes_name=parsed.file_name[:200] or None,
                           changes=list(changes) or ["aucun changement"], imported_at=now,
                           actor_id=getattr(actor, "id", None))
    session.add(record)
    session.flush()
    audit.record(session, f"accounting:{kind}:imported", actor=actor,
                 details={"return_file_id": record.id, "sha256": sha256, "filename": name,
                          "pes_name": record.pes_name, "changes": len(changes)},
                 clock=lambda: now)
    return AppliedReturn(record, applied_now=True)
