"""Two organisations on one instance: nothing of the other is visible or reachable, the switcher,
the platform administrator, and the health checks."""

from __future__ import annotations

import pytest
from app_helpers import counting_queries, csrf_from, login, page_text
from sqlalchemy import select
from test_route_matrix import MATRIX, PARAMS

from parapheur.accounts.models import Delegation, Desk, User
from parapheur.db import get_session
from parapheur.documents.models import Document
from parapheur.organisations.models import Organisation

pytestmark = pytest.mark.slow

METROPOLE_USERS = ("maire", "adjoint", "dgs", "finances", "auditeur", "admin")
COMMUNE_USERS = ("commune-maire", "commune-secretaire", "commune-admin")
OBJECT_PARAMS = ("document_id", "user_id", "desk_id", "delegation_id", "invoice_id")


def _ids_of(app, slug: str) -> tuple[dict[str, str], list[str]]:
    """URL parameters naming that organisation's rows, and words only its pages show."""
    from datetime import timedelta

    from parapheur.accounts.services import create_delegation
    from parapheur.clock import now

    with app.app_context():
        session = get_session()
        org = session.execute(select(Organisation).where(Organisation.slug == slug)).scalar_one()
        document = session.execute(select(Document).where(
            Document.organisation_id == org.id)).scalars().first()
        desks = session.execute(select(Desk).where(Desk.organisation_id == org.id)
                                .order_by(Desk.id)).scalars().all()
        user = session.execute(select(User).where(User.home_organisation_id == org.id)
                               .order_by(User.id)).scalars().first()
        delegation = session.execute(select(Delegation).where(
            Delegation.from_desk_id.in_([d.id for d in desks]))).scalars().first()
        if delegation is None:
            delegation = create_delegation(session, from_desk=desks[0], to_desk=desks[1],
                                           starts_at=now(), ends_at=now() + timedelta(days=3),
                                           now=now())
            session.commit()
        from parapheur.invoices.models import Invoice

        invoice = session.execute(select(Invoice).where(
            Invoice.organisation_id == org.id)).scalars().first()
        params = dict(PARAMS, document_id=str(document.id), user_id=str(user.id),
                      desk_id=str(desks[0].id), delegation_id=str(delegation.id),
                      invoice_id=str(invoice.id) if invoice else "999999")
        markers = [document.title, org.name, *_names_only_in(session, org.id)]
        if invoice is not None:
            markers.append(invoice.number)
        return params, markers


def _names_only_in(session, organisation_id: int) -> list[str]:
    """Full names of the organisation's members and names of its desks that no other
    organisation shares (the métropole's DGS is a member of both)."""
    from parapheur.organisations import scope

    def names(condition_users, condition_desks):
        return ({u.full_name for u in session.execute(select(User).where(condition_users))
                 .scalars()},
                {d.name for d in session.execute(select(Desk).where(condition_desks)).scalars()})

    users, desks = names(scope.members_of(organisation_id), Desk.organisation_id == organisation_id)
    others = session.execute(select(Organisation.id).where(
        Organisation.id != organisation_id)).scalars()
    for other in others:
        other_users, other_desks = names(scope.members_of(other), Desk.organisation_id == other)
        users -= other_users
        desks -= other_desks
    # « Comptabilité », the commune's desk, is also the menu's entry on every page.
    return sorted(users | (desks - {"Comptabilité"}))


