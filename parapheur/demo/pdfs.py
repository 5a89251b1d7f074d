"""Rendering the demo's documents as PDF with WeasyPrint."""

from __future__ import annotations

from typing import Any

from parapheur.templating import render


def render_pdf(template: str, **context: Any) -> bytes:
    """Render a templates/pdf/ Jinja template to PDF bytes."""
    from weasyprint import HTML

    html = render(template, **context)
    return HTML(string=html).write_pdf()
