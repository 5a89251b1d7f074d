"""Engagements (budget commitments) imported from the finance software, and matching invoices.

CSV columns (semicolon-separated, UTF-8, a header line; decimal comma or point):
numero;exercice;service;bureau;siren_fournisseur;fournisseur;objet;montant_ttc;nature;fonction;operation
(`bureau`, `fournisseur`, `objet`, `fonction`, `operation` may be empty.) A number already
known is updated. The whole file is refused, with every faulty line, when one line is wrong.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.fr import siren as std_siren

from parapheur.accounts.models import Desk, User
from parapheur.audit import services as audit
from parapheur.errors import N_
from parapheur.invoices.checks import euros
from parapheur.invoices.errors import EngagementImportError, InvoiceStateError
from parapheur.invoices.models import Engagement, Invoice, InvoiceStatus

CSV_COLUMNS = ("numero", "exercice", "service", "bureau", "siren_fournisseur", "fournisseur",
               "objet", "montant_ttc", "nature", "fonction", "operation")
REQUIRED = ("numero", "exercice", "service", "siren_fournisseur", "montant_ttc", "nature")
MAX_CSV_BYTES = 10 * 1024 * 1024
#: Statuses whose amount no longer weighs on an engagement's credit.
RELEASED = (InvoiceStatus.REJETEE,)


@dataclass(frozen=True)
class EngagementImport:
    """What an engagements file changed."""

    created: int
    updated: int


def import_engagements(session: Session, data: bytes, *, organisation_id: int,
                       actor: User | None, now: datetime) -> EngagementImport:
    """Create or update an organisation's engagements from a CSV file (caller's transaction),
    or refuse the whole file."""
    if len(data) > MAX_CSV_BYTES:
        raise EngagementImportError(N_("Le fichier d'engagements dépasse 10 Mo."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EngagementImportError(N_("Le fichier n'est pas en UTF-8 : enregistrez-le en « "
                                       "CSV UTF-8 ».")) from None
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise EngagementImportError(N_("Colonnes obligatoires absentes : %(value)s (attendu : "
                                       "%(value2)s)."),
                                    value=', '.join(missing), value2=';'.join(CSV_COLUMNS), line=1)
    desks = set(session.execute(select(Desk.slug).where(
        Desk.organisation_id == organisation_id)).scalars())
    rows, problems, seen = [], [], set()
    for number, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        errors = [f"« {c} » est vide" for c in REQUIRED if not row.get(c)]
        amount = exercice = None
        if row.get("montant_ttc"):
            try:
                amount = Decimal(row["montant_ttc"].replace(" ", "").replace(",", "."))
                if not amount.is_finite() or amount <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                errors.append(f"montant « {row['montant_ttc']} » invalide")
        if row.get("exercice"):
            if row["exercice"].isdigit() and 2000 <= int(row["exercice"]) <= 2199:
                exercice = int(row["exercice"])
            else:
                errors.append(f"exercice « {row['exercice']} » invalide")
        if row.get("siren_fournisseur") and not std_siren.is_valid(row["siren_fournisseur"]):
            errors.append(f"SIREN « {row['siren_fournisseur']} » invalide")
        if row.get("bureau") and row["bureau"] not in desks:
            errors.append(f"bureau inconnu « {row['bureau']} »")
        if row.get("numero") in seen:
            errors.append(f"numéro « {row['numero']} » en double dans le fichier")
        seen.add(row.get("numero"))
        if errors:
            problems.append(f"ligne {number} : {', '.join(errors)}")
        else:
            assert amount is not None and exercice is not None
            rows.append((row, amount, exercice))
    if problems:
        raise EngagementImportError(N_("Fichier refusé, aucun engagement importé : "
                                       "%(problems)s."), problems=" ; ".join(problems[:20]))
    if not rows:
        raise EngagementImportError(N_("Le fichier ne contient aucun engagement."))
    created = updated = 0
    for row, amount, exercice in rows:
        engagement = session.execute(select(Engagement).where(
            Engagement.organisation_id == organisation_id,
            Engagement.number == row["numero"])).scalar_one_or_none()
        if engagement is None:
            engagement = Engagement(organisation_id=organisation_id, number=row["numero"],
                                    imported_at=now)
            session.add(engagement)
            created += 1
        else:
            updated += 1
        engagement.exercice = exercice
        engagement.service = row["service"]
        engagement.desk_slug = row.get("bureau") or None
        engagement.supplier_siren = std_siren.compact(row["siren_fournisseur"])
        engagement.supplier_name = row.get("fournisseur") or None
        engagement.label = row.get("objet") or None
        engagement.amount = amount
        engagement.imputation_nature = row["nature"]
        engagement.imputation_fonction = row.get("fonction") or None
        engagement.imputation_operation = row.get("operation") or None
        engagement.imported_at = now
    session.flush()
    audit.record(session, "invoice:engagements:imported", actor=actor,
                 details={"organisation_id": organisation_id, "created": created,
                          "updated": updated}, clock=lambda: now)
    return EngagementImport(created, updated)


def consumed(session: Session, engagement: Engagement, *, excluding: int | None = None
             ) -> Decimal:
    """What the invoices matched to an engagement already take from it (TTC)."""
    query = select(func.sum(Invoice.total_gross)).where(
        Invoice.engagement_id == engagement.id, Invoice.blocked.is_(False),
        Invoice.status.not_in(RELEASED))
    if excluding is not None:
        query = query.where(Invoice.id != excluding)
    return session.execute(query).scalar() or Decimal("0.00")


def remaining_credit(session: Session, engagement: Engagement, *,
                     excluding: int | None = None) -> Decimal:
    """The engagement's amount less what matched invoices take."""
    return engagement.amount - consumed(session, engagement, excluding=excluding)


