"""Mandatement: mandats from certified invoices, numbered bordereaux, the ordonnateur's signature,
the PES export (exactly once), its deposit for the tiers de télétransmission, and the way back.

Every function runs in the caller's transaction and journals what it changes; a refusal raises an
`AccountingError` (or `PesInvalid`) and changes nothing once the caller rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parapheur.accounting.models import (
    AccountingCounter,
    BordereauMandats,
    BordereauState,
    Mandat,
    MandatState,
    PesExport,
)
from parapheur.accounting.pes import model as pes_model
from parapheur.accounting.pes.returns import Acquit, Retour
from parapheur.accounting.pes.writer import sign_bordereau as sign_pes_bordereau
from parapheur.accounting.pes.writer import write_pes
from parapheur.accounting.transmission import (  # noqa: F401 - FolderConnector is public here too
    Connector,
    FolderConnector,
    deposit_export,
)
from parapheur.audit import services as audit
from parapheur.circuits.models import StepAction
from parapheur.documents.models import Document, DocumentStatus
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, Conflict, NotFound, ParapheurError
from parapheur.invoices.models import Invoice, InvoiceStatus
from parapheur.invoices.services import record_status
from parapheur.organisations.models import Budget as OrganisationBudget
from parapheur.organisations.models import Organisation
from signing.xades import (
    DEFAULT_HELIOS_POLICY_SHA256,
    ProductionPlace,
    SignaturePolicy,
    XadesOptions,
)

#: Largest number of mandats on one bordereau (NbrPce has 5 digits; Hélios prefers small ones).
MAX_PIECES_PER_BORDEREAU = 500
ORDINARY = "01"
#: Country names for SignatureProductionPlace, from the organisation's ISO code.
COUNTRIES = {"FR": "France"}


class AccountingError(ParapheurError):
    """A mandatement action that cannot be done as asked; `code` is stable."""

    def __init__(self, code: str, message: str, *, status: int | None = None,
                 **params: Any) -> None:
        super().__init__(message, status=status, **params)
        self.code = code


@dataclass(frozen=True)
class AccountingSetup:
    """What the PES needs to know of the collectivité: its budget, its city, the policy."""

    organisation_id: int
    budget: pes_model.Budget
    place: ProductionPlace
    policy: SignaturePolicy = SignaturePolicy()
    emitter: pes_model.Emitter = pes_model.Emitter()

    @property
    def xades(self) -> XadesOptions:
        """The ordonnateur's XAdES options."""
        return XadesOptions(self.place, policy=self.policy)

    @classmethod
    def for_budget(cls, organisation: Organisation, budget: OrganisationBudget, *,
                   policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256) -> AccountingSetup:
        """From the collectivité and one of its budgets; AccountingError naming what is missing."""
        missing = [label for label, value in (
            ("le SIRET", organisation.siret), ("la ville", organisation.city),
            ("le code postal", organisation.postal_code),
            ("le codique du poste comptable", budget.poste_comptable)) if not value]
        if missing:
            raise AccountingError("setup_missing", N_("La collectivité %(organisation_name)s "
                                                      "n'a pas %(value)s : renseignez-les avec "
                                                      "« parapheur orgs update » avant de "
                                                      "mandater."),
                                                   organisation_name=organisation.name, value=', '.join(missing))
        return cls(organisation_id=organisation.id,
                   budget=pes_model.Budget(id_post=budget.poste_comptable or "",
                                           id_coll=organisation.siret or "",
                                           cod_col=budget.code_col, cod_bud=budget.code_bud,
                                           libelle=budget.label[:38]),
                   place=ProductionPlace(organisation.city or "", organisation.postal_code or "",
                                         COUNTRIES.get(organisation.country, organisation.country)),
                   policy=SignaturePolicy(sha256_b64=policy_sha256))


def budget_setup(organisation: Organisation, code_bud: str | None, *,
                 policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256) -> AccountingSetup:
    """The setup of the budget `code_bud` of `organisation` (its only budget when None)."""
    budgets = list(organisation.budgets)
    if code_bud is not None:
        budgets = [b for b in budgets if b.code_bud == code_bud]
    if len(budgets) != 1:
        known = ", ".join(f"{b.code_bud} ({b.label})" for b in organisation.budgets) or "aucun"
        what = f"Le budget {code_bud} n'existe pas" if code_bud else "Précisez le budget (--budget)"
        raise AccountingError("unknown_budget", N_("%(what)s pour %(organisation_name)s ; "
                                                   "budgets : %(known)s."),
                                                what=what, organisation_name=organisation.name, known=known)
    return AccountingSetup.for_budget(organisation, budgets[0], policy_sha256=policy_sha256)


# --- numbering ------------------------------------------------------------------------------

