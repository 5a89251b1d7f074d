"""Signing a document at its signature step with the signatory's own key."""

from __future__ import annotations

import gc
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from parapheur.accounting.services import xades_companion
from parapheur.accounts import throttle
from parapheur.accounts.models import Desk, SigningCredential, User
from parapheur.accounts.services import ActingCapacity
from parapheur.audit import services as audit
from parapheur.circuits import services as circuits
from parapheur.circuits.errors import StepNotCurrent
from parapheur.db import transaction
from parapheur.documents import access
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, ParapheurError, localized
from parapheur.signatures.agent_policy import check_server_key_allowed
from parapheur.signatures.annexes import annex_companion, companions
from parapheur.signatures.credentials import NoCredential, active_credential
from parapheur.signatures.options import (
    SigningSetup,
    TimestampNotConfigured,
    batch_signer,
    step_sign_options,
)
from signing.errors import SigningError

#: Validated files whose readers may wait for the garbage collector before a collection is forced:
#: a full collection costs about half a second in a large process, so it runs once this many
#: bytes were validated (at once for a large file), not after each small document.
COLLECT_AFTER_BYTES = 16 * 1024 * 1024

if TYPE_CHECKING:
    from signing.pades import SignOptions


class SigningRefused(ParapheurError):
    """The signing layer refused; the document and its earlier signatures are untouched."""

    status = 400
    #: The signing layer's code when it refused (`signing.errors`: wrong_passphrase…).
    reason: str | None = None


class SigningServiceUnavailable(SigningRefused):
    """A service the signature needs (time-stamping, OCSP/CRL) did not answer; retry later."""

    status = 503


def refusal(exc: SigningError) -> SigningRefused:
    """The application error for a refusal of the signing layer (its HTTP status by its type)."""
    from signing.errors import RevocationInfoUnavailable, TimestampUnavailable

    kind = SigningServiceUnavailable if isinstance(
        exc, TimestampUnavailable | RevocationInfoUnavailable) else SigningRefused
    refused = kind(exc.template, **exc.params)
    refused.reason = exc.code  # the signing layer's code: wrong_passphrase, unreadable_pdf…
    return refused


def key_spec(credential: SigningCredential, secret: str):
    """Where the credential's key is, unlocked by `secret` (PKCS#12 passphrase or card PIN)."""
    from signing.keys import KeySpec

    if credential.kind == "pkcs11":
        return KeySpec(kind="pkcs11", module=credential.pkcs11_module,
                       token_label=credential.token_label, key_label=credential.key_label,
                       pin=secret)
    return KeySpec(kind="pkcs12", path=Path(credential.pkcs12_path or ""), passphrase=secret)


def pin_tries_notice(session: Session, user: User) -> str | None:
    """What the user's token says of its remaining PIN tries, for the signing form, or None.

    Only for a key on a PKCS#11 token that reports it (token flags, read without logging in).
    """
    from signing.keys import token_pin_tries

    try:
        credential = active_credential(session, user)
    except NoCredential:
        return None
    if credential.kind != "pkcs11" or not credential.pkcs11_module:
        return None
    tries = token_pin_tries(credential.pkcs11_module, token_label=credential.token_label)
    if tries is None:
        return None
    return tries.notice[0].upper() + tries.notice[1:] + "."


@dataclass
class SignatureRequest:
    """One document to sign at one step, authorised and with its options decided."""

    document: Document
    step: str
    capacity: ActingCapacity
    options: SignOptions
    on_behalf_of: str | None
    store: ContentStore | None = None
    sha256: str = ""  # the version to sign, read from the store as a stream when signing
    row_version: int = 0  # the document as planned: a change since makes it « déjà traité »
    #: a second signature the same act makes with the same key (a bordereau's XAdES), or None
    companion: Any = None

    @property
    def original(self) -> bytes:
        """The version to sign, in memory (checked against its hash); batches stream instead."""
        assert self.store is not None
        return self.store.read(self.sha256)


@dataclass
class BatchResult:
    """What a batch signature did: the documents signed, and why the others were not."""

    signed: list[Document] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (document title, reason)
    #: Ids of documents that do not exist or that the signatory may not see: nothing more is said.
    unavailable: list[int] = field(default_factory=list)


