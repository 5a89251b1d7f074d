"""`parapheur tokens create|list|revoke`: API tokens from the shell (journaled like the pages)."""

from __future__ import annotations

import click

from parapheur.api.tokens import DEFAULT_DAYS, MAX_DAYS, SCOPES


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (personal and service)."""


def _user(session, username: str):
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.errors import NotFound

    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"Compte « {username} » introuvable.")
    return user


@tokens_group.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(sorted(SCOPES)),
              help="A permission (repeatable).")
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS, show_default=True,
              help="Days of validity.")
@click.option("--service", "admin", metavar="ADMIN",
              help="Make a service token, created by this administrator (else a personal token "
                   "of USERNAME).")
def tokens_create(username, name, scopes, days, admin) -> None:
    """Create a token for USERNAME and print it once (only its SHA-256 is kept)."""
    from parapheur.api import tokens
    from parapheur.api.models import TokenKind
    from parapheur.app_cli import _app
    from parapheur.clock import now
    from parapheur.db import get_session, transaction

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            user = _user(session, username)
            creator = _user(session, admin) if admin else user
            created = tokens.create_token(
                session, user=user, kind=TokenKind.SERVICE if admin else TokenKind.PERSONAL,
                name=name, scopes=list(scopes), days=days, created_by=creator, now=now())
        click.echo(f"Jeton n° {created.token.id} créé pour {username}, valable jusqu'au "
                   f"{created.token.expires_at:%d/%m/%Y} ; il ne sera plus affiché :", err=True)
        click.echo(created.secret)


@tokens_group.command("list")
@click.option("--org", "organisation", help="Slug of the organisation (default: every one).")
def tokens_list(organisation) -> None:
    """The tokens: id, kind, holder, name, prefix, scopes, expiry, state (never the secret)."""
    from sqlalchemy import select

    from parapheur.api import tokens
    from parapheur.api.models import ApiToken
    from parapheur.app_cli import _app
    from parapheur.clock import now
    from parapheur.db import get_session
    from parapheur.errors import NotFound
    from parapheur.organisations.models import Organisation

    app = _app()
    with app.app_context():
        session = get_session()
        query = select(ApiToken).order_by(ApiToken.id)
        if organisation:
            org = session.execute(select(Organisation).where(Organisation.slug == organisation)
                                  ).scalar_one_or_none()
            if org is None:
                raise NotFound(f"Collectivité « {organisation} » introuvable.")
            query = query.where(ApiToken.organisation_id == org.id)
        moment = now()
        for token in session.execute(query).scalars():
            click.echo(f"{token.id}\t{token.kind.value}\t{token.user.username}\t{token.name}\t"
                       f"{token.prefix}…\t{','.join(token.scopes)}\t"
                       f"{token.expires_at:%Y-%m-%d}\t{tokens.status_of(token, moment)}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@click.option("--as", "actor", required=True, metavar="USERNAME",
              help="Who revokes: the holder or an administrator of its organisation.")
def tokens_revoke(token_id, actor) -> None:
    """Revoke a token now (journaled)."""
    from parapheur.api import tokens
    from parapheur.api.models import ApiToken
    from parapheur.app_cli import _app
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.errors import NotFound

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            token = session.get(ApiToken, token_id)
            if token is None:
                raise NotFound(f"Jeton n° {token_id} introuvable.")
            tokens.revoke_token(session, token, actor=_user(session, actor), now=now())
        click.echo(f"Jeton n° {token_id} révoqué.")
