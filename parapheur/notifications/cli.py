"""`parapheur notifications`: an organisation's quiet hours, what is held, what failed."""

from __future__ import annotations

import click


@click.group("notifications")
def notifications_group() -> None:
    """Notifications: quiet hours (droit à la déconnexion) and the outbox."""


@notifications_group.command("quiet-hours")
@click.option("--org", "org_slug", help="Collectivité (par défaut : la seule de l'instance).")
@click.option("--hours", help="Plage nocturne, heure de Paris, ex. 19:00-08:00.")
@click.option("--weekends/--no-weekends", default=True, show_default=True,
              help="Rien le samedi ni le dimanche.")
@click.option("--holidays/--no-holidays", default=True, show_default=True,
              help="Rien les jours fériés.")
def quiet_hours_command(org_slug: str | None, hours: str | None, weekends: bool,
                        holidays: bool) -> None:
    """Show an organisation's quiet hours, or set them with --hours."""
    from parapheur import create_app
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.notifications import services
    from parapheur.organisations.services import resolve_organisation

    app = create_app()
    with app.app_context():
        session = get_session()
        organisation = resolve_organisation(session, org_slug)
        if hours is not None:
            with transaction(session):
                services.set_organisation_quiet_hours(session, organisation, hours=hours,
                                                      weekends=weekends, holidays=holidays,
                                                      now=now())
        current = services.organisation_quiet_hours(session, organisation.id, app.config)
        click.echo(f"Heures de déconnexion de {organisation.name} : {current.describe()}.")


@notifications_group.command("outbox")
def outbox_command() -> None:
    """Count the outbox rows by kind and status, and show the last errors."""
    from sqlalchemy import func, select

    from parapheur import create_app
    from parapheur.db import get_session
    from parapheur.outbox.models import OutboxMessage, OutboxStatus

    app = create_app()
    with app.app_context():
        session = get_session()
        rows = session.execute(select(OutboxMessage.kind, OutboxMessage.status, func.count())
                               .group_by(OutboxMessage.kind, OutboxMessage.status)
                               .order_by(OutboxMessage.kind)).all()
        if not rows:
            click.echo("File des effets de bord vide.")
        for kind, status, count in rows:
            click.echo(f"{kind:<22} {status.label:<12} {count}")
        failed = session.execute(select(OutboxMessage).where(
            OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.PENDING]),
            OutboxMessage.last_error.is_not(None)).order_by(OutboxMessage.id.desc()).limit(10)
        ).scalars()
        for message in failed:
            click.echo(f"  n° {message.id} {message.kind} ({message.status.label}, "
                       f"{message.attempts} essai(s)) : {message.last_error}")
