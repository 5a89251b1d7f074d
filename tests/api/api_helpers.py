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