def _locked_counter(session: Session, scope: str) -> AccountingCounter:
    """The counter of `scope`, locked (SELECT … FOR UPDATE) until the transaction ends."""
    counter = session.execute(select(AccountingCounter).where(AccountingCounter.scope == scope)
                              .with_for_update()).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(AccountingCounter(scope=scope, last_value=0))
        except IntegrityError:
            pass  # created by a concurrent transaction meanwhile; lock it below
        counter = session.execute(select(AccountingCounter)
                                  .where(AccountingCounter.scope == scope)
                                  .with_for_update()).scalar_one()
    return counter


def next_number(session: Session, scope: str) -> int:
    """The next number of `scope`, locked until the caller's transaction ends (no gap, no reuse)."""
    counter = _locked_counter(session, scope)
    counter.last_value += 1
    session.flush()
    return counter.last_value


def _scope(kind: str, setup: AccountingSetup, exercice: int | None = None,
           type_bordereau: str | None = None) -> str:
    parts = [kind, str(setup.organisation_id), setup.budget.cod_col, setup.budget.cod_bud]
    parts += [str(p) for p in (exercice, type_bordereau) if p is not None]
    return ":".join(parts)


# --- mandats and bordereaux -----------------------------------------------------------------

def _attachment_id(setup: AccountingSetup, invoice: Invoice, exercice: int) -> str:
    return f"{setup.budget.id_coll}{exercice}DEP{invoice.id:010d}"[:50]


def create_mandats(session: Session, setup: AccountingSetup, *, exercice: int, actor: Any,
                   now: datetime, invoice_ids: list[int] | None = None) -> list[Mandat]:
    """One mandat per invoice in « Service fait » that has none (of `invoice_ids` only, if
    given); the invoice becomes « Mandatée »."""
    query = (select(Invoice).where(Invoice.status == InvoiceStatus.SERVICE_FAIT,
                                   Invoice.organisation_id == setup.organisation_id)
             .where(~select(Mandat.id).where(Mandat.invoice_id == Invoice.id).exists()))
    if invoice_ids is not None:
        query = query.where(Invoice.id.in_(invoice_ids))
    invoices = session.scalars(query.order_by(Invoice.id)).all()
    created = []
    for invoice in invoices:
        nature = invoice.imputation_nature or (invoice.engagement.imputation_nature
                                               if invoice.engagement else None)
        if not nature:
            raise AccountingError("imputation_missing",
                                  N_("La facture n° %(number)s (#%(invoice_id)s) n'a pas "
                                     "d'imputation (nature M57) : le mandat ne peut pas être "
                                     "fait."), number=invoice.number, invoice_id=invoice.id)
        if invoice.total_net is None:
            raise AccountingError("amount_missing", N_("La facture n° %(number)s n'a pas de "
                                                       "montant hors taxe : le mandat ne peut "
                                                       "pas être fait."), number=invoice.number)
        engagement = invoice.engagement
        mandat = Mandat(
            invoice_id=invoice.id, organisation_id=setup.organisation_id, exercice=exercice,
            cod_col=setup.budget.cod_col,
            cod_bud=setup.budget.cod_bud,
            object=f"Facture {invoice.number or invoice.id} {invoice.seller_name or ''}"[:100],
            nature=nature,
            fonction=invoice.imputation_fonction or (engagement.imputation_fonction
                                                     if engagement else None),
            operation=invoice.imputation_operation or (engagement.imputation_operation
                                                       if engagement else None),
            amount_ht=invoice.total_net, amount_tva=invoice.total_vat or Decimal("0"),
            payment_mode="03" if invoice.seller_iban else "02",
            supplier_name=invoice.seller_name or "?", supplier_siret=invoice.seller_siret,
            supplier_iban=invoice.seller_iban,
            attachment_id=_attachment_id(setup, invoice, exercice),
            state=MandatState.A_BORDEREAUTER, created_at=now)
        session.add(mandat)
        session.flush()
        record_status(session, invoice, InvoiceStatus.MANDATEE, actor=actor, now=now)
        audit.record(session, "accounting:mandat:created", actor=actor,
                     document_id=invoice.document_id,
                     details={"mandat_id": mandat.id, "invoice_id": invoice.id,
                              "amount_ht": str(mandat.amount_ht)}, clock=lambda: now)
        created.append(mandat)
    return created


def _cumulative_before(session: Session, setup: AccountingSetup, exercice: int) -> Decimal:
    """What the exercice's bordereaux already carry (HT): their mandats not rejected, in
    bordereaux not rejected — a re-issued mandat counts once, in its new bordereau."""
    budget = setup.budget
    total = session.scalar(
        select(func.coalesce(func.sum(Mandat.amount_ht), 0))
        .join(BordereauMandats, BordereauMandats.id == Mandat.bordereau_id)
        .where(BordereauMandats.organisation_id == setup.organisation_id,
               BordereauMandats.cod_col == budget.cod_col,
               BordereauMandats.cod_bud == budget.cod_bud,
               BordereauMandats.exercice == exercice,
               BordereauMandats.state != BordereauState.REJETE,
               Mandat.state != MandatState.REJETE))
    return Decimal(total or 0)


