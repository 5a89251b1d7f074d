"""`refresh_archives`: renew the document time stamp chain of every B-LTA document that needs it.

A B-LTA document proves its signatures' existence through its newest document time stamp only as long
as that time stamp's TSA certificate is valid. Before it expires, a new document time stamp (with the
validation data of the previous one) is added as a new version of the document, journaled as
`document:archive:refreshed`. Meant to run daily: from `parapheur archive refresh`, or as a periodic
job of the task queue (it needs a session, the content store and the application's signing setup).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.audit import services as audit
from parapheur.db import transaction
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, ParapheurError

DEFAULT_WITHIN = timedelta(days=180)

# Versions that can carry signatures (an original is never B-LTA, a refresh keeps the kind).
_SIGNED_KINDS = (VersionKind.SIGNED, VersionKind.SEALED, VersionKind.ARCHIVED)


class RefreshUnavailable(ParapheurError):
    """The refresh cannot run at all (no time stamping service configured)."""

    status = 503


@dataclass(frozen=True)
class Refreshed:
    """One document whose time stamp chain was renewed."""

    document_id: int
    title: str
    version: int
    expired_at: datetime | None  # the previous newest TSA certificate's expiry
    expires_at: datetime | None  # the new one's: the next refresh is due before that


@dataclass
class RefreshReport:
    """What a refresh run did."""

    checked: int = 0  # B-LTA documents looked at
    refreshed: list[Refreshed] = field(default_factory=list)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (document id, title, reason)
    within: timedelta = DEFAULT_WITHIN

    def still_due(self, now: datetime) -> list[Refreshed]:
        """Refreshed documents whose new time stamp also expires within the window (renew the TSA)."""
        return [r for r in self.refreshed if r.expires_at is not None and r.expires_at <= now + self.within]


def refresh_archives(
    session: Session,
    store: ContentStore,
    *,
    now: datetime,
    tsa_url: str | None,
    trust_roots: Sequence[Any],
    within: timedelta = DEFAULT_WITHIN,
    actor=None,
    timestamper: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> RefreshReport:
    """Add a document time stamp to every B-LTA document whose newest TSA certificate expires within `within`.

    Each document is refreshed in its own transaction (new version + journal event); a failure is
    reported for that document and the others go on. `timestamper` (a pyHanko TimeStamper) replaces
    `tsa_url` when given.
    """
    from signing.archive import archive_state, refresh_archive
    from signing.errors import SigningError

    stamper = timestamper or tsa_url
    report = RefreshReport(within=within)
    horizon = now + within
    ids = session.execute(select(Document.id).order_by(Document.id)).scalars().all()
    for document_id in ids:
        document = session.get(Document, document_id)
        if document is None or document.current_version.kind not in _SIGNED_KINDS:
            continue
        current = document.current_version
        try:
            pdf = store.read(current.sha256)
            state = archive_state(pdf)
        except Exception as exc:  # an unreadable file is reported, the run goes on
            report.failed.append((document.id, document.title, f"fichier illisible ({exc})"))
            continue
        if not state.is_b_lta:
            continue
        report.checked += 1
        if state.newest_tsa_expiry is not None and state.newest_tsa_expiry > horizon:
            continue
        if not stamper:
            raise RefreshUnavailable(N_("Aucun service d'horodatage n'est configuré "
                                        "(PARAPHEUR_TSA_URL) : les horodatages d'archive dus "
                                        "ne peuvent pas être renouvelés."))
        try:
            refreshed = refresh_archive(pdf, trust_roots=trust_roots, timestamper=stamper)
        except SigningError as exc:
            report.failed.append((document.id, document.title, exc.message))
            continue
        except Exception as exc:  # network or PDF trouble on one document never stops the run
            report.failed.append((document.id, document.title, f"{type(exc).__name__} : {exc}"))
            continue
        new_expiry = archive_state(refreshed).newest_tsa_expiry
        with transaction(session):
            version = documents.add_version(session, store, document, data=refreshed,
                                            kind=VersionKind.ARCHIVED, actor=actor, now=now)
            audit.record(session, "document:archive:refreshed", actor=actor, document_id=document.id,
                         details={"version": version.number, "sha256": version.sha256,
                                  "previous_sha256": current.sha256,
                                  "previous_tsa_expiry": _iso(state.newest_tsa_expiry),
                                  "tsa_expiry": _iso(new_expiry), "within_days": within.days},
                         clock=clock or (lambda: now))
        report.refreshed.append(Refreshed(document.id, document.title, version.number,
                                          state.newest_tsa_expiry, new_expiry))
    return report


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
