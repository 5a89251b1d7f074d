"""Preferences, who receives a notification, and when it may go out (droit à la déconnexion)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Delegation, Desk, User
from parapheur.audit import services as audit
from parapheur.errors import N_, ParapheurError
from parapheur.notifications.models import (
    DeliveryMode,
    Notification,
    NotificationPreference,
    NotificationStatus,
    OrganisationQuietHours,
)
from parapheur.notifications.quiet_hours import QuietHours, parse_hour
from parapheur.organisations.models import Organisation
from parapheur.outbox import services as outbox

MAIL_KIND = "notification.mail"
DIGEST_KIND = "notification.digest"
DEFAULT_QUIET_HOURS = "19:00-08:00"


def instance_quiet_hours(config: Mapping[str, Any]) -> QuietHours:
    """The instance's default quiet hours (PARAPHEUR_QUIET_HOURS, default 19:00-08:00)."""
    value = config.get("QUIET_HOURS") or DEFAULT_QUIET_HOURS
    return value if isinstance(value, QuietHours) else QuietHours.parse(str(value))


def organisation_quiet_hours(session: Session, organisation_id: int | None,
                             config: Mapping[str, Any]) -> QuietHours:
    """The organisation's quiet hours: its own when set, else the instance's."""
    base = instance_quiet_hours(config)
    own = session.get(OrganisationQuietHours, organisation_id) if organisation_id else None
    if own is None:
        return base
    return base.override(start=own.quiet_start, end=own.quiet_end, weekends=own.quiet_weekends,
                         holidays=own.quiet_holidays)


def set_organisation_quiet_hours(session: Session, organisation: Organisation, *, hours: str,
                                 weekends: bool, holidays: bool, now: datetime,
                                 actor: User | None = None) -> OrganisationQuietHours:
    """Store an organisation's quiet hours (« 19:00-08:00 »); ParapheurError when malformed."""
    try:
        parsed = QuietHours.parse(hours)
    except ValueError as exc:
        raise ParapheurError(N_("Heures de déconnexion : %(detail)s."), detail=exc) from None
    row = session.get(OrganisationQuietHours, organisation.id)
    if row is None:
        row = OrganisationQuietHours(organisation_id=organisation.id)
        session.add(row)
    row.quiet_start = f"{parsed.start:%H:%M}"
    row.quiet_end = f"{parsed.end:%H:%M}"
    row.quiet_weekends = weekends
    row.quiet_holidays = holidays
    row.updated_at = now
    session.flush()
    audit.record(session, "organisation:quiet_hours:updated", actor=actor,
                 details={"organisation": organisation.slug, "hours": hours,
                          "weekends": weekends, "holidays": holidays}, clock=lambda: now)
    return row


def preference_for(session: Session, user: User) -> NotificationPreference | None:
    """The user's stored preference (None: immediate, the organisation's quiet hours)."""
    return session.get(NotificationPreference, user.id)


def quiet_hours_for(session: Session, user: User, config: Mapping[str, Any]) -> QuietHours:
    """The organisation's quiet hours with what the user changed in them."""
    base = organisation_quiet_hours(session, user.organisation_id, config)
    pref = preference_for(session, user)
    if pref is None:
        return base
    return base.override(start=pref.quiet_start, end=pref.quiet_end,
                         weekends=pref.quiet_weekends, holidays=pref.quiet_holidays)


@dataclass(frozen=True)
class PreferenceChange:
    """What the « Mon compte » form sends."""

    mode: str
    digest_hour: int = 8
    quiet_start: str | None = None
    quiet_end: str | None = None
    quiet_weekends: bool | None = None
    quiet_holidays: bool | None = None


