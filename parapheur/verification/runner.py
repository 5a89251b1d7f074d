"""Runs the validation of many files on a pool of worker processes started once.

Each worker parses the trust anchors once and keeps one `Validator` (one validation set-up, one event
loop) for all the files it is given: per-file cost is the validation itself, not start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509

from signing.report import FileReport
from signing.validation import Validator

_worker_validator: Validator | None = None
_worker_transform: Callable[[FileReport], Any] | None = None


def find_pdfs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given explicitly, plus the PDFs found by recursing into given directories (sorted, no duplicates)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _clock(at: datetime | None) -> Callable[[], datetime] | None:
    return (lambda: at) if at is not None else None


def _trusted(path: str | None) -> Any:
    if path is None:
        return None
    from signing.trusted_list import load_trusted_list

    return load_trusted_list(path)


def _init_worker(root_ders: list[bytes], online: bool, transform: Callable[[FileReport], Any] | None,
                 at: datetime | None = None, trusted_list: str | None = None) -> None:
    global _worker_validator, _worker_transform
    roots = [x509.Certificate.load(der) for der in root_ders]
    _worker_validator = Validator(roots, online=online, clock=_clock(at), trusted_list=_trusted(trusted_list))
    _worker_transform = transform


def _validate_in_worker(path: str) -> Any:
    assert _worker_validator is not None
    report = _worker_validator.validate_file(path)
    return _worker_transform(report) if _worker_transform is not None else report


def validate_files(
    files: Sequence[Path],
    trust_roots: Sequence[x509.Certificate],
    *,
    online: bool = False,
    jobs: int | None = None,
    transform: Callable[[FileReport], Any] | None = None,
    at: datetime | None = None,
    trusted_list: str | None = None,
) -> Iterator[Any]:
    """Yield one report per file, in the order given, validating on `jobs` processes (default: every core).

    `transform` (a module-level function) turns each report into what is yielded, inside the worker:
    the command renders its output there, so that only strings cross the process boundary.
    `at` validates as of that moment instead of now (`parapheur verify --at`); `trusted_list` is the
    path of a TS 119 612 list each worker reads (`--trusted-list`).
    """
    jobs = jobs or os.cpu_count() or 1
    jobs = min(jobs, len(files))
    if jobs <= 1:
        validator = Validator(trust_roots, online=online, clock=_clock(at), trusted_list=_trusted(trusted_list))
        try:
            for path in files:
                report = validator.validate_file(path)
                yield transform(report) if transform is not None else report
        finally:
            validator.close()
        return
    ders = [cert.dump() for cert in trust_roots]
    # Small chunks keep the order-preserving stream moving; large enough to amortise the IPC.
    chunksize = max(1, min(32, len(files) // (jobs * 8)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(ders, online, transform, at, trusted_list)) as pool:
        yield from pool.map(_validate_in_worker, [str(p) for p in files], chunksize=chunksize)