def _new_bordereau(session: Session, setup: AccountingSetup, exercice: int, number: int,
                   issued_on: date, group: Sequence[Mandat], now: datetime, *,
                   replaces: BordereauMandats | None = None) -> BordereauMandats:
    """A bordereau numbered `number` holding `group`, each mandat numbered (IdPce) in turn."""
    budget = setup.budget
    previous = _cumulative_before(session, setup, exercice)
    amount_ht = sum((m.amount_ht for m in group), Decimal("0"))
    bordereau = BordereauMandats(
        organisation_id=setup.organisation_id, cod_col=budget.cod_col, cod_bud=budget.cod_bud,
        exercice=exercice, type_bordereau=ORDINARY, number=number, issued_on=issued_on,
        amount_ht=amount_ht, amount_tva=sum((m.amount_tva for m in group), Decimal("0")),
        cumulative_amount=previous + amount_ht, state=BordereauState.A_SIGNER,
        replaces_id=replaces.id if replaces is not None else None, created_at=now)
    session.add(bordereau)
    session.flush()
    for mandat in group:
        mandat.bordereau_id = bordereau.id
        mandat.number = next_number(session, _scope("mandat", setup, exercice))
        mandat.state = MandatState.BORDEREAUTE
    session.flush()
    session.refresh(bordereau, ["mandats"])
    return bordereau


def sync_refused_bordereaux(session: Session, organisation_id: int, *, actor: Any,
                            now: datetime) -> list[BordereauMandats]:
    """Bordereaux whose PDF the ordonnateur refused (their document rejected, before any file
    was exported) become « Rejeté » with the ordonnateur's reason: never exported, their mandats
    can be re-issued; journaled."""
    refused = session.scalars(
        select(BordereauMandats).join(Document, Document.id == BordereauMandats.document_id)
        .where(BordereauMandats.organisation_id == organisation_id,
               BordereauMandats.state.in_((BordereauState.A_SIGNER, BordereauState.SIGNE)),
               BordereauMandats.export_id.is_(None),
               Document.status == DocumentStatus.REJECTED)
        .with_for_update(of=BordereauMandats)).all()
    for bordereau in refused:
        reason = session.scalar(select(StepAction.reason).where(
            StepAction.document_id == bordereau.document_id, StepAction.decision == "reject")
            .order_by(StepAction.id.desc()).limit(1))
        text = f"refusé par l'ordonnateur : {reason}" if reason else "refusé par l'ordonnateur"
        bordereau.state = BordereauState.REJETE
        bordereau.rejection_reason = text
        for mandat in bordereau.mandats:
            mandat.state = MandatState.REJETE
            mandat.rejection_reason = text
        session.flush()
        audit.record(session, "accounting:bordereau:refused", actor=actor,
                     document_id=bordereau.document_id,
                     details={"bordereau_id": bordereau.id, "number": bordereau.number,
                              "reason": text}, clock=lambda: now)
    return list(refused)


def rejected_mandats(bordereau: BordereauMandats) -> list[Mandat]:
    """The mandats of a bordereau the comptable rejected, still waiting to be issued again."""
    return [m for m in bordereau.mandats if m.state is MandatState.REJETE]


def reissue_mandats(session: Session, setup: AccountingSetup, rejected: BordereauMandats,
                    mandat_ids: list[int] | None, *, issued_on: date, actor: Any,
                    now: datetime) -> BordereauMandats:
    """Issue rejected mandats again in a new bordereau (next number, linked to the rejected one),
    journaled; all the rejected ones when `mandat_ids` is None."""
    session.refresh(rejected, with_for_update=True)
    waiting = rejected_mandats(rejected)
    if not waiting:
        raise AccountingError("nothing_rejected", N_("%(label)s n'a aucun mandat rejeté à "
                                                     "réémettre."),
                                                  label=rejected.label, status=409)
    if mandat_ids is not None:
        chosen = [m for m in waiting if m.id in set(mandat_ids)]
        unknown = set(mandat_ids) - {m.id for m in chosen}
        if unknown or not chosen:
            raise AccountingError("not_rejected", N_("Choisissez des mandats rejetés du "
                                                     "%(label)s : les autres ne sont pas "
                                                     "réémis."), label=rejected.label)
        waiting = chosen
    exercice = rejected.exercice
    reasons = {m.id: m.rejection_reason for m in waiting}
    old_numbers = {m.id: m.number for m in waiting}
    number = next_number(session, _scope("bordereau", setup, exercice, ORDINARY))
    for mandat in waiting:
        mandat.rejection_reason = None
    bordereau = _new_bordereau(session, setup, exercice, number, issued_on, waiting, now,
                               replaces=rejected)
    session.expire(rejected, ["mandats"])
    audit.record(session, "accounting:bordereau:reissued", actor=actor,
                 details={"bordereau_id": bordereau.id, "number": number, "exercice": exercice,
                          "replaces_id": rejected.id, "replaces_number": rejected.number,
                          "mandats": [{"id": m.id, "was": old_numbers[m.id], "now": m.number,
                                       "reason": reasons[m.id]} for m in waiting],
                          "amount_ht": str(bordereau.amount_ht)}, clock=lambda: now)
    return bordereau


