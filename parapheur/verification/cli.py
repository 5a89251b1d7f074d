"""`parapheur verify`: check the signatures of PDF files offline, in bulk, with an ETSI verdict each."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import click

from signing.report import exit_code_for
from signing.validation import ValidationSetupError, load_trust_roots

from .render import render_json, render_text, summary_table
from .runner import find_pdfs, validate_files

USAGE_ERROR = 2


def _parse_moment(value: str | None) -> datetime | None:
    """--at: an ISO 8601 date or date-time; without a time zone it is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"« {value} » n'est pas une date ISO 8601 (ex. 2036-01-15 ou 2036-01-15T09:30:00+01:00).",
            param_hint="--at") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
@click.option(
    "--at",
    "at",
    callback=lambda ctx, param, value: _parse_moment(value),
    metavar="DATE",
    help="Valider à ce moment (ISO 8601, ex. 2036-01-15 ou 2036-01-15T09:30:00+01:00 ; sans fuseau : UTC) "
    "au lieu de maintenant : les données de validation du fichier sont jugées au temps prouvé par ses "
    "horodatages.",
)
@click.option(
    "--trusted-list",
    "trusted_list",
    type=click.Path(dir_okay=False),
    metavar="LISTE.xml",
    help="Liste de confiance ETSI TS 119 612 (ex. la liste française), lue hors ligne : ses services "
    "qualifiés sont les ancres de confiance, et chaque signataire et horodatage est dit qualifié ou non "
    "(QES, AdES-QC, AdES). Exclut --trust.",
)
@click.argument("paths", nargs=-1, type=click.Path(exists=True), metavar="CHEMIN...")
def verify_command(trust: tuple[str, ...], output_format: str, jobs: int | None, online: bool,
                   bundles: tuple[str, ...], at: datetime | None, trusted_list: str | None,
                   paths: tuple[str, ...]):
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
    listed = None
    if trusted_list is not None:
        from signing.trusted_list import load_trusted_list

        if trust:
            raise click.UsageError("--trusted-list et --trust s'excluent : la liste de confiance donne les ancres.")
        try:
            listed = load_trusted_list(trusted_list)
        except ValidationSetupError as exc:
            raise click.BadParameter(exc.message, param_hint="--trusted-list") from exc
    with tempfile.TemporaryDirectory(prefix="parapheur-verify-") as workdir:
        bundle_code, bundle_pdfs = _check_bundles(bundles, Path(workdir), as_json=output_format == "json",
                                                  roots=roots, online=online, at=at, trusted_list=listed)
        code = _verify_files([*find_pdfs(paths), *bundle_pdfs], roots, output_format, jobs,
                             online, nothing_else=bool(bundles), at=at, trusted_list=trusted_list,
                             anchored=bool(roots or listed))
    if bundle_code == 1:
        code = 1  # a bundle whose files, journal or seal do not hold fails, whatever its signatures say
    elif bundle_code and code != 1:
        code = bundle_code
    if code:
        sys.exit(code)


def _check_bundles(bundles: tuple[str, ...], workdir: Path, *, as_json: bool, roots: list,
                   online: bool, at: datetime | None, trusted_list=None) -> tuple[int, list]:
    """Check each bundle's manifest, journal and seal; extract its signed PDF for validation.

    Returns the exit code the bundles alone call for (1 when one does not hold, 3 when a seal is not
    conclusive) and the PDFs to validate with the other files.
    """
    from parapheur.audit.bundle import check_bundle
    from signing.report import Indication
    from signing.validation import Validator

    code = 0
    pdfs = []
    stream = sys.stderr if as_json else sys.stdout
    validator = Validator(roots, online=online, clock=(lambda: at) if at is not None else None,
                          trusted_list=trusted_list)
    try:
        for index, bundle in enumerate(bundles):
            result = _checked(Path(bundle), check_bundle)
            seal_line = None
            if result.seal is not None:
                seal_line, seal_indication, seal_problem = _seal_verdict(validator, result.seal)
                if seal_problem:
                    result.problems.append(seal_problem)
                elif seal_indication is Indication.INDETERMINATE:
                    code = max(code, 3)
            if result.ok:
                print(f"Dossier de preuve {bundle} : {result.files} fichiers conformes au manifeste, "
                      f"journal intègre ({result.events} événements chaînés).", file=stream)
            else:
                code = 1
                print(f"Dossier de preuve {bundle} : NON CONFORME", file=stream)
                for problem in result.problems:
                    print(f"  - {problem}", file=stream)
            if seal_line:
                print(f"  {seal_line}", file=stream)
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
    finally:
        validator.close()
    return code, pdfs


def _seal_verdict(validator, seal: bytes):
    """Who sealed the bundle and when, and the seal's own validation (long-term, like any signature)."""
    from signing.report import Indication, Kind

    report = validator.validate(seal, path="sceau.pdf")
    signatures = [s for s in report.signatures if s.kind is Kind.SIGNATURE]
    if report.error or not signatures:
        return None, Indication.TOTAL_FAILED, f"le sceau est illisible : {report.error or 'aucune signature'}"
    sig = signatures[0]
    who = sig.signer.subject if sig.signer else "signataire inconnu"
    when = sig.proof_of_existence or sig.timestamp_time or sig.signing_time
    when_text = f"{when:%d/%m/%Y %H:%M:%S %Z}".strip() if when else "date inconnue"
    proven = "prouvée par horodatage" if sig.proof_of_existence else "déclarée, non prouvée"
    line = (f"Scellé par {who} le {when_text} ({proven}) : {report.indication.value}"
            + (f" / {sig.sub_indication}" if sig.sub_indication else "") + f" — {sig.message}")
    if report.indication is Indication.TOTAL_FAILED:
        return line, report.indication, f"le sceau du dossier est invalide : {sig.message}"
    return line, report.indication, None


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
                  *, nothing_else: bool, at: datetime | None = None, trusted_list: str | None = None,
                  anchored: bool = True) -> int:
    """Validate the files, print their reports and the summary; return the exit code."""
    if not files:
        if nothing_else:
            return 0
        click.echo("Erreur : aucun fichier PDF trouvé dans les chemins donnés.", err=True)
        sys.exit(USAGE_ERROR)
    if not anchored:
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
    broken = None
    try:
        for index, item in enumerate(validate_files(files, roots, online=online, jobs=jobs, transform=render,
                                                            at=at, trusted_list=trusted_list)):
            rows.append(item.row)
            click.echo(("," if is_json and index else "") + item.output)
    except Exception as exc:  # a worker process died (out of memory, killed): the output still closes
        broken = exc
    finally:
        if is_json:
            click.echo("]")
    if broken is not None:
        click.echo(f"Erreur : la vérification s'est interrompue après {len(rows)} fichier(s) sur {len(files)} "
                   f"({type(broken).__name__} : {broken}).", err=True)
        return 1
    if not is_json:
        click.echo(summary_table(rows))
    sys.stdout.flush()
    return exit_code_for(row[2] for row in rows)


