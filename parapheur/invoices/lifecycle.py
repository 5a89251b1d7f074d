"""An invoice's lifecycle: circuit actions (service fait, visa, rejection) and the statuses that
follow them, the one justified suspension of the payment clock, and batches.

The circuit decides: when the invoice's document reaches a final state, that state's
`external_status` (facture.yaml) becomes the invoice's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounts.models import User
from parapheur.circuits import engine
from parapheur.circuits import services as circuits
from parapheur.circuits.models import StepAction
from parapheur.db import transaction
from parapheur.documents.models import Document, DocumentStatus
from parapheur.errors import N_, ParapheurError, localized
from parapheur.invoices.dgp import DgpClock, LatePaymentCost, dgp_clock, late_payment_cost
from parapheur.invoices.errors import InvoiceNotFound, InvoiceStateError
from parapheur.invoices.models import Invoice, InvoiceStatus
from parapheur.invoices.services import record_status

#: Statuses after which the payment clock has stopped for good.
PAID = (InvoiceStatus.MISE_EN_PAIEMENT, InvoiceStatus.COMPTABILISEE)
CLOSED = (InvoiceStatus.REJETEE, *PAID)


def get_invoice(session: Session, invoice_id: int, *, organisation_id: int) -> Invoice:
    """An invoice of the organisation by id, or InvoiceNotFound."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.organisation_id != organisation_id:
        raise InvoiceNotFound("not_found", N_("Cette facture n'existe pas."))
    return invoice


def sync_from_circuit(session: Session, invoice: Invoice, *, actor: User | None,
                      now: datetime) -> InvoiceStatus | None:
    """Bring the invoice's status in line with its document's circuit (final state reached)."""
    document = invoice.document
    if document is None or document.status is DocumentStatus.IN_PROGRESS:
        return None
    state = circuits.circuit_of(document).states.get(document.run_state.get("current", ""))
    external = state.external_status if state is not None else None
    if not external:
        return None
    try:
        status = InvoiceStatus(external.lower())
    except ValueError:
        return None
    if invoice.status is status:
        return None
    reason = None
    if status in (InvoiceStatus.REJETEE, InvoiceStatus.SUSPENDUE):
        reason = session.execute(
            select(StepAction.reason).where(StepAction.document_id == document.id,
                                            StepAction.reason.is_not(None))
            .order_by(StepAction.acted_at.desc(), StepAction.id.desc()).limit(1)).scalar()
        reason = reason or "Rejet dans le circuit."
    if status is InvoiceStatus.SUSPENDUE and invoice.dgp_suspended_at is None:
        invoice.dgp_suspended_at = now
    record_status(session, invoice, status, actor=actor, now=now, reason=reason)
    return status


def follow_circuit(session: Session, document: Document, *, actor: User | None,
                   now: datetime) -> InvoiceStatus | None:
    """The step listener (see `circuits.services.STEP_LISTENERS_KEY`): whoever recorded the step
    (this module, the document page, a signature, the server), the invoice of the document gets
    the status its circuit now gives, in the same transaction."""
    if document.status is DocumentStatus.IN_PROGRESS:
        return None  # only a final state gives a status: no query for the other steps
    invoice = session.execute(select(Invoice).where(Invoice.document_id == document.id)
                              ).scalar_one_or_none()
    if invoice is None:
        return None
    return sync_from_circuit(session, invoice, actor=actor, now=now)


def _routed(invoice: Invoice) -> None:
    if invoice.blocked or invoice.document is None:
        raise InvoiceStateError("blocked", N_("Cette facture est bloquée (doublon, mal "
                                              "adressée ou illisible) : elle n'est pas dans le "
                                              "circuit."))
    if invoice.status is InvoiceStatus.SUSPENDUE and invoice.dgp_resumed_at is None:
        raise InvoiceStateError("suspended", N_("Cette facture est suspendue : reprenez-la "
                                                "d'abord (pièce reçue)."))


def act(session: Session, invoice: Invoice, *, actor: User, decision: str, now: datetime,
        reason: str | None = None, step: str | None = None) -> engine.PendingStep:
    """Approve (service fait, visa) or reject the invoice's current step; returns that step."""
    _routed(invoice)
    if decision not in ("approve", "reject"):
        raise ParapheurError(N_("Décision inconnue."))
    document = invoice.document
    assert document is not None
    possible = circuits.user_can_act(session, document, actor, now=now)
    steps = [p for p, _capacity in possible if step is None or p.state == step]
    if not steps:
        raise InvoiceStateError("not_your_step", N_("Vous n'avez pas d'étape à traiter sur "
                                                    "cette facture maintenant."))
    pending, capacity = next((p, c) for p, c in possible if p is steps[0])
    # The invoice's status follows in circuits' step record (follow_circuit).
    circuits.act(session, document, step=pending.state, actor=actor, decision=decision,
                 now=now, reason=reason, capacity=capacity)
    return pending