def create_bordereaux(session: Session, setup: AccountingSetup, *, exercice: int,
                      issued_on: date, actor: Any, now: datetime,
                      per_bordereau: int = MAX_PIECES_PER_BORDEREAU) -> list[BordereauMandats]:
    """Group the budget's unassigned mandats into bordereaux numbered for the exercice."""
    budget = setup.budget
    pending = session.scalars(
        select(Mandat).where(Mandat.bordereau_id.is_(None), Mandat.exercice == exercice,
                             Mandat.organisation_id == setup.organisation_id,
                             Mandat.cod_col == budget.cod_col, Mandat.cod_bud == budget.cod_bud,
                             Mandat.state == MandatState.A_BORDEREAUTER)
        .order_by(Mandat.id).with_for_update()).all()
    made = []
    for start in range(0, len(pending), per_bordereau):
        group = pending[start:start + per_bordereau]
        number = next_number(session, _scope("bordereau", setup, exercice, ORDINARY))
        bordereau = _new_bordereau(session, setup, exercice, number, issued_on, group, now)
        audit.record(session, "accounting:bordereau:created", actor=actor,
                     details={"bordereau_id": bordereau.id, "number": number,
                              "exercice": exercice, "mandats": [m.id for m in group],
                              "amount_ht": str(bordereau.amount_ht)}, clock=lambda: now)
        made.append(bordereau)
    return made


# --- from the database to the PES ------------------------------------------------------------

def _tiers(mandat: Mandat) -> pes_model.Tiers:
    account = None
    if mandat.supplier_iban:
        account = pes_model.BankAccount(iban=mandat.supplier_iban.replace(" ", "").upper(),
                                        holder=mandat.supplier_name[:32])
    return pes_model.Tiers(name=mandat.supplier_name[:38], siret=mandat.supplier_siret,
                           bank_account=account)


def typed_bordereau(bordereau: BordereauMandats) -> pes_model.Bordereau:
    """The PES content of a bordereau from the database."""
    pieces = tuple(
        pes_model.Piece(
            number=m.number or 0, object=m.object, attachment_ids=(m.attachment_id,),
            lines=(pes_model.Line(
                number=1, nature=m.nature, fonction=m.fonction, operation=m.operation,
                amount_ht=m.amount_ht, amount_tva=m.amount_tva or None, tiers=_tiers(m),
                invoice_number=(m.invoice.number or "")[:20] or None,
                transfer_label=f"FACTURE {m.invoice.number or m.invoice_id}"[:70],
                payment_mode=m.payment_mode),))
        for m in bordereau.mandats)
    return pes_model.Bordereau(number=bordereau.number, exercice=bordereau.exercice,
                               issued_on=bordereau.issued_on, pieces=pieces,
                               type_bordereau=bordereau.type_bordereau,
                               cumulative_amount=bordereau.cumulative_amount)


def _shell(setup: AccountingSetup, name: str, created_on: date,
           bordereaux: tuple[pes_model.Bordereau, ...],
           attachments: tuple[pes_model.Attachment, ...] = ()) -> pes_model.PesAller:
    return pes_model.PesAller(name=name, budget=setup.budget, created_on=created_on,
                              bordereaux=bordereaux, attachments=attachments,
                              emitter=setup.emitter)


def sign_bordereaux(session: Session, setup: AccountingSetup, bordereaux: list[BordereauMandats],
                    key: Any, *, actor: Any, now: datetime) -> None:
    """The ordonnateur's XAdES signature on each bordereau (one key opened for the batch)."""
    for bordereau in bordereaux:
        if bordereau.state is not BordereauState.A_SIGNER:
            raise Conflict(N_("%(label)s est déjà %(value)s : il n'est pas signé une seconde "
                              "fois."), label=bordereau.label, value=bordereau.state.label.lower())
        typed = typed_bordereau(bordereau)
        element = sign_pes_bordereau(_shell(setup, "SIGNATURE", now.date(), (typed,)), typed,
                                     key, setup.xades, signed_at=now)
        bordereau.signed_element = element
        bordereau.signed_at = now
        bordereau.signer_name = key.subject_name
        bordereau.state = BordereauState.SIGNE
        session.flush()
        audit.record(session, "accounting:bordereau:signed", actor=actor,
                     details={"bordereau_id": bordereau.id, "number": bordereau.number,
                              "exercice": bordereau.exercice, "signer": key.subject_name},
                     clock=lambda: now)


