"""Two-phase PAdES signing: the server prepares, a card elsewhere signs a hash, the server finishes.

An official's card cannot be reached from the server, so signing is cut in two (pyHanko's
"interrupted signing"):

1. `prepare_documents` takes the signer's certificate (and chain) and, per document, writes the
   signed revision with a reserved, empty signature, computes the document digest, builds the CMS
   signed attributes and returns the digest of their DER encoding: that digest is all the card
   signs. The half-done state (`PreparedSignature`) is frozen and serialisable (`to_dict`), the
   prepared PDF is returned beside it; both are kept by the caller until the card answers.
2. `finish_documents` takes the raw signature values, checks each against the certificate, builds
   the CMS (with the signature time stamp from B-T up), fills it into the reserved space, and adds
   the validation data (B-LT) and the document time stamp (B-LTA) the level requires.

The stamp, the field, the certification and every refusal are the one-shot path's
(`signing.pades.prepare`), fed with an `ExternalKey` whose private half lives on the card.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import ExternalSigner, PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation import async_add_validation_info
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.batch import DocumentOutcome
from signing.errors import N_, CertificateNotUsable, SigningError, TimestampUnavailable
from signing.fetching import SharedTlsSession, collection_context, fetcher_backend
from signing.keys import check_certificate_usable, subject_common_name
from signing.pades import (
    RESERVED_BYTES,
    Level,
    SignOptions,
    classify_failure,
    prepare,
    run_sync,
)

logger = logging.getLogger(__name__)
#: The only digest the prepared states use (what the card is asked to sign over).
DIGEST_ALGORITHM = "sha256"
#: Prepared-state format; a state of another format is refused at finish.
STATE_FORMAT = 1


class SignatureValueMismatch(SigningError):
    """The value returned for a prepared document is not a signature by the prepared certificate."""

    code = "signature_value_mismatch"
    default_message = N_("La signature renvoyée par la carte ne correspond pas au certificat "
                         "choisi pour ce document : il n'a pas été signé.")


class PreparedStateInvalid(SigningError):
    """A prepared state or prepared PDF is malformed, of another format, or does not belong together."""

    code = "prepared_state_invalid"
    default_message = N_("La préparation de la signature est invalide ou ne correspond pas au "
                         "document : recommencez la signature.")


class ExternalKey:
    """A key whose private half is elsewhere (a card behind the local agent): certificate only.

    It has the shape of `signing.keys.Pkcs12Key` (certificate, subject_name, signer) so that the
    one-shot path's checks, stamp and field placement serve the two-phase path unchanged.
    """

    kind = "external"

    def __init__(self, certificate: asn1_x509.Certificate,
                 chain: Sequence[asn1_x509.Certificate] = (),
                 signature_value: bytes | None = None) -> None:
        self.certificate = certificate
        self.chain = tuple(chain)
        self.subject_name = subject_common_name(certificate)
        self.signer = ExternalSigner(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(list(self.chain)),
            signature_value=signature_value if signature_value is not None else 512)

    @classmethod
    def from_der(cls, certificate: bytes, chain: Iterable[bytes] = (),
                 signature_value: bytes | None = None) -> ExternalKey:
        """Parse a DER certificate and its chain, or CertificateNotUsable."""
        try:
            cert = asn1_x509.Certificate.load(bytes(certificate))
            cert.native  # noqa: B018 - forces a full parse, so garbage fails here
            others = [asn1_x509.Certificate.load(bytes(c)) for c in chain]
            for other in others:
                other.native  # noqa: B018
        except (ValueError, TypeError) as exc:
            raise CertificateNotUsable(N_("Le certificat transmis est illisible (%(detail)s)."),
                                       detail=exc) from None
        return cls(cert, others, signature_value)

    def close(self) -> None:
        """Nothing to release: the card is the agent's."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class PreparedSignature:
    """One document's half-done signature: what the card must sign, and how to finish it."""

    #: The caller's name for the document (e.g. its id).
    name: str
    level: Level
    #: Digest of the DER-encoded signed attributes: the only thing the card signs.
    to_sign: bytes
    #: The DER-encoded CMS signed attributes (the card's signature covers them).
    signed_attributes: bytes
    #: Digest of the document over its /ByteRange (inside the signed attributes).
    document_digest: bytes
    reserved_start: int
    reserved_end: int
    #: SHA-256 of the prepared PDF (with its empty signature): finish refuses any other file.
    prepared_sha256: str
    #: DER of the signer's certificate and of the chain given with it.
    certificate: bytes
    chain: tuple[bytes, ...] = ()
    signed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    field_name: str = ""
    digest_algorithm: str = DIGEST_ALGORITHM
    #: "rsassa_pkcs1v15" or "ecdsa": how the card must sign `to_sign`.
    signature_algorithm: str = "rsassa_pkcs1v15"
    format: int = STATE_FORMAT

    @property
    def certificate_sha256(self) -> str:
        """Fingerprint of the signer's certificate (what the state is bound to)."""
        return hashlib.sha256(self.certificate).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (bytes in base64, time in ISO 8601)."""
        return {
            "format": self.format, "name": self.name, "level": self.level.value,
            "to_sign": _b64(self.to_sign), "signed_attributes": _b64(self.signed_attributes),
            "document_digest": _b64(self.document_digest),
            "reserved_start": self.reserved_start, "reserved_end": self.reserved_end,
            "prepared_sha256": self.prepared_sha256, "certificate": _b64(self.certificate),
            "chain": [_b64(c) for c in self.chain], "signed_at": self.signed_at.isoformat(),
            "field_name": self.field_name, "digest_algorithm": self.digest_algorithm,
            "signature_algorithm": self.signature_algorithm,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreparedSignature:
        """Inverse of `to_dict`; PreparedStateInvalid on anything malformed."""
        try:
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            state = cls(
                name=str(data["name"]), level=Level(data["level"]),
                to_sign=_unb64(data["to_sign"]),
                signed_attributes=_unb64(data["signed_attributes"]),
                document_digest=_unb64(data["document_digest"]),
                reserved_start=int(data["reserved_start"]),
                reserved_end=int(data["reserved_end"]),
                prepared_sha256=str(data["prepared_sha256"]),
                certificate=_unb64(data["certificate"]),
                chain=tuple(_unb64(c) for c in data["chain"]),
                signed_at=datetime.fromisoformat(data["signed_at"]),
                field_name=str(data["field_name"]),
                digest_algorithm=str(data["digest_algorithm"]),
                signature_algorithm=str(data["signature_algorithm"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PreparedStateInvalid(N_("La préparation de la signature est illisible "
                                          "(%(detail)s) : recommencez la signature."),
                                       detail=exc) from None
        if state.digest_algorithm != DIGEST_ALGORITHM or \
                hashlib.new(state.digest_algorithm, state.signed_attributes).digest() != \
                state.to_sign:
            raise PreparedStateInvalid()
        return state


@dataclass(frozen=True)
class PrepareOutcome:
    """One document of `prepare_documents`: its state and prepared PDF, or why not."""

    name: str
    state: PreparedSignature | None = None
    prepared_pdf: bytes | None = None
    error: SigningError | None = None

    @property
    def ok(self) -> bool:
        """True when the document is ready for the card."""
        return self.error is None


# One document of `finish_documents`: the signed PDF, or why not (the one-shot path's outcome).
FinishOutcome = DocumentOutcome


def _signature_algorithm(key: ExternalKey) -> str:
    mechanism = key.signer.get_signature_mechanism_for_digest(DIGEST_ALGORITHM)
    algorithm = mechanism.signature_algo
    if algorithm not in ("rsassa_pkcs1v15", "ecdsa"):
        raise CertificateNotUsable(N_("L'algorithme de la clé (%(algorithm)s) n'est pas pris "
                                      "en charge pour la signature par carte (RSA ou ECDSA)."),
                                   algorithm=algorithm)
    return algorithm


async def _prepare_one(name: str, pdf: bytes, key: ExternalKey, options: SignOptions,
                       signed_at: datetime, algorithm: str) -> PrepareOutcome:
    # The one-shot path's checks and placement, at B-B: the level's extras come at finish.
    writer, pdf_signer, params = prepare(pdf, key, replace(options, level=Level.B_B),
                                         signed_at=signed_at, timestamper=None,
                                         validation_context=None)
    digest, _, output = await pdf_signer.async_digest_doc_for_signing(
        writer, bytes_reserved=RESERVED_BYTES[options.level.value],
        appearance_text_params=params or None)
    attributes = await key.signer.signed_attrs(
        digest.document_digest, DIGEST_ALGORITHM,
        attr_settings=PdfCMSSignedAttributes(signing_time=signed_at), use_pades=True)
    encoded = attributes.dump()
    prepared_pdf = output.getvalue()
    state = PreparedSignature(
        name=name, level=options.level,
        to_sign=hashlib.new(DIGEST_ALGORITHM, encoded).digest(), signed_attributes=encoded,
        document_digest=digest.document_digest, reserved_start=digest.reserved_region_start,
        reserved_end=digest.reserved_region_end,
        prepared_sha256=hashlib.sha256(prepared_pdf).hexdigest(),
        certificate=key.certificate.dump(), chain=tuple(c.dump() for c in key.chain),
        signed_at=signed_at, field_name=pdf_signer.signature_meta.field_name or "",
        signature_algorithm=algorithm)
    return PrepareOutcome(name, state=state, prepared_pdf=prepared_pdf)


def prepare_documents(documents: Iterable[tuple[str, bytes, SignOptions]], key: ExternalKey, *,
                      signed_at: datetime | None = None) -> list[PrepareOutcome]:
    """Phase one for each (name, pdf, options): what the card must sign; failures are per document.

    The certificate's dates and key usage are checked here (as on the one-shot path); its trust
    and revocation are `check_signer_certificate`'s, which the caller runs once for the batch.
    """
    moment = signed_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    check_certificate_usable(key.certificate, moment)
    algorithm = _signature_algorithm(key)

    async def run() -> list[PrepareOutcome]:
        outcomes = []
        for name, pdf, options in documents:
            try:
                outcomes.append(await _prepare_one(name, bytes(pdf), key, options, moment,
                                                   algorithm))
            except SigningError as exc:
                outcomes.append(PrepareOutcome(name, error=exc))
            except Exception as exc:  # odd PDFs fail in many ways while locating the stamp
                outcomes.append(PrepareOutcome(name, error=classify_failure(exc, options.level)))
        return outcomes

    return run_sync(run())


def verify_signature_value(state: PreparedSignature, signature: bytes) -> None:
    """Check that `signature` is the prepared certificate's signature of the signed attributes."""
    try:
        public_key = pyca_x509.load_der_x509_certificate(state.certificate).public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, state.signed_attributes, PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, state.signed_attributes, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureValueMismatch(N_("Le type de clé du certificat n'est pas pris en "
                                            "charge."))
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureValueMismatch() from None