def suspend(session: Session, invoice: Invoice, *, actor: User, reason: str,
            now: datetime) -> None:
    """Suspend the payment clock once, for a justified reason (a missing piece)."""
    _routed(invoice)
    if invoice.dgp_suspended_at is not None:
        raise InvoiceStateError("already_suspended", N_("Le délai global de paiement ne peut "
                                                        "être suspendu qu'une seule fois."))
    if invoice.status in CLOSED:
        raise InvoiceStateError("closed", N_("Cette facture n'est plus à traiter."))
    record_status(session, invoice, InvoiceStatus.SUSPENDUE, actor=actor, now=now,
                  reason=reason)
    invoice.dgp_suspended_at = now


def resume(session: Session, invoice: Invoice, *, actor: User, now: datetime) -> None:
    """The missing piece arrived: the clock runs again, the invoice goes back to its circuit."""
    if invoice.status is not InvoiceStatus.SUSPENDUE or invoice.dgp_resumed_at is not None \
            or invoice.document is None or invoice.document.status is not \
            DocumentStatus.IN_PROGRESS:
        raise InvoiceStateError("not_suspended", N_("Cette facture n'est pas suspendue."))
    invoice.dgp_resumed_at = now
    record_status(session, invoice, InvoiceStatus.MISE_A_DISPOSITION, actor=actor, now=now,
                  reason="Reprise après suspension")


@dataclass(frozen=True)
class BatchOutcome:
    """One invoice of a batch: done, or why not."""

    invoice_id: int
    number: str | None
    ok: bool
    message: str


def batch_act(session: Session, invoice_ids: list[int], *, actor: User, decision: str,
              now: datetime, reason: str | None = None) -> list[BatchOutcome]:
    """Approve (or reject) many invoices: one transaction each, so one refusal stops none."""
    outcomes = []
    for invoice_id in dict.fromkeys(invoice_ids):
        number = None
        try:
            with transaction(session):
                invoice = get_invoice(session, invoice_id,
                                      organisation_id=actor.organisation_id)
                number = invoice.number
                step = act(session, invoice, actor=actor, decision=decision, now=now,
                           reason=reason)
            done = "rejeté" if decision == "reject" else "fait"
            outcomes.append(BatchOutcome(invoice_id, number, True,
                                         f"{step.label} : {done} ({invoice.status.label})."))
        except ParapheurError as exc:
            outcomes.append(BatchOutcome(invoice_id, number, False, localized(exc)))
    return outcomes


def clock_of(invoice: Invoice, now: datetime, *, total_days: int = 30) -> DgpClock:
    """The invoice's payment clock as of now."""
    return dgp_clock(invoice.received_at, now=now, suspended_at=invoice.dgp_suspended_at,
                     resumed_at=invoice.dgp_resumed_at, paid_at=invoice.paid_at,
                     total_days=total_days)


def late_cost(invoice: Invoice, now: datetime, config: Mapping[str, Any]) -> LatePaymentCost:
    """What paying this invoice late costs now (zero when on time)."""
    clock = clock_of(invoice, now)
    amount = invoice.amount_due if invoice.amount_due is not None else invoice.total_gross
    return late_payment_cost(amount or Decimal(0), clock.late_days,
                             ecb_rate=config["INVOICES_ECB_RATE"])


def deadlines(session: Session, organisation_id: int, now: datetime, *, limit: int = 500
              ) -> list[tuple[Invoice, DgpClock]]:
    """Invoices whose clock runs (not blocked, not rejected, not paid), fewest days left first."""
    invoices = session.execute(select(Invoice).where(
        Invoice.organisation_id == organisation_id, Invoice.blocked.is_(False), Invoice.status.not_in(CLOSED)).order_by(
        Invoice.received_at).limit(limit)).scalars().all()
    rows = [(invoice, clock_of(invoice, now)) for invoice in invoices]
    rows.sort(key=lambda row: (row[1].suspended, row[1].remaining_days, row[0].id))
    return rows