def _url(rule: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        for converter in ("int:", "path:", ""):
            rule = rule.replace(f"<{converter}{name}>", value)
    return rule


def _import_commune_invoice(app) -> None:
    """An invoice addressed to the commune, imported by its secretary through the page."""
    import io
    from datetime import date

    from parapheur.invoices.generate import InvoiceSpec, cii_xml

    client = app.test_client()
    login(client, "commune-secretaire")
    data = cii_xml(InvoiceSpec(number="C-2026-001", issue_date=date(2026, 11, 2),
                               buyer_name="Commune de Démo-sur-Loire",
                               buyer_siret="21990002400015"))
    token = csrf_from(client.get("/factures/").get_data(as_text=True))
    response = client.post("/factures/import", content_type="multipart/form-data", data={
        "csrf_token": token, "files": [(io.BytesIO(data), "facture-commune.xml")]})
    assert response.status_code == 200 and "importée" in page_text(response), \
        page_text(response)[-2000:]


def test_every_route_across_two_organisations_reaches_nothing_of_the_other(territory):
    # SQLite only: the scope is one SQL condition, the same on both databases (the route
    # matrix itself runs on PostgreSQL too).
    _import_commune_invoice(territory)
    metropole = _ids_of(territory, "metropole-demo")
    commune = _ids_of(territory, "commune-demo")
    leaks = []
    routes = [route for route in MATRIX if route != ("POST", "/logout")]
    for users, (params, markers) in ((METROPOLE_USERS, commune), (COMMUNE_USERS, metropole)):
        for username in users:
            client = territory.test_client()
            assert login(client, username).status_code == 302
            token = csrf_from(client.get("/delegations").get_data(as_text=True))
            for method, rule in routes:
                url = _url(rule, params)
                response = (client.get(url) if method == "GET"
                            else client.post(url, data={"csrf_token": token}))
                text = page_text(response)
                # The DGS is a member of both: the switcher names the commune, nothing else does.
                shown = [m for m in markers if m in text
                         and not (username == "dgs" and m == "Commune de Démo-sur-Loire")]
                names_object = any(f"<int:{p}>" in rule for p in OBJECT_PARAMS)
                if shown or (names_object and response.status_code in (200, 302)):
                    leaks.append(f"{username} {method} {url}: {response.status_code} {shown}")
    assert not leaks, "\n".join(leaks)


def test_a_member_of_both_switches_and_sees_only_where_she_works(territory):
    client = territory.test_client()
    assert login(client, "dgs").status_code == 302
    page = page_text(client.get("/"))
    assert "Commune de Démo-sur-Loire" in page  # in the switcher
    assert "Réfection du toit" not in page
    assert "Approbation du budget supplémentaire" in page or "2026-04" in page
    with territory.app_context():
        commune_id = get_session().execute(select(Organisation.id).where(
            Organisation.slug == "commune-demo")).scalar_one()
        metropole_doc = get_session().execute(select(Document.id).where(
            Document.organisation_id != commune_id)).scalars().first()
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post("/organisation", data={"csrf_token": token,
                                                  "organisation_id": str(commune_id)})
    assert response.status_code == 302
    page = page_text(client.get("/"))
    assert "Réfection du toit" in page  # waits for the commune's DGS desk, hers there
    assert "Approbation du budget supplémentaire" not in page
    assert client.get(f"/documents/{metropole_doc}").status_code == 404
    # An organisation she is not a member of: refused, and she stays where she was.
    response = client.post("/organisation", data={"csrf_token": token, "organisation_id": "999"})
    assert response.status_code == 404
    assert "Réfection du toit" in page_text(client.get("/"))
    # Someone of the métropole only cannot switch to the commune.
    other = territory.test_client()
    login(other, "maire")
    token = csrf_from(other.get("/").get_data(as_text=True))
    response = other.post("/organisation", data={"csrf_token": token,
                                                 "organisation_id": str(commune_id)})
    assert response.status_code == 404
    assert "n'en êtes pas membre" in page_text(response)


def test_a_page_reads_the_session_in_one_query_wherever_she_works(territory):
    """Her row, her desks, her memberships and the working organisation's identity provider
    come in one query (scope.load_session_user), in her home organisation as in another."""
    client = territory.test_client()
    assert login(client, "dgs").status_code == 302
    with territory.app_context():
        commune_id = get_session().execute(select(Organisation.id).where(
            Organisation.slug == "commune-demo")).scalar_one()
    for switch_to in (None, commune_id):
        if switch_to is not None:
            token = csrf_from(client.get("/").get_data(as_text=True))
            assert client.post("/organisation", data={
                "csrf_token": token, "organisation_id": str(switch_to)}).status_code == 302
        with counting_queries(territory) as statements:
            page = page_text(client.get("/accessibilite"))
        assert len(statements) == 1, statements
        assert "identity_providers" in statements[0] and "organisation_memberships" in statements[0]
        assert "Commune de Démo-sur-Loire" in page and "Se déconnecter" in page  # the switcher


def test_the_platform_administrator_creates_an_organisation_and_its_first_administrator(
        territory):
    admin = territory.test_client()
    login(admin, "admin")
    assert admin.get("/plateforme").status_code == 403
    client = territory.test_client()
    assert login(client, "plateforme").status_code == 302
    page = client.get("/plateforme")
    assert page.status_code == 200 and "Commune de Démo-sur-Loire" in page_text(page)
    assert client.get("/documents/1").status_code == 404  # no organisation's documents
    token = csrf_from(page.get_data(as_text=True))
    form = {"csrf_token": token, "slug": "syndicat-eaux", "name": "Syndicat des eaux",
            "siret": "123", "admin_username": "se-admin", "admin_full_name": "Rémi Blanc",
            "admin_password": "Un-mot-de-passe-solide-2026"}
    bad = client.post("/plateforme/organisations", data=form)
    assert bad.status_code == 400 and "SIRET doit compter 14 chiffres" in page_text(bad)
    with territory.app_context():
        assert get_session().execute(select(Organisation).where(
            Organisation.slug == "syndicat-eaux")).first() is None  # nothing half-made
    form["siret"] = "21990003200018"
    assert client.post("/plateforme/organisations", data=form).status_code == 302
    new = territory.test_client()
    assert login(new, "se-admin", "Un-mot-de-passe-solide-2026").status_code == 302
    page = page_text(new.get("/admin/"))
    assert "Rémi Blanc" in page and "Martine Dupont" not in page and "Jeanne Roux" not in page


def test_healthz_and_readyz_say_what_is_down(demo, tmp_path):
    from sqlalchemy import create_engine

    from parapheur.outbox.tasks import QUEUE_KEY, make_huey

    client = demo.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"] == {"database": "ok", "queue": "ok", "store": "ok"}
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    demo.config["DATA_DIR"] = str(blocked)  # the store cannot be created under a file
    queue = demo.extensions[QUEUE_KEY]
    engine = demo.extensions["parapheur.engine"]
    demo.extensions[QUEUE_KEY] = type(queue)(make_huey({"REDIS_URL": "redis://127.0.0.1:1/0"}),
                                             queue.deliver_message, queue.sweep, queue.periodic)
    demo.extensions["parapheur.engine"] = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    try:
        ready = client.get("/readyz")
    finally:
        demo.extensions[QUEUE_KEY] = queue
        demo.extensions["parapheur.engine"] = engine
    body = ready.get_json()
    assert ready.status_code == 503
    assert body["message"] == ("Indisponible : base de données, file d'attente, stockage des "
                               "documents.")
    assert all(value.startswith("indisponible") for value in body["checks"].values())
    assert client.get("/healthz").status_code == 200


def test_each_organisation_has_its_own_audit_chain_that_verifies_alone(territory):
    from app_helpers import run_cli
    from sqlalchemy import update

    from parapheur.audit.models import AuditEvent
    from parapheur.db import transaction

    with territory.app_context():
        session = get_session()
        ids = dict(session.execute(select(Organisation.slug, Organisation.id)).all())
        first = session.execute(select(AuditEvent).where(AuditEvent.chain == ids["commune-demo"])
                                .order_by(AuditEvent.seq)).scalars().first()
        assert (first.seq, first.name) == (1, "organisation:created")
        commune_doc = session.execute(select(Document.id).where(
            Document.organisation_id == ids["commune-demo"])).scalar_one()
        assert set(session.execute(select(AuditEvent.chain).where(
            AuditEvent.document_id == commune_doc)).scalars()) == {ids["commune-demo"]}
    result = run_cli(territory, "audit", "verify", "--org", "commune-demo")
    assert result.returncode == 0, result.stderr
    assert "Journal de Commune de Démo-sur-Loire intègre" in result.stdout
    with territory.app_context():
        session = get_session()
        original = session.execute(select(AuditEvent.actor_label).where(
            AuditEvent.chain == ids["metropole-demo"], AuditEvent.seq == 2)).scalar_one()
        with transaction(session):
            session.execute(update(AuditEvent).where(AuditEvent.chain == ids["metropole-demo"],
                                                     AuditEvent.seq == 2)
                            .values(actor_label="intrus"))
    assert run_cli(territory, "audit", "verify", "--org", "commune-demo").returncode == 0
    result = run_cli(territory, "audit", "verify", "--org", "metropole-demo")
    assert result.returncode == 1
    assert "Journal de Métropole de Démo altéré à l'événement n°2" in result.stderr
    result = run_cli(territory, "audit", "verify")
    assert result.returncode == 1 and "Métropole de Démo" in result.stderr
    result = run_cli(territory, "audit", "verify", "--org", "inconnue")
    assert result.returncode == 2 and "n'existe pas" in result.stderr
    with territory.app_context():  # the demo fixture checks the chains at the end: repair
        session = get_session()
        with transaction(session):
            session.execute(update(AuditEvent).where(AuditEvent.chain == ids["metropole-demo"],
                                                     AuditEvent.seq == 2)
                            .values(actor_label=original))


def test_an_organisation_administrator_cannot_make_a_platform_administrator(territory):
    client = territory.test_client()
    login(client, "commune-admin")
    page = client.get("/admin/")
    assert 'value="plateforme"' not in page.get_data(as_text=True)
    response = client.post("/admin/users", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "username": "intrus",
        "full_name": "Intrus", "role": "plateforme", "password": "Un-mot-de-passe-solide-2026"})
    assert response.status_code == 400 and "Rôle inconnu" in page_text(response)
    with territory.app_context():
        assert get_session().execute(select(User).where(User.username == "intrus")).first() is None


