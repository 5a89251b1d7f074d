"""Helpers of the API tests."""

from __future__ import annotations

import io


def deposit(caller, pdf: bytes, *, title: str = "Délibération par l'API",
            typology: str = "ACTES/DELIBERATION", metadata: str | None = None,
            headers: dict | None = None):
    """POST a document through the API (multipart)."""
    data = {"title": title, "typology": typology, "file": (io.BytesIO(pdf), "deliberation.pdf")}
    if metadata is not None:
        data["metadata"] = metadata
    return caller.post("/api/v1/documents", data=data, content_type="multipart/form-data",
                       headers=headers or {})


def run_worker(app):
    """Deliver every due outbox row once, as a worker's sweep does."""
    from parapheur.outbox import services as outbox

    return outbox.deliver_due(app)


def neighbour_account(app, username: str, role: str) -> None:
    """An account of « Commune voisine », another organisation of the instance, created with it
    (`role`: a `Role` value, e.g. « agent »)."""
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_user
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import create_organisation

    with app.app_context():
        session = get_session()
        with transaction(session):
            commune = create_organisation(session, slug="commune-voisine", name="Commune voisine",
                                          now=now())
            create_user(session, organisation=commune, username=username,
                        full_name=username.replace("-", " ").title(),
                        password="un-mot-de-passe-long", role=Role(role), now=now())
