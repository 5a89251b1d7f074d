"""Webhooks: subscriptions, the events a state change sends, their delivery by the worker.

Fan-out happens at commit, inside the committing transaction: the audit events of the
transaction that still exist (a rolled-back savepoint took its own with it) are matched against
the organisation's active subscriptions, and one delivery row plus one outbox row is written per
match. A rolled-back transaction therefore never sends anything; a committed one always does.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Role, User
from parapheur.audit import services as audit
from parapheur.audit.models import AuditEvent
from parapheur.circuits.definition import SYSTEM_DESK
from parapheur.errors import N_, Conflict, Forbidden, NotFound, ParapheurError
from parapheur.outbox import services as outbox
from parapheur.outbox.models import OutboxMessage
from parapheur.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

DELIVERY_KIND = "webhook.delivery"
NOTICE_KIND = "webhook.notice"
RETRY_FOR = timedelta(hours=24)
#: A delivery is retried for a day; the outbox's own ceiling must not stop it before.
MAX_ATTEMPTS = 1000
_PENDING_EVENTS = "parapheur.webhook_events"

#: Webhook event → French description (the subscription forms, the README).
EVENTS: dict[str, str] = {
    "document.created": "Document déposé",
    "document.step_entered": "Document arrivé à une étape",
    "document.signed": "Document signé (ou cacheté)",
    "document.rejected": "Document rejeté",
    "document.finished": "Circuit terminé (approuvé, rejeté ou abandonné)",
    "invoice.status_changed": "Statut d'une facture changé",
    "export.done": "Export réalisé",
    "export.failed": "Export en échec",
    "acquittement.received": "Acquittement (PES_ACQUIT) reçu",
}

_DETAIL_KEYS = ("step", "action", "desk", "desks", "outcome", "state", "external_status",
                "status", "reason", "invoice_id", "number", "export_id", "filename",
                "bordereau_id", "accepted", "anomalies", "type", "sous_type", "circuit")


def event_type(event_row: AuditEvent) -> str | None:
    """The webhook event an audit event is, if any."""
    name, details = event_row.name, event_row.details or {}
    if name == "document:created":
        return "document.created"
    if name == "document:step:entered":
        return "document.step_entered"
    if name in ("document:step:signed", "document:step:sealed"):
        return "document.signed"
    if name == "document:step:rejected":
        return "export.failed" if details.get("desk") == SYSTEM_DESK else "document.rejected"
    if name in ("document:circuit:completed", "document:circuit:cancelled"):
        return "document.finished"
    if name == "invoice:status:changed":
        return "invoice.status_changed"
    if name in ("document:step:exported", "accounting:pes:exported"):
        return "export.done"
    if name == "accounting:bordereau:acknowledged":
        return "acquittement.received"
    return None


def _organisation_and_order(session: Session, row: AuditEvent) -> tuple[int | None, str]:
    from parapheur.accounting.models import BordereauMandats, PesExport
    from parapheur.documents.models import Document
    from parapheur.invoices.models import Invoice

    details = row.details or {}
    if row.document_id is not None:
        document = session.get(Document, row.document_id)
        return (document.organisation_id if document else None), f"document:{row.document_id}"
    if details.get("invoice_id"):
        invoice = session.get(Invoice, details["invoice_id"])
        return (invoice.organisation_id if invoice else None), f"invoice:{details['invoice_id']}"
    if details.get("export_id"):
        export = session.get(PesExport, details["export_id"])
        return (export.organisation_id if export else None), f"export:{details['export_id']}"
    if details.get("bordereau_id"):
        bordereau = session.get(BordereauMandats, details["bordereau_id"])
        return ((bordereau.organisation_id if bordereau else None),
                f"bordereau:{details['bordereau_id']}")
    return None, f"event:{row.id}"


def event_payload(session: Session, row: AuditEvent, kind: str) -> dict[str, Any]:
    """The JSON an event sends: its id, type, time and the few facts a receiver needs."""
    from parapheur.documents.models import Document

    details = row.details or {}
    data: dict[str, Any] = {k: details[k] for k in _DETAIL_KEYS if k in details}
    if row.document_id is not None:
        data["document_id"] = row.document_id
        document = session.get(Document, row.document_id)
        if document is not None:
            data["title"] = document.title
            data["document_status"] = document.status.value
    return {"id": f"evt_{row.seq}_{row.hash[:12]}", "type": kind,
            "occurred_at": row.occurred_at.isoformat(), "audit_seq": row.seq, "data": data}


def _collect(session: Session, _context) -> None:
    for obj in session.new:
        if isinstance(obj, AuditEvent) and event_type(obj) is not None:
            session.info.setdefault(_PENDING_EVENTS, []).append(obj.id)


def _fan_out(session: Session) -> None:
    ids = session.info.pop(_PENDING_EVENTS, None)
    if not ids:
        return
    rows = session.execute(select(AuditEvent).where(AuditEvent.id.in_(set(ids)))
                           .order_by(AuditEvent.seq)).scalars().all()
    subscriptions: dict[int, list[WebhookSubscription]] = {}
    for row in rows:
        kind = event_type(row)
        if kind is None:
            continue
        organisation_id, ordering = _organisation_and_order(session, row)
        if organisation_id is None:
            continue
        if organisation_id not in subscriptions:
            subscriptions[organisation_id] = list(session.execute(
                select(WebhookSubscription).where(
                    WebhookSubscription.organisation_id == organisation_id,
                    WebhookSubscription.active.is_(True))
                .order_by(WebhookSubscription.id)).scalars())
        wanted = [s for s in subscriptions[organisation_id] if kind in s.events]
        if not wanted:
            continue
        payload = event_payload(session, row, kind)
        for subscription in wanted:
            _queue(session, subscription, payload, ordering=ordering, document_id=row.document_id,
                   now=row.occurred_at)
    # enqueue() flushed; anything it collected again is for the next commit, not this one.
    session.info.pop(_PENDING_EVENTS, None)


def _queue(session: Session, subscription: WebhookSubscription, payload: dict[str, Any], *,
           ordering: str, document_id: int | None, now: datetime) -> WebhookDelivery:
    delivery = WebhookDelivery(subscription_id=subscription.id, event_id=payload["id"],
                               event=payload["type"], ordering_key=ordering, payload=payload,
                               status=DeliveryStatus.PENDING, attempts=0, outbox_key="",
                               created_at=now)
    session.add(delivery)
    session.flush()
    _enqueue_delivery(session, delivery, key=f"webhook:{delivery.id}", now=now,
                      document_id=document_id)
    return delivery


def _enqueue_delivery(session: Session, delivery: WebhookDelivery, *, key: str, now: datetime,
                      document_id: int | None) -> None:
    delivery.outbox_key = key
    outbox.enqueue(session, DELIVERY_KIND, {"delivery_id": delivery.id,
                                           "until": (now + RETRY_FOR).isoformat()},
                   key=key, now=now, document_id=document_id, max_attempts=MAX_ATTEMPTS)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING_EVENTS, None)


def install(maker) -> None:
    """Hook the fan-out into every session of the app (its sessionmaker)."""
    event.listen(maker, "after_flush", _collect)
    event.listen(maker, "before_commit", _fan_out)
    event.listen(maker, "after_rollback", _forget)


# --- Subscriptions ---

def check_url(url: str, *, allow_loopback: bool) -> str:
    """An http(s) URL without credentials; loopback and private addresses only when allowed."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ParapheurError(N_("L'adresse du webhook doit commencer par https:// (ou http://)."))
    if parts.username or parts.password:
        raise ParapheurError(N_("L'adresse du webhook ne doit pas contenir d'identifiants : la "
                                "signature HMAC authentifie les envois."))
    if len(url) > 2000:
        raise ParapheurError(N_("L'adresse du webhook dépasse 2 000 caractères."))
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    internal = host == "localhost" or host.endswith(".localhost") or (
        address is not None and (address.is_loopback or address.is_private
                                 or address.is_link_local or address.is_unspecified))
    if internal and not allow_loopback:
        raise ParapheurError(N_("Les adresses locales ou privées sont refusées pour un webhook "
                                "(PARAPHEUR_WEBHOOK_ALLOW_PRIVATE)."))
    return url


