"""« À traiter »: sort orders and filters on keyset pages, and accent-insensitive search."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from app_helpers import page_text
from sqlalchemy import select
from test_inbox import ROW, _deposit, _tray

from parapheur.accounts.models import Desk, User
from parapheur.context import store_for, workflows_dir_for
from parapheur.dates import PARIS
from parapheur.db import get_session, transaction
from parapheur.documents import services as documents
from parapheur.documents.models import Document
from parapheur.documents.search import normalise, search_text

# About SQL (keyset orders, full-text search): on PostgreSQL too.
pytestmark = pytest.mark.postgres

NEXT = re.compile(r'href="(/\?[^"]+)" rel="next"')


def _follow(client, url: str) -> list[int]:
    """Every id of the tray from `url` on, following « Suivante »."""
    ids: list[int] = []
    for _ in range(10):
        response = client.get(url)
        assert response.status_code == 200, page_text(response)
        tray = _tray(response.get_data(as_text=True))
        ids.extend(int(n) for n in ROW.findall(tray))
        found = NEXT.search(tray)
        if not found:
            return ids
        url = found.group(1).replace("&amp;", "&")
    raise AssertionError("more pages than expected")


def _invoices(demo, sample_pdf, clock, amounts, *, desk="dgs", **meta) -> list[int]:
    ids = []
    for amount in amounts:
        ids += _deposit(demo, sample_pdf, clock, 1, doc_type="FACTURES", doc_subtype="FACTURE",
                        montant_ttc=str(amount), service_ordonnateur=desk, **meta)
    return ids


def _rows(demo, ids):
    with demo.app_context():
        return {d.id: d for d in get_session().execute(
            select(Document).where(Document.id.in_(ids))).scalars()}


def test_sorted_by_amount_the_pages_hold_every_document_once_largest_first(demo, client_for,
                                                                           clock, sample_pdf):
    # Ties on the amount (the keyset's second key decides) and documents without one (last).
    amounts = [Decimal(n % 17) * 100 + Decimal("0.50") for n in range(56)]
    invoices = _invoices(demo, sample_pdf, clock, amounts)
    listed = _follow(client_for("dgs"), "/?tri=montant")
    assert len(listed) == len(set(listed)) == 58
    assert listed[-2:] == [2, 1]  # the demo's délibérations have no amount; ids descending too
    rows = _rows(demo, invoices)
    got = [rows[i].amount for i in listed[:-2]]
    assert got == sorted(got, reverse=True)
    ascending = _follow(client_for("dgs"), "/?tri=montant&sens=asc")
    assert [rows[i].amount for i in ascending[:-2]] == sorted(got)
    assert ascending[-2:] == [1, 2]


def test_sorted_by_title_and_by_deposit_date_without_gaps(demo, client_for, clock, sample_pdf):
    start = clock.moment
    made = []
    for n in range(52):
        clock.moment = start + timedelta(minutes=n % 5)  # equal dates: the id decides
        made += _deposit(demo, sample_pdf, clock, 1)
    dgs = client_for("dgs")
    rows = _rows(demo, made + [1, 2])
    by_title = _follow(dgs, "/?tri=titre")
    assert len(by_title) == len(set(by_title)) == 54
    assert [rows[i].title for i in by_title] == sorted(rows[i].title for i in by_title)
    by_date = _follow(dgs, "/?tri=depot")
    assert len(by_date) == len(set(by_date)) == 54
    assert [(rows[i].created_at, i) for i in by_date] == sorted(
        ((rows[i].created_at, i) for i in by_date), reverse=True)


def test_filters_by_type_author_amount_and_date(demo, client_for, clock, sample_pdf):
    start = clock.moment
    clock.moment = start - timedelta(days=10)
    old = _invoices(demo, sample_pdf, clock, [500])
    clock.moment = start
    small, large = _invoices(demo, sample_pdf, clock, [90, 20000])
    deliberations = _deposit(demo, sample_pdf, clock, 1)
    dgs = client_for("dgs")

    def ids(query: str) -> set[int]:
        return set(_follow(dgs, f"/?{query}"))

    assert ids("type=FACTURES") == {*old, small, large}
    assert ids("type=ACTES/DELIBERATION") == {1, 2, *deliberations}
    assert ids("montant_min=100&montant_max=20+000,00") == {*old, large}
    assert ids("montant_max=90") == {small}
    day = (start - timedelta(days=10)).astimezone(PARIS)
    assert ids(f"du={day.date().isoformat()}&au={day.date().isoformat()}") == set(old)
    with demo.app_context():
        session = get_session()
        maire = session.execute(select(User.id).where(User.username == "maire")).scalar_one()
        finances = session.execute(select(User.id).where(User.username == "finances")
                                   ).scalar_one()
        authors = dict(session.execute(select(Document.id, Document.author_id)).all())
    everything = {1, 2, *old, small, large, *deliberations}
    assert ids(f"auteur={finances}") == {n for n in everything if authors[n] == finances}
    assert {*old, small, large, *deliberations} <= ids(f"auteur={finances}")
    assert ids(f"auteur={maire}") == {n for n in everything if authors[n] == maire}
    page = page_text(dgs.get("/?type=FACTURES&montant_min=100"))
    assert "2 document(s) correspondent aux filtres." in page
    assert 'À traiter <span class="count">' in dgs.get("/").get_data(as_text=True)


def test_search_ignores_accents_case_and_ligatures_in_titles_and_metadata(demo, client_for,
                                                                          clock, sample_pdf):
    with demo.app_context():
        session = get_session()
        with transaction(session):
            finances = session.execute(select(User).where(User.username == "finances")
                                       ).scalar_one()
            desk = session.execute(select(Desk).where(Desk.slug == "finances")).scalar_one()
            made = {}
            for key, title, supplier in (
                    ("oeuvre", "Délibération sur l'ŒUVRE d'art du parvis", None),
                    ("elec", "Facture de mars", "Société Générale d'Électricité"),
                    ("other", "Arrêté de voirie", None)):
                typology = ("FACTURES", "FACTURE") if supplier else ("ACTES", "DELIBERATION")
                meta = ({"montant_ttc": "120", "service_ordonnateur": "dgs",
                         "fournisseur": supplier} if supplier else {})
                made[key] = documents.create_document(
                    session, store_for(demo.config), title=title, doc_type=typology[0],
                    doc_subtype=typology[1], data=sample_pdf, filename="a.pdf", author=finances,
                    author_desk=desk, now=clock(), metadata=meta,
                    circuits_dir=workflows_dir_for(demo.config)).id
    dgs = client_for("dgs")

    def found(words: str) -> set[int]:
        return set(_follow(dgs, f"/?q={words}"))

    assert found("deliberation oeuvre") == {made["oeuvre"]}
    assert found("DÉLIBÉRATION+Œuvre") == {made["oeuvre"]}
    assert found("electricite") == {made["elec"]}  # a metadata value: the supplier
    assert found("generale+mars") == {made["elec"]}
    assert found("voirie") == {made["other"]}
    assert found("voirie+mars") == set()
    assert made["oeuvre"] in found("delib")  # the start of a word, on both databases
    page = page_text(dgs.get("/?q=élec"))
    assert 'value="élec"' in page  # what was typed stays in the field


def test_the_normalised_text_is_what_the_search_reads():
    assert normalise("Œuvres  d’Élise, ÉTÉ 2026 !") == "oeuvres d elise ete 2026"
    assert search_text("Marché", {"montant": Decimal("12.50"), "urgent": True,
                                  "fournisseur": "Ça Va"}) == "marche 12 50 ca va"


def test_a_wrong_filter_is_a_clear_400_keeping_what_was_typed(demo, client_for):
    dgs = client_for("dgs")
    cases = {"montant_min=douze": "« Montant minimum » : « douze » n'est pas un montant",
             "du=31/12/2026": "« Déposé du » : « 31/12/2026 » n'est pas une date",
             "montant_min=50&montant_max=10": "Le montant minimum dépasse le montant maximum.",
             "du=2026-12-02&au=2026-12-01": "La date de début est postérieure",
             "tri=hasard": "Tri inconnu : « hasard ».",
             "tri=montant&apres=3&cle=beaucoup": "Page de la bannette invalide"}
    for query, message in cases.items():
        response = dgs.get(f"/?{query}")
        assert response.status_code == 400, query
        page = page_text(response)
        assert message in page, (query, page[:2000])
    assert 'value="douze"' in page_text(dgs.get("/?montant_min=douze"))


def test_migration_0016_fills_the_amounts_and_search_texts_the_service_keeps(demo, clock,
                                                                            sample_pdf):
    from alembic import command
    from alembic.script import ScriptDirectory

    from parapheur.db import alembic_config

    invoice = _invoices(demo, sample_pdf, clock, ["1234.5"], fournisseur="Électricité Sud")[0]

    def kept() -> dict[int, tuple]:
        with demo.app_context():
            return {row.id: (row.amount, row.search_text) for row in get_session().execute(
                select(Document.id, Document.amount, Document.search_text)).all()}

    before = kept()
    assert before[invoice][0] == Decimal("1234.50")
    assert "electricite sud" in before[invoice][1]
    assert before[1][0] is None and before[1][1].startswith("deliberation")
    config = alembic_config(demo.config["DATABASE_URL"])
    demo.extensions["parapheur.engine"].dispose()
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0016")
                      .down_revision)
    command.upgrade(config, "head")
    assert kept() == before
