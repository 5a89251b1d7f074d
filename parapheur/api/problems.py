"""Errors of the API as `application/problem+json` (RFC 9457) with a stable machine `code`.

`code` is what programs test; `detail` is the sentence for people, in French unless the request
asks for English (`Accept-Language`): the same code whatever the language. Domain errors carry
their own `code` when they have one; otherwise it is derived from the error's class (stable as
long as the class keeps its name), or from the HTTP status for plain HTTP errors.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response

from parapheur.errors import ParapheurError, localized

PROBLEM_TYPE = "application/problem+json"

TITLES = {400: "Requête invalide", 401: "Authentification requise", 403: "Accès refusé",
          404: "Introuvable", 405: "Méthode non autorisée", 409: "Conflit",
          413: "Contenu trop volumineux", 415: "Type de contenu non pris en charge",
          422: "Requête non traitable", 429: "Trop de requêtes", 500: "Erreur interne",
          503: "Service indisponible"}

STATUS_CODES = {400: "invalid_request", 401: "unauthenticated", 403: "forbidden",
                404: "not_found", 405: "method_not_allowed", 409: "conflict",
                413: "payload_too_large", 415: "unsupported_media_type",
                422: "validation_failed", 429: "rate_limited", 500: "internal_error",
                503: "service_unavailable"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def code_of(exc: ParapheurError) -> str:
    """The stable code of a domain error."""
    own = getattr(exc, "code", None)
    if isinstance(own, str) and re.fullmatch(r"[a-z][a-z0-9_]{1,60}", own):
        return own
    if type(exc) is ParapheurError:
        return STATUS_CODES.get(exc.status, "invalid_request")
    return _snake(type(exc).__name__).removesuffix("_error")


def problem(status: int, detail: str, code: str | None = None, *,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """A problem+json response."""
    body = {"type": f"urn:parapheur:probleme:{code or STATUS_CODES.get(status, 'error')}",
            "title": TITLES.get(status, "Erreur"), "status": status, "detail": detail,
            "code": code or STATUS_CODES.get(status, "error"), **extra}
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def for_domain_error(exc: ParapheurError) -> Response:
    """A domain error as a problem (with `Retry-After` when it says when to come back)."""
    headers = dict(getattr(exc, "headers", None) or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="parapheur"')
    extra: dict[str, Any] = {}
    problems = getattr(exc, "problems", None)
    if problems:
        extra["errors"] = [str(p) for p in problems]
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        extra["field"] = field
    # The finer machine reason beside the code: the signing layer's (wrong_passphrase,
    # unreadable_pdf…) for a refused signature, the upload check's for a refused file.
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and re.fullmatch(r"[a-z][a-z0-9_]{1,60}", reason):
        extra["reason"] = reason
    return problem(exc.status, localized(exc), code_of(exc), headers=headers, **extra)
