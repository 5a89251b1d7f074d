"""The audit journal in the browser: filter it, verify the whole chain, export a checkable slice."""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from parapheur.accounts.admin_views import admin_required
from parapheur.accounts.models import User
from parapheur.audit import journal
from parapheur.audit import services as audit
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import ParapheurError
from parapheur.organisations import scope

bp = Blueprint("admin_journal", __name__, url_prefix="/admin/journal")


def _page(journal_filter: journal.JournalFilter, *, error: str | None = None,
          report: audit.ChainReport | None = None, status: int = 200):
    session = get_session()
    before = request.args.get("avant", "").strip()
    before_seq = None
    if before:
        if not before.isascii() or not before.isdigit() or len(before) > 15:
            raise ParapheurError(gettext("Page du journal invalide : revenez à la première page."))
        before_seq = int(before)
    events, next_before = journal.events_page(session, current_user.organisation_id,
                                              journal_filter, before_seq=before_seq)
    users = session.execute(select(User).where(
        scope.members_of(current_user.organisation_id)).order_by(User.full_name)
    ).scalars().all()
    return render_template(
        "admin/journal.html", events=events, filter=journal_filter,
        filter_args=journal_filter.args(), raw=request.args if error else journal_filter.args(),
        next_before=next_before, first_page=before_seq is None, users=users,
        users_by_id={u.id: u for u in users}, names=journal.event_names(session), error=error,
        report=report), status


def _filter() -> tuple[journal.JournalFilter, str | None]:
    try:
        return journal.JournalFilter.from_args(request.args), None
    except journal.JournalFilterError as exc:
        return journal.JournalFilter(), exc.message


@bp.route("/")
@admin_required
def index():
    """The journal's events of the organisation, newest first, filtered, 50 a page."""
    journal_filter, error = _filter()
    return _page(journal_filter, error=error, status=400 if error else 200)


@bp.route("/verifier", methods=["POST"])
@admin_required
def verify():
    """Recompute every hash of the organisation's chain, as `parapheur audit verify --org`;
    journaled."""
    session = get_session()
    report = audit.verify_chain(session, current_user.organisation_id)
    # verify_chain expunges what it read in batches, the logged-in user with it.
    session.rollback()
    session.add(current_user._get_current_object())
    with transaction(session):
        audit.record(session, "audit:chain:verified", actor=current_user,
                     details={"events": report.events, "intact": report.intact,
                              "broken_seq": report.broken_seq, "reason": report.reason},
                     clock=now)
    return _page(journal.JournalFilter(), report=report)


@bp.route("/export.json")
@admin_required
def export():
    """The filtered events with the chain's hash skeleton, checkable offline; journaled."""
    journal_filter, error = _filter()
    if error:
        return _page(journal.JournalFilter(), error=error, status=400)
    session = get_session()
    try:
        data = journal.export_slice(session, current_user.organisation_id, journal_filter)
    except journal.JournalFilterError as exc:
        return _page(journal_filter, error=exc.message, status=exc.status)
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    with transaction(session):
        audit.record(session, "audit:journal:exported", actor=current_user,
                     details={"filters": journal_filter.args(), "events": len(data["events"]),
                              "sha256": hashlib.sha256(body).hexdigest()},
                     clock=now)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="journal-audit.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
