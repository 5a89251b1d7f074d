"""Errors of the API layer, each with a stable machine code (the HTTP status is chosen here)."""

from __future__ import annotations

from typing import Any

from parapheur.errors import ParapheurError


class ApiError(ParapheurError):
    """An API refusal with its stable `code` (beside the French message)."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, **params: Any):
        super().__init__(message, status=status, **params)
        if code is not None:
            self.code = code
        self.headers = headers or {}


class Unauthenticated(ApiError):
    """No token, or a token that is unknown, expired or revoked."""

    status = 401
    code = "unauthenticated"


class ScopeMissing(ApiError):
    """The token does not carry the permission the call needs."""

    status = 403
    code = "insufficient_scope"
