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


def _app_fixtures():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "app_conftest", Path(__file__).parent.parent / "app" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_APP = _app_fixtures()


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """xdist's worker id, suffixed: these tests' PostgreSQL database is not tests/app's.

    The app fixtures are loaded a second time for this folder, so their session-scoped database
    must have a name of its own (the other copy drops and recreates its own by name).
    """
    import xdist

    return f"{xdist.get_xdist_worker_id(request)}_agent"


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
live_server = _APP.live_server
browser_page = _APP.browser_page
FrozenClock = _APP.FrozenClock
