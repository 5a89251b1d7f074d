"""What views and commands take from the running application to hand to services.

Services never read the application: they get a session, a store, settings and a clock as
arguments. Views and commands get them here, from the current Flask application.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from parapheur.documents.storage import ContentStore
from parapheur.resources import shipped_dir


def store_for(config) -> ContentStore:
    """The content-addressed store of an application's configuration (DATA_DIR/store)."""
    return ContentStore(Path(config["DATA_DIR"]) / "store")


def current_store() -> ContentStore:
    """The current application's document store."""
    return store_for(current_app.config)


def workflows_dir_for(config) -> Path:
    """An application's circuits directory: PARAPHEUR_WORKFLOWS_DIR, else the shipped one."""
    configured = config.get("WORKFLOWS_DIR")
    return Path(configured) if configured else shipped_dir("workflows")


def current_workflows_dir() -> Path:
    """The current application's circuits directory."""
    return workflows_dir_for(current_app.config)
