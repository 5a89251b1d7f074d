"""`Idempotency-Key` on creating POSTs: the same key and body give back the same answer.

The first call keeps a row (token, key, fingerprint of the request) before it runs — committed
alone, so that a concurrent retry with the same key sees it and waits (409) instead of creating
twice — and the answer once it is known. The same key with another body is a 422. Answers of
5xx errors and rate limits are not kept (the retry runs again). Keys are kept 24 hours.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import timedelta

from flask import Response, g, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from parapheur.api.errors import ApiError
from parapheur.api.models import IdempotencyRecord
from parapheur.api.problems import for_domain_error
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import N_, ParapheurError

HEADER = "Idempotency-Key"
KEPT = timedelta(hours=24)
_KEY = re.compile(r"[\x21-\x7e]{1,200}")

#: How the OpenAPI document describes the header.
PARAMETER = {"in": "header", "name": HEADER, "required": False,
             "description": "Clé choisie par le client (1 à 200 caractères ASCII visibles) : "
                            "la même clé avec le même contenu rend la même réponse pendant "
                            "24 heures ; avec un autre contenu, 422.",
             "schema": {"type": "string", "minLength": 1, "maxLength": 200,
                        "pattern": "^[!-~]{1,200}$"}}


def fingerprint() -> str:
    """SHA-256 of the method, the path and the parsed body (not the multipart boundary)."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.mimetype == "multipart/form-data" or request.mimetype == \
            "application/x-www-form-urlencoded":
        for name in sorted(set(request.form)):
            digest.update(json.dumps([name, request.form.getlist(name)]).encode())
        for name in sorted(set(request.files)):
            for upload in request.files.getlist(name):
                content = hashlib.sha256()
                while chunk := upload.stream.read(1 << 16):
                    content.update(chunk)
                upload.stream.seek(0)
                digest.update(json.dumps([name, upload.filename, content.hexdigest()]).encode())
    else:
        body = request.get_json(silent=True)
        if body is None:
            digest.update(request.get_data())
        else:
            digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.body or b"", status=record.status_code,
                        content_type=record.content_type)
    if record.location:
        response.headers["Location"] = record.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _forget(record_id: int) -> None:
    session = get_session()
    session.rollback()
    with transaction(session):
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def idempotent(view):
    """Make a creating POST view honour `Idempotency-Key`."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            raise ApiError(N_("En-tête Idempotency-Key invalide : 1 à 200 caractères ASCII "
                              "visibles."),
                           code="invalid_idempotency_key")
        token = g.api_token
        moment = now()
        print_ = fingerprint()
        session = get_session()
        with transaction(session):
            session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.token_id == token.id, IdempotencyRecord.key == key,
                IdempotencyRecord.created_at < moment - KEPT))
            existing = session.execute(select(IdempotencyRecord).where(
                IdempotencyRecord.token_id == token.id, IdempotencyRecord.key == key)
            ).scalar_one_or_none()
        if existing is not None:
            if existing.request_sha256 != print_:
                raise ApiError(N_("Cette clé d'idempotence a déjà servi pour une autre requête "
                                  ": choisissez une nouvelle clé."), code="idempotency_key_reused",
                               status=422)
            if existing.status_code is None:
                raise ApiError(N_("Une requête avec cette clé d'idempotence est en cours : "
                                  "réessayez dans un instant."), code="idempotency_in_progress",
                               status=409)
            return _replay(existing)
        record = IdempotencyRecord(token_id=token.id, key=key, request_sha256=print_,
                                   created_at=moment)
        try:
            with transaction(session):
                session.add(record)
        except IntegrityError:
            raise ApiError(N_("Une requête avec cette clé d'idempotence est en cours : "
                              "réessayez dans un instant."),
                           code="idempotency_in_progress", status=409) from None
        record_id = record.id
        try:
            response = make_response(view(*args, **kwargs))
        except ParapheurError as exc:
            session.rollback()
            response = for_domain_error(exc)
        except BaseException:
            _forget(record_id)
            raise
        if response.status_code >= 500 or response.status_code == 429:
            _forget(record_id)
            return response
        with transaction(session):
            kept = session.get(IdempotencyRecord, record_id)
            if kept is not None:
                kept.status_code = response.status_code
                kept.content_type = response.content_type
                kept.location = response.headers.get("Location")
                kept.body = response.get_data()
        return response
    return wrapped