def create_subscription(session: Session, *, actor: User, url: str, events: list[str],
                        description: str | None, now: datetime,
                        allow_private: bool) -> WebhookSubscription:
    """A new subscription of the actor's organisation (administrators); its secret is new."""
    _admin(actor)
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if not chosen or unknown:
        raise ParapheurError(N_("Événements inconnus ou absents : %(value)s. Possibles : "
                                "%(value2)s."),
                             value=', '.join(u[:60] for u in unknown) or 'aucun choisi', value2=', '.join(EVENTS))
    if description and len(description) > 200:
        raise ParapheurError(N_("La description dépasse 200 caractères."))
    subscription = WebhookSubscription(
        organisation_id=actor.organisation_id, url=check_url(url, allow_loopback=allow_private),
        description=(description or "").strip() or None, events=chosen,
        secret="whsec_" + secrets.token_urlsafe(32), active=True, created_at=now)
    session.add(subscription)
    session.flush()
    audit.record(session, "webhook:subscription:created", actor=actor,
                 details={"subscription_id": subscription.id, "url": subscription.url,
                          "events": chosen, "organisation_id": actor.organisation_id},
                 clock=lambda: now)
    return subscription


def _admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden(N_("Les webhooks sont gérés par les administrateurs de la collectivité."))


