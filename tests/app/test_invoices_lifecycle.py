"""The whole path: 20 invoices (Factur-X PDF and XML) imported, matched to engagements, service
fait, visa of the finances, « Service fait »; every status change journaled; the DGP clock across
a suspension; late-payment cost; « À rapprocher »."""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import render_template
from sqlalchemy import func, select

from parapheur.accounts.models import User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction
from parapheur.documents.storage import ContentStore
from parapheur.invoices import engagements, lifecycle
from parapheur.invoices.errors import EngagementImportError, InvoiceStateError
from parapheur.invoices.models import Invoice, InvoiceStatus, InvoiceStatusChange
from parapheur.invoices.services import import_invoice

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "invoices"))
from invoice_helpers import SERVICE, make_finance_accounts, supplier, xml  # noqa: E402

BIG = (("Travaux de voirie", Decimal("1"), Decimal("25000"), Decimal("20")),)  # 30 000 € TTC


@pytest.fixture
def finance_app(app):
    make_finance_accounts(app)
    return app


def _user(session, username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def _engagements_csv(count: int) -> bytes:
    lines = ["numero;exercice;service;bureau;siren_fournisseur;fournisseur;objet;montant_ttc;"
             "nature;fonction;operation"]
    for i in range(1, count + 1):
        lines.append(f"ENG-{i:02d};2026;{SERVICE};{SERVICE};{supplier(i)['seller_siren']};"
                     f"Fournisseur {i};Voirie lot {i};40 000,00;2315;822;OP{i:02d}")
    return ("\n".join(lines) + "\n").encode()


def _facturx(data: bytes) -> bytes:
    from weasyprint import HTML

    from parapheur.invoices.generate import facturx_pdf

    return facturx_pdf(data, HTML(string="<p>Facture</p>").write_pdf())


def test_twenty_invoices_to_service_fait(finance_app, clock):
    app = finance_app
    start = clock.moment
    store = ContentStore(app.config["DATA_DIR"] / "store")
    with app.app_context(), app.test_request_context():
        session = get_session()
        finances, technicien = _user(session, "finances"), _user(session, "technicien")
        with transaction(session):
            assert engagements.import_engagements(session, _engagements_csv(20), actor=finances,
                                                  organisation_id=finances.organisation_id,
                                                  now=start).created == 20
        for i in range(1, 21):
            # Even ones carry the engagement number (BT-13); odd ones only supplier + service.
            data = xml(f"F-{i:02d}", buyer_reference=SERVICE, lines=BIG,
                       order_reference=f"ENG-{i:02d}" if i % 2 == 0 else None, **supplier(i))
            filename = f"F-{i:02d}.xml"
            if i <= 10:
                data, filename = _facturx(data), f"F-{i:02d}.pdf"
            with transaction(session):
                result = import_invoice(session, store, data=data, filename=filename,
                                        actor=finances, actor_desk=finances.desks[0], now=start,
                                        render=render_template)
            assert result.routed and result.problems == [], (i, result.problems)
        invoices = session.execute(select(Invoice).order_by(Invoice.id)).scalars().all()
        assert [inv.engagement.number for inv in invoices] == [f"ENG-{i:02d}" for i in range(1, 21)]
        assert [inv.container for inv in invoices] == ["pdf"] * 10 + ["xml"] * 10
        assert session.execute(engagements.to_match_query(finances.organisation_id)).scalars().all() == []
        first = invoices[0]

        # A justified suspension on day 5, the missing piece on day 9.
        with transaction(session):
            with pytest.raises(InvoiceStateError):
                lifecycle.suspend(session, first, actor=finances, reason="  ",
                                  now=start + timedelta(days=5))
        with transaction(session):
            lifecycle.suspend(session, first, actor=finances, reason="Bon de livraison manquant",
                              now=start + timedelta(days=5))
        outcomes = lifecycle.batch_act(session, [inv.id for inv in invoices], actor=technicien,
                                       decision="approve", now=start + timedelta(days=6))
        assert [o.ok for o in outcomes] == [False] + [True] * 19
        assert outcomes[0].message.startswith("Cette facture est suspendue")
        with transaction(session):
            lifecycle.resume(session, first, actor=finances, now=start + timedelta(days=9))
        with transaction(session):
            with pytest.raises(InvoiceStateError) as twice:
                lifecycle.suspend(session, first, actor=finances, reason="Encore",
                                  now=start + timedelta(days=9))
        assert "qu'une seule fois" in twice.value.message
        [late] = lifecycle.batch_act(session, [first.id], actor=technicien, decision="approve",
                                     now=start + timedelta(days=10))
        assert late.ok, late.message
        # The service desk cannot give the finances' visa.
        [refused] = lifecycle.batch_act(session, [invoices[1].id], actor=technicien,
                                        decision="approve", now=start + timedelta(days=11))
        assert not refused.ok
        visas = lifecycle.batch_act(session, [inv.id for inv in invoices], actor=finances,
                                    decision="approve", now=start + timedelta(days=12))
        assert all(o.ok for o in visas), [o.message for o in visas if not o.ok]
        assert visas[0].message == "Visa du service finances : fait (Service fait)."

        session.expire_all()
        invoices = session.execute(select(Invoice).order_by(Invoice.id)).scalars().all()
        assert {inv.status for inv in invoices} == {InvoiceStatus.SERVICE_FAIT}
        assert [c.status.value for c in invoices[0].status_history] == [
            "deposee", "mise_a_disposition", "suspendue", "mise_a_disposition", "service_fait"]
        assert invoices[0].status_history[2].reason == "Bon de livraison manquant"
        assert [c.status.value for c in invoices[1].status_history] == [
            "deposee", "mise_a_disposition", "service_fait"]
        changes = session.execute(select(func.count()).select_from(InvoiceStatusChange)).scalar()
        journaled = session.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.name == "invoice:status:changed")).scalar()
        assert changes == journaled == 20 * 3 + 2

        # The payment clock on day 12: 18 days left, 22 for the suspended one (4 days stopped).
        now = start + timedelta(days=12)
        assert lifecycle.clock_of(invoices[1], now).remaining_days == 18
        clock_first = lifecycle.clock_of(invoices[0], now)
        assert (clock_first.suspended_days, clock_first.remaining_days) == (4, 22)
        assert clock_first.deadline == (start + timedelta(days=34)).date()
        rows = lifecycle.deadlines(session, finances.organisation_id, now)
        assert rows[-1][0].id == invoices[0].id  # the most days left comes last

        # Unpaid on day 40: 10 days late, intérêts moratoires at ECB 2.15 + 8 points + 40 €.
        cost = lifecycle.late_cost(invoices[1], start + timedelta(days=40), app.config)
        assert cost.late_days == 10 and cost.rate_percent == Decimal("10.15")
        assert cost.interest == Decimal("83.42") and cost.indemnity == Decimal("40.00")


