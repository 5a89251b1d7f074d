"""Webhooks in the browser (administrators): subscribe, watch deliveries, « renvoyer »."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from parapheur.accounts.admin_views import admin_required
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import ParapheurError
from parapheur.webhooks import services, signing

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


def _index(*, created=None, error: str | None = None, status: int = 200):
    session = get_session()
    subscriptions = services.subscriptions_of(session, current_user.organisation_id)
    return render_template("webhooks/index.html", subscriptions=subscriptions,
                           events=services.EVENTS, created=created, error=error,
                           form=request.form, header=signing.HEADER), status, \
        {"Cache-Control": "no-store"}


@bp.route("", methods=["GET", "POST"])
@admin_required
def index():
    """The organisation's subscriptions; subscribe a URL to events (its secret shown once)."""
    if request.method == "GET":
        return _index()
    session = get_session()
    try:
        with transaction(session):
            created = services.create_subscription(
                session, actor=current_user, url=request.form.get("url", ""),
                events=request.form.getlist("events"),
                description=request.form.get("description"), now=now(),
                allow_private=bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE")))
    except ParapheurError as exc:
        session.rollback()
        return _index(error=exc.message, status=exc.status)
    return _index(created=created, status=201)


def _subscription(subscription_id: int):
    return services.get_subscription(get_session(), subscription_id,
                                     organisation_id=current_user.organisation_id)


@bp.route("/<int:subscription_id>")
@admin_required
def show(subscription_id: int):
    """A subscription's latest deliveries, their tries and errors."""
    session = get_session()
    subscription = _subscription(subscription_id)
    rows = [(d, services.outbox_row(session, d))
            for d in services.deliveries_of(session, subscription)]
    return render_template("webhooks/subscription.html", subscription=subscription,
                           deliveries=rows, events=services.EVENTS)


@bp.route("/<int:subscription_id>/active", methods=["POST"])
@admin_required
def set_active(subscription_id: int):
    """Enable or disable a subscription."""
    session = get_session()
    active = request.form.get("active") == "1"
    with transaction(session):
        services.set_active(session, _subscription(subscription_id), active,
                            actor=current_user, now=now())
    flash(gettext("Abonnement réactivé.") if active else gettext("Abonnement désactivé."), "success")
    return redirect(url_for("webhooks.show", subscription_id=subscription_id))


@bp.route("/<int:subscription_id>/delete", methods=["POST"])
@admin_required
def delete(subscription_id: int):
    """Remove a subscription and its deliveries."""
    session = get_session()
    with transaction(session):
        services.delete_subscription(session, _subscription(subscription_id),
                                     actor=current_user, now=now())
    flash(gettext("Abonnement supprimé."), "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@admin_required
def redeliver(delivery_id: int):
    """« Renvoyer » one delivery (the same event id)."""
    session = get_session()
    with transaction(session):
        delivery = services.get_delivery(session, delivery_id,
                                         organisation_id=current_user.organisation_id)
        services.redeliver(session, delivery, actor=current_user, now=now())
    flash(f"La livraison n° {delivery_id} repart.", "success")
    return redirect(url_for("webhooks.show", subscription_id=delivery.subscription_id))