def test_an_organisation_administrator_adds_an_account_of_another_organisation(territory):
    client = territory.test_client()
    login(client, "commune-admin")
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    unknown = client.post("/admin/membres", data={"csrf_token": token, "username": "personne",
                                                  "role": "agent"})
    assert unknown.status_code == 404 and "Aucun compte « personne »" in page_text(unknown)
    assert "Martine Dupont" not in page_text(client.get("/admin/"))
    added = client.post("/admin/membres", data={"csrf_token": token, "username": "maire",
                                                "role": "auditeur"})
    assert added.status_code == 302
    page = page_text(client.get("/admin/"))
    assert "<td>Martine Dupont</td><td>maire</td><td>Auditeur</td>" in page
    again = client.post("/admin/membres", data={"csrf_token": token, "username": "maire",
                                                "role": "auditeur"})
    assert again.status_code == 409 and "déjà membre" in page_text(again)
    # She now works in the commune as an auditor: every commune document, none of the métropole.
    maire = territory.test_client()
    login(maire, "maire")
    with territory.app_context():
        commune_id = get_session().execute(select(Organisation.id).where(
            Organisation.slug == "commune-demo")).scalar_one()
    token = csrf_from(maire.get("/").get_data(as_text=True))
    assert maire.post("/organisation", data={"csrf_token": token,
                                             "organisation_id": str(commune_id)}).status_code == 302
    listing = page_text(maire.get("/documents"))
    assert "Réfection du toit" in listing and "Approbation du budget" not in listing