def set_preferences(session: Session, user: User, change: PreferenceChange, *,
                    now: datetime) -> NotificationPreference:
    """Store the user's choice; ParapheurError naming the bad field."""
    try:
        mode = DeliveryMode(change.mode)
    except ValueError:
        raise ParapheurError(N_("Mode de notification inconnu.")) from None
    if not 0 <= change.digest_hour <= 23:
        raise ParapheurError(N_("L'heure du résumé doit être comprise entre 0 et 23."))
    for label, value in (("début", change.quiet_start), ("fin", change.quiet_end)):
        if value:
            try:
                parse_hour(value)
            except ValueError as exc:
                raise ParapheurError(N_("Heure de %(label)s de déconnexion : %(detail)s."),
                                     label=label, detail=exc) from None
    pref = preference_for(session, user)
    if pref is None:
        pref = NotificationPreference(user_id=user.id)
        session.add(pref)
    pref.mode = mode
    pref.digest_hour = change.digest_hour
    pref.quiet_start = change.quiet_start or None
    pref.quiet_end = change.quiet_end or None
    pref.quiet_weekends = change.quiet_weekends
    pref.quiet_holidays = change.quiet_holidays
    pref.updated_at = now
    session.flush()
    audit.record(session, "account:notifications:updated", actor=user,
                 details={"mode": mode.value, "digest_hour": change.digest_hour,
                          "quiet_start": pref.quiet_start, "quiet_end": pref.quiet_end,
                          "quiet_weekends": pref.quiet_weekends,
                          "quiet_holidays": pref.quiet_holidays}, clock=lambda: now)
    return pref


def desk_recipients(session: Session, slugs: Iterable[str], *, doc_type: str | None,
                    now: datetime, organisation_id: int) -> list[User]:
    """Active members of these desks of the organisation and of the desks they delegate to now
    (for this type)."""
    slugs = list(slugs)
    if not slugs:
        return []
    desks = list(session.execute(select(Desk).where(Desk.organisation_id == organisation_id,
                                                    Desk.slug.in_(slugs))).scalars())
    users: dict[int, User] = {}
    for desk in desks:
        for member in desk.members:
            users.setdefault(member.id, member)
    delegations = session.execute(
        select(Delegation).where(Delegation.from_desk_id.in_([d.id for d in desks]),
                                 Delegation.starts_at <= now, Delegation.ends_at > now)).scalars()
    for delegation in delegations:
        if doc_type is not None and delegation.document_types is not None \
                and doc_type not in delegation.document_types:
            continue
        for member in delegation.to_desk.members:
            users.setdefault(member.id, member)
    return sorted((u for u in users.values() if u.active), key=lambda u: u.id)


def plan(session: Session, user: User, *, kind: str, subject: str, context: dict[str, Any],
         document_id: int | None, urgent: bool, now: datetime,
         config: Mapping[str, Any]) -> Notification:
    """Record a notification for `user` and queue it now, for a window, or not at all."""
    pref = preference_for(session, user)
    mode = pref.mode if pref is not None else DeliveryMode.IMMEDIATE
    hours = quiet_hours_for(session, user, config)
    notification = Notification(user_id=user.id, kind=kind, document_id=document_id,
                                subject=subject, context=context, urgent=urgent,
                                status=NotificationStatus.QUEUED, due_at=now, created_at=now)
    session.add(notification)
    if not user.email:
        notification.status = NotificationStatus.SKIPPED
        notification.note = "pas d'adresse électronique"
    elif mode is DeliveryMode.URGENT_ONLY and not urgent:
        notification.status = NotificationStatus.SKIPPED
        notification.note = "préférence : seulement les notifications urgentes"
    elif urgent:
        pass
    elif mode is DeliveryMode.DIGEST:
        notification.due_at = hours.next_digest(now, pref.digest_hour if pref else 8)
        notification.status = NotificationStatus.HELD
    else:
        notification.due_at = hours.next_allowed(now)
        if notification.due_at > now:
            notification.status = NotificationStatus.HELD
    session.flush()
    if notification.status is NotificationStatus.QUEUED:
        outbox.enqueue(session, MAIL_KIND, {"notification_id": notification.id},
                       key=f"mail:{notification.id}", now=now, document_id=document_id)
    elif notification.status is NotificationStatus.HELD:
        # Everything held for the same user and window goes out in one grouped message.
        outbox.enqueue(session, DIGEST_KIND, {"user_id": user.id},
                       key=f"digest:{user.id}:{notification.due_at.isoformat()}", now=now,
                       available_at=notification.due_at)
    return notification


def held_for(session: Session, user_id: int, *, now: datetime) -> list[Notification]:
    """The user's held notifications whose window has opened, oldest first."""
    return list(session.execute(
        select(Notification).where(Notification.user_id == user_id,
                                   Notification.status == NotificationStatus.HELD,
                                   Notification.due_at <= now)
        .order_by(Notification.created_at, Notification.id)).scalars())
