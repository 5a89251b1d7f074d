"""`parapheur pes …`: check a PES_Aller, read the acknowledgements and returns Hélios sends back.

These commands read files only (no database): a PES is checked exactly as the export checks it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from parapheur.accounting.pes.validation import MAX_PES_BYTES
from parapheur.errors import ParapheurError


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_PES_BYTES:
        raise ParapheurError(f"{path.name} dépasse la taille maximale acceptée (512 Mo).")
    return path.read_bytes()


FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("pes")
def pes_group() -> None:
    """PES V2 files for Hélios (DGFiP): check, read acknowledgements and returns."""


@pes_group.command("check")
@click.argument("file", type=FILE)
def check_command(file: Path) -> None:
    """Check a PES_Aller as Hélios would: the DGFiP schemas, pre-control rules, signatures."""
    from parapheur.accounting.pes.validation import check_aller

    problems = check_aller(_read(file))
    if not problems:
        click.echo(f"{file.name} : conforme (schémas DGFiP v5.17 et contrôles Hélios).")
        return
    click.echo(f"{file.name} : {len(problems)} problème(s) — Hélios rejetterait ce fichier.")
    for problem in problems:
        click.echo(f"- {problem}")
    sys.exit(1)


@pes_group.command("read-acquit")
@click.argument("file", type=FILE)
def read_acquit_command(file: Path) -> None:
    """Show each bordereau and attachment a PES_ACQUIT accepts or rejects, with its anomalies."""
    from parapheur.accounting.pes.returns import read_acquit

    acquit = read_acquit(_read(file))
    click.echo(f"Acquittement du fichier {acquit.file_name} (collectivité {acquit.id_coll}, "
               f"budget {acquit.cod_col}/{acquit.cod_bud}) :")
    for element in acquit.elements:
        verdict = "accepté" if element.accepted else "REJETÉ"
        if element.bordereau_number is not None:
            what = f"bordereau {element.bordereau_number} (exercice {element.exercice})"
        elif element.attachment_id:
            what = f"pièce jointe {element.attachment_id}"
        else:
            what = element.domain_label
        click.echo(f"- {what} [{element.domain_label}] : {verdict}")
        for anomaly in element.anomalies:
            click.echo(f"    anomalie {anomaly}")


@pes_group.command("read-retour")
@click.argument("file", type=FILE)
def read_retour_command(file: Path) -> None:
    """Show the state of each mandat a spending PES_Retour reports, with its payments."""
    from parapheur.accounting.pes.returns import read_retour

    retour = read_retour(_read(file))
    click.echo(f"Retour {retour.file_name} (collectivité {retour.id_coll}, budget "
               f"{retour.cod_bud}) :")
    for piece in retour.pieces:
        details = []
        if piece.taken_on:
            details.append(f"pris en charge le {piece.taken_on:%d/%m/%Y}")
        if piece.rejected_on:
            details.append(f"rejeté le {piece.rejected_on:%d/%m/%Y}")
        details += [f"payé {p.amount} € le {p.paid_on:%d/%m/%Y}" for p in piece.payments]
        if piece.observation:
            details.append(f"observation {piece.observation}")
        suffix = f" ({', '.join(details)})" if details else ""
        click.echo(f"- bordereau {piece.bordereau_number} (exercice {piece.exercice}), mandat "
                   f"{piece.number} : {piece.state_label}{suffix}")


# --- commands on the database ---------------------------------------------------------------

def _setups(app, session, org: str | None, code_bud: str | None, *, every: bool = False):
    """The accounting setups of the organisation's budget (or of every budget when `every`)."""
    from parapheur.accounting.services import budget_setup
    from parapheur.organisations.services import resolve_organisation

    organisation = resolve_organisation(session, org)
    policy = app.config["HELIOS_POLICY_SHA256"]
    if every and code_bud is None:
        return [budget_setup(organisation, b.code_bud, policy_sha256=policy)
                for b in organisation.budgets]
    return [budget_setup(organisation, code_bud, policy_sha256=policy)]


def _app():
    from parapheur import create_app

    return create_app()


ORG = click.option("--org", metavar="SLUG", help="The collectivité (default: the only one).")
BUDGET = click.option("--budget", "code_bud", metavar="CODBUD",
                      help="Budget code (CodBud; default: the only budget).")


def _now(app):
    from datetime import UTC, datetime

    clock = app.config.get("CLOCK")
    return clock() if clock is not None else datetime.now(UTC)


@pes_group.command("mandater")
@click.option("--exercice", type=click.IntRange(2000, 2999), required=True,
              help="Exercice of the mandats and bordereaux.")
@ORG
@BUDGET
@click.option("--user", "username", metavar="USERNAME",
              help="Deposit each bordereau's PDF in the bordereau-mandats circuit as this user "
                   "(from their first desk), for the ordonnateur's signature.")
