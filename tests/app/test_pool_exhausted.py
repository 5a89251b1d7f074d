"""A request that finds every database connection taken is answered 503 with Retry-After."""

from __future__ import annotations

import pytest
from app_helpers import login, page_text

from parapheur import create_app

# About the connection pool: on PostgreSQL too.
pytestmark = pytest.mark.postgres


@pytest.fixture
def tiny_pool(demo):
    """The demo's database behind an application whose pool holds one connection, no overflow."""
    application = create_app({**{k: demo.config[k] for k in (
        "TESTING", "DATA_DIR", "DATABASE_URL", "SECRET_KEY", "CLOCK", "TSA_URL")},
        "DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0, "DATABASE_POOL_TIMEOUT": 0.2})
    yield application
    application.extensions["parapheur.engine"].dispose()


def test_an_exhausted_pool_answers_503_with_retry_after_then_serves_again(tiny_pool):
    client = tiny_pool.test_client()
    assert login(client, "dgs").status_code == 302
    engine = tiny_pool.extensions["parapheur.engine"]
    held = engine.connect()  # the one connection of the pool, taken by « another request »
    try:
        for url, accept in (("/", "text/html"), ("/documents", "application/json")):
            response = client.get(url, headers={"Accept": accept})
            assert response.status_code == 503, url
            assert response.headers["Retry-After"] == "5"
            text = response.get_json()["error"] if accept.endswith("json") else page_text(response)
            assert "toutes les connexions à la base de données sont occupées" in text
        anonymous = tiny_pool.test_client().post("/login", data={"username": "dgs"})
        assert anonymous.status_code in (400, 503)  # CSRF first, or the pool: never a 500
    finally:
        held.close()
    assert client.get("/").status_code == 200
