"""Notifications reach a real SMTP server on loopback, respecting preferences and quiet hours."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from app_helpers import csrf_from, page_text, upload
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.circuits.calendar import is_business_day
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus
from parapheur.notifications.models import Notification, NotificationStatus
from parapheur.outbox.models import OutboxMessage, OutboxStatus
from parapheur.outbox.services import deliver_due

# The circuit's notification delivered through the outbox also runs on PostgreSQL (the `postgres`
# marker, tests/conftest.py); quiet hours, digests and retries are the same code on both.

PARIS = ZoneInfo("Europe/Paris")
AUTHOR = "finances@metropole-demo.test"


def deliver_everything(app) -> list[str]:
    """Run the worker's delivery until nothing is due (events plan mails, mails go out)."""
    outcomes: list[str] = []
    for _ in range(10):
        batch = deliver_due(app)
        if not batch:
            return outcomes
        outcomes += [result.outcome for result in batch]
    raise AssertionError("the outbox never drained")


def _document_id(app, title: str) -> int:
    with app.app_context():
        return get_session().execute(
            select(Document.id).where(Document.title == title)).scalar_one()


def _act(client, document_id: int, step: str, verb: str, **data):
    page = client.get(f"/documents/{document_id}").get_data(as_text=True)
    response = client.post(f"/documents/{document_id}/steps/{step}/{verb}",
                           data={"csrf_token": csrf_from(page), **data})
    assert response.status_code == 302, page_text(response)


def _signed_arrete(client_for, app, sample_pdf, title: str) -> int:
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="ACTES/ARRETE", title=title).status_code == 302
    document_id = _document_id(app, title)
    _act(client_for("dgs"), document_id, "visa_dgs", "visa")
    _act(client_for("maire"), document_id, "signature_maire", "sign", passphrase="1234")
    return document_id


def _never_quiet(client) -> None:
    page = client.get("/account").get_data(as_text=True)
    response = client.post("/account/notifications", data={
        "csrf_token": csrf_from(page), "mode": "immediat", "digest_hour": "8",
        "own_quiet_hours": "on", "quiet_start": "00:00", "quiet_end": "00:00"})
    assert response.status_code == 302, page_text(response)


def _events(app, name: str) -> list[dict]:
    with app.app_context():
        return [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.seq)).scalars()]


@pytest.mark.postgres
def test_arrete_notification_reaches_the_authors_mailbox(demo, client_for, sample_pdf, mailbox):
    _never_quiet(client_for("finances"))  # whatever the hour the suite runs at
    document_id = _signed_arrete(client_for, demo, sample_pdf, "Arrêté de stationnement")
    # Signed and journaled as queued: nothing was claimed sent before it was.
    assert _events(demo, "document:notification:queued")[-1]["step"] == "notification_auteur"
    assert mailbox.to(AUTHOR) == []

    assert "done" in deliver_everything(demo)
    [message] = [m for m in mailbox.to(AUTHOR) if "Notification à l'auteur" in m["Subject"]]
    assert message["Subject"] == "[Parapheur] Notification à l'auteur : Arrêté de stationnement"
    text = mailbox.text(message)
    assert f"http://127.0.0.1:5000/documents/{document_id}" in text
    assert "Arrêté de stationnement" in text and "Terminé" in text
    assert f'href="http://127.0.0.1:5000/documents/{document_id}"' in mailbox.html(message)
    assert not message.is_attachment() and all(
        not part.is_attachment() for part in message.walk())  # never the document itself
    sent = _events(demo, "notification:mail:sent")
    assert {"to": "finances", "kind": "circuit_step", "urgent": False} in sent
    # Delivering again sends nothing more: each row once.
    assert deliver_everything(demo) == []
    assert len([m for m in mailbox.to(AUTHOR) if "Notification à l'auteur" in m["Subject"]]) == 1


def test_failed_smtp_delivery_is_retried_and_journaled_without_undoing_the_signature(
        demo, client_for, sample_pdf, mailbox, clock):
    _never_quiet(client_for("finances"))
    mailbox.refuse_next = 100  # the mail server refuses everything for now
    document_id = _signed_arrete(client_for, demo, sample_pdf, "Arrêté de voirie")
    deliver_everything(demo)
    assert mailbox.to(AUTHOR) == []
    retried = [e for e in _events(demo, "outbox:message:retried")
               if e["kind"] == "notification.mail"]
    assert retried and "451" in retried[0]["error"]
    with demo.app_context():
        session = get_session()
        assert session.get(Document, document_id).status is DocumentStatus.APPROVED
        waiting = session.execute(select(OutboxMessage).where(
            OutboxMessage.kind == "notification.mail",
            OutboxMessage.status == OutboxStatus.PENDING)).scalars().all()
        assert waiting and all(m.attempts == 1 and m.last_error for m in waiting)

    mailbox.refuse_next = 0
    assert deliver_everything(demo) == []  # not before its backoff
    clock.moment += timedelta(minutes=2)
    deliver_everything(demo)
    assert len([m for m in mailbox.to(AUTHOR) if "Notification à l'auteur" in m["Subject"]]) == 1
    delivered = [e for e in _events(demo, "outbox:message:delivered")
                 if e["kind"] == "notification.mail"]
    assert delivered and all(e["attempt"] == 2 for e in delivered)


