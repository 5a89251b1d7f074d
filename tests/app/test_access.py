"""Who sees which document: the list, the page, downloads and batch signing obey one rule.

A matrix of users × documents covers authors, desk members (waiting, acted, `all` steps still
pending, `any` steps settled by another desk), delegates with and without type restrictions and
after their delegation ended, auditors, administrators, users with no desk and disabled accounts.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from app_helpers import csrf_from, login, page_text
from sqlalchemy import select

from parapheur.accounts.models import Desk, Role, User
from parapheur.accounts.services import create_delegation, create_desk, create_user
from parapheur.circuits import services as circuits
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.documents import access
from parapheur.documents import services as documents
from parapheur.documents.models import Document
from parapheur.organisations.models import Organisation
from parapheur.organisations.services import create_organisation

# The access query and its migration also run on PostgreSQL (the `postgres` marker, tests/conftest.py).

LINK = re.compile(r'href="/documents/(\d+)"')

# Documents of the scenario (the demo's three délibérations, plus those made below).
D1, D2, D3 = "Délibération n° 2026-041", "Délibération n° 2026-042", "Délibération n° 2026-043"
F1, C1, C2 = "Facture Maire", "Contrat all en cours", "Contrat any réglé"
ALL = {D1, D2, D3, F1, C1, C2}

EXPECTED = {
    "finances": ALL,                 # the author of every one
    "dgs": {D1, D2, D3, C1, C2},     # waiting (D1, D2, C1: `all` step still pending), acted (D3, C2)
    "maire": {D3, F1, C2},           # waiting for the Maire's desk (F1 through service_ordonnateur)
    "adjoint": {F1, C2},             # maire → adjoint for FACTURES only; C2: `any` step settled by the Maire
    "cabinet": {D3, F1, C2},         # maire → cabinet for every type: what waits for the Maire now
    "interim": set(),                # maire → interim, ended yesterday
    "stagiaire": set(),              # no desk, deposited nothing
    "auditeur": ALL,
    "admin": ALL,
    "voisin": set(),                 # an administrator of another organisation on the same instance
    "voisin-dgs": set(),             # a member of the other organisation's « dgs » desk
}
DISABLED = "ancien"  # a member of the DGS desk whose account is disabled: nothing


def _add_user(session, username: str, desk_slug: str | None, *, now, organisation=None,
              role: Role = Role.AGENT) -> User:
    organisation = organisation or session.execute(select(Organisation)).scalars().first()
    user = create_user(session, organisation=organisation, username=username,
                       full_name=username.title(), password=f"demo-{username}", role=role, now=now)
    if desk_slug is not None:
        desk = session.execute(select(Desk).where(Desk.slug == desk_slug)).scalar_one_or_none()
        if desk is None:
            desk = create_desk(session, organisation=organisation, slug=desk_slug,
                               name=desk_slug.title(), now=now)
        desk.members.append(user)
    return user


def _act(session, document, username: str, *, now) -> None:
    actor = session.execute(select(User).where(User.username == username)).scalar_one()
    step = next(p for p in circuits.pending_steps(document)
                if circuits.capacity_for(session, document, p, actor, now=now))
    circuits.act(session, document, step=step.state, actor=actor, decision="approve", now=now)


@pytest.fixture
def scenario(demo, clock, sample_pdf):
    """The demo plus a facture, two contrats, delegations and the matrix's extra accounts."""
    now = clock()
    with demo.app_context():
        session = get_session()
        store = store_for(demo.config)
        with transaction(session):
            desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
            for username, slug in (("cabinet", "cabinet"), ("interim", "interim"),
                                   ("stagiaire", None), (DISABLED, "dgs")):
                _add_user(session, username, slug, now=now)
            session.execute(select(User).where(User.username == DISABLED)).scalar_one().active = False
            other = create_organisation(session, slug="commune-voisine", name="Commune voisine",
                                        now=now)
            _add_user(session, "voisin", None, now=now, organisation=other, role=Role.ADMIN)
            _add_user(session, "voisin-dgs", "voisin-dgs", now=now, organisation=other)
            desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
            for target, days, types in (("adjoint", (-1, 5), ["FACTURES"]),
                                        ("cabinet", (-1, 5), None),
                                        ("interim", (-10, -1), None)):
                create_delegation(session, from_desk=desks["maire"], to_desk=desks[target],
                                  starts_at=now + timedelta(days=days[0]),
                                  ends_at=now + timedelta(days=days[1]), document_types=types,
                                  now=now)
            finances = session.execute(select(User).where(User.username == "finances")).scalar_one()

            def deposit(title, doc_type, subtype, **meta):
                return documents.create_document(
                    session, store, title=title, doc_type=doc_type, doc_subtype=subtype,
                    data=sample_pdf, filename="piece.pdf", author=finances,
                    author_desk=desks["finances"], now=now, metadata=meta,
                    circuits_dir=workflows_dir_for(demo.config))

            deposit(F1, "FACTURES", "FACTURE", montant_ttc="1000", service_ordonnateur="maire")
            c1 = deposit(C1, "CONTRATS", "CONTRAT", montant_ht="95000", procedure="mapa")
            _act(session, c1, "finances", now=now)  # the `all` step still waits for the DGS
            c2 = deposit(C2, "CONTRATS", "CONTRAT", montant_ht="95000", procedure="mapa")
            _act(session, c2, "finances", now=now)
            _act(session, c2, "dgs", now=now)
            _act(session, c2, "maire", now=now)  # settles the `any` step: the adjoint did nothing
        ids = {d.title.split(" — ")[0]: d.id for d in session.execute(select(Document)).scalars()}
    assert set(ids) == ALL
    return ids


