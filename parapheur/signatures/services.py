"""Signing a document at its signature step with the signatory's own key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounting.services import xades_companion
from parapheur.accounts.models import Desk, SigningCredential, User
from parapheur.accounts.services import ActingCapacity
from parapheur.circuits import services as circuits
from parapheur.db import transaction
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import ParapheurError
from signing.errors import SigningError
from signing.xades import DEFAULT_HELIOS_POLICY_SHA256

if TYPE_CHECKING:
    from signing.pades import SignOptions


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
        .order_by(SigningCredential.id.desc())
    ).scalars().first()
    usable = credential is not None and (
        (credential.kind == "pkcs12" and credential.pkcs12_path)
        or (credential.kind == "pkcs11" and credential.pkcs11_module))
    if not usable:
        raise NoCredential()
    assert credential is not None
    return credential


def key_spec(credential: SigningCredential, secret: str):
    """Where the credential's key is, unlocked by `secret` (PKCS#12 passphrase or card PIN)."""
    from signing.keys import KeySpec

    if credential.kind == "pkcs11":
        return KeySpec(kind="pkcs11", module=credential.pkcs11_module,
                       token_label=credential.token_label, key_label=credential.key_label,
                       pin=secret)
    return KeySpec(kind="pkcs12", path=Path(credential.pkcs12_path or ""), passphrase=secret)


@dataclass(frozen=True)
class SigningSetup:
    """The application's signing environment: its time-stamping service and trust anchors.

    The trust anchors (with the signer's own root) validate the certificates a B-LT signature
    embeds, the TSA's included.
    """

    tsa_url: str | None = None
    trust_roots: tuple = ()
    #: SHA-256 of the Hélios signature policy, for the XAdES of bordereaux de mandats
    helios_policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256


def setup_from(app) -> SigningSetup:
    """The signing setup of a Flask application (PARAPHEUR_TSA_URL, PARAPHEUR_TRUST_ANCHORS)."""
    from parapheur.signatures.reports import trust_anchor_paths
    from signing.validation import load_trust_roots

    return SigningSetup(tsa_url=app.config.get("TSA_URL"),
                        trust_roots=tuple(load_trust_roots(trust_anchor_paths(app))),
                        helios_policy_sha256=app.config.get("HELIOS_POLICY_SHA256")
                        or DEFAULT_HELIOS_POLICY_SHA256)


@dataclass
class SignatureRequest:
    """One document to sign at one step, authorised and with its options decided."""

    document: Document
    step: str
    capacity: ActingCapacity
    options: SignOptions
    on_behalf_of: str | None
    original: bytes = b""
    #: a second signature the same act makes with the same key (a bordereau's XAdES), or None
    companion: Any = None


@dataclass
class BatchResult:
    """What a batch signature did: the documents signed, and why the others were not."""

    signed: list[Document] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (document title, reason)


def plan_signature(session: Session, store: ContentStore, document: Document, *, step: str,
                   actor: User, now: datetime,
                   setup: SigningSetup | None = None) -> SignatureRequest:
    """Check that `actor` may sign `document` at `step` now, and decide how (level, stamp)."""
    from signing.pades import Level, SignOptions, Stamp

    pending = circuits.find_pending(document, step)
    if pending.action != "signature":
        raise ParapheurError("Cette étape n'est pas une étape de signature.")
    capacity = circuits.capacity_for(session, document, pending, actor, now=now)
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
    sign_options = SignOptions(level=level, stamp=stamp, certify=certify,
                               reason=f"Signature — {document.title}"[:200],
                               field_name=f"Signature{len(document.versions)}")
    return SignatureRequest(document, step, capacity, sign_options, on_behalf_of,
                            store.read(document.current_version.sha256),
                            # A bordereau de mandats' PDF brings its XAdES along (same act).
                            companion=xades_companion(
                                session, document,
                                policy_sha256=(setup or SigningSetup()).helios_policy_sha256))


def open_signing_key(session: Session, actor: User, passphrase: str):
    """The actor's key, unlocked in memory (the passphrase or PIN is neither stored nor logged)."""
    from signing import errors as signing_errors
    from signing.keys import open_key

    try:
        return open_key(key_spec(active_credential(session, actor), passphrase))
    except signing_errors.SigningError as exc:
        raise SigningRefused(exc.message) from None


