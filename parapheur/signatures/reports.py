"""Validation reports of the application's documents, against its configured trust anchors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask


def trust_anchor_paths(app: Flask) -> list[Path]:
    """PARAPHEUR_TRUST_ANCHORS, or the demo CA when only the demo PKI is there."""
    configured = list(app.config.get("TRUST_ANCHORS") or ())
    if configured:
        return configured
    demo_ca = Path(app.config["DATA_DIR"]) / "demo-pki"
    if demo_ca.is_dir():
        from signing.pki import DevPki

        return [DevPki.load(demo_ca).ca_certificate_path]
    return []


def validation_report(app: Flask, pdf: bytes, *, path: str = "document.pdf") -> dict[str, Any]:
    """The ETSI-style validation report of a PDF, as a JSON-ready dict (offline, never raises)."""
    from signing.validation import load_trust_roots, validate_pdf

    roots = load_trust_roots(trust_anchor_paths(app))
    report = validate_pdf(pdf, trust_roots=roots, path=path)
    result = report.to_dict()
    result["trust_anchors"] = [str(p) for p in trust_anchor_paths(app)]
    return result