def test_unmatched_invoice_waits_to_be_matched(finance_app, clock):
    app = finance_app
    store = ContentStore(app.config["DATA_DIR"] / "store")
    with app.app_context(), app.test_request_context():
        session = get_session()
        finances = _user(session, "finances")
        with transaction(session):
            engagements.import_engagements(session, _engagements_csv(2), actor=finances,
                                           organisation_id=finances.organisation_id,
                                           now=clock.moment)
        with transaction(session):
            result = import_invoice(session, store, data=xml("R-1", **supplier(1)),
                                    filename="R-1.xml", actor=finances,
                                    actor_desk=finances.desks[0], now=clock.moment,
                                    render=render_template)
        invoice = result.invoice
        assert invoice.engagement_id is None  # SERV-TECH is no engagement's service
        assert session.execute(engagements.to_match_query(finances.organisation_id)).scalars().all() == [invoice]
        with transaction(session):
            with pytest.raises(InvoiceStateError) as other:
                engagements.match_invoice(session, invoice, actor=finances, now=clock.moment,
                                          engagement_number="ENG-02")
        assert "autre fournisseur" in other.value.message
        with transaction(session):
            warning = engagements.match_invoice(session, invoice, actor=finances,
                                                now=clock.moment, engagement_number="ENG-01")
        assert warning is None
        assert session.execute(engagements.to_match_query(finances.organisation_id)).scalars().all() == []
        assert engagements.remaining_credit(session, invoice.engagement) == Decimal("39939.35")


def test_engagements_file_with_a_bad_line_is_refused_whole(finance_app, clock):
    app = finance_app
    data = _engagements_csv(2) + b"ENG-03;2026;x;;123456789;;;abc;2315;;\n"
    with app.app_context():
        session = get_session()
        with pytest.raises(EngagementImportError) as caught:
            with transaction(session):
                engagements.import_engagements(session, data, actor=None, now=clock.moment,
                                               organisation_id=1)
        assert caught.value.message == (
            "Fichier refusé, aucun engagement importé : ligne 4 : montant « abc » invalide, "
            "SIREN « 123456789 » invalide.")
        from parapheur.invoices.models import Engagement

        assert session.execute(select(func.count()).select_from(Engagement)).scalar() == 0
