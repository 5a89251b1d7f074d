"""`parapheur sso`: identities at an organisation's provider linked to accounts."""

from __future__ import annotations

import click


@click.group("sso")
def sso_group() -> None:
    """Single sign-on (OpenID Connect) of the organisations."""


@sso_group.command("link")
@click.argument("slug")
@click.argument("username")
@click.argument("subject")
def sso_link(slug, username, subject) -> None:
    """Link USERNAME to the identity SUBJECT (the `sub` claim) at SLUG's provider."""
    from sqlalchemy import select

    from parapheur import create_app
    from parapheur.accounts.models import User
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.errors import NotFound
    from parapheur.organisations.services import get_organisation
    from parapheur.sso.services import link

    app = create_app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            organisation = get_organisation(session, slug)
            user = session.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"Le compte « {username} » n'existe pas.")
            link(session, user, organisation, subject, now=now())
    click.echo(f"« {username} » est lié à l'identité « {subject} » de « {slug} ».")