def _attachment(store: ContentStore, mandat: Mandat) -> pes_model.Attachment:
    invoice = mandat.invoice
    data = store.read(invoice.file_sha256)
    pdf = invoice.container == "pdf"
    stem = (invoice.filename.rsplit(".", 1)[0] or "facture")[:90]
    return pes_model.Attachment(id_unique=mandat.attachment_id,
                                filename=f"{stem}.{'pdf' if pdf else 'xml'}", content=data,
                                mime_type="application/pdf" if pdf else "text/xml",
                                description=f"Facture {invoice.number or invoice.id}"[:250])


@dataclass(frozen=True)
class ExportResult:
    """A PES export: its row and the file's bytes."""

    export: PesExport
    content: bytes


def export_pes(session: Session, store: ContentStore, setup: AccountingSetup, *, actor: Any,
               now: datetime) -> ExportResult | None:
    """Export every signed bordereau not exported yet into one checked PES_Aller, exactly once.

    The export counter is locked first, so concurrent exports run one after the other and the
    second finds nothing left; None when there is nothing to export. PesInvalid (nothing
    written) when Hélios would reject the file.
    """
    budget = setup.budget
    counter = _locked_counter(session, _scope("pes", setup))
    sync_refused_bordereaux(session, setup.organisation_id, actor=actor, now=now)
    bordereaux = session.scalars(
        select(BordereauMandats).where(BordereauMandats.state == BordereauState.SIGNE,
                                       BordereauMandats.export_id.is_(None),
                                       BordereauMandats.organisation_id == setup.organisation_id,
                                       BordereauMandats.cod_col == budget.cod_col,
                                       BordereauMandats.cod_bud == budget.cod_bud)
        .order_by(BordereauMandats.exercice, BordereauMandats.number).with_for_update()).all()
    if not bordereaux:
        return None
    counter.last_value += 1
    number = counter.last_value
    typed = tuple(typed_bordereau(b) for b in bordereaux)
    attachments = tuple(_attachment(store, m) for b in bordereaux for m in b.mandats)
    name = f"PES{budget.cod_col}{budget.cod_bud}{now:%Y}{number:06d}"
    content = write_pes(_shell(setup, name, now.date(), typed, attachments),
                        {t.xml_id: b.signed_element for t, b in zip(typed, bordereaux,
                                                                    strict=True)
                         if b.signed_element is not None})
    sha256 = store.put(content)
    export = PesExport(organisation_id=setup.organisation_id, number=number, filename=f"{name}.xml", sha256=sha256, size=len(content),
                       cod_col=budget.cod_col, cod_bud=budget.cod_bud, created_at=now,
                       actor_id=getattr(actor, "id", None))
    session.add(export)
    session.flush()
    for bordereau in bordereaux:
        bordereau.export_id = export.id
        bordereau.state = BordereauState.EXPORTE
    session.flush()
    audit.record(session, "accounting:pes:exported", actor=actor,
                 details={"export_id": export.id, "number": number, "filename": export.filename,
                          "sha256": sha256, "bordereaux": [b.id for b in bordereaux],
                          "mandats": sum(len(b.mandats) for b in bordereaux)},
                 clock=lambda: now)
    return ExportResult(export, content)


# --- transmission ---------------------------------------------------------------------------

def deposit_pending(session: Session, store: ContentStore, connector: Connector, *, actor: Any,
                    now: datetime) -> list[tuple[PesExport, str]]:
    """Deposit every export not deposited yet (a failed deposit is retried here), journaled.

    Exports are committed before they are deposited, so a file is never produced twice; a deposit
    is repeated at most until it is recorded (the folder connector accepts the same file again).
    """
    exports = session.scalars(select(PesExport).where(PesExport.deposited_at.is_(None))
                              .order_by(PesExport.number).with_for_update()).all()
    return [(export, deposit_export(session, store, connector, export, actor=actor, now=now))
            for export in exports]


# --- the way back ---------------------------------------------------------------------------

def _find_bordereau(session: Session, id_coll: str, cod_col: str, cod_bud: str, exercice: int,
                    number: int) -> BordereauMandats | None:
    """The bordereau an acknowledgement or return names (the collectivité by its SIRET)."""
    return session.scalars(select(BordereauMandats).join(
        Organisation, Organisation.id == BordereauMandats.organisation_id).where(
        Organisation.siret == id_coll,
        BordereauMandats.cod_col == cod_col, BordereauMandats.cod_bud == cod_bud,
        BordereauMandats.exercice == exercice, BordereauMandats.number == number,
        BordereauMandats.type_bordereau == ORDINARY)).one_or_none()


def _numbers(mandats: list[Mandat]) -> str:
    return ", ".join(str(m.number) for m in mandats)


