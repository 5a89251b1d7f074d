"""HTTP sessions for TSA, OCSP and CRL requests, sharing one TLS context per process.

pyHanko's lazy session builds a new TLS context for every session it opens, reading certifi's
bundle of authorities each time (about 30 ms of CPU); a signature or a validation opens one or more.
`SharedTlsSession` is that lazy session (opened on first use, bound to the event loop that opened
it, closed by its owner) with a context made once.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
import certifi
from pyhanko_certvalidator import ValidationContext
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


# Validation data is collected while signing (B-LT, B-LTA, an archive refresh, a certificate checked
# at registration): an OCSP response or CRL that its responder produced a little after the
# context's moment (a slow time stamp, a card's PIN typed in, a loaded machine) is fresher, not
# wrong. pyHanko's one-second tolerance refused such data as "too recent" and the signature failed;
# the validator judges the embedded data later, at the time the time stamps prove.
COLLECTION_TIME_TOLERANCE = timedelta(minutes=10)


def collection_context(trust_roots: Iterable[Any], *, session: LazySession | None = None,
                       at: datetime | None = None, other_certs: Iterable[Any] = (),
                       revocation_mode: Literal["hard-fail", "soft-fail"] = "hard-fail",
                       ) -> ValidationContext:
    """The context that fetches a signer's revocation data while signing: the one rule for all.

    It trusts `trust_roots` only to build the path; trust decisions are the validator's. It judges
    at `at` (now by default) and accepts data produced up to COLLECTION_TIME_TOLERANCE later.
    """
    return ValidationContext(trust_roots=list(trust_roots), other_certs=list(other_certs),
                             allow_fetching=True, moment=at, revocation_mode=revocation_mode,
                             time_tolerance=COLLECTION_TIME_TOLERANCE,
                             fetcher_backend=fetcher_backend(session))