def mandater_command(exercice: int, org: str | None, code_bud: str | None,
                     username: str | None) -> None:
    """Make mandats of the invoices in « Service fait » and group them into numbered bordereaux."""
    from flask import render_template
    from sqlalchemy import select

    from parapheur.accounting.services import (
        create_bordereaux,
        create_mandats,
        start_bordereau_circuit,
    )
    from parapheur.accounts.models import User
    from parapheur.context import store_for, workflows_dir_for
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import resolve_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        (setup,) = _setups(app, session, org, code_bud)
        user = None
        if username is not None:
            user = session.scalars(select(User).where(User.username == username)).one_or_none()
            if user is None or not user.desks:
                raise ParapheurError(f"L'utilisateur {username} n'existe pas ou n'a aucun bureau.")
        now = _now(app)
        with transaction(session):
            mandats = create_mandats(session, setup, exercice=exercice, actor=user, now=now)
            bordereaux = create_bordereaux(session, setup, exercice=exercice,
                                           issued_on=now.date(), actor=user, now=now)
            if user is not None:
                organisation = resolve_organisation(session, org)
                for bordereau in bordereaux:
                    start_bordereau_circuit(session, store_for(app.config), bordereau,
                                            organisation, author=user,
                                            author_desk=user.desks[0], render=render_template,
                                            circuits_dir=workflows_dir_for(app.config), now=now)
            lines = [f"- {b.label} : {len(b.mandats)} mandat(s), {b.amount_ht} € HT"
                     + (f", document n° {b.document_id} à signer" if b.document_id else "")
                     for b in bordereaux]
    click.echo(f"{len(mandats)} mandat(s) créé(s), {len(bordereaux)} bordereau(x) à signer.")
    for line in lines:
        click.echo(line)


def _apply_return(kind: str, file: Path, org: str | None) -> None:
    """Apply an acquittement or retour once, as the « Comptabilité » page does."""
    from parapheur.accounting.inbound import KINDS, apply_return_file
    from parapheur.context import store_for
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import resolve_organisation

    data = _read(file)
    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            outcome = apply_return_file(
                session, store_for(app.config), resolve_organisation(session, org), kind=kind,
                data=data, filename=file.name, max_bytes=MAX_PES_BYTES, actor=None,
                now=_now(app))
            record = outcome.record
            changes, when = list(record.changes), record.imported_at
    if not outcome.applied_now:
        click.echo(f"{file.name} a déjà été appliqué le {when:%d/%m/%Y à %H:%M} (UTC) : rien "
                   f"n'a changé.")
        return
    click.echo(f"{KINDS[kind]} {file.name} appliqué :")
    for change in changes:
        click.echo(f"- {change}")


@pes_group.command("import-acquit")
@click.argument("file", type=FILE)
@ORG
def import_acquit_command(file: Path, org: str | None) -> None:
    """Apply a PES_ACQUIT once: accepted bordereaux « Pris en charge », rejected ones come back."""
    _apply_return("acquit", file, org)


@pes_group.command("import-retour")
@click.argument("file", type=FILE)
@ORG
def import_retour_command(file: Path, org: str | None) -> None:
    """Apply a spending PES_Retour once: paid mandats and their invoices « Mise en paiement »."""
    _apply_return("retour", file, org)


@click.group("export")
def export_group() -> None:
    """Exports to other systems (PES V2 to Hélios)."""


@export_group.command("pes")
@ORG
@click.option("--budget", "code_bud", metavar="CODBUD",
              help="Budget code (CodBud; default: every budget, one file each).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the file here (with one budget).")
def export_pes_command(org: str | None, code_bud: str | None, out: Path | None) -> None:
    """Export the signed bordereaux not yet sent into a PES_Aller, deposit it for the TdT."""
    from parapheur.accounting.services import deposit_pending, export_pes
    from parapheur.accounting.transmission import connector_for
    from parapheur.context import store_for
    from parapheur.db import get_session, transaction

    app = _app()
    with app.app_context():
        session = get_session()
        store = store_for(app.config)
        now = _now(app)
        connector = connector_for(app.config)
        setups = _setups(app, session, org, code_bud, every=True)
        if out is not None and len(setups) > 1:
            raise click.UsageError("--out demande un seul budget (--budget).")
        for setup in setups:
            with transaction(session):
                result = export_pes(session, store, setup, actor=None, now=now)
                summary = ("", 0) if result is None else (result.export.filename,
                                                          len(result.export.bordereaux))
            if result is None:
                click.echo(f"Budget {setup.budget.cod_bud} : aucun bordereau signé n'attend "
                           f"d'être transmis, aucun nouveau fichier PES.")
                continue
            if out is not None:
                out.write_bytes(result.content)
            click.echo(f"{summary[0]} : {summary[1]} bordereau(x) exporté(s)"
                       + (f", copie dans {out}" if out else "") + ".")
        with transaction(session):
            deposits = [(e.filename, where) for e, where in deposit_pending(
                session, store, connector, actor=None, now=now)]
    for filename, where in deposits:
        click.echo(f"{filename} déposé pour le tiers de télétransmission : {where}")


