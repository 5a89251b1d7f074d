"""Fixtures of the invoice library tests: PDFs made once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from invoice_helpers import xml  # noqa: E402


@pytest.fixture(scope="session")
def plain_pdf() -> bytes:
    """A PDF with no invoice inside."""
    from weasyprint import HTML

    return HTML(string="<p>Courrier du fournisseur</p>").write_pdf()


@pytest.fixture(scope="session")
def facturx_pdf(plain_pdf) -> bytes:
    """A Factur-X PDF (EN 16931) made by the factur-x library from a generated invoice."""
    from parapheur.invoices.generate import facturx_pdf as make

    return make(xml(), plain_pdf)
