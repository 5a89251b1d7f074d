"""The worker's side of webhooks: send one signed delivery, give up after a day, tell admins."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from parapheur.accounts.models import Role, User
from parapheur.audit import services as audit
from parapheur.outbox import services as outbox
from parapheur.outbox.models import OutboxStatus
from parapheur.outbox.services import Delivery, DeliveryError, Handler, NotYet
from parapheur.templating import render
from parapheur.webhooks import signing
from parapheur.webhooks.models import DeliveryStatus, WebhookDelivery
from parapheur.webhooks.services import DELIVERY_KIND, NOTICE_KIND, body_of

TIMEOUT_SECONDS = 10
USER_AGENT = "Parapheur-Webhooks/1"


#: How soon an event looks again for an earlier one of its object that is due or being sent.
WAIT_AT_LEAST = timedelta(seconds=2)


def _earlier_pending(delivery: Delivery, webhook: WebhookDelivery) -> WebhookDelivery | None:
    return delivery.session.execute(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == webhook.subscription_id,
        WebhookDelivery.ordering_key == webhook.ordering_key,
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.id < webhook.id).order_by(WebhookDelivery.id).limit(1)).scalar()


def _wait_for(delivery: Delivery, earlier: WebhookDelivery) -> datetime | None:
    """When to look again for an earlier event of the same object (None: it is not on its way).

    Its own retry time when it waits for one (we go a second after it); a short while when it is
    due or being sent (its worker wakes us once it is through, unless we were busy then: this
    is for that case), longer the longer its worker holds it."""
    row = outbox.find_by_key(delivery.session, earlier.outbox_key)
    if row is None or row.status not in (OutboxStatus.PENDING, OutboxStatus.CLAIMED):
        return None
    now = delivery.now
    if row.status is OutboxStatus.PENDING:
        return max(row.available_at + timedelta(seconds=1), now + WAIT_AT_LEAST)
    lease = outbox.RetryPolicy.from_config(delivery.config).lease
    held_for = now - (row.lease_until - lease) if row.lease_until is not None else lease
    return now + min(lease, max(WAIT_AT_LEAST, held_for))


def _wake_next(delivery: Delivery, webhook: WebhookDelivery) -> None:
    """The next event of the same document was waiting for this one: let it go now."""
    following = delivery.session.execute(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == webhook.subscription_id,
        WebhookDelivery.ordering_key == webhook.ordering_key,
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.id > webhook.id).order_by(WebhookDelivery.id).limit(1)).scalar()
    if following is not None:
        row = outbox.find_by_key(delivery.session, following.outbox_key)
        if row is not None:
            outbox.reschedule(delivery.session, row, delivery.now)


def deliver(delivery: Delivery) -> dict[str, Any]:
    """POST the event, signed; any answer but 2xx is retried (for a day, then given up)."""
    session = delivery.session
    webhook = session.get(WebhookDelivery, delivery.payload["delivery_id"])
    if webhook is None:
        raise DeliveryError("La livraison n'existe plus (abonnement supprimé).", permanent=True)
    if webhook.status is DeliveryStatus.DELIVERED:
        return {"webhook_delivery": webhook.id, "already_delivered": True}
    subscription = webhook.subscription
    if not subscription.active:
        raise DeliveryError("L'abonnement est désactivé : rien n'est envoyé.", permanent=True)
    until = datetime.fromisoformat(delivery.payload["until"])
    earlier = _earlier_pending(delivery, webhook)
    if earlier is not None:
        if delivery.now >= until:
            raise DeliveryError(f"La livraison n° {earlier.id} du même objet n'est jamais passée.",
                                permanent=True)
        message = (f"En attente de la livraison n° {earlier.id} (les événements d'un même objet "
                   f"partent dans l'ordre).")
        retry_at = _wait_for(delivery, earlier)
        if retry_at is None:
            raise DeliveryError(message)
        raise NotYet(message, retry_at=min(retry_at, until))
    body = body_of(webhook)
    timestamp = int(delivery.now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               signing.HEADER: signing.header_value(subscription.secret, timestamp, body),
               "X-Parapheur-Event": webhook.event, "X-Parapheur-Event-Id": webhook.event_id,
               "X-Parapheur-Delivery": str(webhook.id)}
    try:
        response = requests.post(subscription.url, data=body, headers=headers,
                                 timeout=TIMEOUT_SECONDS, allow_redirects=False)
        status = response.status_code
        response.close()
    except requests.RequestException as exc:
        raise DeliveryError(_until_note(f"Destinataire injoignable ({type(exc).__name__}).",
                                        delivery.now, until),
                            permanent=delivery.now >= until) from None
    if not 200 <= status < 300:
        raise DeliveryError(_until_note(f"Le destinataire a répondu HTTP {status}.",
                                        delivery.now, until), permanent=delivery.now >= until)
    webhook.status = DeliveryStatus.DELIVERED
    webhook.delivered_at = delivery.now
    webhook.attempts = delivery.message.attempts
    webhook.last_status_code = status
    webhook.last_error = None
    _wake_next(delivery, webhook)
    return {"webhook_delivery": webhook.id, "event": webhook.event,
            "event_id": webhook.event_id, "status_code": status,
            "host": urlsplit(subscription.url).hostname}


def _until_note(message: str, now: datetime, until: datetime) -> str:
    if now >= until:
        return message + " Abandon après un jour d'essais."
    return message


def give_up(delivery: Delivery, reason: str) -> None:
    """After a day of failures: the delivery fails, the subscription is disabled, admins told."""
    session = delivery.session
    webhook = session.get(WebhookDelivery, delivery.payload["delivery_id"])
    if webhook is None:
        return
    webhook.status = DeliveryStatus.FAILED
    webhook.attempts = delivery.message.attempts
    webhook.last_error = reason
    subscription = webhook.subscription
    if not subscription.active:
        return
    subscription.active = False
    subscription.disabled_at = delivery.now
    subscription.disabled_reason = (f"désactivé automatiquement le "
                                    f"{delivery.now.strftime('%d/%m/%Y')} : livraison n° "
                                    f"{webhook.id} en échec après un jour d'essais ({reason})")
    audit.record(session, "webhook:subscription:disabled", details={
        "subscription_id": subscription.id, "delivery_id": webhook.id, "reason": reason},
        clock=lambda: delivery.now)
    outbox.enqueue(session, NOTICE_KIND, {"subscription_id": subscription.id,
                                         "delivery_id": webhook.id, "reason": reason},
                   key=f"webhook-notice:{subscription.id}:{webhook.id}", now=delivery.now)


def send_notice(delivery: Delivery) -> dict[str, Any]:
    """Mail the organisation's administrators that a subscription was disabled."""
    from parapheur.notifications.handlers import NOTIFIERS_KEY
    from parapheur.notifications.mail import OutgoingMail, message_id
    from parapheur.webhooks.models import WebhookSubscription

    session = delivery.session
    subscription = session.get(WebhookSubscription, delivery.payload["subscription_id"])
    if subscription is None:
        return {"skipped": "abonnement supprimé"}
    admins = list(session.execute(select(User).where(
        User.organisation_id == subscription.organisation_id, User.role == Role.ADMIN,
        User.active.is_(True), User.email.is_not(None)).order_by(User.id)).scalars())
    if not admins:
        raise DeliveryError("Aucun administrateur avec une adresse électronique à prévenir.",
                            permanent=True)
    base_url = str(delivery.config.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    context = {"subscription": subscription, "reason": delivery.payload.get("reason"),
               "link": f"{base_url}/admin/webhooks/{subscription.id}"}
    notifier = delivery.extensions[NOTIFIERS_KEY]["mail"]
    sent = []
    for admin in admins:
        notifier.send(OutgoingMail(
            to=admin.email or "", to_name=admin.full_name,
            subject="[Parapheur] Webhook désactivé après un jour d'échecs",
            text=render("webhooks/disabled_notice.txt", **context),
            html=render("webhooks/disabled_notice.html", **context),
            message_id=message_id(f"{delivery.message.idempotency_key}:{admin.id}")))
        sent.append(admin.username)
    return {"notified": sent}


def handlers() -> dict[str, Handler]:
    """The outbox handlers of webhooks."""
    return {DELIVERY_KIND: Handler(deliver, give_up, "Livraison d'un webhook"),
            NOTICE_KIND: Handler(send_notice, None, "Avis de webhook désactivé")}
