"""Signing a document at its signature step with the signatory's own key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Desk, SigningCredential, User
from parapheur.circuits import services as circuits
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import ParapheurError


class SigningRefused(ParapheurError):
    """The signing layer refused; the document and its earlier signatures are untouched."""

    status = 400


class NoCredential(ParapheurError):
    """The user has no signing certificate configured."""

    status = 400

    def __init__(self) -> None:
        super().__init__("Aucun certificat de signature n'est configuré pour votre compte : "
                         "contactez l'administrateur.")


def active_credential(session: Session, user: User) -> SigningCredential:
    """The user's signing credential, or NoCredential."""
    credential = session.execute(
        select(SigningCredential).where(SigningCredential.user_id == user.id,
                                        SigningCredential.active.is_(True))
        .order_by(SigningCredential.id)
    ).scalars().first()
    if credential is None or credential.kind != "pkcs12" or not credential.pkcs12_path:
        raise NoCredential()
    return credential


def sign_step(session: Session, store: ContentStore, document: Document, *, step: str,
              actor: User, passphrase: str, now: datetime, tsa_url: str | None = None) -> None:
    """Sign the current version at `step` and advance the circuit, in the caller's transaction.

    The passphrase only unlocks the key in memory; it is never stored or logged.
    """
    from signing import errors as signing_errors
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions, Stamp, sign_document

    pending = circuits.find_pending(document, step)
    if pending.action != "signature":
        raise ParapheurError("Cette étape n'est pas une étape de signature.")
    capacity = circuits.capacity_for(session, document, pending, actor, now=now)
    credential = active_credential(session, actor)
    options = pending.signature
    level = Level(options.level) if options is not None and options.level else Level.B_B
    on_behalf_of = absent_holder(capacity.desk) if capacity.delegated else None
    # The author's #signature# tag wins; else the box the circuit gives; else bottom right.
    page, box = -1, None
    where = options.stamp if options is not None else None
    if where is not None:
        # Circuit pages count from 1 (negative from the end); the signing layer from 0.
        page = where.page - 1 if where.page > 0 else where.page
        box = (where.x, where.y, where.x + where.width, where.y + where.height)
    stamp = Stamp(signer_name=actor.full_name, quality=_quality(capacity, actor),
                  on_behalf_of=on_behalf_of, page=page, box=box)
    certify = bool(options is not None and options.certify) and not _has_signature_version(document)
    try:
        key = Pkcs12Key.open(Path(credential.pkcs12_path or ""), passphrase)  # checked above
        original = store.read(document.current_version.sha256)
        signed = sign_document(
            original, key,
            SignOptions(level=level, stamp=stamp, certify=certify,
                        reason=f"Signature — {document.title}"[:200],
                        field_name=f"Signature{len(document.versions)}"),
            signed_at=now, timestamper=_require_tsa(tsa_url) if level.needs_timestamp else None)
    except signing_errors.SigningError as exc:
        raise SigningRefused(exc.message) from None
    version = documents.add_version(session, store, document, data=signed, kind=VersionKind.SIGNED,
                                    actor=actor, now=now)
    circuits.act(session, document, step=step, actor=actor, decision="approve", now=now,
                 capacity=capacity, allow_signature=True, version_id=version.id,
                 certificate_subject=key.subject_name,
                 payload={"sha256": version.sha256, "version": version.number,
                          "certificate": key.subject_name, "level": level.value,
                          **({"stamp_on_behalf_of": f"en l'absence de {on_behalf_of}"}
                             if on_behalf_of else {})})


def absent_holder(desk: Desk) -> str:
    """Who a delegate signs for, as the stamp's « en l'absence de … » line reads.

    The holder's name and quality when the desk has one member (« Martine Dupont, Le Maire »),
    else the desk itself.
    """
    members = list(desk.members)
    quality = desk.quality or desk.name
    if len(members) == 1:
        return f"{members[0].full_name}, {quality}"
    return f"{quality} (bureau {desk.name})" if desk.quality else f"bureau {desk.name}"


def _quality(capacity, actor: User) -> str:
    if capacity.delegated:
        own = capacity.via.quality or capacity.via.name if capacity.via else actor.title
        return f"{own}, par délégation" if own else "Par délégation"
    return capacity.desk.quality or actor.title or capacity.desk.name


def _has_signature_version(document: Document) -> bool:
    return any(v.kind in (VersionKind.SIGNED, VersionKind.SEALED) for v in document.versions)


def _require_tsa(tsa_url: str | None) -> str:
    if not tsa_url:
        raise SigningRefused("Ce niveau de signature demande un horodatage, mais aucun service "
                             "d'horodatage (PARAPHEUR_TSA_URL) n'est configuré.")
    return tsa_url
