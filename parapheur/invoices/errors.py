"""Errors of the invoices domain, each with a stable code and a message a finance agent reads."""

from __future__ import annotations

from typing import Any

from parapheur.errors import Conflict, NotFound, ParapheurError


class InvoiceError(ParapheurError):
    """Base of the invoices domain's errors; `code` is stable, `message` is in French."""

    def __init__(self, code: str, message: str, *, status: int | None = None,
                 **params: Any):
        super().__init__(message, status=status, **params)
        self.code = code


class InvoiceReadError(InvoiceError):
    """The file could not be read as an invoice (unsafe, malformed, not an invoice, unknown)."""

    status = 422


class InvoiceNotFound(InvoiceError, NotFound):
    """No such invoice."""

    status = 404


class InvoiceStateError(InvoiceError, Conflict):
    """The action does not apply to the invoice as it stands."""

    status = 409


class EngagementImportError(InvoiceError):
    """An engagements CSV file is not acceptable; `line` says where."""

    def __init__(self, message: str, *, line: int | None = None, **params: Any):
        super().__init__("engagements_csv", message, **params)
        self.line = line
