"""Signing many documents with one key: one login, one timestamper, one validation context.

What makes a batch fast compared with calling pyHanko's `sign_pdf` per file:

- the key is opened (PKCS#12 decrypted, token logged in) once and its parsed form kept;
- the signature size is reserved up front, so pyHanko does not run a dry-run signature;
- one aiohttp session carries every TSA/OCSP/CRL request, and one validation context caches the
  OCSP responses and CRLs (they stay valid for the whole batch);
- documents are signed as concurrent tasks on one event loop: while one waits for its timestamp,
  the next one is parsed and hashed.

The web app's batch signing and `parapheur sign` both use `BatchSigner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

from signing.errors import N_, SigningError
from signing.fetching import SharedTlsSession, collection_context
from signing.pades import (
    SignOptions,
    async_sign_prepared,
    classify_failure,
    prepare,
    run_sync,
)

DEFAULT_CONCURRENCY = 8


@dataclass
class FileOutcome:
    """The result of signing one file of a batch: `error` is None when it was signed."""

    source: Path
    target: Path
    error: SigningError | None = None

    @property
    def ok(self) -> bool:
        """True when the file was signed."""
        return self.error is None


@dataclass
class DocumentOutcome:
    """The result of signing one in-memory document: `signed` or `error`."""

    name: str
    signed: bytes | None = None
    error: SigningError | None = None

    @property
    def ok(self) -> bool:
        """True when the document was signed."""
        return self.error is None


class BatchSigner:
    """Signs documents with one key and shared network clients; see the module docstring."""

    def __init__(self, key: Any, options: SignOptions, *,
                 timestamper: TimeStamper | str | None = None,
                 validation_context: ValidationContext | None = None,
                 trust_roots: Sequence[Any] | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.key = key
        self.options = options
        self.timestamper = timestamper
        self.validation_context = validation_context
        self.trust_roots = trust_roots
        self.concurrency = max(1, concurrency)
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- shared clients -------------------------------------------------------------------------

    def _clients(self) -> tuple[TimeStamper | None, ValidationContext | None, LazySession]:
        """A session, timestamper and validation context for one event-loop run."""
        session = SharedTlsSession()
        stamper = self.timestamper
        if isinstance(stamper, str):
            stamper = HTTPTimeStamper(stamper, timeout=10, session=session)
        context = self.validation_context
        if context is None and self.options.level.needs_revocation_info:
            roots = list(self.trust_roots) if self.trust_roots else [
                c for c in self.key.signer.cert_registry if c.self_signed]
            context = collection_context(roots, session=session)
        return stamper, context, session

    async def _sign_one(self, source: Any, output: Any, stamper: TimeStamper | None,
                        context: ValidationContext | None, gate: asyncio.Semaphore | None,
                        signed_at: datetime | None, options: SignOptions | None = None) -> Any:
        """Sign one document; `gate` bounds how many are in flight (None: the caller holds it)."""
        options = options or self.options
        if options.level is not self.options.level:
            raise ValueError("every document of a batch is signed at the batch's level")
        async with gate or contextlib.nullcontext():
            try:
                writer, pdf_signer, params = prepare(
                    source, self.key, options, signed_at=signed_at or self.clock(),
                    timestamper=stamper, validation_context=context)
            except SigningError:
                raise
            except Exception as exc:  # odd PDFs fail in many ways while locating the stamp
                raise classify_failure(exc, self.options.level) from exc
            return await async_sign_prepared(writer, pdf_signer, params, self.options.level,
                                             output=output)

    # -- in memory ------------------------------------------------------------------------------

    def sign_bytes(self, pdf: bytes, *, signed_at: datetime | None = None) -> bytes:
        """Sign one document in memory; raises SigningError."""
        (outcome,) = self.sign_documents([("document", pdf)], signed_at=signed_at)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.signed is not None
        return outcome.signed

    def sign_documents(self, documents: Iterable[tuple[str, bytes] | tuple[str, bytes, SignOptions]],
                       *,
                       signed_at: datetime | None = None,
                       progress: Callable[[DocumentOutcome], None] | None = None,
                       ) -> list[DocumentOutcome]:
        """Sign (name, bytes) pairs; a failure is reported in its outcome, the others go on.

        An item may carry its own SignOptions as a third element (its own stamp, field name or
        reason); the level stays the batch's.
        """
        items = [(d[0], d[1], d[2] if len(d) > 2 else None) for d in documents]

        async def run() -> list[DocumentOutcome]:
            stamper, context, session = self._clients()
            gate = asyncio.Semaphore(self.concurrency)

            async def one(name: str, pdf: bytes, options: SignOptions | None
                          ) -> DocumentOutcome:
                try:
                    out = await self._sign_one(bytes(pdf), None, stamper, context, gate,
                                               signed_at, options)
                    outcome = DocumentOutcome(name, signed=out.getvalue())
                except SigningError as exc:
                    outcome = DocumentOutcome(name, error=exc)
                if progress is not None:
                    progress(outcome)
                return outcome

            try:
                return list(await asyncio.gather(*(one(n, p, o) for n, p, o in items)))
            finally:
                await session.close()

        return run_sync(run())

    # -- files ----------------------------------------------------------------------------------

    def sign_files(self, pairs: Iterable[tuple[Path, Path] | tuple[Path, Path, SignOptions]], *,
                   signed_at: datetime | None = None,
                   progress: Callable[[FileOutcome], None] | None = None) -> list[FileOutcome]:
        """Sign each source into its target, streaming; targets appear only when signed.

        Neither the sources nor the signed files are held in memory, whatever their number and
        size. An item may carry its own SignOptions as a third element (as in `sign_documents`).
        """
        items = [(Path(p[0]), Path(p[1]), p[2] if len(p) > 2 else None) for p in pairs]

        async def run() -> list[FileOutcome]:
            stamper, context, session = self._clients()
            gate = asyncio.Semaphore(self.concurrency)

            async def one(source: Path, target: Path, options: SignOptions | None
                          ) -> FileOutcome:
                outcome = FileOutcome(source, target)
                partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
                try:
                    # Files are opened inside the gate: a batch of any size keeps at most
                    # `concurrency` pairs of files open.
                    async with gate:
                        with open(source, "rb") as src, open(partial, "w+b") as out:
                            await self._sign_one(src, out, stamper, context, None, signed_at,
                                                 options)
                        os.replace(partial, target)
                except SigningError as exc:
                    outcome.error = exc
                except OSError as exc:
                    outcome.error = SigningError(N_("Le fichier %(file)s n'a pas pu être lu ou "
                                                    "écrit : %(detail)s."),
                                                 file=source.name, detail=exc.strerror or exc)
                finally:
                    if partial.exists():
                        partial.unlink()
                if progress is not None:
                    progress(outcome)
                return outcome

            try:
                return list(await asyncio.gather(*(one(s, t, o) for s, t, o in items)))
            finally:
                await session.close()

        return run_sync(run())


def sign_document(pdf: bytes, key: Any, options: SignOptions, *, signed_at: datetime | None = None,
                  timestamper: TimeStamper | str | None = None,
                  validation_context: ValidationContext | None = None) -> bytes:
    """Sign `pdf` with `key` as an incremental update and return the signed bytes.

    Raises a `SigningError` subclass (with a French `message`) instead of signing whenever the
    certificate, the document or the timestamping service is not fit; `pdf` is never modified.
    `timestamper` is a pyHanko TimeStamper or a TSA URL; it is required from B-T up.
    """
    signer = BatchSigner(key, options, timestamper=timestamper,
                         validation_context=validation_context)
    return signer.sign_bytes(bytes(pdf), signed_at=signed_at)


def sign_file(source: Path, target: Path, key: Any, options: SignOptions, *,
              signed_at: datetime | None = None, timestamper: TimeStamper | str | None = None,
              validation_context: ValidationContext | None = None) -> None:
    """Sign the file `source` into `target`, streaming (a 1 GB PDF is never held in memory).

    `target` appears only when the signature succeeded; raises SigningError otherwise.
    """
    signer = BatchSigner(key, options, timestamper=timestamper,
                         validation_context=validation_context)
    (outcome,) = signer.sign_files([(Path(source), Path(target))], signed_at=signed_at)
    if outcome.error is not None:
        raise outcome.error


def sign_in_memory(pdf: bytes, key: Any, options: SignOptions, **kwargs: Any) -> bytes:
    """Convenience: a one-document batch (same code path as `sign_document`)."""
    signed_at = kwargs.pop("signed_at", None)
    return BatchSigner(key, options, **kwargs).sign_bytes(pdf, signed_at=signed_at)


__all__ = ["BatchSigner", "DocumentOutcome", "FileOutcome", "sign_document", "sign_file",
           "sign_in_memory"]
