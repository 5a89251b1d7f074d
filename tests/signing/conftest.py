"""Fixtures of the signing tests (the PKI and its server are session fixtures in ../conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def passphrase(dev_pki) -> str:
    """The dev PKI's passphrase."""
    return dev_pki.passphrase


@pytest.fixture(scope="session")
def maire_key(dev_pki, passphrase):
    """The mayor's PKCS#12 key, opened once."""
    from signing.keys import Pkcs12Key

    return Pkcs12Key.open(dev_pki.pkcs12_path("maire"), passphrase)
