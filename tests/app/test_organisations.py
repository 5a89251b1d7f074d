"""The collectivité as data: every user, desk and document belongs to an organisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from app_helpers import db_snapshot, run_cli
from sqlalchemy import create_engine, select, text

from parapheur.accounts.models import Desk, User
from parapheur.db import get_session, upgrade
from parapheur.documents.models import Document
from parapheur.organisations.models import Organisation

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def test_the_demo_organisation_owns_every_user_desk_and_document(demo):
    with demo.app_context():
        session = get_session()
        organisation = session.execute(select(Organisation)).scalar_one()
        assert (organisation.name, organisation.siret, organisation.codique) == (
            "Métropole de Démo", "21990001600011", "0990001")
        assert [(b.code_col, b.code_bud, b.poste_comptable) for b in organisation.budgets] == [
            ("990", "00", "0990001"), ("990", "01", "0990001")]
        for model in (User, Desk, Document):
            owners = set(session.execute(select(model.organisation_id)).scalars())
            assert owners == {organisation.id}, model.__name__


def test_orgs_commands_create_update_and_list(app):
    created = run_cli(app, "orgs", "create", "saint-andre", "--name", "Commune de Saint-André",
                      "--siret", "219 900 016 00011", "--city", "Saint-André",
                      "--postal-code", "99100", "--codique", "0990002")
    assert created.returncode == 0, created.stderr
    assert run_cli(app, "orgs", "add-budget", "saint-andre", "991", "00",
                   "--label", "Budget principal").returncode == 0
    updated = run_cli(app, "orgs", "update", "saint-andre", "--name", "Ville de Saint-André")
    assert updated.returncode == 0, updated.stderr
    listed = run_cli(app, "orgs", "list", "--format", "json")
    assert json.loads(listed.stdout) == [{
        "slug": "saint-andre", "name": "Ville de Saint-André", "siret": "21990001600011",
        "city": "Saint-André", "postal_code": "99100", "codique": "0990002",
        "budgets": [{"code_col": "991", "code_bud": "00", "label": "Budget principal",
                     "nomenclature": "M57", "codique": "0990002"}]}]


def test_a_wrong_siret_or_budget_code_is_refused_and_nothing_changes(app):
    assert run_cli(app, "orgs", "create", "ville", "--name", "Ville").returncode == 0
    before = db_snapshot(app)
    wrong = run_cli(app, "orgs", "create", "autre", "--name", "Autre", "--siret", "1234")
    assert wrong.returncode == 1
    assert "Le SIRET doit compter 14 chiffres" in wrong.stderr and "Traceback" not in wrong.stderr
    budget = run_cli(app, "orgs", "add-budget", "ville", "9A0", "00", "--label", "Principal")
    assert budget.returncode == 1 and "CodCol" in budget.stderr
    missing = run_cli(app, "users", "create", "x", "--full-name", "X", "--role", "agent",
                      "--org", "inconnue", env={"PARAPHEUR_NEW_PASSWORD": "longenough"})
    assert missing.returncode == 1 and "« inconnue » n'existe pas" in missing.stderr
    assert db_snapshot(app) == before


def test_rows_from_before_organisations_are_given_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0004")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (username, full_name, role, password_hash, active, created_at) "
            "VALUES ('ancien', 'Ancien Compte', 'agent', 'x', 1, :now)"),
            {"now": datetime.now(UTC).replace(tzinfo=None)})
    upgrade(url)
    with engine.connect() as connection:
        organisations = connection.execute(text("SELECT id, slug FROM organisations")).all()
        owner = connection.execute(text("SELECT organisation_id FROM users")).scalar_one()
    engine.dispose()
    assert [slug for _, slug in organisations] == ["collectivite"]
    assert owner == organisations[0][0]
