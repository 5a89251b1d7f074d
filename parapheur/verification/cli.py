"""`parapheur verify`: check the signatures of PDF files offline, in bulk, with an ETSI verdict each."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

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
@click.option(
    "--bundle",
    "bundles",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="DOSSIER.zip",
    help="Dossier de preuve (parapheur audit export) à revérifier : empreintes, chaîne du journal, "
    "et signatures du document (répétable).",
)
@click.argument("paths", nargs=-1, type=click.Path(exists=True), metavar="CHEMIN...")
def verify_command(trust: tuple[str, ...], output_format: str, jobs: int | None, online: bool,
                   bundles: tuple[str, ...], paths: tuple[str, ...]):
    """Verify every signature and document time stamp of PDF files (directories are searched recursively).

    Exit code: 0 all TOTAL-PASSED; 1 any TOTAL-FAILED, unsigned or unreadable file, or a bundle whose
    files or journal do not hold; 3 some INDETERMINATE and none failed; 2 usage error.
    """
    if not paths and not bundles:
        raise click.UsageError("Donnez au moins un CHEMIN ou un --bundle.")
    try:
        roots = load_trust_roots(trust)
    except ValidationSetupError as exc:
        raise click.BadParameter(exc.message, param_hint="--trust") from exc
    with tempfile.TemporaryDirectory(prefix="parapheur-verify-") as workdir:
        bundle_failed, bundle_pdfs = _check_bundles(bundles, Path(workdir),
                                                    as_json=output_format == "json")
        code = _verify_files([*find_pdfs(paths), *bundle_pdfs], roots, output_format, jobs,
                             online, nothing_else=bool(bundles))
    if bundle_failed:
        code = 1  # a bundle whose files or journal do not hold fails, whatever its signatures say
    if code:
        sys.exit(code)


def _check_bundles(bundles: tuple[str, ...], workdir: Path, *, as_json: bool) -> tuple[bool, list]:
    """Check each bundle's manifest and journal; extract its signed PDF for validation."""
    from parapheur.audit.bundle import check_bundle

    failed = False
    pdfs = []
    for index, bundle in enumerate(bundles):
        result = _checked(Path(bundle), check_bundle)
        failed = failed or not result.ok
        stream = sys.stderr if as_json else sys.stdout
        if result.ok:
            print(f"Dossier de preuve {bundle} : {result.files} fichiers conformes au manifeste, "
                  f"journal intègre ({result.events} événements chaînés).", file=stream)
        else:
            print(f"Dossier de preuve {bundle} : NON CONFORME", file=stream)
            for problem in result.problems:
                print(f"  - {problem}", file=stream)
        target = workdir / f"{index}-{Path(bundle).stem}" / "document.pdf"
        if not result.ok and any(p.startswith(_SUSPICIOUS) for p in result.problems):
            continue
        try:
            with zipfile.ZipFile(bundle) as archive, archive.open("document.pdf") as source:
                target.parent.mkdir(parents=True)
                with target.open("wb") as output:
                    shutil.copyfileobj(source, output)  # streamed: memory stays bounded
        except (OSError, KeyError, zipfile.BadZipFile, EOFError, ValueError):
            continue
        pdfs.append(target)
    return failed, pdfs


#: An evidence bundle's members may inflate to this much in all, and by this ratio each.
MAX_BUNDLE_BYTES = 1024 * 1024 * 1024
MAX_MEMBER_RATIO = 100
_SUSPICIOUS = "archive suspecte"


def _checked(bundle: Path, check_bundle):
    """`check_bundle` on a bundle, with what no archive from outside may do refused first.

    A bundle comes from anywhere: a zip bomb is refused before anything is inflated, and an
    archive whose content has an unexpected shape is reported as such, never as a traceback.
    """
    from parapheur.audit.bundle import BundleCheck

    try:
        with zipfile.ZipFile(bundle) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        return BundleCheck(problems=[f"archive illisible : {exc}"])
    total = sum(m.file_size for m in members)
    inflated = [m.filename for m in members
                if m.file_size > 1024 * 1024 and m.file_size > MAX_MEMBER_RATIO * max(1, m.compress_size)]
    if total > MAX_BUNDLE_BYTES or inflated:
        what = (f"{', '.join(inflated[:3])} se décompresse{'nt' if len(inflated) > 1 else ''} "
                f"plus de {MAX_MEMBER_RATIO} fois" if inflated
                else f"{total // (1024 * 1024)} Mo une fois décompressée")
        return BundleCheck(problems=[f"{_SUSPICIOUS} ({what}) : elle n'est pas ouverte."])
    try:
        return check_bundle(bundle)
    except RecursionError:
        return BundleCheck(problems=["structure JSON imbriquée trop profondément : illisible"])
    except Exception as exc:  # noqa: BLE001 — untrusted content: any shape, reported as such
        return BundleCheck(problems=[f"contenu inattendu ({type(exc).__name__} : {exc})"[:300]])


def _verify_files(files: list, roots: list, output_format: str, jobs: int | None, online: bool,
                  *, nothing_else: bool) -> int:
    """Validate the files, print their reports and the summary; return the exit code."""
    if not files:
        if nothing_else:
            return 0
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
    return exit_code_for(row[2] for row in rows)


