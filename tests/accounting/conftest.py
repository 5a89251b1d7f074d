"""Fixtures of the accounting tests: typed PES content, and xmlsec1 for the signatures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "signing"))


@pytest.fixture(scope="session")
def xmlsec1(system_tool) -> str:
    """Debian's xmlsec1, the independent XML signature checker."""
    return system_tool("xmlsec1", "xmlsec1")


@pytest.fixture(scope="session")
def maire_p12(dev_pki):
    """The mayor's PKCS#12 key of the dev PKI, opened once."""
    from signing.keys import Pkcs12Key

    return Pkcs12Key.open(dev_pki.pkcs12_path("maire"), dev_pki.passphrase)
