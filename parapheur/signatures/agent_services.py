"""Signing with the official's own card through the local agent: prepare, then finish once.

The server prepares each document (`signing.two_phase`), keeps the half-done state in the
database bound to the user, the documents' versions, the certificate and an expiry, and hands the
browser a request signed with its pairing key for the agent. The agent returns the card's
signature values; `finish_batch` refuses a finish that does not match, comes late or comes twice,
skips (and names) every document that changed meanwhile, validates each produced signature and
only then records the step through the circuit service, one transaction per document.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parapheur.accounts.models import User
from parapheur.audit import services as audit
from parapheur.db import transaction
from parapheur.documents.models import Document
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, Conflict, NotFound, ParapheurError
from parapheur.signatures.agent_models import (
    AgentPreparedDocument,
    AgentSigningSession,
    RegisteredCertificate,
)
from parapheur.signatures.services import (
    BatchResult,
    SignatureRequest,
    SigningRefused,
    SigningSetup,
    plan_signature,
    record_signature,
)
from signing.errors import SigningError

#: What the card signs for a document: its PDF (PAdES), and for a bordereau de mandats also
#: the XAdES of its PES (two-phase in `signing.xades`); the prepared XAdES sits in the state.
PADES = "pades"
XADES = "xades"
XADES_STATE = "xades_companion"
#: Agent API version the server speaks (the agent refuses requests of another version).
AGENT_API = 1
MAX_CERTIFICATE_BYTES = 16_384
MAX_CHAIN = 8
DEFAULT_PREPARE_MINUTES = 10


class AgentSessionRefused(Conflict):
    """A finish that does not match its preparation, comes late or comes twice."""


@dataclass(frozen=True)
class AgentSetup:
    """What two-phase signing needs from the application."""

    signing: SigningSetup
    server_key: Ed25519PrivateKey = field(repr=False)
    #: The server's origin as browsers see it (scheme://host[:port]), pinned by the agent.
    origin: str
    server_name: str
    prepare_minutes: int = DEFAULT_PREPARE_MINUTES


@dataclass
class PreparedBatch:
    """What `prepare_batch` hands the browser: the signed agent request, and the refusals."""

    token: str
    expires_at: datetime
    request: str  # JSON text, signed as is
    request_signature: str  # base64 Ed25519 signature of `request` by the server's pairing key
    documents: list[dict[str, Any]]
    refused: list[tuple[str, str]]


def load_server_key(data_dir: Path) -> Ed25519PrivateKey:
    """The server's pairing key (DATA_DIR/agent_server_key.pem), created on first use."""
    path = Path(data_dir) / "agent_server_key.pem"
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first: read theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ParapheurError(N_("%(path)s n'est pas une clé Ed25519."), path=path, status=500)
    return loaded


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw Ed25519 public key in base64, as the agent pins it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _decode_b64(value: Any, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit * 4 // 3 + 4:
        raise ParapheurError(N_("%(what)s : valeur absente ou trop longue."), what=what)
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ParapheurError(N_("%(what)s : ce n'est pas du base64 valide."), what=what) from None


def parse_certificate(certificate: Any, chain: Any):
    """The ExternalKey for a base64 certificate and chain, or a 400 with a French message."""
    from signing import errors as signing_errors
    from signing.two_phase import ExternalKey

    der = _decode_b64(certificate, "Certificat", MAX_CERTIFICATE_BYTES)
    if chain is None:
        chain = []
    if not isinstance(chain, list) or len(chain) > MAX_CHAIN:
        raise ParapheurError(N_("La chaîne de certificats doit être une liste de %(MAX_CHAIN)s "
                                "certificats au plus."), MAX_CHAIN=MAX_CHAIN)
    others = [_decode_b64(c, "Certificat de la chaîne", MAX_CERTIFICATE_BYTES) for c in chain]
    try:
        return ExternalKey.from_der(der, others)
    except signing_errors.SigningError as exc:
        raise SigningRefused(exc.template, **exc.params) from None


def _check_registered(session: Session, actor: User, fingerprint: str) -> None:
    approved = session.execute(
        select(RegisteredCertificate.sha256).where(RegisteredCertificate.user_id == actor.id,
                                                   RegisteredCertificate.approved_at.is_not(None))
    ).scalars().all()
    if approved and fingerprint not in approved:
        raise SigningRefused(N_("Ce certificat n'est pas l'un de ceux enregistrés et approuvés "
                                "pour votre compte : choisissez votre certificat habituel, ou "
                                "faites enregistrer celui-ci par l'administrateur."))


def check_certificate(session: Session, actor: User, key, *, now: datetime,
                      setup: AgentSetup) -> None:
    """Refuse a certificate unfit for this user now (registration, trust, dates, revocation)."""
    from signing import errors as signing_errors
    from signing.two_phase import check_signer_certificate

    _check_registered(session, actor, hashlib.sha256(key.certificate.dump()).hexdigest())
    try:
        check_signer_certificate(key, trust_roots=list(setup.signing.trust_roots), at=now)
    except signing_errors.SigningError as exc:
        raise SigningRefused(exc.template, **exc.params) from None


def prepare_batch(session: Session, store: ContentStore, items: list[tuple[int, str]], *,
                  actor: User, certificate: Any, chain: Any, now: datetime,
                  setup: AgentSetup) -> PreparedBatch:
    """Phase one for the documents `items` (id, step): store the states, return the agent request.

    Documents the user may not sign now are reported in `refused` and left out; nothing about
    any document changes here.
    """
    from signing.two_phase import prepare_documents

    key = parse_certificate(certificate, chain)
    check_certificate(session, actor, key, now=now, setup=setup)
    refused: list[tuple[str, str]] = []
    requests: list[SignatureRequest] = []
    for document_id, step in items:
        document = session.get(Document, document_id)
        if document is None:
            refused.append((f"document n° {document_id}", "ce document n'existe pas"))
            continue
        try:
            request = plan_signature(session, store, document, step=step, actor=actor,
                                     now=now, setup=setup.signing)
        except ParapheurError as exc:
            refused.append((document.title, exc.message))
            continue
        if getattr(request.companion, "signs_annexes", False):
            refused.append((document.title, "cette étape signe aussi les annexes PDF : signez ce "
                                            "document avec votre certificat du serveur"))
            continue
        requests.append(request)
    outcomes = prepare_documents(
        [(str(index), request.original, request.options) for index, request in
         enumerate(requests)], key, signed_at=now) if requests else []
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(minutes=setup.prepare_minutes)
    batch = AgentSigningSession(token=token, user_id=actor.id,
                                certificate_sha256=hashlib.sha256(key.certificate.dump()).hexdigest(),
                                certificate_subject=key.subject_name, created_at=now,
                                expires_at=expires_at)
    documents: list[dict[str, Any]] = []
    for request, outcome in zip(requests, outcomes, strict=True):
        if not outcome.ok:
            refused.append((request.document.title, outcome.error.message))
            continue
        state = outcome.state.to_dict()
        xades = None
        if request.companion is not None:  # a bordereau de mandats: its XAdES, same act
            try:
                xades = request.companion.prepare_external(key.certificate.dump(), (), now)
            except (SigningError, ParapheurError) as exc:
                refused.append((request.document.title, exc.message))
                continue
            state[XADES_STATE] = {"pending": xades.to_dict(), "signed_at": now.isoformat()}
        version = request.document.current_version
        batch.items.append(AgentPreparedDocument(
            position=len(batch.items), document_id=request.document.id, step=request.step,
            version_id=version.id, version_sha256=version.sha256, state=state,
            prepared_pdf=outcome.prepared_pdf))
        documents.append({"document_id": request.document.id, "step": request.step,
                          "part": PADES, "title": request.document.title,
                          "hash": base64.b64encode(outcome.state.to_sign).decode("ascii"),
                          "digest_algorithm": outcome.state.digest_algorithm,
                          "signature_algorithm": outcome.state.signature_algorithm})
        if xades is not None:
            documents.append({"document_id": request.document.id, "step": request.step,
                              "part": XADES,
                              "title": f"{request.document.title} — signature XAdES du "
                                       f"bordereau (fichier PES pour le comptable)",
                              "hash": base64.b64encode(xades.digest).decode("ascii"),
                              "digest_algorithm": xades.digest_algorithm,
                              "signature_algorithm": xades.signature_algorithm})
    if not documents:
        raise SigningRefused(N_("Aucun document de la sélection ne peut être signé : "
                                "%(refused)s"),
                             refused=" ; ".join(f"« {t} » : {r}" for t, r in refused))
    with transaction(session):
        _drop_expired_pdfs(session, now)
        session.add(batch)
        audit.record(session, "signature:agent-session:prepared", actor=actor, clock=lambda: now,
                     details={"documents": [d["document_id"] for d in documents
                                            if d["part"] == PADES],
                              "xades": [d["document_id"] for d in documents
                                        if d["part"] == XADES],
                              "certificate": key.subject_name,
                              "certificate_sha256": batch.certificate_sha256,
                              "expires_at": expires_at.isoformat()})
    request_text = json.dumps({
        "api": AGENT_API, "origin": setup.origin, "server": setup.server_name,
        "session": token, "expires_at": expires_at.isoformat(),
        "certificate_sha256": batch.certificate_sha256,
        "documents": [{"title": d["title"], "hash": d["hash"],
                       "digest_algorithm": d["digest_algorithm"],
                       "signature_algorithm": d["signature_algorithm"]} for d in documents],
    }, ensure_ascii=False, separators=(",", ":"))
    signature = setup.server_key.sign(request_text.encode("utf-8"))
    return PreparedBatch(token=token, expires_at=expires_at, request=request_text,
                         request_signature=base64.b64encode(signature).decode("ascii"),
                         documents=documents, refused=refused)


def _drop_expired_pdfs(session: Session, now: datetime) -> None:
    """Clear the prepared PDFs of sessions past their expiry: they can never be finished."""
    expired = select(AgentSigningSession.id).where(AgentSigningSession.expires_at <= now)
    session.execute(update(AgentPreparedDocument)
                    .where(AgentPreparedDocument.session_id.in_(expired),
                           AgentPreparedDocument.prepared_pdf.is_not(None))
                    .values(prepared_pdf=None).execution_options(synchronize_session=False))


def _consume(session: Session, token: Any, signatures: Any, *, actor: User,
             now: datetime) -> AgentSigningSession:
    """The session for `token`, marked finished; AgentSessionRefused if it cannot be finished."""
    if not isinstance(token, str) or not 0 < len(token) <= 64:
        raise ParapheurError(N_("Identifiant de préparation absent ou invalide."))
    batch = session.execute(select(AgentSigningSession).where(
        AgentSigningSession.token == token)).scalar_one_or_none()
    if batch is None or batch.user_id != actor.id:
        raise NotFound(N_("Cette préparation de signature n'existe pas (ou pas pour vous)."))
    if batch.finished_at is not None:
        raise AgentSessionRefused(N_("Cette signature a déjà été terminée : une préparation ne "
                                     "sert qu'une fois. Relancez la signature depuis le "
                                     "parapheur."))
    if now >= batch.expires_at:
        raise AgentSessionRefused(N_("La préparation de la signature a expiré : relancez la "
                                     "signature (elle doit être terminée dans les minutes qui "
                                     "suivent)."), status=410)
    prepared = sorted(part for item in batch.items for part in _parts(item))
    if sorted(signatures) != prepared:
        raise AgentSessionRefused(N_("Les signatures reçues ne correspondent pas aux documents "
                                     "préparés : rien n'a été signé."))
    consumed = session.execute(
        update(AgentSigningSession).where(AgentSigningSession.id == batch.id,
                                          AgentSigningSession.finished_at.is_(None))
        .values(finished_at=now).execution_options(synchronize_session=False))
    if consumed.rowcount != 1:  # another finish got there first
        raise AgentSessionRefused(N_("Cette signature a déjà été terminée : une préparation ne "
                                     "sert qu'une fois."))
    return batch


def _parts(item: AgentPreparedDocument) -> list[tuple[int, str]]:
    """What the card signs for one prepared document: its PAdES, and a bordereau's XAdES."""
    return [(item.document_id, PADES)] + ([(item.document_id, XADES)]
                                          if XADES_STATE in item.state else [])


def parse_signatures(values: Any) -> dict[tuple[int, str], bytes]:
    """{(document id, part): raw signature} from the browser's list, or a 400.

    `part` is "pades" (the PDF, the default) or "xades" (a bordereau's signature for Hélios).
    """
    if not isinstance(values, list) or not values:
        raise ParapheurError(N_("Aucune signature n'a été transmise."))
    signatures: dict[tuple[int, str], bytes] = {}
    for value in values[:1000]:
        if not isinstance(value, dict) or not isinstance(value.get("document_id"), int):
            raise ParapheurError(N_("Signature transmise invalide (document_id manquant)."))
        part = value.get("part", PADES)
        if part not in (PADES, XADES):
            raise ParapheurError(N_("Signature transmise invalide (part : « pades » ou « xades "
                                    "»)."))
        signatures[(value["document_id"], part)] = _decode_b64(value.get("signature"),
                                                               "Signature", 2048)
    if len(signatures) != len(values):
        raise ParapheurError(N_("Une signature est transmise deux fois pour le même document."))
    return signatures


def finish_batch(session: Session, store: ContentStore, token: Any,
                 signatures: dict[tuple[int, str], bytes], *, actor: User, now: datetime,
                 setup: AgentSetup) -> BatchResult:
    """Phase two: complete, validate and record each prepared document still as it was prepared."""
    from signing.two_phase import ExternalKey, PreparedSignature, finish_documents

    with transaction(session):
        batch = _consume(session, token, signatures, actor=actor, now=now)
        items = list(batch.items)
        pdfs = {item.id: item.prepared_pdf for item in items}
        for item in items:
            item.prepared_pdf = None  # the session is spent: keep only its trace
        audit.record(session, "signature:agent-session:finished", actor=actor, clock=lambda: now,
                     details={"documents": [item.document_id for item in items],
                              "certificate_sha256": batch.certificate_sha256})
    result = BatchResult()
    ready: list[tuple[AgentPreparedDocument, SignatureRequest, PreparedSignature]] = []
    for item in items:
        document = session.get(Document, item.document_id)
        title = document.title if document is not None else f"document n° {item.document_id}"
        if document is None or document.current_version.id != item.version_id or \
                document.current_version.sha256 != item.version_sha256:
            result.failed.append((title, "le document a changé depuis la préparation (nouvelle "
                                         "version) : il n'a pas été signé"))
            continue
        try:
            request = plan_signature(session, store, document, step=item.step, actor=actor,
                                     now=now, setup=setup.signing)
        except ParapheurError as exc:
            result.failed.append((title, f"le document a changé depuis la préparation : "
                                         f"{exc.message}"))
            continue
        state = PreparedSignature.from_dict(
            {k: v for k, v in item.state.items() if k != XADES_STATE})
        if pdfs[item.id] is None:
            result.failed.append((title, "la préparation de ce document est incomplète"))
            continue
        ready.append((item, request, state))
    outcomes = finish_documents(
        [(state, pdfs[item.id], signatures[(item.document_id, PADES)])
         for item, _, state in ready],
        timestamper=setup.signing.tsa_url, trust_roots=list(setup.signing.trust_roots)
    ) if ready else []
    key = ExternalKey.from_der(ready[0][2].certificate) if ready else None
    validator = _validator(setup) if ready else None
    try:
        for (item, request, state), outcome in zip(ready, outcomes, strict=True):
            title = request.document.title
            if outcome.error is not None or outcome.signed is None:
                result.failed.append((title, outcome.error.message if outcome.error
                                      else "la signature a échoué"))
                continue
            problem = _validation_problem(validator, outcome.signed, state)
            if problem is not None:
                result.failed.append((title, f"la signature produite n'est pas valide : {problem}"))
                continue
            problem = _finish_companion(item, request, signatures, key)
            if problem is not None:
                result.failed.append((title, problem))
                continue
            try:
                with transaction(session):
                    record_signature(session, store, request, outcome.signed, key=key,
                                      actor=actor, now=now)
            except ParapheurError as exc:
                result.failed.append((title, exc.message))
                continue
            result.signed.append(request.document)
    finally:
        if validator is not None:
            validator.close()
    return result


def _finish_companion(item: AgentPreparedDocument, request: SignatureRequest,
                      signatures: dict[tuple[int, str], bytes], key) -> str | None:
    """Complete a bordereau's XAdES with the card's value; why not, or None when done.

    The bordereau as it is now is built again and must have the digest it had at preparation;
    the value must verify with the prepared certificate (`signing.xades`).
    """
    from signing.xades import PendingSignature

    prepared = item.state.get(XADES_STATE)
    if request.companion is None and prepared is None:
        return None
    if request.companion is None or prepared is None:
        return ("le document a changé depuis la préparation (bordereau de mandats) : il n'a "
                "pas été signé")
    try:
        pending = PendingSignature.from_dict(prepared["pending"])
        request.companion.finish_external(
            pending, signatures[(item.document_id, XADES)], signer_name=key.subject_name,
            signed_at=datetime.fromisoformat(prepared["signed_at"]))
    except (SigningError, ParapheurError) as exc:
        return f"la signature XAdES du bordereau n'a pas abouti : {exc.message}"
    return None


def _validator(setup: AgentSetup):
    from signing.validation import Validator

    return Validator(setup.signing.trust_roots, online=True)


def _validation_problem(validator, signed: bytes, state) -> str | None:
    """Why the new signature in `signed` is not acceptable, or None (same validator as verify)."""
    from signing.report import Indication

    report = validator.validate(signed)
    if report.error is not None:
        return report.error
    ours = [s for s in report.signatures if s.field_name == state.field_name]
    if not ours:
        return "la signature est introuvable dans le document produit"
    signature = ours[0]
    if signature.indication is not Indication.TOTAL_PASSED:
        return signature.message
    if signature.level is None or signature.level.value != state.level.value:
        return (f"niveau {signature.level.value if signature.level else 'inconnu'} au lieu de "
                f"{state.level.value}")
    if signature.signer is None or signature.signer.sha256 != state.certificate_sha256:
        return "le signataire n'est pas le titulaire du certificat choisi"
    return None


def register_certificate(session: Session, actor: User, certificate: Any, *,
                         now: datetime) -> RegisteredCertificate:
    """The user registers a card certificate (from the agent); it serves once approved."""
    key = parse_certificate(certificate, [])
    fingerprint = hashlib.sha256(key.certificate.dump()).hexdigest()
    existing = session.execute(select(RegisteredCertificate).where(
        RegisteredCertificate.user_id == actor.id,
        RegisteredCertificate.sha256 == fingerprint)).scalar_one_or_none()
    if existing is not None:
        return existing
    with transaction(session):
        registered = RegisteredCertificate(user_id=actor.id, sha256=fingerprint,
                                           subject=key.subject_name,
                                           certificate=key.certificate.dump(), registered_at=now)
        session.add(registered)
        session.flush()
        audit.record(session, "signature:certificate:registered", actor=actor, clock=lambda: now,
                     details={"registration": registered.id, "certificate": key.subject_name,
                              "sha256": fingerprint})
    return registered


def approve_certificate(session: Session, registration_id: int, *, admin: User,
                        now: datetime) -> RegisteredCertificate:
    """An administrator approves a registered certificate (journaled)."""
    from parapheur.accounts.models import Role

    if admin.role is not Role.ADMIN:
        raise ParapheurError(N_("Seul un administrateur approuve un certificat."), status=403)
    registered = _registration_of_organisation(session, registration_id, admin)
    if registered.approved_at is not None:
        raise Conflict(N_("Ce certificat est déjà approuvé."))
    with transaction(session):
        registered.approved_at = now
        registered.approved_by_id = admin.id
        audit.record(session, "signature:certificate:approved", actor=admin, clock=lambda: now,
                     details={"registration": registered.id, "user": registered.user_id,
                              "certificate": registered.subject, "sha256": registered.sha256})
    return registered


def _registration_of_organisation(session: Session, registration_id: int,
                                  admin: User) -> RegisteredCertificate:
    """A registration of a user of the administrator's organisation, or NotFound."""
    registered = session.get(RegisteredCertificate, registration_id)
    owner = session.get(User, registered.user_id) if registered is not None else None
    if registered is None or owner is None or owner.organisation_id != admin.organisation_id:
        raise NotFound(N_("Aucun certificat enregistré n° %(registration_id)s."),
                       registration_id=registration_id)
    return registered


def withdraw_certificate(session: Session, registration_id: int, *, admin: User,
                         now: datetime) -> None:
    """An administrator withdraws a registration (refused, or no longer the user's card)."""
    from parapheur.accounts.models import Role

    if admin.role is not Role.ADMIN:
        raise ParapheurError(N_("Seul un administrateur retire un certificat."), status=403)
    registered = _registration_of_organisation(session, registration_id, admin)
    with transaction(session):
        audit.record(session, "signature:certificate:withdrawn", actor=admin, clock=lambda: now,
                     details={"registration": registered.id, "user": registered.user_id,
                              "certificate": registered.subject, "sha256": registered.sha256,
                              "was_approved": registered.approved_at is not None})
        session.delete(registered)


def registrations(session: Session, organisation_id: int
                  ) -> list[tuple[RegisteredCertificate, User]]:
    """The organisation's registered certificates with their owners, awaiting approval first."""
    return [(registered, user) for registered, user in session.execute(
        select(RegisteredCertificate, User).join(User, User.id == RegisteredCertificate.user_id)
        .where(User.organisation_id == organisation_id)
        .order_by(RegisteredCertificate.approved_at.is_not(None), User.full_name,
                  RegisteredCertificate.id)).all()]
