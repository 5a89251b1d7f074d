"""The « À traiter » tray at constant cost: decided in SQL, read by keyset, late ones first."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from app_helpers import counting_queries, csrf_from, page_text
from sqlalchemy import select, text

from parapheur.accounts.models import Desk, User
from parapheur.accounts.services import create_delegation
from parapheur.circuits.models import StepAction
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.documents import access, search
from parapheur.documents import services as documents
from parapheur.documents.models import Document
from parapheur.documents.trays import TrayQuery

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres

ROW = re.compile(r'<td>(?:<span class="badge badge-late">En retard</span> )?'
                 r'<a href="/documents/(\d+)">')
NEXT = re.compile(r'href="(/\?[^"]+)" rel="next"')


def _deposit(app, sample_pdf, clock, count: int, *, doc_type: str = "ACTES",
             doc_subtype: str = "DELIBERATION", **meta) -> list[int]:
    """`count` documents deposited by « finances » through the services (not over HTTP)."""
    with app.app_context():
        session = get_session()
        with transaction(session):
            finances = session.execute(select(User).where(User.username == "finances")).scalar_one()
            desk = session.execute(select(Desk).where(Desk.slug == "finances")).scalar_one()
            made = [documents.create_document(
                session, store_for(app.config), title=f"Pièce {doc_type} {n:03d}",
                doc_type=doc_type, doc_subtype=doc_subtype, data=sample_pdf, filename="piece.pdf",
                author=finances, author_desk=desk, now=clock(), metadata=meta,
                circuits_dir=workflows_dir_for(app.config)) for n in range(count)]
            return [d.id for d in made]


def _delegate(app, now, from_slug: str, to_slug: str, document_types: list[str] | None) -> None:
    """A delegation from one desk to another, in force from yesterday to three days from now."""
    with app.app_context():
        session = get_session()
        with transaction(session):
            desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
            create_delegation(session, from_desk=desks[from_slug], to_desk=desks[to_slug],
                              starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=3),
                              document_types=document_types, now=now)


def _tray(page: str) -> str:
    return page[page.index('id="a-traiter"'):page.index('id="mes-documents"')]


def _all_pages(client) -> list[list[int]]:
    """The ids of every page of the tray, following the « Suivante » links."""
    pages, url = [], "/"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        tray = _tray(response.get_data(as_text=True))
        pages.append([int(n) for n in ROW.findall(tray)])
        found = NEXT.search(tray)
        url = found.group(1).replace("&amp;", "&") if found else None
        assert len(pages) < 10
    return pages


# Sorted, filtered and searched pages cost the same too (documents 1 and 2 are the demo's).
@pytest.mark.parametrize("url", [
    "/", "/?tri=titre&q=pièce+actes&type=ACTES/DELIBERATION&du=2000-01-01",
    "/?tri=montant&sens=asc&montant_max=99999&auteur={finances}"])
def test_the_inbox_runs_as_many_queries_at_10_as_at_60_waiting_documents(demo, client_for, clock,
                                                                        sample_pdf, url):
    with demo.app_context():
        finances = get_session().execute(select(User.id).where(User.username == "finances")
                                         ).scalar_one()
    url = url.format(finances=finances)
    dgs = client_for("dgs")
    dgs.get(url)  # warm-up: first-request work (templates, catalogue) is not the inbox's cost
    meta = {} if "montant" not in url else {"doc_type": "FACTURES", "doc_subtype": "FACTURE",
                                            "montant_ttc": "120", "service_ordonnateur": "dgs"}
    waiting = 8 if url == "/" else 10  # with the demo's two waiting délibérations unless filtered
    _deposit(demo, sample_pdf, clock, waiting, **meta)
    with counting_queries(demo) as at_10:
        page = dgs.get(url).get_data(as_text=True)
    assert len(ROW.findall(_tray(page))) == 10 and NEXT.search(page) is None
    _deposit(demo, sample_pdf, clock, 50, **meta)
    with counting_queries(demo) as at_60:
        page = page_text(dgs.get(url))
    assert len(ROW.findall(_tray(page))) == 50 and NEXT.search(page) is not None
    assert f'À traiter <span class="count">{60 + waiting - 8}</span>' in page
    assert len(at_10) == len(at_60), (len(at_10), len(at_60))


def test_the_signing_forms_readings_come_with_the_sessions_user(demo, client_for):
    """The maire's inbox shows the batch signing form: her credential and her organisation's
    policy are read with her, in the session's first query, and again at every request."""
    from parapheur.accounts.models import SigningCredential

    maire = client_for("maire")
    maire.get("/")
    with counting_queries(demo) as statements:
        page = page_text(maire.get("/"))
    assert "Signer la sélection" in page and "Code de votre certificat" in page
    signing = [s for s in statements
               if "signing_credentials" in s or "organisation_signing_policies" in s]
    assert len(signing) == 1 and "FROM users" in signing[0], signing
    with demo.app_context():
        session = get_session()
        with transaction(session):
            for credential in session.execute(select(SigningCredential).join(User).where(
                    User.username == "maire")).scalars():
                credential.active = False
    [item] = re.findall(r'name="items" value="([^"]+)" id="item-\d+" data-action="signature"',
                        maire.get("/").get_data(as_text=True))[:1]
    document_id, step = item.split(":")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    refused = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                         data={"csrf_token": token, "passphrase": "1234"})
    assert refused.status_code == 400
    assert "Aucun certificat de signature" in page_text(refused)