def import_acquit(session: Session, acquit: Acquit, *, actor: Any, now: datetime
                  ) -> list[str]:
    """Apply a PES_ACQUIT: accepted bordereaux « Pris en charge », rejected ones back with why.

    Returns one French line per bordereau changed; AccountingError naming an unknown one.
    """
    changes = []
    for element in acquit.elements:
        if element.bordereau_number is None or element.domain != "5":
            continue
        bordereau = _find_bordereau(session, acquit.id_coll, acquit.cod_col, acquit.cod_bud,
                                    element.exercice or 0, element.bordereau_number)
        if bordereau is None:
            raise AccountingError("unknown_bordereau", N_("L'acquittement porte sur le "
                                                          "bordereau %(bordereau_number)s "
                                                          "(exercice %(exercice)s, budget "
                                                          "%(cod_col)s/%(cod_bud)s) qui n'a "
                                                          "jamais été transmis : rien n'a été "
                                                          "modifié."),
                                                       bordereau_number=element.bordereau_number, exercice=element.exercice, cod_col=acquit.cod_col, cod_bud=acquit.cod_bud)
        if bordereau.state is not BordereauState.EXPORTE:
            changes.append(f"{bordereau.label} : déjà {bordereau.state.label.lower()}, inchangé")
            continue
        if element.accepted:
            bordereau.state = BordereauState.PRIS_EN_CHARGE
            for mandat in bordereau.mandats:
                mandat.state = MandatState.PRIS_EN_CHARGE
            changes.append(f"{bordereau.label} : pris en charge — mandat(s) "
                           f"{_numbers(bordereau.mandats)} « Pris en charge »")
        else:
            reason = "; ".join(str(a) for a in element.anomalies) or "rejet sans motif indiqué"
            bordereau.state = BordereauState.REJETE
            bordereau.rejection_reason = reason
            for mandat in bordereau.mandats:
                mandat.state = MandatState.REJETE
                mandat.rejection_reason = reason
            changes.append(f"{bordereau.label} : rejeté ({reason}) — mandat(s) "
                           f"{_numbers(bordereau.mandats)} à corriger et réémettre")
        session.flush()
        audit.record(session, "accounting:bordereau:acknowledged", actor=actor,
                     details={"bordereau_id": bordereau.id, "accepted": element.accepted,
                              "file": acquit.file_name,
                              "anomalies": [str(a) for a in element.anomalies]},
                     clock=lambda: now)
    return changes


def import_retour(session: Session, retour: Retour, *, actor: Any, now: datetime) -> list[str]:
    """Apply a spending PES_Retour: paid mandats « Mis en paiement », their invoices too (the
    délai global de paiement stops at the payment date)."""
    changes = []
    for piece in retour.pieces:
        bordereau = _find_bordereau(session, retour.id_coll, retour.cod_col, retour.cod_bud,
                                    piece.exercice,
                                    piece.bordereau_number)
        mandat = None if bordereau is None else next(
            (m for m in bordereau.mandats if m.number == piece.number), None)
        if mandat is None and bordereau is not None and session.scalar(
                select(BordereauMandats.id).where(BordereauMandats.replaces_id == bordereau.id)
                .limit(1)) is not None:
            changes.append(f"mandat {piece.number} ({bordereau.label}) : réémis depuis dans un "
                           f"autre bordereau, ignoré")
            continue
        if bordereau is None or mandat is None:
            raise AccountingError("unknown_mandat", N_("Le retour porte sur le mandat "
                                                       "%(number)s du bordereau "
                                                       "%(bordereau_number)s (exercice "
                                                       "%(exercice)s) inconnu ici : rien n'a "
                                                       "été modifié."),
                                                    number=piece.number, bordereau_number=piece.bordereau_number, exercice=piece.exercice)
        if piece.payments and mandat.state is not MandatState.PAYE:
            paid_on = max(p.paid_on for p in piece.payments)
            mandat.state = MandatState.PAYE
            mandat.paid_on = paid_on
            mandat.paid_amount = sum((p.amount for p in piece.payments), Decimal("0"))
            invoice = mandat.invoice
            invoice.paid_at = datetime.combine(paid_on, datetime.min.time(), tzinfo=now.tzinfo)
            record_status(session, invoice, InvoiceStatus.MISE_EN_PAIEMENT, actor=actor, now=now)
            changes.append(f"mandat {mandat.number} ({bordereau.label}) : mis en paiement le "
                           f"{paid_on:%d/%m/%Y} pour {mandat.paid_amount} € — facture "
                           f"{invoice.number or invoice.id} « Mise en paiement »")
        elif piece.state == "04" and mandat.state is not MandatState.REJETE:
            mandat.state = MandatState.REJETE
            mandat.rejection_reason = piece.comment or piece.observation or "rejeté par le comptable"
            changes.append(f"mandat {mandat.number} ({bordereau.label}) : rejeté "
                           f"({mandat.rejection_reason})")
        elif piece.state == "02" and mandat.state is MandatState.BORDEREAUTE:
            mandat.state = MandatState.PRIS_EN_CHARGE
            changes.append(f"mandat {mandat.number} ({bordereau.label}) : pris en charge")
        else:
            continue
        session.flush()
        audit.record(session, "accounting:mandat:returned", actor=actor,
                     document_id=mandat.invoice.document_id,
                     details={"mandat_id": mandat.id, "state": piece.state,
                              "file": retour.file_name}, clock=lambda: now)
    return changes