def _stamper(timestamper: TimeStamper | str | None, session: LazySession) -> TimeStamper | None:
    if isinstance(timestamper, str):
        return HTTPTimeStamper(timestamper, timeout=10, session=session)
    return timestamper


async def _finish_one(state: PreparedSignature, prepared_pdf: bytes, signature: bytes,
                      stamper: TimeStamper | None, context: ValidationContext | None) -> bytes:
    if hashlib.sha256(prepared_pdf).hexdigest() != state.prepared_sha256:
        raise PreparedStateInvalid()
    verify_signature_value(state, signature)
    key = ExternalKey.from_der(state.certificate, state.chain, signature_value=signature)
    content = await key.signer.async_sign_prescribed_attributes(
        state.digest_algorithm, cms.CMSAttributes.load(state.signed_attributes),
        timestamper=stamper if state.level.needs_timestamp else None)
    output = BytesIO(prepared_pdf)
    await PdfTBSDocument.async_finish_signing(
        output, PreparedByteRangeDigest(state.document_digest, state.reserved_start,
                                        state.reserved_end), content)
    signed = output.getvalue()
    if state.level.needs_revocation_info:
        assert context is not None
        embedded = next(s for s in PdfFileReader(BytesIO(signed)).embedded_signatures
                        if s.field_name == state.field_name)
        signed = (await async_add_validation_info(embedded, context, output=BytesIO())
                  ).getvalue()
    if state.level is Level.B_LTA:
        writer = IncrementalPdfFileWriter(BytesIO(signed))
        signed = (await signers.PdfTimeStamper(stamper).async_timestamp_pdf(
            writer, state.digest_algorithm, validation_context=context, output=BytesIO())
        ).getvalue()
    return signed


