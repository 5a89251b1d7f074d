"""Session fixtures for `parapheur verify`: a test PKI, a loopback CRL server and the generated corpus."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402  (a plain module beside the tests; the benchmark imports it too)


@pytest.fixture(scope="session")
def crl_server() -> Iterator[corpus.CrlServer]:
    """The test PKI's CRL distribution point on 127.0.0.1."""
    server = corpus.CrlServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def verify_pki(tmp_path_factory: pytest.TempPathFactory, crl_server: corpus.CrlServer) -> corpus.TestPki:
    """A generated PKI whose certificates point their CRL distribution point at the loopback server."""
    pki = corpus.make_pki(tmp_path_factory.mktemp("verify-pki"), url_prefix=crl_server.url)
    crl_server.pki = pki
    return pki


@pytest.fixture(scope="session")
def verify_corpus(tmp_path_factory: pytest.TempPathFactory, verify_pki: corpus.TestPki) -> dict[str, Path]:
    """Every case of the corpus, written once per session: name → path."""
    return corpus.build_corpus(tmp_path_factory.mktemp("verify-corpus"), verify_pki)


@pytest.fixture(scope="session")
def trust_root(verify_pki: corpus.TestPki) -> Path:
    """The PEM of the test PKI's root, to pass with --trust."""
    return verify_pki.root_pem