def subscriptions_of(session: Session, organisation_id: int) -> list[WebhookSubscription]:
    """The organisation's subscriptions, oldest first."""
    return list(session.execute(select(WebhookSubscription).where(
        WebhookSubscription.organisation_id == organisation_id)
        .order_by(WebhookSubscription.id)).scalars())


def get_subscription(session: Session, subscription_id: int, *,
                     organisation_id: int) -> WebhookSubscription:
    """A subscription of the organisation."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.organisation_id != organisation_id:
        raise NotFound(N_("Abonnement webhook n° %(subscription_id)s introuvable."),
                       subscription_id=subscription_id)
    return subscription


def set_active(session: Session, subscription: WebhookSubscription, active: bool, *,
               actor: User, now: datetime, reason: str | None = None) -> None:
    """Enable or disable a subscription (journaled)."""
    _admin(actor)
    subscription.active = active
    subscription.disabled_at = None if active else now
    subscription.disabled_reason = None if active else (reason or "désactivé par un "
                                                                  "administrateur")
    audit.record(session, "webhook:subscription:" + ("enabled" if active else "disabled"),
                 actor=actor, details={"subscription_id": subscription.id,
                                       "reason": subscription.disabled_reason},
                 clock=lambda: now)
    session.flush()


def delete_subscription(session: Session, subscription: WebhookSubscription, *, actor: User,
                        now: datetime) -> None:
    """Remove a subscription and its deliveries (journaled)."""
    _admin(actor)
    audit.record(session, "webhook:subscription:deleted", actor=actor,
                 details={"subscription_id": subscription.id, "url": subscription.url},
                 clock=lambda: now)
    session.delete(subscription)
    session.flush()


def deliveries_of(session: Session, subscription: WebhookSubscription,
                  limit: int = 100) -> list[WebhookDelivery]:
    """The subscription's latest deliveries."""
    return list(session.execute(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)).scalars())


def outbox_row(session: Session, delivery: WebhookDelivery) -> OutboxMessage | None:
    """The outbox row carrying the delivery's current attempt (tries, last error)."""
    return outbox.find_by_key(session, delivery.outbox_key)


def get_delivery(session: Session, delivery_id: int, *, organisation_id: int) -> WebhookDelivery:
    """A delivery of one of the organisation's subscriptions."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription.organisation_id != organisation_id:
        raise NotFound(N_("Livraison n° %(delivery_id)s introuvable."), delivery_id=delivery_id)
    return delivery


def redeliver(session: Session, delivery: WebhookDelivery, *, actor: User,
              now: datetime) -> None:
    """« Renvoyer » : send the same event (same id) again, retried for a day (journaled)."""
    _admin(actor)
    if not delivery.subscription.active:
        raise Conflict(N_("L'abonnement est désactivé : réactivez-le avant de renvoyer."))
    current = outbox_row(session, delivery)
    if current is not None and current.status.value in ("en_attente", "en_cours"):
        raise Conflict(N_("Cette livraison est déjà en cours d'envoi."))
    delivery.status = DeliveryStatus.PENDING
    _enqueue_delivery(session, delivery, key=f"webhook:{delivery.id}:resend:{uuid.uuid4().hex}",
                      now=now, document_id=delivery.payload.get("data", {}).get("document_id"))
    audit.record(session, "webhook:delivery:resent", actor=actor,
                 details={"delivery_id": delivery.id, "event_id": delivery.event_id},
                 clock=lambda: now)
    session.flush()


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()
