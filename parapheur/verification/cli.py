"""`parapheur verify`: check the signatures of PDF files offline, in bulk, with an ETSI verdict each."""

from __future__ import annotations

import logging
import sys

import click

from signing.report import exit_code_for
from signing.validation import ValidationSetupError, load_trust_roots

from .render import render_json, render_text, summary_table
from .runner import find_pdfs, validate_files

USAGE_ERROR = 2


@click.command("verify")
@click.option(
    "--trust",
    "trust",
    multiple=True,
    type=click.Path(dir_okay=True, file_okay=True),
    metavar="FICHIER|DOSSIER",
    help="Certificat(s) d'ancre de confiance, PEM ou DER, ou dossier de certificats (répétable). "
    "Le magasin du système n'est jamais utilisé.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Sortie lisible ou JSON (un objet par fichier).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Nombre de processus (par défaut : un par cœur).",
)
@click.option(
    "--online",
    is_flag=True,
    default=False,
    help="Interroger aussi les services OCSP/CRL en ligne (sinon : seulement les données incluses dans le fichier).",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), metavar="CHEMIN...")
def verify_command(trust: tuple[str, ...], output_format: str, jobs: int | None, online: bool, paths: tuple[str, ...]):
    """Verify every signature and document time stamp of PDF files (directories are searched recursively).

    Exit code: 0 all TOTAL-PASSED; 1 any TOTAL-FAILED, unsigned or unreadable file; 3 some INDETERMINATE
    and none failed; 2 usage error.
    """
    try:
        roots = load_trust_roots(trust)
    except ValidationSetupError as exc:
        raise click.BadParameter(exc.message, param_hint="--trust") from exc
    files = find_pdfs(paths)
    if not files:
        click.echo("Erreur : aucun fichier PDF trouvé dans les chemins donnés.", err=True)
        sys.exit(USAGE_ERROR)
    if not roots:
        click.echo(
            "Attention : aucune ancre de confiance (--trust) ; aucune signature ne peut être TOTAL-PASSED.",
            err=True,
        )
    # pyHanko explains its verdicts through logging; they are collected into the reports instead.
    logging.getLogger("pyhanko").setLevel(logging.WARNING)
    is_json = output_format == "json"
    # Only the summary rows are kept: output is streamed, so memory does not grow with the reports.
    rows = []
    if is_json:
        click.echo("[")
    render = render_json if is_json else render_text
    for index, item in enumerate(validate_files(files, roots, online=online, jobs=jobs, transform=render)):
        rows.append(item.row)
        click.echo(("," if is_json and index else "") + item.output)
    if is_json:
        click.echo("]")
    else:
        click.echo(summary_table(rows))
    sys.stdout.flush()
    code = exit_code_for(row[2] for row in rows)
    if code:
        sys.exit(code)


