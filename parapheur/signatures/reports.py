"""Validation reports of the application's documents, against its configured trust anchors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def trust_anchor_paths(config: Mapping[str, Any]) -> list[Path]:
    """PARAPHEUR_TRUST_ANCHORS of a configuration, or the demo CA when only the demo PKI is there."""
    configured = list(config.get("TRUST_ANCHORS") or ())
    if configured:
        return configured
    demo_ca = Path(config["DATA_DIR"]) / "demo-pki"
    if demo_ca.is_dir():
        from signing.pki import DevPki

        return [DevPki.load(demo_ca).ca_certificate_path]
    return []


def validation_report(pdf: bytes, *, trust_anchors: Sequence[Path],
                      path: str = "document.pdf") -> dict[str, Any]:
    """The ETSI-style validation report of a PDF, as a JSON-ready dict (offline, never raises)."""
    from signing.validation import load_trust_roots, validate_pdf

    report = validate_pdf(pdf, trust_roots=load_trust_roots(list(trust_anchors)), path=path)
    result = report.to_dict()
    result["trust_anchors"] = [str(p) for p in trust_anchors]
    return result
