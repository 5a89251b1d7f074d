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
