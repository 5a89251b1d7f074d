"""`parapheur orgs`: the collectivités this instance serves, and their budgets."""

from __future__ import annotations

import json

import click


def _app():
    from parapheur import create_app

    return create_app()


_FIELDS = (
    click.option("--siret", help="SIRET (14 digits): the buyer of its invoices, IdColl in PES."),
    click.option("--city", help="Commune (the place of its XAdES signatures)."),
    click.option("--postal-code", help="Code postal."),
    click.option("--codique", help="Codique of its poste comptable (7 digits, IdPost in PES)."),
)


def _with_fields(function):
    for option in reversed(_FIELDS):
        function = option(function)
    return function


@click.group("orgs")
def orgs_group() -> None:
    """Organisations (collectivités) and their budgets."""


@orgs_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown in pages and documents.")
@_with_fields
def orgs_create(slug, name, siret, city, postal_code, codique) -> None:
    """Create an organisation."""
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import create_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            create_organisation(session, slug=slug, name=name, siret=siret, city=city,
                                postal_code=postal_code, codique=codique, now=now())
    click.echo(f"Collectivité « {name} » créée ({slug}).")


@orgs_group.command("update")
@click.argument("slug")
@click.option("--name", help="Name shown in pages and documents.")
@_with_fields
def orgs_update(slug, name, siret, city, postal_code, codique) -> None:
    """Change an organisation's name or identifiers (options not given stay as they are)."""
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import get_organisation, update_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            update_organisation(session, get_organisation(session, slug), now=now(), name=name,
                                siret=siret, city=city, postal_code=postal_code, codique=codique)
    click.echo(f"Collectivité « {slug} » mise à jour.")


@orgs_group.command("list")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def orgs_list(output) -> None:
    """List the organisations and their budgets."""
    from sqlalchemy import select

    from parapheur.db import get_session
    from parapheur.organisations.models import Organisation

    app = _app()
    with app.app_context():
        rows = [{"slug": o.slug, "name": o.name, "siret": o.siret, "city": o.city,
                 "postal_code": o.postal_code, "codique": o.codique,
                 "budgets": [{"code_col": b.code_col, "code_bud": b.code_bud, "label": b.label,
                              "nomenclature": b.nomenclature, "codique": b.poste_comptable}
                             for b in o.budgets]}
                for o in get_session().execute(select(Organisation).order_by(Organisation.slug))
                .scalars()]
    if output == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("Aucune collectivité.")
    for row in rows:
        click.echo(f"{row['slug']}\t{row['name']}\tSIRET {row['siret'] or '—'}\t"
                   f"poste comptable {row['codique'] or '—'}")
        for budget in row["budgets"]:
            click.echo(f"  budget {budget['code_col']}/{budget['code_bud']}\t{budget['label']}\t"
                       f"{budget['nomenclature']}")


@orgs_group.command("add-budget")
@click.argument("slug")
@click.argument("code_col")
@click.argument("code_bud")
@click.option("--label", required=True, help="LibelleColBud, e.g. « Budget principal ».")
@click.option("--nomenclature", default="M57", show_default=True)
@click.option("--codique", help="Poste comptable of this budget when it is not the organisation's.")
def orgs_add_budget(slug, code_col, code_bud, label, nomenclature, codique) -> None:
    """Add a budget (CodCol, CodBud) to an organisation."""
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import add_budget, get_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            add_budget(session, get_organisation(session, slug), code_col=code_col,
                       code_bud=code_bud, label=label, nomenclature=nomenclature,
                       codique=codique, now=now())
    click.echo(f"Budget {code_col}/{code_bud} ajouté à « {slug} ».")


@orgs_group.command("add-member")
@click.argument("slug")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["administrateur", "agent", "signataire", "auditeur"]),
              help="Her role in this organisation.")
def orgs_add_member(slug, username, role) -> None:
    """Make USERNAME (an account of another organisation) a member of SLUG with ROLE there."""
    from sqlalchemy import select

    from parapheur.accounts.models import Role, User
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.errors import NotFound
    from parapheur.organisations.services import add_membership, get_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            organisation = get_organisation(session, slug)
            user = session.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"Le compte « {username} » n'existe pas.")
            add_membership(session, organisation, user, Role(role), now=now())
    click.echo(f"« {username} » est membre de « {slug} » ({role}).")
