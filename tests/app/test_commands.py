"""CLI commands run in-process (Click's runner): clear errors and exit codes.

`make run`'s commands as real processes: tests/app/test_packaging.py."""

from __future__ import annotations

from app_helpers import run_cli
from sqlalchemy import func, select

from parapheur.accounts.models import User
from parapheur.db import get_session
from parapheur.documents.models import Document


def test_unknown_document_export_is_a_clear_error(app, tmp_path):
    result = run_cli(app, "audit", "export", "999", "--out", str(tmp_path / "x.zip"))
    assert result.returncode == 1
    assert "n'existe pas" in result.stderr
    assert "Traceback" not in result.stderr


def test_seeding_the_demo_again_if_empty_keeps_what_is_there(demo):
    """`make run` a second time: `demo seed --if-empty` keeps the data and prints the logins."""
    def counts():
        with demo.app_context():
            session = get_session()
            return (session.execute(select(func.count(User.id))).scalar_one(),
                    session.execute(select(func.count(Document.id))).scalar_one())

    before = counts()
    result = run_cli(demo, "demo", "seed", "--if-empty")
    assert result.returncode == 0, result.stderr
    assert "Données existantes conservées" in result.stdout
    assert "demo-maire" in result.stdout
    assert counts() == before