def _sign_all(key, requests: list[SignatureRequest], *, now: datetime,
              setup: SigningSetup) -> list[tuple[SignatureRequest, bytes | None, str | None]]:
    """Sign the requests with one loaded key, one batch per PAdES level (`parapheur sign`'s path)."""
    from signing.batch import BatchSigner

    results = []
    by_level: dict = {}
    for request in requests:
        by_level.setdefault(request.options.level, []).append(request)
    for level, group in by_level.items():
        own_roots = [c for c in key.signer.cert_registry if c.self_signed]
        signer = BatchSigner(
            key, group[0].options, clock=lambda: now,
            timestamper=_require_tsa(setup.tsa_url) if level.needs_timestamp else None,
            trust_roots=[*setup.trust_roots, *own_roots] if setup.trust_roots else None)
        outcomes = signer.sign_documents(
            [(str(index), request.original, request.options) for index, request in enumerate(group)],
            signed_at=now)
        for request, outcome in zip(group, outcomes, strict=True):
            signed = outcome.signed
            error = outcome.error.message if outcome.error is not None else None
            if signed is not None and request.companion is not None:
                try:
                    request.companion.sign(key, now)
                except (SigningError, ParapheurError) as exc:
                    signed, error = None, exc.message
            results.append((request, signed, error))
    return results


def _record_signature(session: Session, store: ContentStore, request: SignatureRequest,
                      signed: bytes, *, key, actor: User, now: datetime) -> None:
    """Store the signed version and advance the circuit (in the caller's transaction)."""
    document = request.document
    if request.companion is not None:
        request.companion.record(session, actor=actor, now=now)
    version = documents.add_version(session, store, document, data=signed, kind=VersionKind.SIGNED,
                                    actor=actor, now=now)
    circuits.act(session, document, step=request.step, actor=actor, decision="approve", now=now,
                 capacity=request.capacity, allow_signature=True, version_id=version.id,
                 certificate_subject=key.subject_name,
                 payload={"sha256": version.sha256, "version": version.number,
                          "certificate": key.subject_name, "level": request.options.level.value,
                          **({"stamp_on_behalf_of": f"en l'absence de {request.on_behalf_of}"}
                             if request.on_behalf_of else {})})


def sign_step(session: Session, store: ContentStore, document: Document, *, step: str,
              actor: User, passphrase: str, now: datetime,
              setup: SigningSetup = SigningSetup()) -> None:
    """Sign the current version at `step` and advance the circuit, in the caller's transaction.

    The passphrase only unlocks the key in memory; it is never stored or logged.
    """
    request = plan_signature(session, store, document, step=step, actor=actor, now=now,
                             setup=setup)
    key = open_signing_key(session, actor, passphrase)
    try:
        [(_, signed, error)] = _sign_all(key, [request], now=now, setup=setup)
    finally:
        key.close()  # logs out of a token at once
    if error is not None or signed is None:
        raise SigningRefused(error or "La signature a échoué.")
    _record_signature(session, store, request, signed, key=key, actor=actor, now=now)


def sign_batch(session: Session, store: ContentStore, items: list[tuple[int, str]], *,
               actor: User, passphrase: str, now: datetime,
               setup: SigningSetup = SigningSetup()) -> BatchResult:
    """Sign several documents with one passphrase entry; each is committed on its own.

    A document that cannot be signed (not waiting for this user any more, refused by the signing
    layer, taken by someone else meanwhile) is reported and left as it was; the others go on. A
    wrong passphrase refuses the whole batch before anything is signed.
    """
    result = BatchResult()
    requests: list[SignatureRequest] = []
    for document_id, step in items:
        document = session.get(Document, document_id)
        if document is None:
            result.failed.append((f"document n° {document_id}", "ce document n'existe pas"))
            continue
        try:
            requests.append(plan_signature(session, store, document, step=step, actor=actor,
                                           now=now, setup=setup))
        except ParapheurError as exc:
            result.failed.append((document.title, exc.message))
    if not requests:
        return result
    key = open_signing_key(session, actor, passphrase)
    try:
        signatures = _sign_all(key, requests, now=now, setup=setup)
    finally:
        key.close()  # one login served the whole batch
    for request, signed, error in signatures:
        if signed is None:
            result.failed.append((request.document.title, error or "la signature a échoué"))
            continue
        try:
            with transaction(session):
                _record_signature(session, store, request, signed, key=key, actor=actor, now=now)
        except ParapheurError as exc:
            result.failed.append((request.document.title, exc.message))
            continue
        result.signed.append(request.document)
    return result


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
