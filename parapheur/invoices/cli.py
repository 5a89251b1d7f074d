"""`parapheur invoices …`: inspect invoice files (nothing stored), import them, export history."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click


def _limits(config):
    from parapheur.invoices.services import Limits

    return Limits(max_bytes=int(config.get("INVOICES_MAX_MB", 20)) * 1024 * 1024)


def _read_file(path: Path, max_bytes: int) -> bytes:
    if path.stat().st_size > max_bytes:
        return path.read_bytes()[: max_bytes + 1]  # refused by the reader with its message
    return path.read_bytes()


@click.group("invoices")
def invoices_group() -> None:
    """Supplier invoices: Factur-X, UBL and CII files read and checked (EN 16931, BR-FR)."""


@invoices_group.command("inspect")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--buyer-siret", help="SIRET the invoices must be addressed to.")
@click.option("--org", "organisation", help="Check the buyer against this organisation's SIRET "
                                            "(read from the database).")
def invoices_inspect(files: tuple[Path, ...], fmt: str, buyer_siret: str | None,
                     organisation: str | None) -> None:
    """Print what each file says and every problem found; stores nothing.

    The buyer is checked against --buyer-siret, or --org's SIRET; with neither, it is not.
    Exit status: 0 when no file has an error, 1 otherwise.
    """
    from parapheur.config import load_settings
    from parapheur.invoices.services import Buyer, buyer_of, inspect_file

    config = load_settings()
    limits = _limits(config)
    buyer = Buyer(buyer_siret, None)
    if organisation and not buyer_siret:
        from parapheur import create_app
        from parapheur.db import get_session
        from parapheur.organisations.services import get_organisation

        app = create_app()
        with app.app_context():
            buyer = buyer_of(get_organisation(get_session(), organisation))
    results = [inspect_file(_read_file(path, limits.max_bytes), path.name, buyer=buyer,
                            limits=limits) for path in files]
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        for result in results:
            _print_inspection(result)
    sys.exit(1 if any(r.errors for r in results) else 0)


def _print_inspection(result) -> None:
    from parapheur.invoices.checks import euros

    click.echo(f"== {result.filename}")
    inv = result.invoice
    if inv is not None:
        kind = "Avoir" if inv.is_credit_note else "Facture"
        click.echo(f"  {kind} n° {inv.number} du {inv.issue_date or '—'} — "
                   f"{inv.profile_label} ({inv.syntax.upper()}, {inv.container.upper()})")
        click.echo(f"  Fournisseur : {inv.seller.name} — SIREN {inv.seller.siren or '—'}, "
                   f"SIRET {inv.seller.siret or '—'}, TVA {inv.seller.vat_id or '—'}, "
                   f"IBAN {inv.seller.iban or '—'}")
        click.echo(f"  Acheteur : {inv.buyer.name} — SIRET {inv.buyer.siret or '—'}, "
                   f"SIREN {inv.buyer.siren or '—'}; code service {inv.buyer_reference or '—'}, "
                   f"commande {inv.order_reference or '—'}, contrat "
                   f"{inv.contract_reference or '—'}")
        t = inv.totals
        click.echo(f"  HT {euros(t.net)} · TVA {euros(t.vat)} · TTC {euros(t.gross)} · "
                   f"déjà payé {euros(t.prepaid)} · à payer {euros(t.due)} "
                   f"(échéance {inv.due_date or '—'})")
        click.echo(f"  {len(inv.lines)} ligne(s), {len(inv.vat_breakdown)} taux de TVA, "
                   f"{len(inv.attachments)} pièce(s) jointe(s)")
    if not result.problems:
        click.echo("  Aucun problème.")
    for problem in result.problems:
        click.echo(f"  [{problem.severity}] {problem.rule_id} : {problem.message}")


def _actor(session, username: str | None):
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.errors import ParapheurError

    if not username:
        raise ParapheurError("Indiquez l'agent qui importe : --as IDENTIFIANT.")
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise ParapheurError(f"Utilisateur inconnu : « {username} ».")
    return user


@invoices_group.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="Username of the agent importing.")
def invoices_import(files: tuple[Path, ...], username: str) -> None:
    """Import invoice files: each is kept with its problems; the good ones enter the circuit.

    One transaction per file: a file that fails leaves the others imported.
    Exit status: 0 when every file entered the circuit, 1 when one was blocked.
    """
    from flask import render_template

    from parapheur import create_app
    from parapheur.db import get_session, transaction
    from parapheur.documents.storage import ContentStore
    from parapheur.invoices.services import import_invoice

    app = create_app()
    limits = _limits(app.config)
    blocked = 0
    with app.app_context():
        session = get_session()
        actor = _actor(session, username)
        desk = actor.desks[0] if actor.desks else None
        store = ContentStore(Path(app.config["DATA_DIR"]) / "store")
        clock = app.config.get("CLOCK") or (lambda: datetime.now(UTC))
        for path in files:
            with transaction(session):
                result = import_invoice(
                    session, store, data=_read_file(path, limits.max_bytes), filename=path.name,
                    actor=actor, actor_desk=desk, now=clock(), render=render_template, default_desk=app.config["INVOICES_DEFAULT_DESK"],
                    limits=limits)
            blocked += 0 if result.routed else 1
            click.echo(f"{path.name} : facture #{result.invoice.id} {result.summary}")
            for problem in result.problems:
                click.echo(f"  [{problem.severity}] {problem.rule_id} : {problem.message}")
    sys.exit(1 if blocked else 0)


@invoices_group.command("history")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--invoice", "invoice_ids", type=int, multiple=True,
              help="Only this invoice (repeatable).")
@click.option("--org", "organisation", help="Slug of the organisation (default: the only one).")
def invoices_history(fmt: str, invoice_ids: tuple[int, ...], organisation: str | None) -> None:
    """Export the lifecycle status history (for the public-sector platform)."""
    from parapheur import create_app
    from parapheur.db import get_session
    from parapheur.invoices.services import export_status_history, status_history_rows
    from parapheur.organisations.services import resolve_organisation

    app = create_app()
    with app.app_context():
        session = get_session()
        org = resolve_organisation(session, organisation)
        rows = status_history_rows(session, org.id, list(invoice_ids) or None)
    click.echo(export_status_history(rows, fmt), nl=False)


@click.group("engagements")
def engagements_group() -> None:
    """Engagements (budget commitments) from the finance software, to match invoices."""


@engagements_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="Username of the agent importing.")
def engagements_import(file: Path, username: str) -> None:
    """Import a CSV of engagements for the agent's organisation (columns: see the README);
    all or nothing."""
    from parapheur import create_app
    from parapheur.db import get_session, transaction
    from parapheur.invoices.engagements import MAX_CSV_BYTES, import_engagements

    app = create_app()
    with app.app_context():
        session = get_session()
        actor = _actor(session, username)
        clock = app.config.get("CLOCK") or (lambda: datetime.now(UTC))
        with transaction(session):
            result = import_engagements(session, file.read_bytes()[: MAX_CSV_BYTES + 1],
                                        organisation_id=actor.organisation_id, actor=actor,
                                        now=clock())
    click.echo(f"Engagements : {result.created} créé(s), {result.updated} mis à jour.")
