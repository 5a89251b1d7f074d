"""`parapheur certificates`: card certificates users registered from the agent, and approval."""

from __future__ import annotations

import click


def _app():
    from parapheur import create_app

    return create_app()


@click.group("certificates")
def certificates_group() -> None:
    """Card certificates registered by users (signing with the local agent)."""


@certificates_group.command("list")
def certificates_list() -> None:
    """List registered certificates: number, user, subject, fingerprint, approval."""
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.db import get_session
    from parapheur.signatures.agent_models import RegisteredCertificate

    app = _app()
    with app.app_context():
        rows = get_session().execute(
            select(RegisteredCertificate, User.username).join(
                User, User.id == RegisteredCertificate.user_id)
            .order_by(RegisteredCertificate.id)).all()
        if not rows:
            click.echo("Aucun certificat enregistré.")
        for registered, username in rows:
            state = (f"approuvé le {registered.approved_at:%d/%m/%Y}" if registered.approved_at
                     else "en attente d'approbation")
            click.echo(f"{registered.id}\t{username}\t{registered.subject}\t"
                       f"{registered.sha256[:16]}…\t{state}")


@certificates_group.command("approve")
@click.argument("registration_id", type=int)
@click.option("--admin", "admin_username", required=True,
              help="The administrator approving (journaled under this account).")
def certificates_approve(registration_id: int, admin_username: str) -> None:
    """Approve a registered certificate: from then on, only its owner's approved ones sign."""
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.clock import now
    from parapheur.db import get_session
    from parapheur.errors import NotFound
    from parapheur.signatures.agent_services import approve_certificate

    app = _app()
    with app.app_context():
        session = get_session()
        admin = session.execute(select(User).where(User.username == admin_username)
                                ).scalar_one_or_none()
        if admin is None:
            raise NotFound(f"Aucun compte « {admin_username} ».")
        registered = approve_certificate(session, registration_id, admin=admin, now=now())
        click.echo(f"Certificat n° {registered.id} ({registered.subject}) approuvé.")