def test_pages_follow_the_deadline_late_first_without_gaps_or_repeats(demo, client_for, clock,
                                                                      sample_pdf):
    start = clock.moment
    clock.moment = start - timedelta(days=30)  # their 5-day visa is long overdue
    late = _deposit(demo, sample_pdf, clock, 3)
    clock.moment = start + timedelta(minutes=1)
    fresh = _deposit(demo, sample_pdf, clock, 55)
    clock.moment = start + timedelta(minutes=2)
    dgs = client_for("dgs")
    pages = _all_pages(dgs)
    assert [len(p) for p in pages] == [50, 10]
    listed = [n for p in pages for n in p]
    assert len(set(listed)) == len(listed) == 60
    assert listed[:3] == late  # the most overdue first, then by deadline
    assert listed[-55:] == fresh
    assert set(listed) - set(late) - set(fresh) == {1, 2}  # the demo's two, deposited earlier
    first = page_text(dgs.get("/"))
    assert "3 en retard" in first
    assert 'À traiter <span class="count">60</span>' in first


def test_delegates_see_only_the_delegated_types_and_act_for_the_holder(demo, client_for, clock,
                                                                       sample_pdf):
    now = clock()
    _delegate(demo, now, "maire", "dgs", ["FACTURES"])
    facture = _deposit(demo, sample_pdf, clock, 1, doc_type="FACTURES", doc_subtype="FACTURE",
                       montant_ttc="1000", service_ordonnateur="maire")[0]
    page = client_for("dgs").get("/").get_data(as_text=True)
    tray = _tray(page)
    rows = [int(n) for n in ROW.findall(tray)]
    assert facture in rows and 3 not in rows  # the Maire's délibération n° 3 is not delegated
    assert "en l&#39;absence de son titulaire" in tray or "en l'absence de son titulaire" in tray
    with demo.app_context():
        session = get_session()
        dgs = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        ids = set(session.execute(access.actionable_documents(session, dgs, now)).scalars())
        visible = set(session.execute(access.visible_documents(session, dgs, now)).scalars())
    assert ids == set(rows) and ids <= visible


def test_a_forged_page_cursor_is_a_clear_400(demo, client_for):
    dgs = client_for("dgs")
    for query in ("apres=abc", "apres=1&echeance=demain", "apres=1&echeance=2026-12-01T10:00:00"):
        response = dgs.get(f"/?{query}")
        assert response.status_code == 400, query
        assert "Page de la bannette invalide" in page_text(response)


def test_the_tray_queries_have_indexes_on_postgresql(demo, clock, database_url):
    """With sequential scans discouraged, every table the trays read is reached by an index."""
    if not database_url.startswith("postgresql"):
        pytest.skip("query plans are read on PostgreSQL")
    now = clock()
    with demo.app_context():
        session = get_session()
        dgs = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        actionable = access.actionable_tray(session, dgs, now)
        visible = access.visible_documents(session, dgs, now)
        queries = {
            "à traiter": access.tray_page(actionable, after=None, size=51),
            "page suivante": access.tray_page(actionable, after=(now, 2), size=51),
            "par montant": access.tray_page(actionable, after=(Decimal("120.50"), 2), size=51,
                                            sort="montant", descending=True),
            "par titre, filtrée": access.tray_page(
                actionable, after=("Pièce", 2), size=51, sort="titre",
                where=TrayQuery.from_args({"q": "délibé", "montant_min": "10"})
                .conditions("postgresql")),
            "recherche": select(Document.id).where(search.matches(
                Document.search_text, ["deliberation"], "postgresql")),
            "mes dépôts": select(Document.id).where(Document.author_id == dgs.id,
                                                    Document.id.in_(visible))
            .order_by(Document.updated_at.desc()).limit(50),
            "traités": select(Document.id).where(Document.id.in_(select(StepAction.document_id)
                                                  .where(StepAction.actor_id == dgs.id))),
        }
        session.execute(text("SET LOCAL enable_seqscan = off"))
        for name, query in queries.items():
            compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(session.execute(text(f"EXPLAIN {compiled}")).scalars())
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        session.rollback()