def _next_friday_evening(start: datetime) -> datetime:
    day = start.astimezone(PARIS).date() + timedelta(days=1)
    while not (day.weekday() == 4 and is_business_day(day + timedelta(days=3))):
        day += timedelta(days=1)
    return datetime.combine(day, time(20, 30), PARIS)


def test_held_in_quiet_hours_then_grouped_in_mondays_digest(demo, client_for, sample_pdf,
                                                             mailbox, clock):
    arrete = _signed_arrete(client_for, demo, sample_pdf, "Arrêté de circulation")
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="ACTES/ARRETE",
                  title="Arrêté de débit de boissons").status_code == 302
    rejected = _document_id(demo, "Arrêté de débit de boissons")
    _act(client_for("dgs"), rejected, "visa_dgs", "reject", reason="Horaires à préciser")

    friday = _next_friday_evening(clock())
    clock.moment = friday
    deliver_everything(demo)
    assert mailbox.to(AUTHOR) == []  # Friday 20:30: droit à la déconnexion
    with demo.app_context():
        held = get_session().execute(select(Notification).where(
            Notification.status == NotificationStatus.HELD)).scalars().all()
        mine = [n for n in held if n.user.username == "finances"]
        assert {n.kind for n in mine} == {"circuit_step", "rejection"}
        monday = datetime.combine(friday.date() + timedelta(days=3), time(8, 0), PARIS)
        assert all(n.due_at == monday for n in mine)

    clock.moment = friday + timedelta(hours=14)  # Saturday morning: still nothing
    deliver_everything(demo)
    assert mailbox.to(AUTHOR) == []

    clock.moment = monday
    deliver_everything(demo)
    [digest] = mailbox.to(AUTHOR)
    assert digest["Subject"] == "[Parapheur] 2 notifications en attente depuis votre dernière connexion"
    text = mailbox.text(digest)
    assert "Arrêté de circulation" in text and f"/documents/{arrete}" in text
    assert "Motif : Horaires à préciser" in text and f"/documents/{rejected}" in text
    assert _events(demo, "notification:digest:sent")[-1]["count"] == 2


def test_urgent_step_overrides_quiet_hours(app, clock):
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_user
    from parapheur.db import transaction
    from parapheur.notifications.services import plan
    from parapheur.organisations.services import create_organisation

    clock.moment = _next_friday_evening(clock())
    with app.app_context():
        session = get_session()
        with transaction(session):
            organisation = create_organisation(session, slug="essai", name="Commune d'essai",
                                               now=clock())
            user = create_user(session, organisation=organisation, username="astreinte", full_name="Agent d'astreinte",
                               password="motdepasse", role=Role.AGENT,
                               email="astreinte@metropole-demo.test", now=clock())
            urgent = plan(session, user, kind="arrival", subject="Urgent", context={},
                          document_id=None, urgent=True, now=clock(), config=app.config)
            normal = plan(session, user, kind="arrival", subject="Normal", context={},
                          document_id=None, urgent=False, now=clock(), config=app.config)
        assert urgent.status is NotificationStatus.QUEUED and urgent.due_at == clock()
        assert normal.status is NotificationStatus.HELD and normal.due_at > clock()


def test_urgent_only_preference_skips_the_rest(demo, client_for, sample_pdf, mailbox):
    dgs = client_for("dgs")
    page = dgs.get("/account").get_data(as_text=True)
    assert dgs.post("/account/notifications", data={
        "csrf_token": csrf_from(page), "mode": "urgent", "digest_hour": "8"}).status_code == 302
    upload(client_for("finances"), sample_pdf, typology="ACTES/ARRETE", title="Arrêté d'essai")
    deliver_everything(demo)
    assert mailbox.to("dgs@metropole-demo.test") == []
    with demo.app_context():
        skipped = get_session().execute(select(Notification).where(
            Notification.kind == "arrival")).scalars().all()
        mine = [n for n in skipped
                if n.user.username == "dgs" and n.context["title"] == "Arrêté d'essai"]
        assert [n.status for n in mine] == [NotificationStatus.SKIPPED]
        assert "urgentes" in mine[0].note


