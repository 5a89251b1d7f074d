"""`/api/v1/webhooks`: the organisation's subscriptions, their deliveries, « renvoyer »."""

from __future__ import annotations

from flask import current_app, url_for

from parapheur.accounts.models import Role
from parapheur.api.auth import require
from parapheur.api.blueprint import ApiBlueprint
from parapheur.api.idempotency import PARAMETER as IDEMPOTENCY
from parapheur.api.idempotency import idempotent
from parapheur.api.schemas import DeliverySchema, SubscriptionCreateSchema, SubscriptionSchema
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import Forbidden
from parapheur.webhooks import services

bp = ApiBlueprint("api_webhooks", __name__, url_prefix="/webhooks",
                  description="Abonnements webhooks de la collectivité (administrateurs)")


def _admin():
    user = require("admin")
    if user.role is not Role.ADMIN:
        raise Forbidden("Les webhooks sont gérés par les administrateurs de la collectivité.")
    return user


def _view(subscription, *, secret: bool = False) -> dict:
    view = {"id": subscription.id, "url": subscription.url,
            "description": subscription.description, "events": subscription.events,
            "active": subscription.active, "disabled_reason": subscription.disabled_reason,
            "created_at": subscription.created_at}
    if secret:
        view["secret"] = subscription.secret
    return view


@bp.route("")
@bp.response(200, SubscriptionSchema(many=True))
def list_subscriptions():
    """Les abonnements de la collectivité (sans leur secret)."""
    admin = _admin()
    return [_view(s) for s in services.subscriptions_of(get_session(), admin.organisation_id)]


@bp.route("", methods=["POST"])
@bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@bp.arguments(SubscriptionCreateSchema)
@bp.response(201, SubscriptionSchema)
def create_subscription(args):
    """S'abonner à des événements ; la réponse donne le secret HMAC, une seule fois."""
    admin = _admin()
    session = get_session()
    with transaction(session):
        subscription = services.create_subscription(
            session, actor=admin, url=args["url"], events=args["events"],
            description=args.get("description"), now=now(),
            allow_private=bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE")))
    return _view(subscription, secret=True), 201, {
        "Location": url_for("api_webhooks.deliveries", subscription_id=subscription.id)}


@bp.route("/<int:subscription_id>", methods=["DELETE"])
@bp.response(204)
def delete_subscription(subscription_id: int):
    """Supprimer un abonnement et ses livraisons."""
    admin = _admin()
    session = get_session()
    with transaction(session):
        subscription = services.get_subscription(session, subscription_id,
                                                 organisation_id=admin.organisation_id)
        services.delete_subscription(session, subscription, actor=admin, now=now())


@bp.route("/<int:subscription_id>/deliveries")
@bp.response(200, DeliverySchema(many=True))
def deliveries(subscription_id: int):
    """Les 100 dernières livraisons de l'abonnement."""
    admin = _admin()
    session = get_session()
    subscription = services.get_subscription(session, subscription_id,
                                             organisation_id=admin.organisation_id)
    return [delivery_view(session, row) for row in services.deliveries_of(session, subscription)]


def delivery_view(session, delivery) -> dict:
    """A delivery with its current tries and last error (those of its outbox row while pending)."""
    current = services.outbox_row(session, delivery)
    attempts, last_error = delivery.attempts, delivery.last_error
    if current is not None and delivery.status.value == "en_attente":
        attempts, last_error = current.attempts, current.last_error
    return {"id": delivery.id, "event_id": delivery.event_id, "event": delivery.event,
            "status": delivery.status.value, "attempts": attempts,
            "last_status_code": delivery.last_status_code, "last_error": last_error,
            "created_at": delivery.created_at, "delivered_at": delivery.delivered_at}


@bp.route("/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@bp.response(202, DeliverySchema)
def redeliver(delivery_id: int):
    """« Renvoyer » : le même événement (même identifiant) repart, essayé pendant un jour."""
    admin = _admin()
    session = get_session()
    with transaction(session):
        delivery = services.get_delivery(session, delivery_id,
                                         organisation_id=admin.organisation_id)
        services.redeliver(session, delivery, actor=admin, now=now())
    return delivery_view(session, delivery)