def _listed(client) -> set[int]:
    response = client.get("/documents")
    assert response.status_code == 200
    return {int(n) for n in LINK.findall(response.get_data(as_text=True))}


@pytest.mark.postgres
def test_the_list_and_the_page_agree_for_every_user_and_document(demo, scenario, clock):
    by_id = {identifier: title for title, identifier in scenario.items()}
    for username, expected in EXPECTED.items():
        client = demo.test_client()
        assert login(client, username).status_code == 302, username
        listed = {by_id[n] for n in _listed(client)}
        opened = set()
        for title, identifier in scenario.items():
            response = client.get(f"/documents/{identifier}")
            assert response.status_code in (200, 404), (username, title, response.status_code)
            if response.status_code == 200:
                opened.add(title)
            else:
                assert page_text(response).count(title) == 0
                assert f"Document n° {identifier} indisponible." in page_text(response)
        assert listed == opened, f"{username}: list {sorted(listed)} ≠ pages {sorted(opened)}"
        assert opened == expected, f"{username}: sees {sorted(opened)}, expected {sorted(expected)}"
    with demo.app_context():
        session = get_session()
        ancien = session.execute(select(User).where(User.username == DISABLED)).scalar_one()
        assert session.execute(access.visible_documents(session, ancien, clock())).all() == []


def test_an_unavailable_document_says_nothing_more_than_a_missing_one(demo, scenario, client_for):
    maire = client_for("maire")
    hidden = scenario[D1]
    for path in (f"/documents/{hidden}", f"/documents/{hidden}/circuit.svg",
                 f"/documents/{hidden}/versions/1/file"):
        response = maire.get(path)
        assert response.status_code == 404, path
        assert f"Document n° {hidden} indisponible." in page_text(response)
        assert "2026-041" not in page_text(response)
    missing = maire.get("/documents/999999")
    assert missing.status_code == 404
    assert "Document n° 999999 indisponible." in page_text(missing)


def test_a_disabled_account_is_logged_out_and_sees_nothing(demo, scenario, clock):
    client = demo.test_client()
    assert login(client, "dgs").status_code == 302
    assert client.get(f"/documents/{scenario[D1]}").status_code == 200
    with demo.app_context():
        session = get_session()
        with transaction(session):
            session.execute(select(User).where(User.username == "dgs")).scalar_one().active = False
    response = client.get(f"/documents/{scenario[D1]}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert login(demo.test_client(), DISABLED).status_code == 401


def test_batch_signing_reveals_nothing_of_a_document_the_signatory_may_not_see(demo, scenario,
                                                                               client_for):
    maire = client_for("maire")
    token = csrf_from(maire.get("/").get_data(as_text=True))
    hidden = scenario[D1]  # waits for the DGS's visa: the Maire may not see it
    response = maire.post("/signatures/batch", follow_redirects=True, data={
        "csrf_token": token, "items": [f"{hidden}:visa_dgs", "999999:signature_maire"],
        "reviewed": "1", "passphrase": "1234"})
    text = page_text(response)
    assert f"Non signé : document n° {hidden} indisponible." in text
    assert "Non signé : document n° 999999 indisponible." in text
    assert "Approbation du budget" not in text and "visa_dgs" not in text


@pytest.mark.postgres
def test_migration_0006_rebuilds_the_reached_desks_the_application_keeps(demo, scenario):
    from alembic import command
    from alembic.script import ScriptDirectory

    from parapheur.db import alembic_config
    from parapheur.documents.models import ReachedDesk

    def reached() -> set[tuple[int, str]]:
        with demo.app_context():
            return {(r.document_id, r.desk_slug)
                    for r in get_session().execute(select(ReachedDesk)).scalars()}

    kept = reached()
    assert (scenario[C2], "adjoint") in kept  # the settled `any` step's other desk
    config = alembic_config(demo.config["DATABASE_URL"])
    demo.extensions["parapheur.engine"].dispose()
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0006").down_revision)
    command.upgrade(config, "head")
    # Rebuilt from the runs' trails, the waiting desks and the desks that acted.
    assert reached() == kept
