"""The délai global de paiement (DGP) clock and the cost of paying late. Pure: time is passed in.

Collectivités pay within 30 days of receipt (20 for the ordonnateur, 10 for the comptable). One
justified suspension stops the clock until the missing piece arrives. Paying late owes
intérêts moratoires (the ECB rate + 8 points, over the days late) and a fixed 40 € indemnity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

DGP_DAYS = 30
ORDONNATEUR_DAYS = 20
COMPTABLE_DAYS = 10
FIXED_INDEMNITY = Decimal("40.00")


@dataclass(frozen=True)
class DgpClock:
    """Where an invoice stands on its payment clock."""

    received_on: date
    total_days: int
    elapsed_days: int  # days counted so far (suspension excluded)
    suspended_days: int
    suspended: bool  # the clock is stopped now
    remaining_days: int  # negative once late
    deadline: date  # the last day to pay, suspension included (so far)
    ordonnateur_deadline: date  # the ordonnateur's share ends here

    @property
    def late_days(self) -> int:
        return max(0, -self.remaining_days)

    @property
    def at_risk(self) -> bool:
        """Five days or fewer left (or late)."""
        return self.remaining_days <= 5


def dgp_clock(received_at: datetime, *, now: datetime, suspended_at: datetime | None = None,
              resumed_at: datetime | None = None, paid_at: datetime | None = None,
              total_days: int = DGP_DAYS, ordonnateur_days: int = ORDONNATEUR_DAYS) -> DgpClock:
    """The clock of an invoice received at `received_at`, as of `now` (or its payment)."""
    end = paid_at or now
    received_on = received_at.date()
    suspended_days = 0
    suspended = False
    if suspended_at is not None:
        until = resumed_at or end
        suspended_days = max(0, (min(until, end).date() - suspended_at.date()).days)
        suspended = resumed_at is None and paid_at is None
    elapsed = max(0, (end.date() - received_on).days - suspended_days)
    return DgpClock(
        received_on=received_on, total_days=total_days, elapsed_days=elapsed,
        suspended_days=suspended_days, suspended=suspended,
        remaining_days=total_days - elapsed,
        deadline=received_on + timedelta(days=total_days + suspended_days),
        ordonnateur_deadline=received_on + timedelta(days=ordonnateur_days + suspended_days))


@dataclass(frozen=True)
class LatePaymentCost:
    """What paying late costs: intérêts moratoires and the fixed indemnity."""

    late_days: int
    rate_percent: Decimal  # ECB rate + 8 points
    interest: Decimal
    indemnity: Decimal

    @property
    def total(self) -> Decimal:
        return self.interest + self.indemnity


def late_payment_cost(amount: Decimal, late_days: int, *, ecb_rate: Decimal,
                      points: Decimal = Decimal(8),
                      indemnity: Decimal = FIXED_INDEMNITY) -> LatePaymentCost:
    """Intérêts moratoires (amount × (ECB + points) × days / 365) and the 40 € indemnity."""
    rate = ecb_rate + points
    if late_days <= 0:
        return LatePaymentCost(0, rate, Decimal("0.00"), Decimal("0.00"))
    interest = (amount * rate / 100 * late_days / 365).quantize(Decimal("0.01"),
                                                                  rounding=ROUND_HALF_UP)
    return LatePaymentCost(late_days, rate, interest, indemnity)
