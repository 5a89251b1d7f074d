"""The REST API `/api/v1` (flask-smorest over the services the pages use) and its tokens.

Authentication is a bearer token only (`parapheur/api/tokens.py`); cookies never authenticate
an API call and CSRF does not apply to it. Errors are `application/problem+json`.
"""

from __future__ import annotations

import http
import threading
from typing import TYPE_CHECKING, Any

from flask_smorest import Api
from flask_smorest.utils import prepare_response

from parapheur.api.problems import PROBLEM_TYPE
from parapheur.api.schemas import ProblemSchema

if TYPE_CHECKING:
    from flask import Flask


class ParapheurApi(Api):
    """flask-smorest's Api, with problem+json errors documented and the pages' error handlers.

    The OpenAPI document is written when it is first read (`/api/v1/openapi.json`), not when the
    application starts: the routes are registered at once, their documentation is deferred.
    Describing every schema costs more than the rest of the application's start.
    """

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._undocumented: list[Any] = []  # steps writing the document, in order
        self._writer: int | None = None  # the thread writing it
        self._writing = threading.Lock()
        # flask-smorest's own start reads `spec` (to add its ETag headers): that is not a reader
        # of the document, so nothing deferred is written then.
        self._starting = True
        super().__init__(*args, **kwargs)
        self._starting = False

    @property  # type: ignore[override]
    def spec(self):
        if self._undocumented and not self._starting and self._writer != threading.get_ident():
            with self._writing:
                self._writer = threading.get_ident()
                try:
                    while self._undocumented:
                        self._undocumented[0]()
                        self._undocumented.pop(0)
                finally:
                    self._writer = None
        return self._spec

    @spec.setter
    def spec(self, value) -> None:
        self._spec = value

    def document_later(self, step) -> None:
        """Run `step()` when the OpenAPI document is first read."""
        self._undocumented.append(step)

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def document() -> None:
            blp.register_views_in_doc(self, self._app, self.spec, name=name,
                                      parameters=parameters)
            self.spec.tag({"name": name, "description": blp.description})

        self.document_later(document)

    def _register_error_handlers(self):
        # API blueprints handle their own errors (parapheur.api.blueprint); the pages keep theirs.
        return None

    def _register_responses(self):
        self.document_later(self._document_responses)

    def _document_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Erreur (application/problem+json)",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def blueprints():
    """Every part of `/api/v1`."""
    from parapheur.api import documents, exports, invoices, provisioning, webhooks

    return [documents.bp, invoices.bp, provisioning.delegations_bp, provisioning.users_bp,
            provisioning.desks_bp, webhooks.bp, exports.bp]


def init_app(app: Flask, *, csrf, limiter) -> None:
    """Register `/api/v1`, its OpenAPI document, its rate limit; exempt it from CSRF."""
    from parapheur.api.auth import rate_limit_key
    from parapheur.api.blueprint import PREFIX

    app.config.setdefault("API_TITLE", "Parapheur")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = ParapheurApi(app, spec_kwargs={
        "info": {"description": "API REST du parapheur : documents, circuits, factures, "
                                "délégations, exports comptables, comptes, bureaux et webhooks. Authentification "
                                "par jeton (« Authorization: Bearer pph_… »)."},
        "servers": [{"url": "/"}], "security": [{"jeton": []}]})
    api.document_later(lambda: api.spec.components.security_scheme(
        "jeton", {"type": "http", "scheme": "bearer", "description": "Jeton personnel ou de "
                                                                      "service (pph_…)"}))
    app.extensions["parapheur.api"] = api
    for bp in blueprints():
        csrf.exempt(bp)
        limiter.limit(lambda: app.config["API_RATE_LIMIT"], key_func=rate_limit_key,
                      error_message="Trop de requêtes pour ce jeton : patientez avant de "
                                    "réessayer.")(bp)
        api.register_blueprint(bp)