@pes_group.command("sign")
@ORG
@BUDGET
@click.option("--pkcs12", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The ordonnateur's PKCS#12 file.")
@click.option("--passphrase-env", metavar="VAR", help="Environment variable with the passphrase.")
@click.option("--pkcs11-module", metavar="LIB", help="PKCS#11 module (.so) of the card or HSM.")
@click.option("--token-label", metavar="L", help="Label of the PKCS#11 token.")
@click.option("--slot", type=int, help="PKCS#11 slot number (instead of --token-label).")
@click.option("--key-label", metavar="K", help="Label of the key on the token.")
@click.option("--key-id", metavar="HEX", help="Id of the key on the token (hex).")
@click.option("--pin-env", metavar="VAR", help="Environment variable with the PIN.")
def sign_command(org: str | None, code_bud: str | None, pkcs12: Path | None,
                 passphrase_env: str | None, pkcs11_module: str | None, token_label: str | None,
                 slot: int | None, key_label: str | None, key_id: str | None,
                 pin_env: str | None) -> None:
    """Sign (XAdES) every bordereau of the budget waiting for the ordonnateur, in one batch."""
    from sqlalchemy import select

    from parapheur.accounting.models import BordereauMandats, BordereauState
    from parapheur.accounting.services import sign_bordereaux
    from parapheur.db import get_session, transaction
    from parapheur.signatures.cli import _open_key
    from signing.errors import SigningError

    if bool(pkcs12) == bool(pkcs11_module):
        raise click.UsageError("Choisissez une clé : --pkcs12 FICHIER ou --pkcs11-module LIB.")
    app = _app()
    with app.app_context():
        session = get_session()
        (setup,) = _setups(app, session, org, code_bud)
        try:
            key = _open_key(pkcs12, passphrase_env, pkcs11_module, token_label, slot, key_label,
                            key_id, pin_env)
        except SigningError as exc:
            raise ParapheurError(exc.message) from None
        try:
            with transaction(session):
                waiting = list(session.scalars(select(BordereauMandats).where(
                    BordereauMandats.state == BordereauState.A_SIGNER,
                    BordereauMandats.cod_col == setup.budget.cod_col,
                    BordereauMandats.cod_bud == setup.budget.cod_bud)
                    .order_by(BordereauMandats.exercice, BordereauMandats.number)))
                try:
                    sign_bordereaux(session, setup, waiting, key, actor=None, now=_now(app))
                except SigningError as exc:
                    raise ParapheurError(exc.message) from None
                labels = [b.label for b in waiting]
        finally:
            key.close()
    click.echo(f"{len(labels)} bordereau(x) signé(s) par {key.subject_name}.")
    for label in labels:
        click.echo(f"- {label}")


@pes_group.command("exports")
@ORG
@BUDGET
def exports_command(org: str | None, code_bud: str | None) -> None:
    """List the PES files exported for the budget: number, file, date, bordereaux, deposit."""
    from sqlalchemy import select

    from parapheur.accounting.models import PesExport
    from parapheur.db import get_session

    app = _app()
    with app.app_context():
        session = get_session()
        (setup,) = _setups(app, session, org, code_bud)
        exports = session.scalars(select(PesExport).where(
            PesExport.organisation_id == setup.organisation_id,
            PesExport.cod_col == setup.budget.cod_col,
            PesExport.cod_bud == setup.budget.cod_bud).order_by(PesExport.number)).all()
        lines = [f"n° {e.number} {e.filename} — {e.created_at:%d/%m/%Y %H:%M} UTC — "
                 f"{', '.join(str(b.number) for b in e.bordereaux) or 'aucun'} — "
                 + (f"déposé : {e.deposited_to}" if e.deposited_at else "non déposé")
                 for e in exports]
    click.echo(f"{len(lines)} export(s) PES pour le budget {setup.budget.cod_col}/"
               f"{setup.budget.cod_bud}.")
    for line in lines:
        click.echo(f"- {line}")


@pes_group.command("export-file")
@click.argument("number", type=click.IntRange(min=1))
@ORG
@BUDGET
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the file.")
def export_file_command(number: int, org: str | None, code_bud: str | None, out: Path) -> None:
    """Write an earlier export's PES file again (checked against its SHA-256, journaled)."""
    from parapheur.accounting.services import export_file
    from parapheur.context import store_for
    from parapheur.db import get_session, transaction

    app = _app()
    with app.app_context():
        session = get_session()
        (setup,) = _setups(app, session, org, code_bud)
        with transaction(session):
            export, content = export_file(session, store_for(app.config), setup, number, actor=None,
                                          now=_now(app))
            filename = export.filename
    out.write_bytes(content)
    click.echo(f"{filename} écrit dans {out} ({len(content)} octets).")
