"""The API's blueprint class: bearer authentication, problem+json errors, multipart bodies."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.exceptions import HTTPException

from parapheur.api.auth import authenticate_request
from parapheur.api.problems import STATUS_CODES, for_domain_error, problem
from parapheur.errors import ParapheurError

PREFIX = "/api/v1"


class ApiParser(FlaskParser):
    """`files` bodies are multipart: their schema reads the form fields beside the files."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        raise _ValidationFailed(error.normalized_messages())


class _ValidationFailed(Exception):
    def __init__(self, messages):
        super().__init__("validation")
        self.messages = messages


def http_problem(exc: HTTPException):
    """A plain HTTP error of an API URL as a problem (404, 405, 413, 429…)."""
    status = exc.code or 500
    details = {404: "Aucune ressource de l'API ne répond à cette adresse.",
               405: "Cette méthode n'est pas permise sur cette ressource.",
               413: "Le contenu dépasse la taille maximale autorisée "
                    f"({current_app.config.get('MAX_UPLOAD_MB')} Mo).",
               415: "Type de contenu non pris en charge.",
               429: "Trop de requêtes : patientez avant de réessayer."}
    headers = {}
    if status == 429:
        retry = getattr(exc, "retry_after", None) or (exc.get_response().headers.get("Retry-After")
                                                       if hasattr(exc, "get_response") else None)
        if retry:
            headers["Retry-After"] = str(retry)
    return problem(status, details.get(status, "Requête invalide."),
                   STATUS_CODES.get(status, "error"), headers=headers)


def _validation_problem(exc: _ValidationFailed):
    messages = exc.messages
    return problem(422, "Le contenu de la requête est invalide : voir « errors ».",
                   "validation_failed", errors=messages)


def _unexpected(exc: Exception):
    current_app.logger.exception("Unexpected API error on %s %s", request.method, request.path)
    return problem(500, "Une erreur inattendue est survenue ; rien n'a été modifié. L'incident "
                        "est journalisé.", "internal_error")


class ApiBlueprint(Blueprint):
    """A part of `/api/v1`: every request authenticated by token, every error a problem."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, name: str, import_name: str, *, url_prefix: str, **kwargs):
        super().__init__(name, import_name, url_prefix=PREFIX + url_prefix, **kwargs)
        self.before_request(authenticate_request)
        self.register_error_handler(ParapheurError, for_domain_error)
        self.register_error_handler(_ValidationFailed, _validation_problem)
        self.register_error_handler(HTTPException, http_problem)
        self.register_error_handler(Exception, _unexpected)
