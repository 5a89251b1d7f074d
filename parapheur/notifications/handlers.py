"""The outbox handlers of notifications: plan an event, send one mail, send a grouped digest."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from parapheur.accounts.models import Delegation, User
from parapheur.audit import services as audit
from parapheur.circuits import services as circuits
from parapheur.documents.models import Document
from parapheur.notifications import services
from parapheur.notifications.mail import MailNotifier, OutgoingMail, message_id
from parapheur.notifications.models import Notification, NotificationStatus
from parapheur.outbox.services import Delivery, DeliveryError, Handler
from parapheur.templating import render

NOTIFIERS_KEY = "parapheur.notifiers"
PREFIX = "[Parapheur]"
PARIS = ZoneInfo("Europe/Paris")


def _paris(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def _document_context(document: Document, base_url: str) -> dict[str, Any]:
    # Title and link only: never the document's content.
    return {"document_id": document.id, "title": document.title,
            "link": f"{base_url.rstrip('/')}/documents/{document.id}",
            "status": document.status.label}


def _step_label(document: Document, step: str | None) -> str:
    if not step:
        return ""
    state = circuits.circuit_of(document).states.get(step)
    return state.label if state is not None else step


def _step_urgent(document: Document, step: str | None) -> bool:
    state = circuits.circuit_of(document).states.get(step or "")
    return bool(state is not None and state.urgent)


def _recipients_and_message(delivery: Delivery) -> tuple[list[User], str, dict[str, Any], bool,
                                                         int | None]:
    session, payload, now = delivery.session, delivery.payload, delivery.now
    base_url = str(delivery.config.get("BASE_URL") or "http://127.0.0.1:5000")
    event = payload["event"]
    if event.startswith("delegation_"):
        delegation = session.get(Delegation, payload["delegation_id"])
        if delegation is None:
            return [], "", {}, False, None
        context = {"from_desk": delegation.from_desk.name, "to_desk": delegation.to_desk.name,
                   "starts_at": _paris(delegation.starts_at), "ends_at": _paris(delegation.ends_at),
                   "link": f"{base_url.rstrip('/')}/delegations"}
        both = {u.id: u for u in (*delegation.from_desk.members, *delegation.to_desk.members)
                if u.active}
        verb = "commence" if event == "delegation_started" else "prend fin"
        subject = (f"{PREFIX} La délégation {delegation.from_desk.name} → "
                   f"{delegation.to_desk.name} {verb}")
        return sorted(both.values(), key=lambda u: u.id), subject, context, False, None
    document = session.get(Document, payload["document_id"])
    if document is None:
        return [], "", {}, False, None
    context = _document_context(document, base_url)
    step = payload.get("step")

    def waiting_desks() -> list[User]:
        """The members (and delegates) of the desks the event names, in the document's
        organisation."""
        return services.desk_recipients(session, payload.get("desks", ()),
                                        doc_type=document.doc_type, now=now,
                                        organisation_id=document.organisation_id)

    context["step"] = _step_label(document, step)
    urgent = bool(payload.get("urgent")) or _step_urgent(document, step)
    if event == "arrival":
        users = waiting_desks()
        subject = f"{PREFIX} À traiter : {document.title}"
    elif event == "late":
        users = waiting_desks()
        context["due"] = payload.get("due_label", "")
        subject = f"{PREFIX} En retard : {document.title}"
    elif event in ("invoice_deadline", "invoice_late"):  # parapheur.invoices.reminders
        users = waiting_desks()
        context.update({key: payload.get(key) for key in (
            "number", "supplier", "deadline", "remaining_days", "late_days", "cost")})
        context["invoice_link"] = f"{base_url.rstrip('/')}/factures/{payload.get('invoice_id')}"
        if event == "invoice_late":
            subject = (f"{PREFIX} Facture {payload.get('number')} en retard de paiement "
                       f"({payload.get('late_days')} j)")
        else:
            subject = (f"{PREFIX} Facture {payload.get('number')} : plus que "
                       f"{payload.get('remaining_days')} j pour la payer")
    elif event == "rejection":
        users = [document.author] if document.author.active else []
        context["reason"] = payload.get("reason") or ""
        subject = f"{PREFIX} Rejeté : {document.title}"
    elif event == "cancellation":
        # The desks that had it in their tray: it leaves it, and they learn why.
        users = waiting_desks()
        context["reason"] = payload.get("reason") or ""
        subject = f"{PREFIX} Abandonné : {document.title}"
    elif event == "circuit_step":
        state = circuits.circuit_of(document).states.get(step or "")
        if state is not None and state.actor is not None and state.actor.kind == "author":
            users = [document.author] if document.author.active else []
        else:
            users = waiting_desks()
        subject = f"{PREFIX} {context['step']} : {document.title}"
    else:
        raise DeliveryError(f"Événement de notification inconnu « {event} ».", permanent=True)
    return users, subject, context, urgent, document.id


def deliver_event(delivery: Delivery) -> dict[str, Any]:
    """Plan the notification of an event for each recipient (sent now, held, or skipped)."""
    users, subject, context, urgent, document_id = _recipients_and_message(delivery)
    counts = {"queued": 0, "held": 0, "skipped": 0}
    event = delivery.payload["event"]
    for user in users:
        planned = services.plan(delivery.session, user, kind=event, subject=subject,
                                context=context, document_id=document_id, urgent=urgent,
                                now=delivery.now, config=delivery.config)
        key = {NotificationStatus.QUEUED: "queued", NotificationStatus.HELD: "held"}.get(
            planned.status, "skipped")
        counts[key] += 1
    return {"event": event, "recipients": len(users), **counts}


def _notifier(delivery: Delivery) -> MailNotifier:
    return delivery.extensions[NOTIFIERS_KEY]["mail"]


def _render(user: User, items: list[Notification], *, digest: bool) -> tuple[str, str]:
    # The recipient's collectivité (mail is rendered by the worker, outside any request).
    values = {"user": user, "items": items, "digest": digest,
              "organisation_name": lambda: user.organisation.name}
    return (render("mail/notification.txt", **values),
            render("mail/notification.html", **values))


def deliver_mail(delivery: Delivery) -> dict[str, Any]:
    """Send one notification now."""
    session = delivery.session
    notification = session.get(Notification, delivery.payload["notification_id"])
    if notification is None or notification.status is not NotificationStatus.QUEUED:
        return {"sent": 0}
    user = notification.user
    text, html = _render(user, [notification], digest=False)
    _notifier(delivery).send(OutgoingMail(
        to=user.email or "", to_name=user.full_name, subject=notification.subject, text=text,
        html=html, message_id=message_id(delivery.message.idempotency_key)))
    _mark_sent(session, [notification], delivery.now)
    audit.record(session, "notification:mail:sent", document_id=notification.document_id,
                 details={"to": user.username, "kind": notification.kind,
                          "urgent": notification.urgent}, clock=lambda: delivery.now)
    return {"sent": 1}


def deliver_digest(delivery: Delivery) -> dict[str, Any]:
    """Send, grouped in one message, what was held for this user until now."""
    session = delivery.session
    user = session.get(User, delivery.payload["user_id"])
    if user is None:
        return {"sent": 0}
    items = services.held_for(session, user.id, now=delivery.now)
    if not items:
        return {"sent": 0}  # an earlier digest took them
    if len(items) == 1:
        subject = items[0].subject
    else:
        subject = f"{PREFIX} {len(items)} notifications en attente depuis votre dernière connexion"
    text, html = _render(user, items, digest=True)
    _notifier(delivery).send(OutgoingMail(
        to=user.email or "", to_name=user.full_name, subject=subject, text=text, html=html,
        message_id=message_id(delivery.message.idempotency_key)))
    _mark_sent(session, items, delivery.now)
    audit.record(session, "notification:digest:sent",
                 details={"to": user.username, "count": len(items),
                          "notifications": [n.id for n in items]}, clock=lambda: delivery.now)
    return {"sent": len(items)}


def _mark_sent(session: Session, items: list[Notification], now: datetime) -> None:
    for item in items:
        item.status = NotificationStatus.SENT
        item.sent_at = now
    session.flush()


def _give_up_mail(delivery: Delivery, reason: str) -> None:
    notification = delivery.session.get(Notification, delivery.payload["notification_id"])
    if notification is not None and notification.status is NotificationStatus.QUEUED:
        notification.status = NotificationStatus.FAILED
        notification.note = reason[:500]


def _give_up_digest(delivery: Delivery, reason: str) -> None:
    for item in services.held_for(delivery.session, delivery.payload["user_id"],
                                  now=delivery.now):
        item.status = NotificationStatus.FAILED
        item.note = reason[:500]


def handlers() -> dict[str, Handler]:
    """The notification kinds of the outbox."""
    return {
        "notification.event": Handler(deliver_event, description="qui prévenir, et quand"),
        services.MAIL_KIND: Handler(deliver_mail, _give_up_mail, "un message"),
        services.DIGEST_KIND: Handler(deliver_digest, _give_up_digest, "un résumé groupé"),
    }