def test_forms_refuse_the_ids_of_another_organisation(territory):
    """Each form that takes an id in its fields, posted with the other organisation's ids: 4xx
    and nothing written; and the commune cannot change an account the métropole manages."""
    from app_helpers import db_snapshot, without_journal

    with territory.app_context():
        session = get_session()
        ids = dict(session.execute(select(Organisation.slug, Organisation.id)).all())
        desks = {slug: session.execute(select(Desk.id).where(Desk.organisation_id == org)
                                       .order_by(Desk.id)).scalars().all()
                 for slug, org in ids.items()}
        users = {slug: session.execute(select(User.id).where(User.home_organisation_id == org)
                                       .order_by(User.id)).scalars().first()
                 for slug, org in ids.items()}
        dgs = session.execute(select(User.id).where(User.username == "dgs")).scalar_one()
    before = without_journal(db_snapshot(territory))
    for admin, here, other in (("admin", "metropole-demo", "commune-demo"),
                               ("commune-admin", "commune-demo", "metropole-demo")):
        client = territory.test_client()
        login(client, admin)
        token = csrf_from(client.get("/admin/").get_data(as_text=True))
        mine, theirs = desks[here][0], desks[other][0]
        posts = [
            ("/admin/users", {"username": "intruse", "full_name": "Intruse", "role": "agent",
                              "password": "Un-mot-de-passe-solide-2026",
                              "desks": str(theirs)}),
            (f"/admin/desks/{mine}/members", {"user_id": str(users[other])}),
            (f"/admin/desks/{mine}/members/{users[other]}/remove", {}),
            ("/delegations", {"from_desk": str(mine), "to_desk": str(theirs),
                              "starts": "2026-12-01", "ends": "2026-12-03"}),
            ("/delegations", {"from_desk": str(theirs), "to_desk": str(mine),
                              "starts": "2026-12-01", "ends": "2026-12-03"}),
        ]
        if admin == "commune-admin":  # the métropole's DGS, a member of the commune
            posts += [(f"/admin/users/{dgs}/active", {"active": "0"}),
                      (f"/admin/users/{dgs}/unlock", {}),
                      (f"/admin/users/{dgs}/token", {"module": "/x.so", "token_label": "t",
                                                     "key_label": "k", "pin": "1"})]
        for url, data in posts:
            response = client.post(url, data={"csrf_token": token, **data})
            assert 400 <= response.status_code < 500, (admin, url, response.status_code)
    assert without_journal(db_snapshot(territory)) == before