def plan_signature(session: Session, store: ContentStore, document: Document, *, step: str,
                   actor: User, now: datetime,
                   setup: SigningSetup | None = None) -> SignatureRequest:
    """Check that `actor` may sign `document` at `step` now, and decide how (level, stamp)."""
    pending = circuits.find_pending(document, step)
    if pending.action != "signature":
        raise ParapheurError(N_("Cette étape n'est pas une étape de signature."))
    capacity = circuits.capacity_for(session, document, pending, actor, now=now)
    # Refused before the key is opened: the code is not spent on a signature that cannot be made.
    circuits.check_mandatory_reading(session, document, step, actor)
    on_behalf_of = absent_holder(capacity.desk) if capacity.delegated else None
    sign_options = step_sign_options(
        pending.signature, document, default_level="B-B", signer_name=actor.full_name,
        quality=_quality(capacity, actor), on_behalf_of=on_behalf_of, always_stamp=True,
        use_text_tag=True, purpose="Signature", field_prefix="Signature")
    return SignatureRequest(document, step, capacity, sign_options, on_behalf_of,
                            store=store, sha256=document.current_version.sha256,
                            row_version=document.row_version,
                            # A bordereau de mandats' PDF brings its XAdES along (same act).
                            companion=companions(
                                xades_companion(
                                    session, document,
                                    policy_sha256=(setup or SigningSetup()).helios_policy_sha256),
                                annex_companion(session, store, document, step=step,
                                                sign_options=sign_options,
                                                setup=setup or SigningSetup(),
                                                check=verification_problem)))


