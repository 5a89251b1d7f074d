"""Text rendering of verification reports: one readable block per file, then a summary table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import click

from signing.report import (
    Changes,
    Coverage,
    FileReport,
    Indication,
    Kind,
    Revocation,
    SignatureReport,
)

_COLOURS = {Indication.TOTAL_PASSED: "green", Indication.INDETERMINATE: "yellow", Indication.TOTAL_FAILED: "red"}

_COVERAGE = {
    Coverage.WHOLE_FILE: "tout le fichier",
    Coverage.EARLIER_REVISION: "une révision antérieure du fichier",
    Coverage.UNCLEAR: "indéterminée (plages signées anormales)",
}
_CHANGES = {
    Changes.NONE: "aucune",
    Changes.VALIDATION_DATA: "données de validation seulement (DSS, horodatages)",
    Changes.FORM_FILLING: "remplissage de formulaire / autres signatures",
    Changes.ANNOTATIONS: "annotations",
    Changes.OTHER: "AUTRES MODIFICATIONS (contenu, pages…)",
    Changes.UNKNOWN: "inconnues",
}
_REVOCATION = {
    Revocation.GOOD: "non révoqué (vérifié)",
    Revocation.REVOKED: "RÉVOQUÉ",
    Revocation.UNKNOWN: "inconnue (aucune donnée de révocation utilisable)",
    Revocation.NOT_REQUIRED: "sans objet (le certificat n'indique aucun service de révocation)",
}


def verdict(indication: Indication, sub: str | None = None) -> str:
    """The indication, coloured (click strips colours when the output is not a terminal)."""
    text = indication.value + (f" / {sub}" if sub else "")
    return click.style(text, fg=_COLOURS[indication], bold=True)


def _dt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "—"


def file_block(report: FileReport) -> str:
    """The readable block for one file."""
    lines = [f"{click.style(report.path, bold=True)} : {verdict(report.indication)}"]
    if report.validation_time is not None:
        lines.append(f"  Date de validation : {_dt(report.validation_time)}")
    if report.error:
        lines.append(f"  Erreur : {report.error}")
        return "\n".join(lines)
    if not report.has_signature:
        lines.append("  Aucune signature dans ce fichier.")
    for sig in report.signatures:
        lines.extend(_signature_lines(sig))
    return "\n".join(lines)


def _signature_lines(sig: SignatureReport) -> list[str]:
    what = "Horodatage de document" if sig.kind is Kind.DOCUMENT_TIMESTAMP else "Signature"
    level = f" (PAdES {sig.level.value})" if sig.level else (f" ({sig.subfilter})" if sig.subfilter else "")
    lines = [f"  {what} « {sig.field_name} »{level} : {verdict(sig.indication, sig.sub_indication)}"]
    if sig.signer:
        label = "Autorité d'horodatage" if sig.kind is Kind.DOCUMENT_TIMESTAMP else "Signataire"
        lines.append(f"    {label} : {sig.signer.subject}")
        lines.append(f"    Émetteur : {sig.signer.issuer} ; n° de série {sig.signer.serial}")
    if sig.kind is Kind.SIGNATURE:
        lines.append(f"    Heure déclarée : {_dt(sig.signing_time)} ; horodatage : {_dt(sig.timestamp_time)}")
    else:
        lines.append(f"    Heure de l'horodatage : {_dt(sig.timestamp_time)}")
    lines.append(f"    Algorithmes : {sig.digest_algorithm or '—'} / {sig.signature_algorithm or '—'}")
    lines.append(f"    Couvre : {_COVERAGE[sig.coverage]} ; modifications depuis : {_CHANGES[sig.changes_after_signing]}")
    if sig.chain:
        lines.append("    Chaîne : " + " → ".join(c.common_name or c.subject for c in sig.chain) + " (ancre de confiance)")
    else:
        lines.append("    Chaîne : aucune chaîne validée vers une ancre de confiance")
    revocation = _REVOCATION[sig.revocation]
    if sig.revocation_date:
        revocation += f" depuis le {_dt(sig.revocation_date)}"
    lines.append(f"    Révocation : {revocation}")
    if sig.kind is Kind.SIGNATURE or sig.proof_of_existence:
        lines.append(f"    Preuve d'existence : {_proof(sig)}")
    if sig.qualification or sig.timestamp_qualification:
        parts = []
        if sig.qualification:
            parts.append(f"signature {sig.qualification}")
        if sig.timestamp_qualification:
            tsa = "qualifié" if sig.timestamp_qualification == "qualified" else "non qualifié"
            parts.append(f"horodatage {tsa}")
        lines.append(f"    Qualification (liste de confiance) : {' ; '.join(parts)}")
    lines.append(f"    {sig.message}")
    return lines


def _proof(sig: SignatureReport) -> str:
    """Which time stamp proved the signature's existence, and which ones carry that proof to today."""
    if sig.proof_of_existence is None:
        return f"aucune ; certificats jugés à la date de validation ({_dt(sig.control_time)})"
    source = "horodatage de signature" if sig.proof_source == "signature-timestamp" else (
        f"horodatage « {sig.proof_source} »")
    text = f"{_dt(sig.proof_of_existence)} ({source})"
    later = [name for name in sig.proof_chain[1:]]
    if later:
        text += ", prolongée par " + ", ".join(f"« {name} »" for name in later)
    return text


@dataclass(frozen=True)
class RenderedFile:
    """What the command prints for one file, prepared in the worker process (only strings travel back)."""

    output: str
    indication: Indication
    row: tuple[str, int, Indication, str]  # path, signatures, verdict, detail: one line of the summary


def summary_row(report: FileReport) -> tuple[str, int, Indication, str]:
    """The file's line in the summary table."""
    if report.error:
        detail = report.error_code or "erreur"
    elif not report.has_signature:
        detail = "aucune signature"
    else:
        subs = sorted({s.sub_indication for s in report.signatures if s.sub_indication})
        levels = sorted({s.level.value for s in report.signatures if s.level})
        detail = ", ".join(levels + subs)
    return (report.path, len(report.signatures), report.indication, detail)


def render_text(report: FileReport) -> RenderedFile:
    """Text block of one file (run in the workers)."""
    return RenderedFile(file_block(report) + "\n", report.indication, summary_row(report))


def render_json(report: FileReport) -> RenderedFile:
    """JSON object of one file (run in the workers)."""
    return RenderedFile(report.to_json(), report.indication, summary_row(report))


def summary_table(rows: Sequence[tuple[str, int, Indication, str]]) -> str:
    """The summary: one row per file, then the totals."""
    width = max([len("Fichier")] + [len(row[0]) for row in rows])
    out = ["", click.style("Résumé", bold=True), f"  {'Fichier'.ljust(width)}  Sig.  {'Verdict'.ljust(13)}  Détail"]
    for path, count, indication, detail in rows:
        coloured = click.style(indication.value.ljust(13), fg=_COLOURS[indication])
        out.append(f"  {path.ljust(width)}  {str(count).rjust(4)}  {coloured}  {detail}")
    counts = {i: sum(1 for row in rows if row[2] is i) for i in Indication}
    out.append(
        f"  {len(rows)} fichier(s) : {counts[Indication.TOTAL_PASSED]} valide(s), "
        f"{counts[Indication.INDETERMINATE]} non concluant(s), {counts[Indication.TOTAL_FAILED]} en échec"
    )
    return "\n".join(out)