def _circuit_admins(territory):
    from test_admin_circuits import WITH_FINANCES, _upload

    metropole, commune = territory.test_client(), territory.test_client()
    login(metropole, "admin")
    login(commune, "commune-admin")
    location = _upload(metropole, WITH_FINANCES).headers["Location"]
    version_id = int(location.rstrip("/").rsplit("/", 1)[1])
    return metropole, commune, version_id


def test_a_circuit_version_is_listed_shown_and_activated_only_by_its_organisation(territory):
    from parapheur.circuits.models import CircuitActivation
    from parapheur.documents.models import CircuitVersion

    metropole, commune, version_id = _circuit_admins(territory)
    with territory.app_context():
        session = get_session()
        shipped = session.execute(select(CircuitVersion.id).where(
            CircuitVersion.organisation_id.is_(None))).scalars().first()
    assert shipped is not None  # the files' circuits frozen by the demo's documents
    index = page_text(commune.get("/admin/circuits/"))
    assert "Délibération avec visa des finances" not in index
    assert f"/admin/circuits/versions/{version_id}\"" not in index
    assert f"/admin/circuits/versions/{shipped}" in index  # the shipped ones: everyone's
    assert "Délibération avec visa des finances" in page_text(metropole.get("/admin/circuits/"))
    # Another organisation's version answers like a missing one.
    other, missing = (commune.get(f"/admin/circuits/versions/{n}") for n in (version_id, 99999))
    assert other.status_code == missing.status_code == 404
    assert "visa des finances" not in page_text(other).lower()
    assert f"Version de circuit n° {version_id} introuvable" in page_text(other)
    assert "Version de circuit n° 99999 introuvable" in page_text(missing)
    token = csrf_from(index)
    refused = commune.post(f"/admin/circuits/versions/{version_id}/activer",
                           data={"csrf_token": token, "typology": "ACTES/DELIBERATION"})
    assert refused.status_code == 404
    assert commune.get(f"/admin/circuits/versions/{shipped}").status_code == 200
    with territory.app_context():
        assert get_session().execute(select(CircuitActivation)).scalars().all() == []


def test_migration_0022_gives_each_circuit_version_its_organisation(territory):
    from alembic import command
    from test_admin_circuits import WITH_FINANCES, _upload

    from parapheur.circuits.models import CircuitActivation
    from parapheur.clock import now
    from parapheur.db import alembic_config, transaction
    from parapheur.documents.models import CircuitVersion

    metropole, commune, version_id = _circuit_admins(territory)
    uploaded = _upload(metropole, WITH_FINANCES.replace("avec visa", "sans activation"))
    uploaded_id = int(uploaded.headers["Location"].rsplit("/", 1)[1])
    with territory.app_context():
        session = get_session()
        orgs = dict(session.execute(select(Organisation.slug, Organisation.id)).all())
        commune_id = orgs["commune-demo"]
        with transaction(session):
            # Before 0022 versions were shared: both organisations activated the same one.
            for org in (orgs["metropole-demo"], commune_id):
                session.add(CircuitActivation(
                    organisation_id=org, doc_type="ACTES", doc_subtype="DELIBERATION",
                    circuit_version_id=version_id, activated_at=now()))
        shipped = set(session.execute(select(CircuitVersion.id).where(
            CircuitVersion.organisation_id.is_(None))).scalars())
    config = alembic_config(territory.config["DATABASE_URL"])
    territory.extensions["parapheur.engine"].dispose()
    command.downgrade(config, "0021")
    command.upgrade(config, "head")
    with territory.app_context():
        session = get_session()
        owners = dict(session.execute(select(CircuitVersion.id,
                                             CircuitVersion.organisation_id)).all())
        activated = dict(session.execute(select(CircuitActivation.organisation_id,
                                                CircuitActivation.circuit_version_id)).all())
        copy = session.get(CircuitVersion, activated[commune_id])
        original = session.get(CircuitVersion, version_id)
        assert owners[version_id] == orgs["metropole-demo"]  # the first to activate it
        assert owners[uploaded_id] == orgs["metropole-demo"]  # its uploader's, never activated
        assert activated[orgs["metropole-demo"]] == version_id
        assert copy.id != version_id and copy.organisation_id == commune_id
        assert (copy.source, copy.version) == (original.source, original.version)
        assert {i for i, org in owners.items() if org is None} == shipped  # still everyone's
    # The copy is the commune's: its administrator now reaches it, the métropole's does not.
    assert commune.get(f"/admin/circuits/versions/{copy.id}").status_code == 200
    assert metropole.get(f"/admin/circuits/versions/{copy.id}").status_code == 404
