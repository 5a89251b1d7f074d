"""Fixtures of the organisation and single sign-on tests: the app's (tests/app/conftest.py),
shared rather than copied, and a real OpenID Connect provider on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "app"))
sys.path.insert(0, str(Path(__file__).parent))


def _app_fixtures():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "app_conftest_sso", Path(__file__).parent.parent / "app" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_APP = _app_fixtures()


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """These tests' PostgreSQL database has a name of its own (see tests/agent/conftest.py)."""
    import xdist

    return f"{xdist.get_xdist_worker_id(request)}_sso"


sqlite_template = _APP.sqlite_template
postgres_url = _APP.postgres_url
database_url = _APP.database_url
clock = _APP.clock
app = _APP.app
sample_pdf = _APP.sample_pdf
demo_pki = _APP.demo_pki
demo_template = _APP.demo_template
demo = _APP.demo
client_for = _APP.client_for


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
