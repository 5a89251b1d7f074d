"""Fixtures of the two-phase signing and local agent tests (PKI, token: ../conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The signing tests' PDF builders and independent checkers (pdfsig, pyHanko) serve here too.
sys.path.insert(0, str(Path(__file__).parent.parent / "signing"))


@pytest.fixture(scope="session")
def maire_p12(dev_pki):
    """The mayor's key and certificate, as a card would hold them."""
    return load_p12(dev_pki, "maire")


@pytest.fixture(scope="session")
def trust_roots(dev_pki):
    """The dev CA as the only trust anchor."""
    from signing.validation import load_trust_roots

    return load_trust_roots([dev_pki.ca_certificate_path])


# --- The web application's fixtures (tests/app/conftest.py), shared rather than copied ---
sys.path.insert(0, str(Path(__file__).parent.parent / "app"))
sys.path.insert(0, str(Path(__file__).parent))
from agent_helpers import load_p12  # noqa: E402
from app_helpers import borrow_app_fixtures  # noqa: E402

borrow_app_fixtures(globals(), "agent")
