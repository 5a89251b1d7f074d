"""Helpers of the agent tests (a module of its own: `from conftest import …` is ambiguous)."""

from __future__ import annotations

from app_helpers import csrf_from
from sqlalchemy import select

from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document


def at_signature(app, client_for) -> list[str]:
    """Give the DGS visa where needed: every demo document then waits for the Maire."""
    dgs = client_for("dgs")
    with app.app_context():
        waiting = [(d.id, pending_steps(d)[0].state) for d in
                   get_session().execute(select(Document).order_by(Document.id)).scalars()]
    for document_id, step in waiting:
        if step.startswith("visa"):
            token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
            assert dgs.post(f"/documents/{document_id}/steps/{step}/visa",
                            data={"csrf_token": token}).status_code == 302
    with app.app_context():
        return [f"{d.id}:{pending_steps(d)[0].state}" for d in
                get_session().execute(select(Document).order_by(Document.id)).scalars()]