def test_migration_0013_fills_the_deadlines_the_application_keeps(demo, client_for, clock,
                                                                 sample_pdf):
    from alembic import command
    from alembic.script import ScriptDirectory

    from parapheur.db import alembic_config

    _deposit(demo, sample_pdf, clock, 2)
    dgs = client_for("dgs")
    token = csrf_from(dgs.get("/documents/2").get_data(as_text=True))
    response = dgs.post("/documents/2/steps/visa_dgs/reject",
                        data={"csrf_token": token, "reason": "Erreur"})
    assert response.status_code == 302

    def deadlines() -> dict[int, object]:
        with demo.app_context():
            return dict(get_session().execute(select(Document.id, Document.due_at)).all())

    kept = deadlines()
    assert kept[2] is None and kept[1] is not None  # a rejected document has no deadline
    config = alembic_config(demo.config["DATABASE_URL"])
    demo.extensions["parapheur.engine"].dispose()
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0013").down_revision)
    command.upgrade(config, "head")
    assert deadlines() == kept


def test_the_other_trays_show_their_counts(demo, client_for, clock, sample_pdf):
    start = clock.moment
    clock.moment = start - timedelta(days=30)
    _deposit(demo, sample_pdf, clock, 2)  # overdue at the DGS's visa
    clock.moment = start
    _deposit(demo, sample_pdf, clock, 3)
    with demo.app_context():
        session = get_session()
        authored = len(session.execute(select(Document.id).where(
            Document.author.has(User.username == "finances"))).all())
    finances = page_text(client_for("finances").get("/"))
    assert f'Mes dépôts <span class="count">{authored}</span>' in finances
    assert "2 en retard" in finances[finances.index('id="mes-documents"'):]
    dgs = client_for("dgs")
    assert 'Traités <span class="count">1</span>' in page_text(dgs.get("/"))  # the demo's n° 3
    token = csrf_from(dgs.get("/documents/1").get_data(as_text=True))
    assert dgs.post("/documents/1/steps/visa_dgs/visa",
                    data={"csrf_token": token}).status_code == 302
    page = page_text(dgs.get("/"))
    assert 'Traités <span class="count">2</span>' in page
    assert 'À traiter <span class="count">6</span>' in page  # the demo's n° 2, the 5 deposited


def test_a_document_waiting_for_two_of_her_desks_is_listed_and_counted_once(demo, client_for,
                                                                             clock, sample_pdf):
    """A contrat's parallel visas wait for finances and the DGS; the DGS also holds a delegation
    from finances: two of the tray's rows are the same document, shown once, counted once."""
    now = clock()
    _delegate(demo, now, "finances", "dgs", None)
    (contrat,) = _deposit(demo, sample_pdf, clock, 1, doc_type="CONTRATS", doc_subtype="CONTRAT",
                          montant_ht="95000", procedure="mapa")
    with demo.app_context():
        session = get_session()
        dgs = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        tray = access.actionable_tray(session, dgs, now)
        assert not tray.single
        ids = list(session.execute(access.actionable_documents(session, dgs, now)).scalars())
    assert ids.count(contrat) == 2  # its two rows (finances, dgs): both the DGS's
    client = client_for("dgs")
    for url in ("/", "/?tri=titre", "/?q=contrats"):
        page = page_text(client.get(url))
        rows = [int(n) for n in ROW.findall(_tray(page))]
        assert rows.count(contrat) == 1, url
    page = page_text(client.get("/"))
    waiting = len(set(ids))
    assert f'À traiter <span class="count">{waiting}</span>' in page
    # The « Déposé par » filter counts it once too.
    with demo.app_context():
        session = get_session()
        finances = session.execute(select(User.id).where(User.username == "finances")
                                   ).scalar_one()
        by_finances = {i for i in ids if session.get(Document, i).author_id == finances}
    filtered = page_text(client.get(f"/?auteur={finances}"))
    assert f"{len(by_finances)} document(s) correspondent aux filtres." in filtered
    assert [int(n) for n in ROW.findall(_tray(filtered))].count(contrat) == 1
