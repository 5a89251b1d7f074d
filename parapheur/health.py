"""Health checks for load balancers: `/healthz` (the process answers) and `/readyz` (it can work).

`/readyz` answers 200 when the database, the task queue (Redis or its SQLite file) and the content
store are reachable, else 503 with the list of what is down. Neither needs a login nor shows any
setting or secret; both are exempt from CSRF (GET only) and never cached.
"""

from __future__ import annotations

import os
import tempfile

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

bp = Blueprint("health", __name__)


def _database() -> None:
    with current_app.extensions["parapheur.engine"].connect() as connection:
        connection.execute(text("SELECT 1"))


def _queue() -> None:
    from parapheur.outbox.tasks import QUEUE_KEY

    queue = current_app.extensions.get(QUEUE_KEY)
    if queue is None:
        raise RuntimeError("file d'attente non configurée")
    queue.huey.pending_count()  # reads the queue's storage (Redis, or the SQLite file)


def _store() -> None:
    from parapheur.context import current_store

    root = current_store().root
    root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=root, prefix=".ready-")
    os.close(fd)
    os.unlink(name)


CHECKS = {"database": ("base de données", _database), "queue": ("file d'attente", _queue),
          "store": ("stockage des documents", _store)}


def _no_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/healthz")
def healthz():
    """The process is up (nothing else is checked)."""
    return _no_cache(jsonify(status="ok"))


@bp.route("/readyz")
def readyz():
    """200 when every dependency answers, else 503 naming those that do not."""
    results, down = {}, []
    for key, (label, check) in CHECKS.items():
        try:
            check()
            results[key] = "ok"
        except Exception as exc:  # any failure of a dependency is « down », never a 500
            current_app.logger.warning("readyz: %s down: %s", key, type(exc).__name__)
            results[key] = f"indisponible ({type(exc).__name__})"
            down.append(label)
    if down:
        response = jsonify(status="indisponible", checks=results,
                           message="Indisponible : " + ", ".join(down) + ".")
        response.status_code = 503
    else:
        response = jsonify(status="ok", checks=results)
    return _no_cache(response)
