"""Delegations in the browser: a desk's members hand its work to another desk for a period."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import or_, select

from parapheur.accounts.models import Delegation, Desk, Role
from parapheur.accounts.services import create_delegation, delegation_period, end_delegation
from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.errors import Forbidden, NotFound, ParapheurError
from parapheur.organisations import scope

bp = Blueprint("delegations", __name__)


def _managed_desks(session) -> list[Desk]:
    """Desks whose work the user may delegate: their own, or every desk for an administrator."""
    if current_user.role is Role.ADMIN:
        return _organisation_desks(session)
    return list(current_user.desks)


def _organisation_desks(session) -> list[Desk]:
    """Every desk of the organisation the user works in."""
    return list(session.execute(select(Desk).where(
        Desk.organisation_id == scope.current_organisation_id()).order_by(Desk.name)).scalars())


def _parse_day(value: str, label: str) -> date:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ParapheurError(gettext("La date « %(label)s » est invalide (attendu : AAAA-MM-JJ).",
                                     label=label)) from None


@bp.route("/delegations", methods=["GET", "POST"])
@login_required
def index():
    """The delegations given and received by the user's desks; create one."""
    session = get_session()
    managed = _managed_desks(session)
    all_desks = _organisation_desks(session)
    types = list(circuits.catalogue(current_workflows_dir()).typology.types().items())
    status = 200
    error = None
    if request.method == "POST":
        try:
            by_id = {desk.id: desk for desk in all_desks}
            from_desk = by_id.get(int(request.form.get("from_desk") or 0))
            to_desk = by_id.get(int(request.form.get("to_desk") or 0))
            if from_desk is None or to_desk is None:
                raise ParapheurError(gettext("Choisissez le bureau qui délègue et le bureau délégataire."))
            if from_desk not in managed:
                raise Forbidden(gettext("Vous ne pouvez déléguer que le travail de vos propres bureaux."))
            chosen_types = request.form.getlist("types")
            unknown = [t for t in chosen_types if t not in dict(types)]
            if unknown:
                raise ParapheurError(gettext("Type de document inconnu : %(types)s.",
                                             types=", ".join(unknown)))
            starts, ends = delegation_period(_parse_day(request.form.get("starts", ""), "du"),
                                             _parse_day(request.form.get("ends", ""), "au"))
            with transaction(session):
                create_delegation(session, from_desk=from_desk, to_desk=to_desk,
                                  starts_at=starts, ends_at=ends,
                                  document_types=chosen_types or None, now=now(),
                                  actor=current_user)
            flash(gettext("Délégation du bureau %(from_desk)s au bureau %(to_desk)s enregistrée.",
                          from_desk=from_desk.name, to_desk=to_desk.name),
                  "success")
            return redirect(url_for("delegations.index"))
        except ValueError:
            error, status = gettext("Bureau invalide."), 400
        except ParapheurError as exc:
            session.rollback()
            error, status = exc.message, exc.status
    desk_ids = [desk.id for desk in managed] + [desk.id for desk in current_user.desks]
    delegations = session.execute(
        select(Delegation).where(or_(Delegation.from_desk_id.in_(desk_ids),
                                     Delegation.to_desk_id.in_(desk_ids)))
        .order_by(Delegation.starts_at.desc())).scalars().all()
    return render_template("pages/delegations.html", managed=managed, all_desks=all_desks,
                           types=types, delegations=delegations, moment=now(), error=error,
                           form=request.form), status


@bp.route("/delegations/<int:delegation_id>/end", methods=["POST"])
@login_required
def end(delegation_id: int):
    """End a delegation now (or cancel it before it starts)."""
    session = get_session()
    delegation = session.get(Delegation, delegation_id)
    if delegation is None or delegation.from_desk.organisation_id != scope.current_organisation_id():
        raise NotFound(gettext("Cette délégation n'existe pas."))
    if delegation.from_desk not in _managed_desks(session):
        raise Forbidden(gettext("Seuls les membres du bureau qui délègue peuvent mettre fin à la "
                        "délégation."))
    with transaction(session):
        end_delegation(session, delegation, now=now(), actor=current_user)
    flash(gettext("La délégation est terminée."), "success")
    return redirect(url_for("delegations.index"))
