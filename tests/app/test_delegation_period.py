"""A delegation « du … au … » covers both days, whether made from the shell or from the page."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app_helpers import csrf_from, run_cli
from sqlalchemy import select

from parapheur.accounts.models import Delegation, Desk
from parapheur.accounts.services import delegation_period
from parapheur.dates import PARIS
from parapheur.db import get_session


def _periods(app) -> list[tuple[datetime, datetime]]:
    with app.app_context():
        session = get_session()
        maire = session.execute(select(Desk).where(Desk.slug == "maire")).scalar_one()
        return [(d.starts_at, d.ends_at) for d in session.execute(
            select(Delegation).where(Delegation.from_desk_id == maire.id)
            .order_by(Delegation.id)).scalars()]


def test_the_shell_and_the_form_give_the_same_inclusive_period(demo, client_for):
    result = run_cli(demo, "delegations", "create", "maire", "adjoint",
                     "--start", "2027-03-30", "--end", "2027-03-30")
    assert result.returncode == 0, result.stderr
    maire = client_for("maire")
    page = maire.get("/delegations").get_data(as_text=True)
    with demo.app_context():
        desks = {d.slug: d.id for d in get_session().execute(select(Desk)).scalars()}
    response = maire.post("/delegations", data={
        "csrf_token": csrf_from(page), "from_desk": desks["maire"], "to_desk": desks["adjoint"],
        "starts": "2027-03-30", "ends": "2027-03-30"})
    assert response.status_code == 302
    shell, form = _periods(demo)
    # One day, the whole of it, in Paris time (summer time started on the 28th).
    assert shell == form == (datetime(2027, 3, 30, tzinfo=PARIS), datetime(2027, 3, 31, tzinfo=PARIS))
    assert shell[0].astimezone(UTC) == datetime(2027, 3, 29, 22, tzinfo=UTC)


def test_the_period_ends_at_midnight_after_the_last_day_across_a_clock_change():
    starts, ends = delegation_period(date(2026, 10, 24), date(2026, 10, 25))
    assert starts == datetime(2026, 10, 24, tzinfo=PARIS)
    assert ends == datetime(2026, 10, 26, tzinfo=PARIS)
    assert (ends.astimezone(UTC) - starts.astimezone(UTC)).total_seconds() == 49 * 3600  # the night of the 25th has 25 hours
