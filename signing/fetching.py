"""HTTP sessions for TSA, OCSP and CRL requests, sharing one TLS context per process.

pyHanko's lazy session builds a new TLS context for every session it opens, reading certifi's
bundle of authorities each time (about 30 ms of CPU); a signature or a validation opens one or more.
`SharedTlsSession` is that lazy session (opened on first use, bound to the event loop that opened
it, closed by its owner) with a context made once.
"""

from __future__ import annotations

import ssl
import threading

import aiohttp
import certifi
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

_CONTEXT: ssl.SSLContext | None = None
_LOCK = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The process's client TLS context: certifi's authorities, host names checked."""
    global _CONTEXT
    if _CONTEXT is None:
        with _LOCK:
            if _CONTEXT is None:
                _CONTEXT = ssl.create_default_context(cafile=certifi.where())
    return _CONTEXT


class SharedTlsSession(LazySession):
    """A pyHanko lazy session whose connections use `tls_context()`."""

    def get_session(self) -> aiohttp.ClientSession:
        """The session, opened on first use in the running event loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls_context()))
        return self._session


def fetcher_backend(session: LazySession | None = None) -> AIOHttpFetcherBackend:
    """OCSP/CRL/certificate fetchers over `session` (a new SharedTlsSession by default)."""
    return AIOHttpFetcherBackend(session or SharedTlsSession())  # type: ignore[arg-type]