# --- the PDF visual and its circuit -----------------------------------------------------------

PAYMENT_MODES = {"01": "Numéraire", "02": "Chèque", "03": "Virement", "05": "Virement gros montant"}
DOC_TYPE = "COMPTABILITE"
DOC_SUBTYPE = "BORDEREAU_MANDATS"


def _euros(amount: Decimal) -> str:
    whole, cents = f"{amount.quantize(Decimal('0.01')):.2f}".split(".")
    groups = f"{int(whole):,}".replace(",", "\u202f")
    return f"{groups},{cents} €"


def render_bordereau_pdf(bordereau: BordereauMandats, organisation: Organisation,
                         render: Callable[..., str]) -> bytes:
    """The PDF visual of a bordereau (templates/pdf/bordereau_mandats.html), by WeasyPrint."""
    from weasyprint import HTML

    budget = next((b for b in organisation.budgets if b.code_col == bordereau.cod_col
                   and b.code_bud == bordereau.cod_bud), None)
    html = render("pdf/bordereau_mandats.html", bordereau=bordereau, organisation=organisation,
                  budget=budget, euros=_euros, payment_modes=PAYMENT_MODES)
    return HTML(string=html).write_pdf()


def start_bordereau_circuit(session: Session, store: ContentStore, bordereau: BordereauMandats,
                            organisation: Organisation, *, author: Any, author_desk: Any,
                            render: Callable[..., str], circuits_dir: Path, now: datetime) -> Any:
    """Deposit the bordereau's PDF visual in the `bordereau-mandats` circuit (the maire signs it)."""
    from parapheur.documents import services as documents

    pdf = render_bordereau_pdf(bordereau, organisation, render)
    document = documents.create_document(
        session, store, title=f"{bordereau.label} — {bordereau.cod_col}/{bordereau.cod_bud}",
        doc_type=DOC_TYPE, doc_subtype=DOC_SUBTYPE, data=pdf,
        filename=f"bordereau-{bordereau.exercice}-{bordereau.number}.pdf", author=author,
        author_desk=author_desk, now=now, circuits_dir=circuits_dir,
        metadata={"exercice": bordereau.exercice, "numero_bordereau": bordereau.number,
                  "montant_total": str(bordereau.amount_ht + bordereau.amount_tva)})
    bordereau.document_id = document.id
    session.flush()
    return document


@dataclass
class BordereauXadesCompanion:
    """The XAdES signature a bordereau's PDF signature brings along (same key, same act).

    Planned with the PAdES signature of the bordereau's document, made while the key is open
    (`sign`), recorded with the signed PDF version in the same transaction (`record`).
    """

    bordereau_id: int
    setup: AccountingSetup
    typed: pes_model.Bordereau
    element: bytes | None = None
    signer_name: str | None = None

    def sign(self, key: Any, now: datetime) -> None:
        """Make the XAdES signature of the bordereau with the open key."""
        shell = _shell(self.setup, "SIGNATURE", now.date(), (self.typed,))
        self.element = sign_pes_bordereau(shell, self.typed, key, self.setup.xades,
                                          signed_at=now)
        self.signer_name = key.subject_name

    # Two phases, for a card reached through the local agent (parapheur.signatures.agent_*):
    # the server computes what the card signs, then inserts the card's value as bytes.
    def prepare_external(self, certificate: Any, chain: Any, signed_at: datetime) -> Any:
        """The XAdES to be made with `certificate`: a `signing.xades.PendingSignature`."""
        from parapheur.accounting.pes.builder import bordereau_document
        from signing.xades import prepare_signature

        shell = _shell(self.setup, "SIGNATURE", signed_at.date(), (self.typed,))
        return prepare_signature(bordereau_document(shell, self.typed), self.typed.xml_id,
                                 certificate, self.setup.xades, signed_at=signed_at, chain=chain)

    def finish_external(self, pending: Any, signature_value: bytes, *, signer_name: str,
                        signed_at: datetime) -> None:
        """Insert the card's value; XadesError when it does not verify or the bordereau changed."""
        from parapheur.accounting.pes.builder import bordereau_document
        from signing.xades import bordereau_element, finish_external_signature

        shell = _shell(self.setup, "SIGNATURE", signed_at.date(), (self.typed,))
        signed = finish_external_signature(bordereau_document(shell, self.typed), pending,
                                           signature_value)
        self.element = bordereau_element(signed, self.typed.xml_id)
        self.signer_name = signer_name

    def record(self, session: Session, *, actor: Any, now: datetime) -> None:
        """Keep the signed element on the bordereau and journal it."""
        bordereau = session.get(BordereauMandats, self.bordereau_id)
        if bordereau is None or self.element is None:
            raise AccountingError("bordereau_missing", N_("Le bordereau de ce document "
                                                          "n'existe plus : la signature XAdES "
                                                          "n'a pas été enregistrée."))
        if not _signable(bordereau):
            raise Conflict(N_("%(label)s est déjà %(value)s."),
                           label=bordereau.label, value=bordereau.state.label.lower())
        bordereau.signed_element = self.element
        bordereau.signed_at = now
        bordereau.signer_name = self.signer_name
        bordereau.state = BordereauState.SIGNE
        session.flush()
        audit.record(session, "accounting:bordereau:signed", actor=actor,
                     document_id=bordereau.document_id,
                     details={"bordereau_id": bordereau.id, "number": bordereau.number,
                              "exercice": bordereau.exercice, "signer": self.signer_name,
                              "with": "pades"}, clock=lambda: now)