def open_signing_key(session: Session, actor: User, passphrase: str, *, now: datetime):
    """The actor's key, unlocked in memory (the passphrase or PIN is neither stored nor logged).

    Codes are throttled per user (`throttle.SIGNING_CODE`); a wrong one is journaled
    (`signature:code:failed`, never the code) in its own transaction, whatever the caller's does.
    """
    from signing import errors as signing_errors
    from signing.keys import open_key

    # The organisation may keep its elected officials to their own card (the local agent).
    check_server_key_allowed(session, actor)
    credential = active_credential(session, actor)
    with Session(session.get_bind(), expire_on_commit=False) as side:
        try:
            throttle.reserve(side, throttle.SIGNING_CODE, str(actor.id), now=now,
                             message=N_("Trop de codes de certificat erronés : la signature "
                                        "est suspendue pour votre compte pendant quelques "
                                        "minutes."))
        except throttle.TooManyAttempts as exc:
            raise throttle.TooManyAttempts(
                N_("%(detail)s Réessayez dans %(minutes)s min."), exc.retry_after,
                detail=exc, minutes=max(1, -(-exc.retry_after // 60))) from None
    try:
        key = open_key(key_spec(credential, passphrase))
    except signing_errors.WrongPassphrase as exc:
        with Session(session.get_bind(), expire_on_commit=False) as side:
            audit.record(side, "signature:code:failed", actor=actor,
                         details={"user_id": actor.id, "credential": credential.kind},
                         clock=lambda: now)
            side.commit()
        raise refusal(exc) from None
    except signing_errors.SigningError as exc:
        raise refusal(exc) from None
    with Session(session.get_bind(), expire_on_commit=False) as side:
        throttle.clear(side, throttle.SIGNING_CODE, str(actor.id))
        side.commit()
    return key


def _sign_all(key, requests: list[SignatureRequest], *, now: datetime, setup: SigningSetup,
              workdir: Path) -> list[tuple[SignatureRequest, Path | None, SigningError | None]]:
    """Sign the requests with one loaded key, one batch per PAdES level (`parapheur sign`'s path).

    Streaming: each version is read from the store as a file and signed into `workdir` (a
    scratch directory of the store), so memory stays bounded whatever the batch's size.
    """

    results = []
    by_level: dict = {}
    for request in requests:
        by_level.setdefault(request.options.level, []).append(request)
    own_roots = [c for c in key.signer.cert_registry if c.self_signed]
    for level, group in by_level.items():
        results.extend(_sign_level(key, level, group, now=now, setup=setup, own_roots=own_roots,
                                   workdir=workdir))
    return results


def _sign_level(key, level, group: list[SignatureRequest], *, now: datetime,
                setup: SigningSetup, own_roots: list, workdir: Path):
    """Sign one level's requests; each signed file is checked by `parapheur verify`'s validator.

    A bordereau de mandats' companion (its XAdES) is made with the same key once its PDF holds.
    """
    from signing.validation import Validator

    try:
        signer = batch_signer(key, group[0].options, setup, now=now)
    except TimestampNotConfigured as exc:
        raise SigningRefused(exc.template, **exc.params) from None
    results = []
    pairs = []
    for request in group:
        assert request.store is not None
        try:
            source = request.store.checked_path(request.sha256)
        except ParapheurError as exc:
            results.append((request, None, SigningError(exc.template, **exc.params)))
            continue
        pairs.append((request, source, workdir / f"{uuid.uuid4().hex}.pdf"))
    outcomes = signer.sign_files([(source, target, request.options)
                                  for request, source, target in pairs], signed_at=now)
    validator = Validator([*setup.trust_roots, *own_roots], online=False, clock=lambda: now)
    uncollected = 0
    try:
        for (request, _, target), outcome in zip(pairs, outcomes, strict=True):
            signed: Path | None = target if outcome.ok else None
            error = outcome.error
            if signed is not None:
                # One signed file in memory at a time, for the validator; then let go.
                data = signed.read_bytes()
                uncollected += len(data)
                problem = verification_problem(validator, data, request.options.field_name)
                del data
                if problem is not None:
                    signed, error = None, SigningError(problem)
                # The validator's PDF reader holds the file through reference cycles: free the
                # readers once they hold COLLECT_AFTER_BYTES, not at the next automatic
                # collection, or a batch of large files holds every file it validated.
                if uncollected >= COLLECT_AFTER_BYTES:
                    gc.collect()
                    uncollected = 0
            if signed is not None and request.companion is not None:
                try:
                    request.companion.sign(key, now)
                except SigningError as exc:
                    signed, error = None, exc
                except ParapheurError as exc:
                    signed, error = None, SigningError(exc.template, **exc.params)
            results.append((request, signed, error))
    finally:
        validator.close()
    return results


def verification_problem(validator, signed: bytes, field_name: str) -> str | None:
    """Why the signature just made in `field_name` fails verification, or None when it holds.

    The same validator as `parapheur verify`: a signature the application would later report as
    broken is never recorded.
    """
    from signing.report import Indication

    report = validator.validate(signed)
    if report.error is not None:
        return (f"La signature produite ne se vérifie pas ({report.error}) : le document n'a pas "
                f"été signé.")
    entry = next((s for s in report.signatures if s.field_name == field_name), None)
    if entry is None:
        return "La signature produite est introuvable à la vérification : le document n'a pas été signé."
    if entry.indication is Indication.TOTAL_FAILED or not entry.intact or not entry.valid:
        return (f"La signature produite ne se vérifie pas ({entry.sub_indication or entry.message})"
                f" : le document n'a pas été signé. Le PDF est probablement mal formé.")
    return None


def record_signature(session: Session, store: ContentStore, request: SignatureRequest,
                      signed: bytes | Path, *, key, actor: User, now: datetime) -> None:
    """Store the signed version and advance the circuit (in the caller's transaction).

    The document's optimistic lock is taken first: when someone else acted on it since it was
    planned, this signature is « déjà traité » and its file never reaches the store.
    """
    document = request.document
    if document.row_version != request.row_version:
        raise StepNotCurrent(N_("Un autre utilisateur vient de traiter ce document (déjà "
                                "traité) : il n'a pas été signé une seconde fois."),
                             step=request.step)
    document.updated_at = now
    flag_modified(document, "updated_at")  # an UPDATE, hence the version check, even if equal
    try:
        session.flush()
    except StaleDataError:
        raise StepNotCurrent(N_("Un autre utilisateur vient de traiter ce document (déjà "
                                "traité) : il n'a pas été signé une seconde fois."),
                             step=request.step) from None
    if request.companion is not None:
        request.companion.record(session, actor=actor, now=now)
    signed_file = {"path": signed} if isinstance(signed, Path) else {"data": signed}
    version = documents.add_version(session, store, document, kind=VersionKind.SIGNED,
                                    actor=actor, now=now, **signed_file)
    circuits.act(session, document, step=request.step, actor=actor, decision="approve", now=now,
                 capacity=request.capacity, allow_signature=True, version_id=version.id,
                 certificate_subject=key.subject_name,
                 payload={"sha256": version.sha256, "version": version.number,
                          "certificate": key.subject_name, "level": request.options.level.value,
                          **({"stamp_on_behalf_of": f"en l'absence de {request.on_behalf_of}"}
                             if request.on_behalf_of else {})})


def sign_step(session: Session, store: ContentStore, document: Document, *, step: str,
              actor: User, passphrase: str, now: datetime,
              setup: SigningSetup | None = None) -> None:
    """Sign the current version at `step` and advance the circuit, in the caller's transaction.

    The passphrase only unlocks the key in memory; it is never stored or logged.
    """
    request = plan_signature(session, store, document, step=step, actor=actor, now=now,
                             setup=setup)
    key = open_signing_key(session, actor, passphrase, now=now)
    with store.scratch() as workdir:
        try:
            [(_, signed, error)] = _sign_all(key, [request], now=now,
                                             setup=setup or SigningSetup(), workdir=workdir)
        finally:
            key.close()  # logs out of a token at once
        if error is not None or signed is None:
            raise refusal(error) if error is not None else SigningRefused(N_("La signature a "
                                                                             "échoué."))
        record_signature(session, store, request, signed, key=key, actor=actor, now=now)


def sign_batch(session: Session, store: ContentStore, items: list[tuple[int, str]], *,
               actor: User, passphrase: str, now: datetime,
               setup: SigningSetup | None = None) -> BatchResult:
    """Sign several documents with one passphrase entry; each is committed on its own.

    A document that cannot be signed (not waiting for this user any more, refused by the signing
    layer, taken by someone else meanwhile) is reported and left as it was; the others go on. A
    wrong passphrase refuses the whole batch before anything is signed.
    """
    result = BatchResult()
    requests: list[SignatureRequest] = []
    for document_id, step in items:
        try:
            document = access.get_visible(session, actor, document_id, now=now)
        except access.DocumentUnavailable:
            result.unavailable.append(document_id)
            continue
        try:
            requests.append(plan_signature(session, store, document, step=step, actor=actor,
                                           now=now, setup=setup))
        except ParapheurError as exc:
            result.failed.append((document.title, localized(exc)))
    if not requests:
        return result
    key = open_signing_key(session, actor, passphrase, now=now)
    # The signed files wait in a scratch directory of the store; those not recorded (lost
    # races, failures) go with it.
    with store.scratch() as workdir:
        try:
            signatures = _sign_all(key, requests, now=now, setup=setup or SigningSetup(),
                                   workdir=workdir)
        finally:
            key.close()  # one login served the whole batch
        _record_batch(session, store, signatures, result, key=key, actor=actor, now=now)
    return result


def _record_batch(session: Session, store: ContentStore, signatures, result: BatchResult, *,
                  key, actor: User, now: datetime) -> None:
    """Record each signed document in its own transaction; report the others with the reason."""
    for request, signed, error in signatures:
        if signed is None:
            result.failed.append((request.document.title, localized(
                error if error is not None else SigningError(N_("la signature a échoué")))))
            continue
        title = request.document.title
        try:
            with transaction(session):
                record_signature(session, store, request, signed, key=key, actor=actor, now=now)
        except ParapheurError as exc:
            result.failed.append((title, localized(exc)))
            continue
        except IntegrityError:
            result.failed.append((title, localized(ParapheurError(N_(
                "un autre utilisateur vient de le traiter (déjà traité)")))))
            continue
        result.signed.append(request.document)


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
