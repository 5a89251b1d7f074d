"""Fixtures of the organisation and single sign-on tests: the app's (tests/app/conftest.py),
shared rather than copied, and a real OpenID Connect provider on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "app"))
sys.path.insert(0, str(Path(__file__).parent))


from app_helpers import borrow_app_fixtures  # noqa: E402

borrow_app_fixtures(globals(), "sso")


@pytest.fixture
def territory(demo, sample_pdf):
    """The demo with its commune, the métropole's DGS a member of both, the platform admin."""
    from parapheur.demo.seed import seed_demo_organisations

    with demo.app_context():
        seed_demo_organisations(demo, pdf_factory=lambda spec: sample_pdf)
    return demo


@pytest.fixture
def oidc_provider():
    from oidc_provider import Provider

    provider = Provider().start()
    yield provider
    provider.stop()
