"""Payment-clock reminders: an invoice waiting in its circuit near its délai global de paiement
reminds the desk it waits on, a late one is flagged; through the notifications (real SMTP on
loopback), quiet hours respected, with the frozen clock."""

from __future__ import annotations

import io
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from app_helpers import csrf_from, login
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.audit.models import AuditEvent
from parapheur.circuits.calendar import is_business_day
from parapheur.db import get_session, transaction
from parapheur.invoices.models import Invoice
from parapheur.notifications.late import queue_late_reminders
from parapheur.notifications.models import Notification, NotificationStatus
from parapheur.notifications.services import instance_quiet_hours
from parapheur.outbox.services import deliver_due

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import SERVICE, make_finance_accounts, supplier, xml  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
TECHNICIEN = "technicien@demo.test"


def _working_morning(day) -> datetime:
    """10:00 Paris on the first business day from `day`: outside the quiet hours."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 0), PARIS)


def _remind(app) -> int:
    """The invoice reminders the periodic job queues now (it also reminds late steps)."""
    from parapheur.invoices.reminders import queue_invoice_reminders

    with app.app_context():
        session = get_session()
        with transaction(session):
            return queue_invoice_reminders(session, now=app.config["CLOCK"](),
                                           config=app.config).total


def _invoice_mails(mailbox, address: str) -> list:
    return [m for m in mailbox.to(address) if m["Subject"].startswith("[Parapheur] Facture")]


def _deliver_everything(app) -> None:
    for _ in range(10):
        if not deliver_due(app):
            return
    raise AssertionError("the outbox never drained")


@pytest.fixture
def reminder_app(app, clock):
    clock.moment = _working_morning(clock().astimezone(PARIS).date() + timedelta(days=1))
    make_finance_accounts(app)
    with app.app_context():
        session = get_session()
        with transaction(session):
            for user in session.execute(select(User)).scalars():
                user.email = f"{user.username}@demo.test"
    return app


def _import(app, number: str) -> int:
    client = app.test_client()
    assert login(client, "finances").status_code == 302
    token = csrf_from(client.get("/factures/").get_data(as_text=True))
    response = client.post("/factures/import", content_type="multipart/form-data",
                           headers={"Accept": "application/json"}, data={
                               "csrf_token": token, "files": [(io.BytesIO(xml(
                                   number, buyer_reference=SERVICE, **supplier(1))),
                                   f"{number}.xml")]})
    [result] = response.get_json()["results"]
    assert result["routed"], result
    return int(result["url"].rsplit("/", 1)[1])


def _events(app, name: str) -> list[dict]:
    with app.app_context():
        return [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.seq)).scalars()]


def test_an_invoice_near_its_deadline_reminds_its_desk_once(reminder_app, mailbox, clock):
    received = clock()
    invoice_id = _import(reminder_app, "R-1")
    _deliver_everything(reminder_app)  # the arrival notification

    clock.moment = received + timedelta(days=20)  # ten days left: not yet at risk
    assert _remind(reminder_app) == 0

    clock.moment = _working_morning((received + timedelta(days=26)).date())
    assert queue_late_reminders(reminder_app) >= 1  # the periodic job
    assert _remind(reminder_app) == 0  # once per invoice and deadline
    _deliver_everything(reminder_app)
    [mail] = _invoice_mails(mailbox, TECHNICIEN)
    left = 30 - (clock().date() - received.date()).days
    assert mail["Subject"] == f"[Parapheur] Facture R-1 : plus que {left} j pour la payer"
    text = mailbox.text(mail)
    deadline = (received.date() + timedelta(days=30)).strftime("%d/%m/%Y")
    assert f"attend encore l'étape « Constatation du service fait » : le délai global de " \
           f"paiement expire le {deadline}" in text
    assert f"/factures/{invoice_id}" in text
    assert _events(reminder_app, "invoice:dgp:late") == []


def test_a_late_invoice_is_flagged_and_its_reminder_waits_for_the_working_hours(
        reminder_app, mailbox, clock):
    received = clock()
    invoice_id = _import(reminder_app, "R-2")
    _deliver_everything(reminder_app)

    evening = datetime.combine((received + timedelta(days=33)).date(), time(21, 30), PARIS)
    clock.moment = evening
    assert _remind(reminder_app) == 1
    _deliver_everything(reminder_app)
    assert _invoice_mails(mailbox, TECHNICIEN) == []  # droit à la déconnexion
    with reminder_app.app_context():
        held = get_session().execute(select(Notification).where(
            Notification.kind == "invoice_late")).scalars().all()
        assert {n.user.username for n in held} == {"technicien", "finances"}
        assert {n.status for n in held} == {NotificationStatus.HELD}
        invoice = get_session().get(Invoice, invoice_id)
        document_id = invoice.document_id
    [flag] = _events(reminder_app, "invoice:dgp:late")
    late_days = (evening.date() - received.date()).days - 30
    assert flag["invoice_id"] == invoice_id and flag["late_days"] == late_days
    assert float(flag["cost"]) >= 40.0  # the fixed indemnity at least

    clock.moment = instance_quiet_hours(reminder_app.config).next_allowed(evening)
    assert _remind(reminder_app) == 0  # already flagged and reminded
    _deliver_everything(reminder_app)
    [mail] = _invoice_mails(mailbox, TECHNICIEN)
    assert mail["Subject"] == (f"[Parapheur] Facture R-2 en retard de paiement "
                               f"({late_days} j)")
    text = mailbox.text(mail)
    assert "EN RETARD : la facture R-2 de Fournisseur 1" in text
    assert f"({late_days} jours de retard)" in text and "indemnité forfaitaire" in text
    assert f"/documents/{document_id}" in text


def test_a_suspended_or_processed_invoice_reminds_nobody(reminder_app, mailbox, clock):
    from parapheur.invoices import lifecycle

    received = clock()
    suspended_id = _import(reminder_app, "R-3")
    done_id = _import(reminder_app, "R-4")
    with reminder_app.app_context():
        session = get_session()
        agent = session.execute(select(User).where(User.username == "finances")).scalar_one()
        with transaction(session):
            lifecycle.suspend(session, session.get(Invoice, suspended_id), actor=agent,
                              reason="Bon de livraison manquant", now=received)
        with transaction(session):
            lifecycle.act(session, session.get(Invoice, done_id), actor=agent,
                          decision="approve", now=received)
    clock.moment = _working_morning((received + timedelta(days=40)).date())
    assert _remind(reminder_app) == 0
    assert _events(reminder_app, "invoice:dgp:late") == []
