"""The application's error base: domain errors carry an HTTP status and a French message."""

from __future__ import annotations


class ParapheurError(Exception):
    """Base of every domain error; `status` maps it to HTTP, `message` is shown to the user."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ParapheurError):
    """The thing asked for does not exist."""

    status = 404


class Forbidden(ParapheurError):
    """The user may not do this."""

    status = 403


class Conflict(ParapheurError):
    """The action no longer applies (already done, state changed)."""

    status = 409
