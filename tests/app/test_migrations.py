"""Migrations and models agree, on SQLite and PostgreSQL; the inbox index follows the run state."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from app_helpers import csrf_from
from sqlalchemy import create_engine, select

import parapheur.models  # noqa: F401
from parapheur.db import Base, get_session
from parapheur.documents.models import Document, WaitingDesk

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def test_migrated_schema_matches_the_models(app):
    engine = create_engine(app.config["DATABASE_URL"])
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def _waiting(app) -> dict[int, set[str]]:
    """Each document's waiting desks, once checked that every row's copies are its document's."""
    copies = ("organisation_id", "due_at", "author_id", "doc_type")
    with app.app_context():
        session = get_session()
        rows = session.execute(select(WaitingDesk.document_id, WaitingDesk.desk_slug)).all()
        for row, document in session.execute(
                select(WaitingDesk, Document).join(Document,
                                                   Document.id == WaitingDesk.document_id)):
            assert document.status.value == "en_cours", document.id
            assert ({n: getattr(row, n) for n in copies}
                    == {n: getattr(document, n) for n in copies}), document.id
    result: dict[int, set[str]] = {}
    for document_id, slug in rows:
        result.setdefault(document_id, set()).add(slug)
    return result


def test_waiting_desks_follow_each_step(demo, client_for):
    assert _waiting(demo) == {1: {"dgs"}, 2: {"dgs"}, 3: {"maire"}}
    dgs = client_for("dgs")
    token = csrf_from(dgs.get("/documents/1").get_data(as_text=True))
    dgs.post("/documents/1/steps/visa_dgs/visa", data={"csrf_token": token})
    assert _waiting(demo)[1] == {"maire"}
    dgs.post("/documents/2/steps/visa_dgs/reject", data={"csrf_token": token, "reason": "Erreur"})
    assert 2 not in _waiting(demo)
    with demo.app_context():
        assert get_session().get(Document, 2).status.value == "rejete"
    inbox = dgs.get("/").get_data(as_text=True)
    to_process = inbox[inbox.index('id="a-traiter"'):inbox.index('id="mes-documents"')]
    assert "Tarifs de la médiathèque" not in to_process and "budget supplémentaire" not in to_process


def test_migration_0023_copies_each_documents_values_into_its_waiting_rows(demo, client_for):
    from alembic import command

    from parapheur.db import alembic_config

    dgs = client_for("dgs")
    token = csrf_from(dgs.get("/documents/1").get_data(as_text=True))
    dgs.post("/documents/1/steps/visa_dgs/visa", data={"csrf_token": token})
    before = _waiting(demo)
    config = alembic_config(demo.config["DATABASE_URL"])
    demo.extensions["parapheur.engine"].dispose()
    command.downgrade(config, "0022")
    command.upgrade(config, "head")
    assert _waiting(demo) == before == {1: {"maire"}, 2: {"dgs"}, 3: {"maire"}}
