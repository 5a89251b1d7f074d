"""Errors of the documents domain, each with a message a user understands."""

from __future__ import annotations

from typing import Any

from parapheur.errors import N_, ParapheurError


class InvalidUpload(ParapheurError):
    """The uploaded file is not an acceptable PDF; `reason` says why."""

    status = 400

    def __init__(self, message: str, *, reason: str, **params: Any):
        super().__init__(message, **params)
        self.reason = reason


class UploadTooLarge(ParapheurError):
    """The upload exceeds PARAPHEUR_MAX_UPLOAD_MB."""

    status = 413

    def __init__(self, limit_mb: int):
        super().__init__(N_("Le fichier dépasse la taille maximale autorisée (%(limit_mb)s Mo)."),
                         limit_mb=limit_mb)
        self.limit_mb = limit_mb