def finish_documents(items: Iterable[tuple[PreparedSignature, bytes, bytes]], *,
                     timestamper: TimeStamper | str | None = None,
                     trust_roots: Sequence[Any] = (),
                     validation_context: ValidationContext | None = None,
                     progress: Callable[[FinishOutcome], None] | None = None,
                     ) -> list[FinishOutcome]:
    """Phase two for each (state, prepared pdf, raw signature value); failures are per document.

    `timestamper` (a TimeStamper or a TSA URL) is needed from B-T up; B-LT and B-LTA fetch the
    certificates' OCSP/CRL with one shared client, trusting `trust_roots` (and the state's chain
    roots) for the validation data.
    """
    entries = list(items)

    async def run() -> list[FinishOutcome]:
        session = SharedTlsSession()
        stamper = _stamper(timestamper, session)
        context = validation_context
        if context is None and any(s.level.needs_revocation_info for s, _, _ in entries):
            roots = list(trust_roots) + [
                c for s, _, _ in entries for c in ExternalKey.from_der(s.certificate, s.chain).chain
                if c.self_signed]
            context = collection_context(roots, session=session)
        outcomes = []
        try:
            for state, prepared_pdf, signature in entries:
                try:
                    if state.level.needs_timestamp and stamper is None:
                        raise TimestampUnavailable(
                            N_("Le niveau %(level)s demande un horodatage, mais aucun service "
                               "d'horodatage n'est configuré."), level=state.level.value)
                    outcome = FinishOutcome(state.name, signed=await _finish_one(
                        state, bytes(prepared_pdf), bytes(signature), stamper, context))
                except SigningError as exc:
                    outcome = FinishOutcome(state.name, error=exc)
                except Exception as exc:  # TSA/OCSP/aiohttp failures: classified in French
                    # The French refusal says what failed; the log keeps why, for the admins.
                    logger.warning("finishing %s failed", state.name, exc_info=exc)
                    outcome = FinishOutcome(state.name, error=classify_failure(exc, state.level))
                if progress is not None:
                    progress(outcome)
                outcomes.append(outcome)
        finally:
            await session.close()
        return outcomes

    return run_sync(run())