def find_engagement(session: Session, *, organisation_id: int, order_reference: str | None,
                    siren: str | None, service: str | None) -> Engagement | None:
    """The engagement of an invoice: by order reference (BT-13), else the only one of this
    supplier for this service (BT-10)."""
    mine = Engagement.organisation_id == organisation_id
    if order_reference:
        found = session.execute(select(Engagement).where(
            mine, Engagement.number == order_reference.strip())).scalar_one_or_none()
        if found is not None:
            return found
    if siren and service:
        candidates = session.execute(select(Engagement).where(
            mine, Engagement.supplier_siren == siren, Engagement.service == service.strip())
            .limit(2)).scalars().all()
        if len(candidates) == 1:
            return candidates[0]
    return None


def credit_problem(session: Session, engagement: Engagement, invoice: Invoice) -> str | None:
    """A French sentence when the invoice exceeds what is left on its engagement."""
    if invoice.total_gross is None:
        return None
    left = remaining_credit(session, engagement, excluding=invoice.id)
    if invoice.total_gross > left:
        return (f"Crédit insuffisant sur l'engagement {engagement.number} : il reste "
                f"{euros(left)} sur {euros(engagement.amount)}, la facture fait "
                f"{euros(invoice.total_gross)} TTC.")
    return None


def match_invoice(session: Session, invoice: Invoice, *, actor: User, now: datetime,
                  engagement_number: str | None = None, nature: str | None = None,
                  fonction: str | None = None, operation: str | None = None) -> str | None:
    """An agent settles an invoice of « À rapprocher »: picks an engagement, or enters the
    imputation. Returns the credit warning, if any."""
    if invoice.blocked:
        raise InvoiceStateError("blocked", N_("Cette facture est bloquée : elle ne se "
                                              "rapproche pas."))
    warning = None
    if engagement_number:
        engagement = session.execute(select(Engagement).where(
            Engagement.organisation_id == invoice.organisation_id,
            Engagement.number == engagement_number.strip())).scalar_one_or_none()
        if engagement is None:
            raise InvoiceStateError("unknown_engagement",
                                    N_("Engagement inconnu : « %(engagement_number)s »."),
                                    engagement_number=engagement_number)
        if invoice.seller_siren and engagement.supplier_siren != invoice.seller_siren:
            raise InvoiceStateError(
                "other_supplier", N_("L'engagement %(number)s est celui d'un autre fournisseur "
                                     "(SIREN %(supplier_siren)s)."),
                                  number=engagement.number, supplier_siren=engagement.supplier_siren)
        invoice.engagement_id = engagement.id
        invoice.engagement = engagement
        warning = credit_problem(session, engagement, invoice)
        details: dict[str, str | None] = {"engagement": engagement.number}
    elif nature and nature.strip():
        invoice.imputation_nature = nature.strip()[:20]
        invoice.imputation_fonction = (fonction or "").strip()[:20] or None
        invoice.imputation_operation = (operation or "").strip()[:20] or None
        details = {"nature": invoice.imputation_nature, "fonction": invoice.imputation_fonction,
                   "operation": invoice.imputation_operation}
    else:
        raise InvoiceStateError("nothing", N_("Choisissez un engagement ou saisissez "
                                              "l'imputation (nature M57 au moins)."))
    session.flush()
    audit.record(session, "invoice:engagement:matched", actor=actor,
                 document_id=invoice.document_id,
                 details={"invoice_id": invoice.id, **details, "warning": warning},
                 clock=lambda: now)
    return warning


def to_match_query(organisation_id: int):
    """Invoices waiting in « À rapprocher »: routed, with neither engagement nor imputation."""
    return select(Invoice).where(Invoice.organisation_id == organisation_id,
                                 Invoice.blocked.is_(False), Invoice.engagement_id.is_(None),
                                 Invoice.imputation_nature.is_(None),
                                 Invoice.status.not_in(RELEASED)).order_by(Invoice.id)