def bordereau_setup(session: Session, bordereau: BordereauMandats, *,
                    policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256) -> AccountingSetup:
    """The accounting setup of the budget a bordereau belongs to."""
    budget = session.scalars(select(OrganisationBudget).where(
        OrganisationBudget.organisation_id == bordereau.organisation_id,
        OrganisationBudget.code_col == bordereau.cod_col,
        OrganisationBudget.code_bud == bordereau.cod_bud)).first()
    if budget is None:
        raise AccountingError("unknown_budget", N_("Le budget %(cod_col)s/%(cod_bud)s du "
                                                   "%(label)s n'est plus configuré."),
                                                cod_col=bordereau.cod_col, cod_bud=bordereau.cod_bud, label=bordereau.label)
    return AccountingSetup.for_budget(budget.organisation, budget, policy_sha256=policy_sha256)


def bordereau_of_document(session: Session, document_id: int) -> BordereauMandats | None:
    """The bordereau whose PDF visual is this document, if any."""
    return session.scalars(select(BordereauMandats).where(
        BordereauMandats.document_id == document_id)).one_or_none()


def _signable(bordereau: BordereauMandats) -> bool:
    """Waiting for its signature, or signed but never exported (an export that failed brings it
    back to the ordonnateur, who signs it again)."""
    return bordereau.state is BordereauState.A_SIGNER or (
        bordereau.state is BordereauState.SIGNE and bordereau.export_id is None)


def xades_companion(session: Session, document: Any, *,
                    policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256
                    ) -> BordereauXadesCompanion | None:
    """For the PDF of a bordereau de mandats waiting for its signature: its XAdES companion.

    None when the bordereau is already in an exported file (its signature is in that file; the
    PDF is signed again after a failed deposit, which the export step then retries).
    """
    bordereau = bordereau_of_document(session, document.id)
    if bordereau is None:
        return None
    if bordereau.state is BordereauState.EXPORTE:
        return None
    if not _signable(bordereau):
        raise Conflict(N_("%(label)s est déjà %(value)s : il n'est pas signé une seconde fois."),
                       label=bordereau.label, value=bordereau.state.label.lower())
    setup = bordereau_setup(session, bordereau, policy_sha256=policy_sha256)
    return BordereauXadesCompanion(bordereau.id, setup, typed_bordereau(bordereau))


def exported_file(session: Session, store: ContentStore, organisation: Organisation,
                  export: PesExport, *, actor: Any, now: datetime) -> tuple[PesExport, bytes]:
    """`export_file` for an export row of `organisation` (its budget found by its codes); NotFound
    when the budget is no longer configured."""
    budget = next((b for b in organisation.budgets
                   if (b.code_col, b.code_bud) == (export.cod_col, export.cod_bud)), None)
    if budget is None:
        raise NotFound(N_("Le budget %(cod_col)s/%(cod_bud)s n'est plus configuré."),
                       cod_col=export.cod_col, cod_bud=export.cod_bud)
    return export_file(session, store, AccountingSetup.for_budget(organisation, budget),
                       export.number, actor=actor, now=now)


def export_file(session: Session, store: ContentStore, setup: AccountingSetup, number: int, *,
                actor: Any, now: datetime) -> tuple[PesExport, bytes]:
    """An earlier export's file again, read from the store (its SHA-256 checked), journaled."""
    export = session.scalars(select(PesExport).where(
        PesExport.organisation_id == setup.organisation_id,
        PesExport.cod_col == setup.budget.cod_col, PesExport.cod_bud == setup.budget.cod_bud,
        PesExport.number == number)).one_or_none()
    if export is None:
        raise AccountingError("unknown_export", N_("Aucun export PES n° %(number)s pour le "
                                                   "budget %(cod_col)s/%(cod_bud)s."),
                                                number=number, cod_col=setup.budget.cod_col, cod_bud=setup.budget.cod_bud, status=404)
    content = store.read(export.sha256)
    audit.record(session, "accounting:pes:downloaded", actor=actor,
                 details={"export_id": export.id, "number": number, "sha256": export.sha256},
                 clock=lambda: now)
    return export, content
