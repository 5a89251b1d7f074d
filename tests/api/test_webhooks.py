"""Webhooks delivered to a real HTTP server on loopback: signatures, retries, order, rollbacks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from api_helpers import deposit, run_worker
from app_helpers import csrf_from
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction
from parapheur.outbox.models import OutboxMessage
from parapheur.webhooks import signing
from parapheur.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


def _subscribe(api, token_for, receiver, events) -> dict:
    admin = api(token_for("admin"))
    response = admin.post("/api/v1/webhooks", json={"url": receiver.url, "events": events,
                                                    "description": "GED"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def _deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        return list(get_session().execute(select(WebhookDelivery).order_by(WebhookDelivery.id))
                    .scalars())


def test_events_arrive_signed_and_verifiable(webhooks_app, api, token_for, receiver, clock,
                                             sample_pdf):
    subscription = _subscribe(api, token_for, receiver,
                              ["document.created", "document.step_entered"])
    assert subscription["secret"].startswith("whsec_")
    listed = api(token_for("admin")).get("/api/v1/webhooks").json
    assert "secret" not in listed[0]  # shown once, at creation
    document = deposit(api(token_for("finances")), sample_pdf).json
    assert receiver.requests == []  # nothing leaves before the worker
    results = run_worker(webhooks_app)
    assert [r.outcome for r in results if r.kind == "webhook.delivery"] == ["done", "done"]
    events = receiver.events()
    assert [e["type"] for e in events] == ["document.created", "document.step_entered"]
    assert all(e["data"]["document_id"] == document["id"] for e in events)
    assert events[1]["data"]["step"] == "visa_dgs" and events[1]["data"]["desks"] == ["dgs"]
    for request in receiver.requests:
        header = request["headers"][signing.HEADER]
        assert signing.verify(subscription["secret"], header, request["body"],
                              now=int(clock().timestamp()))
        assert not signing.verify("whsec_another", header, request["body"],
                                  now=int(clock().timestamp()))
        assert not signing.verify(subscription["secret"], header, request["body"] + b" ",
                                  now=int(clock().timestamp()))
        # The documented recipe, by hand: HMAC-SHA256(secret, "<t>." + body), hex.
        import hashlib
        import hmac
        t = header.split(",")[0].removeprefix("t=")
        expected = hmac.new(subscription["secret"].encode(), f"{t}.".encode() + request["body"],
                            hashlib.sha256).hexdigest()
        assert header == f"t={t},v1={expected}"
        assert request["headers"]["X-Parapheur-Event-Id"] == json.loads(request["body"])["id"]
    with webhooks_app.app_context():
        journal = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "outbox:message:delivered")).scalars().all()
        delivered = [e.details for e in journal if e.details.get("kind") == "webhook.delivery"]
        assert [d["status_code"] for d in delivered] == [200, 200]


@pytest.mark.postgres
def test_a_500_is_retried_later_and_then_delivered(webhooks_app, api, token_for, receiver,
                                                   clock, sample_pdf):
    _subscribe(api, token_for, receiver, ["document.created"])
    receiver.statuses = [500]
    deposit(api(token_for("finances")), sample_pdf)
    [first] = [r for r in run_worker(webhooks_app) if r.kind == "webhook.delivery"]
    assert first.outcome == "retry" and "HTTP 500" in first.error
    # Not due yet: the backoff holds it. (The DGS's arrival mail, queued by the first sweep, goes
    # out now or waits for the end of quiet hours, depending on the hour the suite runs.)
    assert [r for r in run_worker(webhooks_app) if r.kind == "webhook.delivery"] == []
    clock.moment = first.next_attempt_at + timedelta(seconds=1)
    [second] = [r for r in run_worker(webhooks_app) if r.kind == "webhook.delivery"]
    assert second.outcome == "done"
    assert [r["status"] for r in receiver.requests] == [500, 200]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]  # the same event
    [delivery] = _deliveries(webhooks_app)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 2
    admin = api(token_for("admin"))
    subscription_id = admin.get("/api/v1/webhooks").json[0]["id"]
    [listed] = admin.get(f"/api/v1/webhooks/{subscription_id}/deliveries").json
    assert listed["status"] == "livre" and listed["attempts"] == 2
    assert listed["last_status_code"] == 200
    resent = admin.post(f"/api/v1/webhooks/deliveries/{delivery.id}/redeliver")
    assert resent.status_code == 202 and resent.json["status"] == "en_attente"
    run_worker(webhooks_app)
    assert json.loads(receiver.requests[-1]["body"])["id"] == delivery.event_id
    assert len(receiver.requests) == 3
    with webhooks_app.app_context():
        names = [e.name for e in get_session().execute(select(AuditEvent).where(
            AuditEvent.name.like("outbox:message:%")).order_by(AuditEvent.seq)).scalars()
            if e.details.get("kind") == "webhook.delivery"]
        # The retry, its success, then the « renvoyer »'s own delivery.
        assert names[-3:] == ["outbox:message:retried", "outbox:message:delivered",
                              "outbox:message:delivered"]


def test_a_documents_events_keep_their_order_when_the_first_fails(
        webhooks_app, api, token_for, receiver, clock, sample_pdf):
    _subscribe(api, token_for, receiver, ["document.created", "document.step_entered",
                                          "document.rejected", "document.finished"])
    receiver.statuses = [500]  # the very first event (document.created) fails once
    document = deposit(api(token_for("finances")), sample_pdf).json
    dgs = api(token_for("dgs"))
    assert dgs.post(f"/api/v1/documents/{document['id']}/steps/visa_dgs/reject",
                    json={"reason": "Incomplet"}).status_code == 200
    for _ in range(12):
        run_worker(webhooks_app)
        clock.moment += timedelta(minutes=5)
    accepted = [e["type"] for e in receiver.events()]
    assert accepted == ["document.created", "document.step_entered", "document.rejected",
                        "document.finished"]
    # Nothing of the document was sent before its first event got through.
    assert [json.loads(r["body"])["type"] for r in receiver.requests][:2] == \
        ["document.created", "document.created"]
    seqs = [e["audit_seq"] for e in receiver.events()]
    assert seqs == sorted(seqs)


def _scheduled(app) -> list[tuple[int, object]]:
    """The nudges the app's queue holds with a time: (outbox row, time), in UTC (a consumer moves
    them from the queue to its schedule)."""
    from parapheur.outbox.tasks import QUEUE_KEY

    huey = app.extensions[QUEUE_KEY].huey
    return sorted((task.args[0], task.eta) for task in huey.pending() + huey.scheduled()
                  if task.eta is not None)


def _utc_naive(moment):
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None)


def test_an_event_whose_earlier_one_is_being_sent_looks_again_within_seconds(
        webhooks_app, api, token_for, receiver, clock, sample_pdf):
    from parapheur.outbox import services as outbox

    _subscribe(api, token_for, receiver, ["document.created", "document.step_entered"])
    deposit(api(token_for("finances")), sample_pdf)
    first, second = _deliveries(webhooks_app)
    with webhooks_app.app_context():
        session = get_session()
        rows = {w.id: outbox.find_by_key(session, w.outbox_key).id for w in (first, second)}
        clock.moment += timedelta(hours=1)  # the queue holds what is due later than real time
        # Another worker is sending the first event right now.
        with transaction(session):
            assert outbox.claim(session, rows[first.id], worker="other", now=clock(),
                                lease=timedelta(minutes=5))
    waited = outbox.deliver(webhooks_app, rows[second.id])
    assert waited.outcome == "retry" and f"livraison n° {first.id}" in waited.error
    # Not the backoff of a failure (30 s, then more): a look again in two seconds, asked of the
    # queue for that time; and nothing was tried, so no attempt is counted.
    assert waited.next_attempt_at == clock() + timedelta(seconds=2)
    assert (rows[second.id], _utc_naive(waited.next_attempt_at)) in _scheduled(webhooks_app)
    with webhooks_app.app_context():
        row = get_session().get(OutboxMessage, rows[second.id])
        assert row.attempts == 0 and row.available_at == waited.next_attempt_at
    assert receiver.requests == []
    # The first one goes through; the second one is then sent, after it.
    with webhooks_app.app_context():
        assert outbox.deliver_claimed(webhooks_app, rows[first.id],
                                      worker="other").outcome == "done"
    clock.moment = waited.next_attempt_at
    assert outbox.deliver(webhooks_app, rows[second.id]).outcome == "done"
    assert [e["type"] for e in receiver.events()] == ["document.created", "document.step_entered"]
    assert [d.attempts for d in _deliveries(webhooks_app)] == [1, 1]


def test_an_event_waiting_behind_a_failed_one_goes_right_after_its_retry(
        webhooks_app, api, token_for, receiver, clock, sample_pdf):
    from parapheur.outbox import services as outbox

    _subscribe(api, token_for, receiver, ["document.created", "document.step_entered"])
    receiver.statuses = [500]
    deposit(api(token_for("finances")), sample_pdf)
    first, second = _deliveries(webhooks_app)
    with webhooks_app.app_context():
        session = get_session()
        rows = [outbox.find_by_key(session, w.outbox_key).id for w in (first, second)]
    clock.moment += timedelta(hours=1)  # the queue holds what is due later than real time
    failed = outbox.deliver(webhooks_app, rows[0])
    assert failed.outcome == "retry" and "HTTP 500" in failed.error
    # The failed row is asked of the queue at its retry time, not left to the minute's sweep.
    assert (rows[0], _utc_naive(failed.next_attempt_at)) in _scheduled(webhooks_app)
    waited = outbox.deliver(webhooks_app, rows[1])
    assert waited.outcome == "retry"
    assert waited.next_attempt_at == failed.next_attempt_at + timedelta(seconds=1)
    clock.moment = waited.next_attempt_at
    run_worker(webhooks_app)
    assert [e["type"] for e in receiver.events()] == ["document.created", "document.step_entered"]
    assert [d.attempts for d in _deliveries(webhooks_app)] == [2, 1]


@pytest.mark.postgres
def test_a_rolled_back_transaction_never_sends_anything(webhooks_app, api, token_for, receiver,
                                                        sample_pdf):
    from parapheur.accounts.models import User
    from parapheur.clock import now
    from parapheur.context import store_for, workflows_dir_for
    from parapheur.documents import services

    _subscribe(api, token_for, receiver, ["document.created", "document.step_entered"])
    with webhooks_app.app_context():
        session = get_session()
        author = session.execute(select(User).where(User.username == "finances")).scalar_one()
        with pytest.raises(RuntimeError), transaction(session):
            services.create_document(
                session, store_for(webhooks_app.config), title="Jamais", doc_type="ACTES",
                doc_subtype="DELIBERATION", data=sample_pdf, filename="jamais.pdf",
                author=author, author_desk=author.desks[0], now=now(), metadata={},
                circuits_dir=workflows_dir_for(webhooks_app.config))
            raise RuntimeError("the caller fails after the state change")
        assert session.execute(select(OutboxMessage).where(
            OutboxMessage.kind == "webhook.delivery")).first() is None
    assert _deliveries(webhooks_app) == []
    run_worker(webhooks_app)
    assert receiver.requests == []
    # …while the same deposit, committed, does send.
    deposit(api(token_for("finances")), sample_pdf, title="Commit")
    run_worker(webhooks_app)
    assert [e["data"]["title"] for e in receiver.events()] == ["Commit", "Commit"]


def test_after_a_day_of_failures_the_subscription_is_disabled_and_admins_told_then_resent(
        webhooks_app, api, token_for, receiver, clock, mailbox, client_for, sample_pdf):
    subscription = _subscribe(api, token_for, receiver, ["document.created"])
    receiver.statuses = [503] * 1000
    deposit(api(token_for("finances")), sample_pdf)
    start = clock.moment
    while clock.moment < start + timedelta(hours=25):
        run_worker(webhooks_app)
        clock.moment += timedelta(minutes=30)
    [delivery] = _deliveries(webhooks_app)
    assert delivery.status is DeliveryStatus.FAILED
    assert 10 < len(receiver.requests) < 60  # backed off: tries spread over the day
    with webhooks_app.app_context():
        row = get_session().get(WebhookSubscription, subscription["id"])
        assert not row.active and "un jour" in row.disabled_reason
        assert get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "webhook:subscription:disabled")).scalar_one()
    run_worker(webhooks_app)  # the notice to the administrators
    [notice] = [m for m in mailbox.messages if "Webhook désactivé" in m["Subject"]]
    assert "admin@" in str(notice["To"])
    assert f"/admin/webhooks/{subscription['id']}" in notice.get_body(("plain",)).get_content()
    admin = client_for("admin")
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert "est désactivé" in page
    token = csrf_from(admin.get(f"/admin/webhooks/{subscription['id']}").get_data(as_text=True))
    # « Renvoyer » is refused while the subscription is disabled; re-enable, then resend.
    assert admin.post(f"/admin/webhooks/deliveries/{delivery.id}/redeliver",
                      data={"csrf_token": token}).status_code == 409
    assert admin.post(f"/admin/webhooks/{subscription['id']}/active",
                      data={"csrf_token": token, "active": "1"}).status_code == 302
    receiver.statuses = []
    sent_before = len(receiver.requests)
    assert admin.post(f"/admin/webhooks/deliveries/{delivery.id}/redeliver",
                      data={"csrf_token": token}).status_code == 302
    run_worker(webhooks_app)
    assert len(receiver.requests) == sent_before + 1 and receiver.requests[-1]["status"] == 200
    assert json.loads(receiver.requests[-1]["body"])["id"] == delivery.event_id
    [resent] = _deliveries(webhooks_app)
    assert resent.status is DeliveryStatus.DELIVERED
    with webhooks_app.app_context():
        assert get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "webhook:delivery:resent")).scalar_one().actor_label == "admin"


def test_subscriptions_refuse_bad_urls_and_unknown_events(demo, api, token_for):
    admin = api(token_for("admin"))
    private = admin.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x",
                                                   "events": ["document.created"]})
    assert private.status_code == 400 and "privées" in private.json["detail"]
    unknown = admin.post("/api/v1/webhooks", json={"url": "https://ged.example.org/hook",
                                                   "events": ["document.mangé"]})
    assert unknown.status_code == 400 and "inconnus" in unknown.json["detail"]
    credentials = admin.post("/api/v1/webhooks", json={
        "url": "https://user:pw@ged.example.org/hook", "events": ["document.created"]})
    assert credentials.status_code == 400
    agent = api(token_for("dgs"))
    assert agent.get("/api/v1/webhooks").status_code == 403
