"""How a request's transaction ends: a request that only read commits (PostgreSQL keeps the
statements psycopg prepared on the connection); one that failed, wrote or left a change behind
is rolled back, as before: nothing a request did not commit reaches the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from parapheur.db import get_session
from parapheur.documents.models import Document

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def _title(app, document_id: int) -> str:
    with app.app_context():
        return get_session().get(Document, document_id).title


def _routes(app) -> None:
    """Views that change a document and never commit, each its own way."""

    def changed_in_memory(document_id: int):
        get_session().get(Document, document_id).title = "Jamais enregistré"
        return "ok"

    def flushed(document_id: int):
        session = get_session()
        session.get(Document, document_id).title = "Jamais enregistré"
        session.flush()
        return "ok"

    def by_statement(document_id: int):
        get_session().execute(update(Document).where(Document.id == document_id)
                              .values(title="Jamais enregistré"))
        return "ok"

    def failed(document_id: int):
        get_session().execute(update(Document).where(Document.id == document_id)
                              .values(title="Jamais enregistré"))
        raise RuntimeError("the view fails after its change")

    for view in (changed_in_memory, flushed, by_statement, failed):
        app.add_url_rule(f"/_test/{view.__name__}/<int:document_id>", view.__name__, view)


def test_a_request_that_did_not_commit_changes_nothing(demo, client_for):
    _routes(demo)
    client = client_for("dgs")
    with demo.app_context():
        document_id = get_session().execute(select(Document.id).order_by(Document.id)).scalar()
    title = _title(demo, document_id)
    for name in ("changed_in_memory", "flushed", "by_statement", "failed"):
        response = client.get(f"/_test/{name}/{document_id}")
        assert response.status_code == (500 if name == "failed" else 200), name
        assert _title(demo, document_id) == title, name


def test_pages_that_only_read_keep_their_prepared_statements(demo, client_for, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("statements prepared on the server are PostgreSQL's")
    client = client_for("dgs")
    # psycopg prepares a statement at its sixth execution on a connection; twelve pages, in case
    # the pool hands them two connections in turn.
    for _ in range(12):
        assert client.get("/").status_code == 200
    with demo.app_context():
        prepared = get_session().execute(text(
            "SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    assert prepared >= 5, prepared  # the inbox's statements, prepared once, kept