def check_signer_certificate(key: ExternalKey, *, trust_roots: Sequence[asn1_x509.Certificate],
                             at: datetime | None = None, check_revocation: bool = True) -> None:
    """Refuse a certificate that is not fit to sign now: dates, key usage, trust, revocation.

    The chain must lead to one of `trust_roots` (the chain the agent sent only helps build it);
    revocation is checked online (OCSP/CRL named in the certificates), failing hard. Dates and
    key usage are checked at `at`; trust and revocation at the current time.
    """
    moment = at or datetime.now(UTC)
    check_certificate_usable(key.certificate, moment)
    if not trust_roots:
        raise CertificateNotUsable(N_("Aucune autorité de confiance n'est configurée "
                                      "(PARAPHEUR_TRUST_ANCHORS) : le certificat ne peut pas "
                                      "être vérifié."))
    name = key.subject_name

    async def run() -> None:
        session = SharedTlsSession()
        try:
            context = ValidationContext(
                # Revocation data is dated by its responders' clocks: the path is validated now.
                trust_roots=list(trust_roots), other_certs=list(key.chain),
                allow_fetching=check_revocation,
                revocation_mode="hard-fail" if check_revocation else "soft-fail",
                fetcher_backend=fetcher_backend(session))
            await CertificateValidator(key.certificate, validation_context=context
                                       ).async_validate_path()
        finally:
            await session.close()

    try:
        run_sync(run())
    except SigningError:
        raise
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "RevokedError":
            raise CertificateNotUsable(N_("Le certificat de %(name)s est révoqué : il ne peut "
                                          "plus signer."), name=name) from None
        if kind == "PathBuildingError":
            raise CertificateNotUsable(
                N_("Le certificat de %(name)s n'est pas émis par une autorité de confiance de "
                   "ce parapheur : il ne peut pas signer ici."), name=name) from None
        if kind in ("InsufficientRevinfoError", "StaleRevinfoError") or \
                "revocation" in str(exc).lower():
            raise CertificateNotUsable(
                N_("L'état de révocation du certificat de %(name)s n'a pas pu être vérifié "
                   "(OCSP/CRL injoignable) : réessayez plus tard."), name=name) from None
        raise CertificateNotUsable(N_("Le certificat de %(name)s n'a pas pu être validé "
                                      "(%(kind)s : %(detail)s)."),
                                   name=name, kind=kind, detail=exc) from None


__all__ = ["ExternalKey", "FinishOutcome", "PrepareOutcome", "PreparedSignature",
           "PreparedStateInvalid", "SignatureValueMismatch", "check_signer_certificate",
           "finish_documents", "prepare_documents", "verify_signature_value"]
