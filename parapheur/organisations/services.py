"""Creating and reading organisations (collectivités) and their budgets."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parapheur.audit import services as audit
from parapheur.errors import N_, Conflict, NotFound, ParapheurError
from parapheur.organisations.models import Budget, Organisation

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_DIGITS = {"siret": 14, "codique": 7, "code_col": 3, "code_bud": 2}
_LABELS = {"siret": "Le SIRET", "codique": "Le codique du poste comptable",
           "code_col": "Le code collectivité (CodCol)", "code_bud": "Le code budget (CodBud)"}


def _digits(field: str, value: str | None) -> str | None:
    """`value` stripped, checked to be the number of digits the field has; None stays None."""
    if value is None or not value.strip():
        return None
    value = re.sub(r"\s", "", value)
    length = _DIGITS[field]
    if not re.fullmatch(rf"\d{{{length}}}", value):
        raise ParapheurError(N_("%(value)s doit compter %(length)s chiffres (reçu « %(value2)s "
                                "»)."), value=_LABELS[field], length=length, value2=value[:40])
    return value


def _text(label: str, value: str | None, limit: int, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ParapheurError(N_("%(label)s est obligatoire."), label=label)
        return None
    if len(value) > limit or "\x00" in value:
        raise ParapheurError(N_("%(label)s est trop long (%(limit)s caractères au plus)."),
                             label=label, limit=limit)
    return value


def create_organisation(session: Session, *, slug: str, name: str, now: datetime,
                        siret: str | None = None, city: str | None = None,
                        postal_code: str | None = None, codique: str | None = None,
                        actor=None) -> Organisation:
    """Add an organisation; its slug must be free."""
    if not _SLUG.fullmatch(slug or ""):
        raise ParapheurError(N_("L'identifiant de la collectivité ne peut contenir que des "
                                "minuscules, des chiffres et des tirets."))
    if session.execute(select(Organisation.id).where(Organisation.slug == slug)).first():
        raise Conflict(N_("La collectivité « %(slug)s » existe déjà."), slug=slug)
    organisation = Organisation(
        slug=slug, name=_text("Le nom", name, 200, required=True), siret=_digits("siret", siret),
        city=_text("La commune", city, 100), postal_code=_text("Le code postal", postal_code, 10),
        country="FR", codique=_digits("codique", codique), created_at=now)
    session.add(organisation)
    session.flush()
    audit.record(session, "organisation:created", actor=actor,
                 details={"organisation_id": organisation.id, "slug": slug,
                          "name": organisation.name, "siret": organisation.siret},
                 clock=lambda: now)
    return organisation


def update_organisation(session: Session, organisation: Organisation, *, now: datetime,
                        actor=None, **changes: str | None) -> Organisation:
    """Change some of name, siret, city, postal_code, codique (None leaves a field as it is)."""
    cleaners = {
        "name": lambda v: _text("Le nom", v, 200, required=True),
        "siret": lambda v: _digits("siret", v),
        "city": lambda v: _text("La commune", v, 100),
        "postal_code": lambda v: _text("Le code postal", v, 10),
        "codique": lambda v: _digits("codique", v),
    }
    changed = {}
    for field, value in changes.items():
        if field not in cleaners:
            raise ValueError(f"unknown organisation field {field}")
        if value is None:
            continue
        setattr(organisation, field, cleaners[field](value))
        changed[field] = getattr(organisation, field)
    if changed:
        audit.record(session, "organisation:updated", actor=actor,
                     details={"organisation_id": organisation.id, "changes": changed},
                     clock=lambda: now)
    return organisation


def add_budget(session: Session, organisation: Organisation, *, code_col: str, code_bud: str,
               label: str, now: datetime, nomenclature: str = "M57", codique: str | None = None,
               actor=None) -> Budget:
    """Add a budget (CodCol, CodBud) to the organisation."""
    col = _digits("code_col", code_col)
    bud = _digits("code_bud", code_bud)
    if col is None or bud is None:
        raise ParapheurError(N_("Le code collectivité (CodCol) et le code budget (CodBud) sont "
                                "obligatoires."))
    if any(b.code_col == col and b.code_bud == bud for b in organisation.budgets):
        raise Conflict(N_("Le budget %(col)s/%(bud)s existe déjà pour %(organisation_name)s."),
                       col=col, bud=bud, organisation_name=organisation.name)
    budget = Budget(code_col=col, code_bud=bud,
                    label=_text("Le libellé du budget", label, 200, required=True) or "",
                    nomenclature=_text("La nomenclature", nomenclature, 10, required=True) or "M57",
                    codique=_digits("codique", codique))
    organisation.budgets.append(budget)
    session.flush()
    audit.record(session, "organisation:budget:created", actor=actor,
                 details={"organisation_id": organisation.id, "budget_id": budget.id,
                          "code_col": col, "code_bud": bud, "label": budget.label},
                 clock=lambda: now)
    return budget


def get_organisation(session: Session, slug: str) -> Organisation:
    """The organisation with this slug, or NotFound."""
    organisation = session.execute(
        select(Organisation).where(Organisation.slug == slug)).scalar_one_or_none()
    if organisation is None:
        raise NotFound(N_("La collectivité « %(slug)s » n'existe pas."), slug=slug)
    return organisation


def sole_organisation(session: Session) -> Organisation:
    """The instance's organisation while it serves one; asks to choose when it serves several."""
    count = session.execute(select(func.count(Organisation.id))).scalar_one()
    if count == 0:
        raise NotFound(N_("Aucune collectivité n'est configurée : créez-la avec « parapheur "
                          "orgs create »."))
    if count > 1:
        raise ParapheurError(N_("Cette instance sert plusieurs collectivités : précisez "
                                "laquelle (--org)."))
    return session.execute(select(Organisation)).scalar_one()


def resolve_organisation(session: Session, slug: str | None) -> Organisation:
    """The organisation named by `slug`, or the sole one when no slug is given."""
    return get_organisation(session, slug) if slug else sole_organisation(session)


def add_membership(session: Session, organisation: Organisation, user, role, *, now: datetime,
                   actor=None):
    """Make `user` (of another organisation) a member of `organisation` with `role` there."""
    from parapheur.organisations.models import Membership

    if user.home_organisation_id == organisation.id or session.execute(
            select(Membership.id).where(Membership.user_id == user.id,
                                        Membership.organisation_id == organisation.id)).first():
        raise Conflict(N_("%(username)s est déjà membre de %(organisation_name)s."),
                       username=user.username, organisation_name=organisation.name)
    membership = Membership(user_id=user.id, organisation_id=organisation.id, role=role.value,
                            created_at=now)
    session.add(membership)
    session.flush()
    audit.record(session, "organisation:member:added", actor=actor,
                 details={"organisation_id": organisation.id, "user_id": user.id,
                          "username": user.username, "role": role.value},
                 clock=lambda: now)
    return membership
