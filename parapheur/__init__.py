"""Parapheur: electronic signature workflow and paperless accounting chain for local governments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parapheur import config as config_module

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults → PARAPHEUR_* environment → `test_config` overrides."""
    # Imported here so that commands which need no web application (verify, sign, workflows)
    # start without loading Flask.
    from flask import Flask

    from parapheur.resources import shipped_dir
    from parapheur.templating import PROCESS_BYTECODE

    app = Flask(__name__, template_folder=str(shipped_dir("templates")), static_folder="static")
    # Templates compiled once per process, whatever the number of applications it builds.
    app.jinja_options = {**app.jinja_options, "bytecode_cache": PROCESS_BYTECODE}
    settings = config_module.load_settings()
    if test_config:
        settings.update(test_config)
    app.config.update(settings)
    config_module.finalize(app.config)
    # Flask's defaults hold these keys already (SameSite: None), so they are set, not defaulted.
    overrides = dict(test_config or {})
    app.config["SESSION_COOKIE_HTTPONLY"] = overrides.get("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = overrides.get("SESSION_COOKIE_SAMESITE", "Lax")
    # Only a response that changed the session sends it back: a page image or a JSON poll that
    # started before a form was posted would otherwise answer with the session it read then and
    # put it back in the browser, losing what the form stored (its flash message). The lifetimes
    # are checked on each request (accounts.sessions), not by the cookie's expiry.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)

    from parapheur import db, side_effects, web
    from parapheur.circuits.services import AUTOMATIC_HANDLERS_KEY, STEP_LISTENERS_KEY
    from parapheur.invoices.lifecycle import follow_circuit
    from parapheur.signatures.seal import seal_step

    db.init_app(app)
    # Services reach this app's registries and settings through the session they are given:
    # every session of the app carries them (no module global, two apps never share them).
    app.extensions["parapheur.sessionmaker"].configure(info={
        AUTOMATIC_HANDLERS_KEY: {"cachet": seal_step}, STEP_LISTENERS_KEY: (follow_circuit,),
        db.SETTINGS_KEY: app.config})
    side_effects.init_app(app, overrides)
    web.init_app(app)
    return app