def test_bad_preferences_are_refused_in_french(demo, client_for):
    client = client_for("dgs")
    page = client.get("/account").get_data(as_text=True)
    good = {"csrf_token": csrf_from(page), "mode": "immediat", "digest_hour": "8",
            "own_quiet_hours": "on", "quiet_start": "19:00", "quiet_end": "08:00"}
    for field, value, message in [("mode", "jamais", "Mode de notification inconnu"),
                                  ("digest_hour", "25", "entre 0 et 23"),
                                  ("digest_hour", "huit", "entre 0 et 23"),
                                  ("quiet_start", "7h", "heure invalide")]:
        response = client.post("/account/notifications", data={**good, field: value})
        assert response.status_code == 400, field
        assert message in page_text(response)
    with demo.app_context():
        assert _events(demo, "account:notifications:updated") == []


def test_password_change_checks_the_current_one(demo, client_for):
    from app_helpers import login

    client = client_for("dgs")
    page = client.get("/account").get_data(as_text=True)
    wrong = client.post("/account/password", data={
        "csrf_token": csrf_from(page), "current": "pas-le-bon", "new": "nouveau-secret-1",
        "confirm": "nouveau-secret-1"})
    assert wrong.status_code == 403 and "actuel est incorrect" in page_text(wrong)
    right = client.post("/account/password", data={
        "csrf_token": csrf_from(page), "current": "demo-dgs", "new": "nouveau-secret-1",
        "confirm": "nouveau-secret-1"})
    assert right.status_code == 302
    assert login(demo.test_client(), "dgs").status_code == 401
    assert login(demo.test_client(), "dgs", "nouveau-secret-1").status_code == 302
    assert _events(demo, "account:password:changed")
    assert "nouveau-secret-1" not in str(_events(demo, "account:password:changed"))


def test_organisation_quiet_hours_set_from_the_command_line(demo, clock):
    from app_helpers import run_cli

    from parapheur.accounts.models import User
    from parapheur.notifications.services import quiet_hours_for

    result = run_cli(demo, "notifications", "quiet-hours", "--hours", "22:00-06:00",
                     "--no-weekends")
    assert result.returncode == 0, result.stderr
    assert "de 22:00 à 06:00, les jours fériés" in result.stdout
    bad = run_cli(demo, "notifications", "quiet-hours", "--hours", "22h-6h")
    assert bad.returncode == 1 and "heure invalide" in bad.stderr
    with demo.app_context():
        session = get_session()
        user = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        hours = quiet_hours_for(session, user, demo.config)
        saturday = _next_friday_evening(clock()) + timedelta(hours=17)  # Saturday 13:30
        assert not hours.is_quiet(saturday) and hours.is_quiet(saturday + timedelta(hours=9))


def test_daily_digest_preference_waits_for_the_chosen_hour(app, clock):
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_user
    from parapheur.db import transaction
    from parapheur.notifications.services import PreferenceChange, plan, set_preferences
    from parapheur.organisations.services import create_organisation

    friday_morning = _next_friday_evening(clock()) - timedelta(hours=11)  # Friday 09:30
    clock.moment = friday_morning
    with app.app_context():
        session = get_session()
        with transaction(session):
            organisation = create_organisation(session, slug="essai", name="Commune d'essai",
                                               now=clock())
            user = create_user(session, organisation=organisation, username="resume",
                               full_name="Agent au résumé", password="motdepasse",
                               role=Role.AGENT, email="resume@metropole-demo.test", now=clock())
            set_preferences(session, user, PreferenceChange(mode="resume", digest_hour=17),
                            now=clock())
            first = plan(session, user, kind="arrival", subject="Un", context={},
                         document_id=None, urgent=False, now=clock(), config=app.config)
            clock.moment = friday_morning + timedelta(hours=9)  # 18:30, after the digest
            second = plan(session, user, kind="arrival", subject="Deux", context={},
                          document_id=None, urgent=False, now=clock(), config=app.config)
        assert first.due_at == datetime.combine(friday_morning.date(), time(17), PARIS)
        monday = friday_morning.date() + timedelta(days=3)
        assert second.due_at == datetime.combine(monday, time(17), PARIS)
        digests = get_session().execute(select(OutboxMessage).where(
            OutboxMessage.kind == "notification.digest")).scalars().all()
        assert sorted(m.available_at for m in digests) == [first.due_at, second.due_at]


def test_mail_html_escapes_what_users_typed(app):
    from parapheur.accounts.models import User
    from parapheur.notifications.handlers import _render
    from parapheur.organisations.models import Organisation

    user = User(full_name="Agent <b>gras</b>", organisation=Organisation(name="Ville <b>"))
    item = Notification(kind="rejection", urgent=False, context={
        "title": "<script>alert(1)</script>", "step": "Visa", "reason": "<i>non</i>",
        "link": "http://127.0.0.1:5000/documents/1"})
    with app.test_request_context():
        text, html = _render(user, [item], digest=False)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;i&gt;non" in html
    assert "<script>alert(1)</script>" in text  # plain text is shown as typed
