"""Validation of signed PDFs into report objects carrying the ETSI EN 319 102-1 verdict.

pyHanko does the cryptography (CMS, time stamp tokens), the difference analysis and, through
pyhanko-certvalidator, the path validation at a given moment; this module runs the long-term
validation (EN 319 102-1 §5.6) on top of them, reads the results into `signing.report` objects, and
never lets a bad file escape as an exception.

Long-term validation, as done here:
- every time stamp (the signature's, and each document time stamp) is judged at its own time with the
  file's validation data (DSS, adbe-revocationInfoArchival; revocation data issued later counts —
  retroactive_revinfo); it is *good* when that holds and its TSA chain had not expired when the next
  good document time stamp proved its existence (the validation time for the newest one);
- a signature's proof of existence (POE) is its good signature time stamp, else the first good document
  time stamp over it; its certificate is judged at that time (point-in-time validation), so that a
  revocation after the POE does not count and one before does (REVOKED_NO_POE; REVOKED when a content
  time stamp proves the signature was made after it); without a POE it is judged at the validation
  time (now, or `parapheur verify --at`);
- revocation data is required wherever a certificate names a CRL/OCSP source ("hard-fail"):
  offline, a B-B/B-T signature whose revocation status is unknown is INDETERMINATE;
- changes after signing that are not form filling, signatures, annotations or validation data — or
  that change what a reader sees, whatever the objects used — make an otherwise sound signature
  INDETERMINATE / SIG_CONSTRAINTS_FAILURE (changes_after_signing=other).

pyHanko's own `ades_lta_validation` is not used: it validates at the current time first and, with the
file's validation data stale by then, answered INDETERMINATE for B-LT files an hour after signing.

A `Validator` is built once (trust anchors parsed once, one event loop) and reused for many files:
that is what makes bulk verification fast. Importing this module also installs two
behaviour-preserving parsing shortcuts in pyHanko/asn1crypto (a block hex-string reader and memoised
RFC 5280 name comparison), each falling back to the original code; tests/verify/test_verify_speedups.py
checks they give the same results.
"""

from __future__ import annotations

import asyncio
import binascii
import dataclasses
import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils import generic as pdf_generic
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import (
    MultivaluedAttributeError,
    NonexistentAttributeError,
    find_unique_cms_attribute,
)
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    cms_basic_validation,
    extract_tst_data_iter,
    message_imprint_checker,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import (
    ModificationInfo,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager, TrustManager
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)
from pyhanko_certvalidator.util import get_pyca_cryptography_hash_for_signing

from signing.errors import N_, SigningError
from signing.fetching import fetcher_backend
from signing.report import (
    CertificateInfo,
    Changes,
    Coverage,
    FileReport,
    Indication,
    Kind,
    Level,
    Revocation,
    SignatureReport,
)

__all__ = [
    "TrustAnchorError",
    "Validator",
    "ValidationSetupError",
    "load_trust_roots",
    "validate_pdf",
]

Clock = Callable[[], datetime]

# Revocation data is required wherever a certificate says where to find it (CRL distribution point,
# OCSP URL): offline, a certificate whose revocation status cannot be established is INDETERMINATE.
_REVOCATION_POLICY = "hard-fail"

_CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der"}


_PDF_WHITESPACE = b" \n\r\t\f\x00"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _read_hex_string_fast(stream):
    """pyHanko's hex-string reader, without reading one byte at a time.

    A signature's /Contents is a hex string of 16-64 KB that pyHanko parses byte by byte; that was
    half of the time spent on a one-page signed PDF. Only the common case (hex digits and
    whitespace) is handled here; anything else (comments, bad digits, end of file) is handed back
    to pyHanko's own reader from the same position, so that behaviour and errors are unchanged.
    """
    start = stream.tell()
    stream.read(1)  # the opening "<"
    chunks = []
    while True:
        chunk = stream.read(65536)
        end = chunk.find(b">")
        if end >= 0:
            chunks.append(chunk[:end])
            break
        if not chunk:
            break
        chunks.append(chunk)
    digits = b"".join(chunks).translate(None, _PDF_WHITESPACE)
    if end < 0 or not _HEX_DIGITS.issuperset(digits):
        stream.seek(start)
        return _pyhanko_read_hex_string(stream)
    stream.seek(start + 1 + sum(len(c) for c in chunks) + 1)
    if len(digits) % 2:
        digits += b"0"
    return pdf_generic.pdf_string(binascii.unhexlify(digits))


_pyhanko_read_hex_string = pdf_generic.read_hex_string_from_stream
pdf_generic.read_hex_string_from_stream = _read_hex_string_fast


_rdn_values_cache: dict[bytes, dict] = {}


def _rdn_values_cached(self: x509.RelativeDistinguishedName, rdn: x509.RelativeDistinguishedName) -> dict:
    """asn1crypto's string-prepped RDN values, memoised by DER (names are hashed as well as compared)."""
    key = rdn.dump()
    values = _rdn_values_cache.get(key)
    if values is None:
        values = _asn1crypto_rdn_values(self, rdn)
        if len(_rdn_values_cache) < 10_000:
            _rdn_values_cache[key] = values
    return dict(values)


_asn1crypto_rdn_values = x509.RelativeDistinguishedName._get_values
x509.RelativeDistinguishedName._get_values = _rdn_values_cached  # type: ignore[method-assign]

_rdn_equal_cache: dict[tuple[bytes, bytes], bool] = {}


def _rdn_equal_cached(self: x509.RelativeDistinguishedName, other: object) -> bool:
    """asn1crypto's RFC 5280 RDN comparison, memoised by the two DER encodings.

    The comparison string-preps every attribute again each time, and pyHanko compares the same few
    issuer names many times per signature (matching the signer certificate, the ESS attribute,
    building the path); the result only depends on the two encodings. The cache is bounded: a run
    sees few distinct names (signers and CAs).
    """
    if not isinstance(other, x509.RelativeDistinguishedName):
        return False
    key = (self.dump(), other.dump())
    equal = _rdn_equal_cache.get(key)
    if equal is None:
        equal = _asn1crypto_rdn_eq(self, other)
        if len(_rdn_equal_cache) < 10_000:
            _rdn_equal_cache[key] = equal
    return equal


_asn1crypto_rdn_eq = x509.RelativeDistinguishedName.__eq__
x509.RelativeDistinguishedName.__eq__ = _rdn_equal_cached  # type: ignore[method-assign,assignment]
x509.RelativeDistinguishedName.__hash__ = None  # type: ignore[assignment]  # as before: __eq__ without __hash__


# Plain ECDSA (BSI TR-03111 §5.2.1): the signature value is r‖s, not DER; pyca/cryptography (and so
# pyHanko) only verifies DER, and reported such signatures as cryptographically wrong.
_PLAIN_ECDSA = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}


class _SignatureValidator(DefaultSignatureValidator):
    """pyHanko's signature checks, plus plain-ECDSA signatures (r‖s) converted to DER first."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: Any,
        signature_algorithm: Any,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        """Raise cryptography's InvalidSignature when the signature does not verify."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        hash_name = _PLAIN_ECDSA.get(signature_algorithm["algorithm"].dotted)
        if hash_name is None:
            return super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
        key = serialization.load_der_public_key(public_key_info.dump())
        if not isinstance(key, ec.EllipticCurvePublicKey) or not signature or len(signature) % 2:
            raise InvalidSignature("not a plain-ECDSA signature for this key")
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        md = get_pyca_cryptography_hash_for_signing(hash_name, prehashed=context.prehashed)
        key.verify(der, signed_data, ec.ECDSA(md))
        return None


_SIGNATURE_VALIDATOR = _SignatureValidator()


class ValidationSetupError(SigningError):
    """The validation cannot start (bad trust anchors, …); `message` is French."""

    code = "validation_setup_failed"


class TrustAnchorError(ValidationSetupError):
    """A --trust file or directory could not be used as a trust anchor."""

    def __init__(self, path: str, reason: str):
        super().__init__(N_("ancre de confiance inutilisable « %(path)s » : %(reason)s"),
                         path=path, reason=reason)
        self.path = path
        self.reason = reason


def load_trust_roots(paths: Iterable[str | os.PathLike[str]]) -> list[x509.Certificate]:
    """Read trust anchors from PEM/DER files or directories (searched recursively for certificates)."""
    roots: dict[bytes, x509.Certificate] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES)
            if not files:
                raise TrustAnchorError(str(path), "le dossier ne contient aucun certificat (.pem, .crt, .cer, .der)")
        elif path.is_file():
            files = [path]
        else:
            raise TrustAnchorError(str(path), "fichier ou dossier introuvable")
        for file in files:
            for cert in _read_certificates(file):
                roots[cert.sha256] = cert
    return list(roots.values())


def _read_certificates(file: Path) -> list[x509.Certificate]:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TrustAnchorError(str(file), f"lecture impossible ({exc.strerror})") from exc
    try:
        certs = list(load_certs_from_pemder_data(data))
        for cert in certs:
            _ = cert.native  # force a full parse now: a damaged anchor must fail here, not mid-run
    except Exception as exc:  # asn1crypto raises ValueError/TypeError on garbage
        raise TrustAnchorError(str(file), "ce n'est pas un certificat X.509 PEM ou DER") from exc
    if not certs:
        raise TrustAnchorError(str(file), "aucun certificat dans ce fichier")
    return certs


def validate_pdf(
    data: bytes,
    *,
    trust_roots: Iterable[x509.Certificate],
    online: bool = False,
    clock: Clock | None = None,
    path: str = "",
) -> FileReport:
    """Validate every signature and document time stamp of a PDF; never raises on bad input."""
    validator = Validator(trust_roots, online=online, clock=clock)
    try:
        return validator.validate(data, path=path)
    finally:
        validator.close()


class Validator:
    """Reusable validation set-up: trust anchors, policy and event loop are built once."""

    def __init__(
        self,
        trust_roots: Iterable[x509.Certificate],
        *,
        online: bool = False,
        clock: Clock | None = None,
        trusted_list: Any = None,
    ):
        self.trust_roots = list(trust_roots)
        # A trusted list (signing.trusted_list.TrustedList, ETSI TS 119 612) replaces the plain anchors
        # when given, and each signer and TSA is then said qualified or not.
        self.trusted_list = trusted_list
        self.trust_manager: TrustManager | None = trusted_list.trust_manager if trusted_list is not None else None
        self.online = online
        self.clock = clock or (lambda: datetime.now(UTC))
        trust_manager = self.trust_manager or SimpleTrustManager.build(trust_roots=self.trust_roots)
        self._trust_manager = trust_manager
        revinfo_policy = CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy(_REVOCATION_POLICY))
        gathering = (
            RevocationInfoGatheringSpec()
            if online
            else RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            )
        )
        self._spec = PdfSignatureValidationSpec(
            SignatureValidationSpec(
                cert_validation_policy=CertValidationPolicySpec(
                    trust_manager=trust_manager, revinfo_policy=revinfo_policy
                ),
                revinfo_gathering_policy=gathering,
            )
        )
        self._loop = asyncio.new_event_loop()
        self._reasons = _ReasonCollector()

    def close(self) -> None:
        """Release the event loop."""
        self._loop.close()

    def validate_file(self, path: str | os.PathLike[str]) -> FileReport:
        """Read and validate one file; a file that cannot be read gets a report with its error."""
        shown = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return FileReport(path=shown, error=f"Lecture impossible : {exc.strerror}.", error_code="unreadable")
        return self.validate(data, path=shown)

    def validate(self, data: bytes, *, path: str = "") -> FileReport:
        """Validate the PDF in `data`; errors in the file become the report's `error`, never an exception."""
        now = self.clock()
        base: dict[str, Any] = {
            "path": path,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "validation_time": now,
        }
        try:
            report = self._validate_parsed(data, base, now, strict=True)
            if report.error_code != "corrupt" and not _unreadable_structure(report):
                return report
            # The strict parse failed: read again tolerantly (as poppler and other validators do) and
            # say so; a structure still unreadable then is reported as such, not as a failed signature.
            strict_reason = report.error or next(
                (s.message for s in report.signatures if s.sub_indication == "FORMAT_FAILURE"), ""
            )
            tolerant = self._validate_parsed(data, base, now, strict=False)
            warning = f"La lecture stricte du PDF a échoué ({strict_reason}) : fichier relu en mode tolérant."
            return dataclasses.replace(tolerant, warnings=(*tolerant.warnings, warning))
        except Exception as exc:  # the last safety net: one file never stops a run
            return FileReport(
                **base,
                error=f"Fichier PDF illisible ou corrompu ({type(exc).__name__} : {exc}).",
                error_code="corrupt",
            )

    def _validate_parsed(self, data: bytes, base: dict[str, Any], now: datetime, *, strict: bool) -> FileReport:
        reader, embedded, error = _open(data, strict=strict)
        if error is not None:
            code, message = error
            return FileReport(**base, error=message, error_code=code)
        assert reader is not None
        try:
            signatures = self._loop.run_until_complete(self._validate_all(reader, embedded, now))
            revisions = reader.xrefs.total_revisions
        except Exception as exc:  # a malformed file can break pyHanko in many places: report, go on
            return FileReport(
                **base,
                error=f"Fichier PDF illisible ou corrompu ({type(exc).__name__} : {exc}).",
                error_code="corrupt",
            )
        return FileReport(**base, signatures=tuple(signatures), revisions=revisions)

    async def _validate_all(
        self, reader: PdfFileReader, embedded: list[EmbeddedPdfSignature], now: datetime
    ) -> list[SignatureReport]:
        evidence = _Evidence.read(reader)
        stamps = sorted(
            (s for s in embedded if not isinstance(s, _UnreadableField) and _is_document_timestamp(s)),
            key=lambda s: s.signed_revision,
        )
        checks = await self._document_timestamp_chain(stamps, evidence, now)
        reports = []
        for sig in embedded:
            if isinstance(sig, _UnreadableField):
                reports.append(sig.report())
                continue
            if _is_document_timestamp(sig):
                reports.append(self._timestamp_report(sig, checks[id(sig)], evidence))
                continue
            with self._reasons:
                report = await self._signature_report(sig, evidence, now, [checks[id(s)] for s in stamps])
            reports.append(report)
        return reports

    def _context(self, evidence: _Evidence, moment: datetime, extra: _Evidence | None = None) -> ValidationContext:
        """A certificate validation context judging at `moment` with the file's validation data.

        Revocation data issued after `moment` counts (retroactive_revinfo): an OCSP response or CRL
        fetched just after a signature, or added by a later archival refresh, tells whether the
        certificate had been revoked at `moment`; a revocation dated after `moment` does not count.
        """
        certs, crls, ocsps = evidence.certs, evidence.crls, evidence.ocsps
        if extra is not None:
            certs, crls, ocsps = certs + extra.certs, crls + extra.crls, ocsps + extra.ocsps
        kwargs: dict[str, Any] = {
            "other_certs": certs,
            "crls": crls,
            "ocsps": ocsps,
            "moment": moment,
            "allow_fetching": self.online,
            "fetcher_backend": fetcher_backend(),
            "revocation_mode": _REVOCATION_POLICY,
            "retroactive_revinfo": True,
        }
        kwargs["trust_manager"] = self._trust_manager  # built once: parsing anchors per signature costs
        kwargs["signature_validator"] = _SIGNATURE_VALIDATOR
        return ValidationContext(**kwargs)

    async def _check_stamp(
        self, signed_data, imprint: Callable[[str], bytes], evidence: _Evidence, now: datetime, *, field: str
    ) -> _StampCheck:
        """A time stamp token judged at its own time: token intact, TSA signature valid, TSA chain trusted."""
        check = _StampCheck(field=field, time=_tst_time(signed_data))
        if check.time is None:
            check.error = "le jeton d'horodatage ne contient pas de date lisible"
            return check
        if check.time > now + _TOLERANCE:
            check.error = "l'horodatage est postérieur à la date de validation"
            return check
        seen = len(self._reasons.messages)  # the caller collects pyHanko's reasons; keep this stamp's
        try:
            check.status = await validate_tst_signed_data(signed_data, self._context(evidence, check.time), imprint)
        except (SignatureValidationError, PyHankoSigningError, PdfError, ValueError, KeyError) as exc:
            check.error = str(exc)
        check.warnings = self._reasons.messages[seen:]
        status = check.status
        if status is not None:
            check.sound = bool(status.get("intact") and status.get("valid") and status.get("trust_problem_indic") is None)
            path = status.get("validation_path")
            if path is not None:
                check.not_after = min(c.not_valid_after for c in path.iter_certs(include_root=True))
        return check

    async def _document_timestamp_chain(
        self, stamps: list[EmbeddedPdfSignature], evidence: _Evidence, now: datetime
    ) -> dict[int, _StampCheck]:
        """Judge every document time stamp, then which ones the chain carries to `now` (newest first).

        A time stamp is good when it is sound at its own time and its TSA chain was still unexpired when
        the next good time stamp proved its existence — or, for the newest, at the validation time.
        """
        checks: dict[int, _StampCheck] = {}
        ordered = []
        for stamp in stamps:
            name = stamp.field_name or ""
            try:
                stamp.compute_integrity_info(diff_policy=self._spec.diff_policy)
                signed_data = stamp.signed_data
            except Exception as exc:  # unreadable structure: reported, never raised
                check = _StampCheck(field=name, time=None, error=f"structure illisible ({exc})")
            else:
                with self._reasons:
                    check = await self._check_stamp(signed_data, stamp.compute_digest, evidence, now, field=name)
            check.revision = stamp.signed_revision
            checks[id(stamp)] = check
            ordered.append(check)
        _carry(ordered, now)
        return checks

    async def _signature_report(
        self,
        sig: EmbeddedPdfSignature,
        evidence: _Evidence,
        now: datetime,
        stamps: list[_StampCheck],
    ) -> SignatureReport:
        common, signer_cert = _common_fields(sig)
        try:
            tokens = list(extract_tst_data_iter(sig.signer_info, signed=False))
            sig.compute_integrity_info(diff_policy=self._spec.diff_policy)
            own = _Evidence.from_signature(sig)
            covering = next((c for c in stamps if c.revision > sig.signed_revision and c.good), None)
            sig_ts: _StampCheck | None = None
            if tokens:
                sig_ts = await self._check_stamp(
                    tokens[0], message_imprint_checker(sig.signer_info), evidence, now, field="signature-timestamp"
                )
                _settle(sig_ts, covering, now)
            if sig_ts is not None and sig_ts.good:
                poe, poe_source, carried = sig_ts.time, sig_ts.field, (sig_ts.field, *sig_ts.carried_by)
            elif covering is not None:
                poe, poe_source, carried = covering.time, covering.field, (covering.field, *covering.carried_by)
            else:
                poe, poe_source, carried = None, None, ()
            control = poe or now
            kwargs = await cms_basic_validation(
                sig.signed_data,
                raw_digest=sig.compute_digest(),
                validation_context=self._context(evidence, control, own),
                status_kwargs={},
                key_usage_settings=PdfSignatureStatus.default_usage_constraints(),
            )
        except Exception as exc:  # a structure we could not read is no proven fault: INDETERMINATE
            return SignatureReport(
                **common,
                kind=Kind.SIGNATURE,
                indication=Indication.INDETERMINATE,
                sub_indication="FORMAT_FAILURE",
                message=f"Signature illisible : {exc}.",
            )
        status = SimpleNamespace(**kwargs)
        problem = kwargs.get("trust_problem_indic")
        if not status.intact:
            indication, sub_name = Indication.TOTAL_FAILED, "HASH_FAILURE"
        elif not status.valid:
            indication, sub_name = Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
        elif problem is None:
            indication, sub_name = Indication.TOTAL_PASSED, None
        else:
            indication, sub_name = _indication(problem), _sub_name(problem)
            details = kwargs.get("revocation_details")
            if sub_name == "REVOKED_NO_POE" and details is not None:
                # Proven to have been made after the revocation (a content time stamp, signed by the
                # signer, predates the signature): TOTAL-FAILED / REVOKED (EN 319 102-1 §5.5).
                not_before = _content_timestamp_time(sig)
                if not_before is not None and not_before >= details.revocation_date:
                    indication, sub_name = Indication.TOTAL_FAILED, "REVOKED"

        warnings = list(self._reasons.messages)
        modifications = _integrity(sig)
        changes = _changes(modifications)
        coverage = _coverage(modifications)
        changes = _visible_changes(sig, evidence, changes, warnings)
        if indication is not Indication.TOTAL_FAILED:
            if coverage is Coverage.UNCLEAR:
                indication, sub_name = Indication.TOTAL_FAILED, "FORMAT_FAILURE"
            elif getattr(modifications, "docmdp_ok", None) is False or changes is Changes.OTHER:
                # Changes after signing that the signature does not allow: the validation constraint
                # "the signed revision is what is shown" is not met.
                if sub_name is not None:
                    warnings.append(f"Also: {sub_name}")
                indication, sub_name = Indication.INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"

        refresh_due = _refresh_due([*(s for s in stamps if s.revision > sig.signed_revision)], sig_ts, now)
        message = _message(indication, sub_name, changes, self.online, bool(evidence.crls or evidence.ocsps))
        if refresh_due is not None and indication is not Indication.TOTAL_PASSED:
            message += (
                f" La preuve d'existence n'est plus portée : le certificat de l'autorité d'horodatage a expiré le "
                f"{refresh_due:%d/%m/%Y} sans nouvel horodatage d'archive ; un renouvellement "
                "(parapheur archive refresh) était dû avant cette date."
            )
        # The level is what the signature validly carries (EN 319 142-1 §6), not what is present: a
        # sound document time stamp over the signature also makes it B-T.
        has_validation_data = bool(evidence.crls or evidence.ocsps or own.crls or own.ocsps)
        ts_sound = sig_ts is not None and sig_ts.carries_level
        doc_sound = [c for c in stamps if c.revision > sig.signed_revision and c.carries_level]
        later_doc_ts = bool(doc_sound)
        archived = has_validation_data and ((ts_sound and bool(doc_sound)) or len(doc_sound) >= 2)
        level = _level(common["subfilter"], ts_sound or bool(doc_sound), has_validation_data, archived)
        revocation, revocation_date = _revocation(status, sub_name, indication, signer_cert)
        qualification = ts_qualification = None
        if self.trusted_list is not None:
            if kwargs.get("validation_path") is not None and status.valid:
                qualification = self.trusted_list.signer_qualification(kwargs["validation_path"], control)
            ts_path = (sig_ts.status or {}).get("validation_path") if sig_ts is not None else None
            if ts_path is not None and sig_ts is not None:
                ts_qualification = self.trusted_list.timestamp_qualification(ts_path, sig_ts.time)
        return SignatureReport(
            **common,
            kind=Kind.SIGNATURE,
            indication=indication,
            sub_indication=sub_name,
            message=message,
            timestamp_time=sig_ts.time if sig_ts is not None else None,
            level=level,
            coverage=coverage,
            changes_after_signing=changes,
            intact=status.intact,
            valid=status.valid,
            trusted=indication is Indication.TOTAL_PASSED,
            chain=_chain(status),
            revocation=revocation,
            revocation_date=revocation_date,
            control_time=control,
            proof_of_existence=poe,
            proof_source=poe_source,
            proof_chain=carried,
            refresh_due=refresh_due,
            baseline_elements=_baseline_elements(sig_ts, has_validation_data, later_doc_ts),
            qualification=qualification,
            timestamp_qualification=ts_qualification,
            warnings=tuple(warnings),
        )

    def _timestamp_report(self, sig: EmbeddedPdfSignature, check: _StampCheck, evidence: _Evidence) -> SignatureReport:
        common, signer_cert = _common_fields(sig)
        common["signing_time"] = None
        base = {**common, "kind": Kind.DOCUMENT_TIMESTAMP, "timestamp_time": check.time}
        if check.status is None:
            return SignatureReport(
                **base,
                indication=Indication.INDETERMINATE if check.time is not None else Indication.TOTAL_FAILED,
                sub_indication="FORMAT_FAILURE",
                message=f"Horodatage illisible : {check.error}.",
                warnings=tuple(check.warnings),
            )
        status = SimpleNamespace(**check.status)
        modifications = _integrity(sig)
        changes = _changes(modifications)
        coverage = _coverage(modifications)
        warnings = list(check.warnings)
        changes = _visible_changes(sig, evidence, changes, warnings)
        problem = check.status.get("trust_problem_indic")
        if not status.intact:
            indication, sub = Indication.TOTAL_FAILED, "HASH_FAILURE"
        elif not status.valid:
            indication, sub = Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
        elif coverage is Coverage.UNCLEAR:
            indication, sub = Indication.TOTAL_FAILED, "FORMAT_FAILURE"
        elif problem is not None:
            indication, sub = Indication.INDETERMINATE, _sub_name(problem)
        elif not check.good:
            indication, sub = Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE"
        elif getattr(modifications, "docmdp_ok", None) is False or changes is Changes.OTHER:
            indication, sub = Indication.INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"
        else:
            indication, sub = Indication.TOTAL_PASSED, None
        message = _message(indication, sub, changes, self.online, True, timestamp=True)
        refresh_due = check.not_after if (check.sound and not check.good) else None
        if refresh_due is not None:
            message = (
                f"Horodatage non concluant : le certificat de l'autorité d'horodatage a expiré le "
                f"{refresh_due:%d/%m/%Y} et aucun horodatage d'archive ultérieur ne prouve l'existence du "
                "document avant cette date ; un renouvellement (parapheur archive refresh) était dû."
            )
        revocation, revocation_date = _revocation(status, sub, indication, signer_cert)
        qualification = None
        if self.trusted_list is not None and check.status.get("validation_path") is not None:
            qualification = self.trusted_list.timestamp_qualification(check.status["validation_path"], check.time)
        return SignatureReport(
            **base,
            indication=indication,
            sub_indication=sub,
            message=message,
            coverage=coverage,
            changes_after_signing=changes,
            intact=status.intact,
            valid=status.valid,
            trusted=problem is None,
            chain=_chain(status),
            revocation=revocation,
            revocation_date=revocation_date,
            control_time=check.time,
            proof_of_existence=check.time if check.good else None,
            proof_source=check.field if check.good else None,
            proof_chain=(check.field, *check.carried_by) if check.good else (),
            refresh_due=refresh_due,
            certificate_expires=check.not_after,
            timestamp_qualification=qualification,
            warnings=tuple(warnings),
        )


_TOLERANCE = timedelta(seconds=1)
# Sub-indications meaning only "the revocation status could not be established from what is here".
_REVOCATION_ONLY = ("CERTIFICATE_CHAIN_GENERAL_FAILURE", "TRY_LATER")


@dataclass
class _Evidence:
    """Validation data carried by the file (DSS) or by one signature (Adobe revocation archival)."""

    certs: list[x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    # What each revision shows (page fingerprints), computed once per file and revision.
    visible: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: PdfFileReader) -> _Evidence:
        """The DSS of the file's last revision (empty when there is none or it cannot be read)."""
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            return cls()
        evidence = cls()
        try:
            evidence.certs = list(dss.load_certs())
            for ref in dss.ocsps:
                evidence.ocsps.append(
                    asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                )
            for ref in dss.crls:
                evidence.crls.append(asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)))
        except Exception as exc:  # a damaged DSS: judged without it, and said so
            logging.getLogger(__name__).warning("DSS illisible, ignoré : %s", exc)
        return evidence

    @classmethod
    def from_signature(cls, sig: EmbeddedPdfSignature) -> _Evidence:
        """Revocation data signed into the signature (adbe-revocationInfoArchival, PDF 1.6 signatures)."""
        try:
            archival = find_unique_cms_attribute(sig.signer_info["signed_attrs"], "adobe_revocation_info_archival")
        except (MultivaluedAttributeError, NonexistentAttributeError):
            return cls()
        return cls(crls=list(archival["crl"] or ()), ocsps=list(archival["ocsp"] or ()))


@dataclass
class _StampCheck:
    """One time stamp (of the signature, or a document time stamp) and how far the chain carries it."""

    field: str
    time: datetime | None
    revision: int = -1
    status: dict[str, Any] | None = None
    error: str | None = None
    sound: bool = False  # intact, valid, TSA chain trusted at the stamp's own time
    not_after: datetime | None = None  # first expiry in the TSA's chain
    proven_until: datetime | None = None  # until when its existence must hold without it
    carried_by: tuple[str, ...] = ()  # later time stamps proving it existed (nearest first)
    good: bool = False  # sound, and its TSA chain unexpired until it was carried further
    warnings: list[str] = field(default_factory=list)

    @property
    def carries_level(self) -> bool:
        """A valid token over these bytes whose TSA chain is sound or only lacks revocation data here."""
        if self.status is None or not (self.status.get("intact") and self.status.get("valid")):
            return False
        return _sub_name(self.status.get("trust_problem_indic")) in ("None", *_REVOCATION_ONLY)


def _settle(check: _StampCheck, later: _StampCheck | None, now: datetime) -> None:
    """Whether a time stamp still proves its time: its TSA chain must outlive the proof that carries it."""
    check.proven_until = later.time if later is not None else now
    check.carried_by = (later.field, *later.carried_by) if later is not None else ()
    assert check.proven_until is not None
    check.good = check.sound and check.not_after is not None and check.not_after >= check.proven_until


def _carry(ordered: list[_StampCheck], now: datetime) -> None:
    """Settle a chain of document time stamps (revision order), newest first."""
    later: _StampCheck | None = None
    for check in reversed(ordered):
        _settle(check, later, now)
        if check.good:
            later = check


def _refresh_due(stamps: list[_StampCheck], sig_ts: _StampCheck | None, now: datetime) -> datetime | None:
    """When the newest sound time stamp over a signature expired uncarried (the refresh was due), if so."""
    candidates = [s for s in stamps if s.sound] or ([sig_ts] if sig_ts is not None and sig_ts.sound else [])
    if not candidates or candidates[-1].good:
        return None
    return candidates[-1].not_after


def _is_document_timestamp(sig: EmbeddedPdfSignature) -> bool:
    """A document time stamp, recognised by its SubFilter whatever its /Type says (/Sig, none…)."""
    return sig.sig_object.get("/SubFilter") == "/ETSI.RFC3161" or sig.sig_object_type == "/DocTimeStamp"


def _content_timestamp_time(sig: EmbeddedPdfSignature) -> datetime | None:
    """Time of a content time stamp (signed attribute: the signature was made after it)."""
    for token in extract_tst_data_iter(sig.signer_info, signed=True):
        return _tst_time(token)
    return None


def _baseline_elements(sig_ts: _StampCheck | None, has_validation_data: bool, later_doc_ts: bool) -> tuple[str, ...]:
    """Which PAdES baseline elements a signature validly carries (also said for adbe.pkcs7 signatures)."""
    elements = []
    if sig_ts is not None and sig_ts.carries_level:
        elements.append("signature-timestamp")
    if has_validation_data:
        elements.append("validation-data")
    if later_doc_ts:
        elements.append("document-timestamp")
    return tuple(elements)


# --- What a reader sees: pages, their content and resources, the appearance of their annotations ---

_NOT_VISUAL_KEYS = {"/Parent", "/P", "/StructParents", "/StructParent", "/Metadata", "/PieceInfo", "/LastModified"}
_MAX_NODES = 200_000


class _TooComplex(Exception):
    pass


def _visible_changes(sig: EmbeddedPdfSignature, evidence: _Evidence, changes: Changes, warnings: list[str]) -> Changes:
    """OTHER when what a reader sees changed after the signed revision, whatever objects were used.

    pyHanko's difference analysis judges object types (a form field's value and appearance may change:
    "form filling"); shadow attacks use exactly that. Here every page of the signed revision is
    compared with the last revision: page count, content streams, resources, geometry, and the
    appearance of each annotation that existed when signing — new annotations and the widgets of
    signature fields are left to pyHanko's analysis.
    """
    if changes in (Changes.NONE, Changes.OTHER):
        return changes
    try:
        reader = sig.reader
        last = reader.xrefs.total_revisions - 1
        if sig.signed_revision >= last:
            return changes
        before = _fingerprint(reader, sig.signed_revision, evidence)
        after = _fingerprint(reader, last, evidence)
    except Exception:  # too complex or unreadable: pyHanko's verdict stands
        return changes
    if before is None or after is None:
        return changes
    pages_before, annots_before = before
    pages_after, annots_after = after
    if len(pages_before) != len(pages_after):
        warnings.append(f"Le nombre de pages a changé après la signature ({len(pages_before)} → {len(pages_after)}).")
        return Changes.OTHER
    changed = [i + 1 for i, (a, b) in enumerate(zip(pages_before, pages_after, strict=True)) if a != b]
    if changed:
        warnings.append(f"Le contenu visible de la page {changed[0]} a changé après la signature.")
        return Changes.OTHER
    for ref, digest in annots_before.items():
        if annots_after.get(ref) != digest:
            warnings.append("L'apparence d'un élément de page existant lors de la signature a changé depuis.")
            return Changes.OTHER
    return changes


def _fingerprint(reader: PdfFileReader, revision: int, evidence: _Evidence):
    cached = evidence.visible.get(revision)
    if cached is None:
        handler = reader.get_historical_resolver(revision)
        try:
            cached = _page_fingerprints(handler)
        except _TooComplex:
            cached = False
        evidence.visible[revision] = cached
    return cached or None


def _page_fingerprints(handler) -> tuple[list[str], dict[tuple[int, int], str]]:
    """(one digest per page, {annotation ref: digest of its appearance}) of one revision.

    Every reference is resolved through `handler` (the historical revision): objects nested in
    other objects would otherwise be read as they are in the last revision.
    """
    memo: dict[tuple[int, int], bytes] = {}
    budget = [_MAX_NODES]
    pages: list[str] = []
    annots: dict[tuple[int, int], str] = {}

    def deref(obj: Any) -> Any:
        if isinstance(obj, pdf_generic.IndirectObject):
            return handler.get_object(obj.reference)
        return obj

    def deep(obj: Any) -> bytes:
        return _deep(obj, deref, memo, budget)

    def walk(node_ref: Any, inherited: dict[str, Any], depth: int) -> None:
        node = deref(node_ref)
        if depth > 64 or len(pages) > 100_000 or not isinstance(node, pdf_generic.DictionaryObject):
            raise _TooComplex
        attrs = dict(inherited)
        for key in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"):
            if key in node:
                attrs[key] = node.raw_get(key)
        if "/Kids" in node:
            for kid in deref(node.raw_get("/Kids")):
                walk(kid, attrs, depth + 1)
            return
        digest = hashlib.sha256()
        digest.update(deep(node.raw_get("/Contents") if "/Contents" in node else None))
        for key in sorted(attrs):
            digest.update(key.encode() + deep(attrs[key]))
        pages.append(digest.hexdigest())
        listed = deref(node.raw_get("/Annots")) if "/Annots" in node else ()
        for index in range(len(listed) if isinstance(listed, list) else 0):
            annot_ref = listed.raw_get(index) if hasattr(listed, "raw_get") else listed[index]
            annot = deref(annot_ref)
            if not isinstance(annot, pdf_generic.DictionaryObject) or _is_signature_widget(annot, deref):
                continue
            key = (annot_ref.idnum, annot_ref.generation) if hasattr(annot_ref, "idnum") else (len(pages), -index)
            parts = [annot.raw_get(k) if k in annot else None for k in ("/AP", "/Rect", "/F", "/AS")]
            annots[key] = hashlib.sha256(b"".join(deep(p) for p in parts)).hexdigest()

    walk(deref(handler.trailer_view.raw_get("/Root")).raw_get("/Pages"), {}, 0)
    return pages, annots


def _is_signature_widget(annot: pdf_generic.DictionaryObject, deref: Callable[[Any], Any]) -> bool:
    field_type = annot.get("/FT")
    if field_type is None and "/Parent" in annot:
        parent = deref(annot.raw_get("/Parent"))
        field_type = parent.get("/FT") if isinstance(parent, pdf_generic.DictionaryObject) else None
    return field_type == "/Sig"


def _deep(obj: Any, deref: Callable[[Any], Any], memo: dict[tuple[int, int], bytes], budget: list[int],
          path: frozenset = frozenset()) -> bytes:
    """A digest of an object and everything it references (by content, not by object number)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooComplex
    if isinstance(obj, pdf_generic.IndirectObject):
        key = (obj.idnum, obj.generation)
        if key in memo:
            return memo[key]
        if key in path:
            return b"<cycle>"
        value = _deep(deref(obj), deref, memo, budget, path | {key})
        memo[key] = value
        return value
    if isinstance(obj, pdf_generic.StreamObject):
        digest = hashlib.sha256(b"stream" + _deep_dict(obj, deref, memo, budget, path))
        digest.update(obj.encoded_data or b"")
        return digest.digest()
    if isinstance(obj, pdf_generic.DictionaryObject):
        return hashlib.sha256(b"dict" + _deep_dict(obj, deref, memo, budget, path)).digest()
    if isinstance(obj, pdf_generic.ArrayObject):
        return hashlib.sha256(
            b"array" + b"".join(_deep(obj.raw_get(i), deref, memo, budget, path) for i in range(len(obj)))
        ).digest()
    return repr(obj).encode()


def _deep_dict(obj: pdf_generic.DictionaryObject, deref, memo, budget, path) -> bytes:
    return b"".join(
        str(key).encode() + _deep(obj.raw_get(key), deref, memo, budget, path)
        for key in sorted(obj.keys())
        if key not in _NOT_VISUAL_KEYS and key not in ("/Length", "/Filter", "/DecodeParms")
    )

def _open(
    data: bytes, *, strict: bool = False
) -> tuple[PdfFileReader | None, list[Any], tuple[str, str] | None]:
    """Open a PDF, or say in French (with a stable code) why it cannot be checked."""
    if not data:
        return None, [], ("empty", "Fichier vide.")
    if b"%PDF-" not in data[:1024]:
        return None, [], ("not-pdf", "Ce fichier n'est pas un PDF.")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=strict)
        encrypted = reader.encrypted  # a malformed /Encrypt raises here
    except Exception as exc:  # pyHanko's reader raises several types on damaged files
        if b"%%EOF" not in data[-2048:]:
            return None, [], ("truncated", "Fichier PDF tronqué (fin de fichier absente) : il est incomplet.")
        return None, [], ("corrupt", f"Fichier PDF corrompu ({exc}).")
    if encrypted:
        try:
            # Owner-password-only files open with the empty user password; signatures stay checkable.
            authenticated = reader.decrypt("").status != AuthStatus.FAILED
        except Exception:
            authenticated = False
        if not authenticated:
            return None, [], ("encrypted", "PDF chiffré par mot de passe : impossible d'en vérifier les signatures.")
    try:
        embedded = _signature_fields(reader)
    except Exception as exc:
        if b"%%EOF" not in data[-2048:]:
            return None, [], ("truncated", "Fichier PDF tronqué (fin de fichier absente) : il est incomplet.")
        return None, [], ("corrupt", f"Structure de signature illisible ({exc}).")
    return reader, embedded, None


# SubFilters whose /Contents is a CMS SignedData pyHanko validates; the others are reported, not dropped.
_CMS_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/ETSI.RFC3161", "/adbe.pkcs7.sha1"}
_LEGACY_SUBFILTERS = {
    "/adbe.x509.rsa_sha1": "signature PKCS#1 RSA/SHA-1 « adbe.x509.rsa_sha1 » (format hérité, non pris en charge)",
}


@dataclass
class _UnreadableField:
    """A filled signature field that cannot be validated: reported INDETERMINATE with the reason."""

    field_name: str
    subfilter: str | None
    reason: str

    def report(self) -> SignatureReport:
        """The report: INDETERMINATE / FORMAT_FAILURE — a structure not read is no proven fault."""
        return SignatureReport(
            field_name=self.field_name,
            kind=Kind.SIGNATURE,
            indication=Indication.INDETERMINATE,
            sub_indication="FORMAT_FAILURE",
            message=f"Signature non vérifiable : {self.reason}.",
            subfilter=self.subfilter[1:] if self.subfilter else None,
        )


def _signature_fields(reader: PdfFileReader) -> list[Any]:
    """Every filled signature field: an EmbeddedPdfSignature, or an _UnreadableField saying why not.

    pyHanko's own enumeration drops signatures with an unknown SubFilter (a log line only); every
    field with a value is reported here. Readable ones come in signing order, the others after.
    """
    readable: list[EmbeddedPdfSignature] = []
    unreadable: list[_UnreadableField] = []
    for name, sig_obj, sig_field in enumerate_sig_fields(reader, filled_status=True):
        try:
            subfilter = sig_obj.get_object().get("/SubFilter")
        except Exception:
            subfilter = None
        subfilter_text = str(subfilter) if subfilter is not None else None
        if subfilter_text not in _CMS_SUBFILTERS:
            reason = _LEGACY_SUBFILTERS.get(
                subfilter_text or "", f"type de signature (SubFilter) {subfilter_text or 'absent'} non reconnu"
            )
            unreadable.append(_UnreadableField(name or "", subfilter_text, reason))
            continue
        try:
            embedded = EmbeddedPdfSignature(reader, sig_field, name)
            _ = embedded.signed_revision  # byte ranges readable
        except Exception as exc:
            unreadable.append(_UnreadableField(name or "", subfilter_text, f"structure de signature illisible ({exc})"))
            continue
        readable.append(embedded)
    readable.sort(key=lambda e: e.signed_revision)
    return [*readable, *unreadable]


def _unreadable_structure(report: FileReport) -> bool:
    """A signature whose structure could not be read (worth a tolerant re-read)."""
    return any(
        s.sub_indication == "FORMAT_FAILURE" and s.intact is None and s.message.startswith(("Signature illisible", "Horodatage illisible"))
        for s in report.signatures
    )


def _integrity(sig: EmbeddedPdfSignature) -> ModificationInfo | None:
    try:
        return ModificationInfo(**sig.summarise_integrity_info())
    except Exception:  # integrity not computed (the validation stopped before): nothing to say
        return None


def _sub_name(sub: object) -> str:
    """ETSI sub-indication name of a pyHanko AdES status (its enum member names are ETSI's)."""
    return str(getattr(sub, "name", sub))


def _indication(sub: object) -> Indication:
    kind = type(sub).__name__
    if kind == "AdESPassed":
        return Indication.TOTAL_PASSED
    if kind == "AdESFailure":
        return Indication.TOTAL_FAILED
    return Indication.INDETERMINATE


_NAME_KEYS = {
    "common_name": "CN",
    "surname": "SN",
    "given_name": "GN",
    "serial_number": "serialNumber",
    "organizational_unit_name": "OU",
    "organization_name": "O",
    "organization_identifier": "organizationIdentifier",
    "locality_name": "L",
    "state_or_province_name": "ST",
    "country_name": "C",
    "email_address": "E",
}


def _dn(name: x509.Name) -> str:
    """A distinguished name as auditors read it elsewhere: "CN=…, O=…, C=FR" (most specific first)."""
    parts = []
    for rdn in reversed(list(name.chosen)):
        for attr in rdn:
            key = attr["type"].native
            value = attr["value"].native
            parts.append(f"{_NAME_KEYS.get(key, key)}={value}")
    return ", ".join(parts)


_cert_info_cache: dict[bytes, CertificateInfo] = {}


def _cert_info(cert: x509.Certificate) -> CertificateInfo:
    # Memoised by encoding: in a bulk run the same few signer and CA certificates recur in every file.
    # `contents` (the encoded value as read) is used rather than dump(), which re-serialises a
    # certificate that path validation has touched (a third of a one-signature file's time).
    der = cert.contents or cert.dump()
    info = _cert_info_cache.get(der)
    if info is None:
        info = _describe_cert(cert)
        if len(_cert_info_cache) < 10_000:
            _cert_info_cache[der] = info
    return info


def _describe_cert(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=_dn(cert.subject),
        issuer=_dn(cert.issuer),
        serial=format(cert.serial_number, "X"),
        common_name=cert.subject.native.get("common_name"),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        sha256=cert.sha256.hex(),
    )


def _common_fields(sig: EmbeddedPdfSignature) -> tuple[dict[str, Any], x509.Certificate | None]:
    signer_info = sig.signer_info
    try:
        # pyHanko re-parses the CMS certificates on each access to signer_cert: read it once.
        signer_cert = sig.signer_cert
        signer = _cert_info(signer_cert)
    except Exception:  # no signer certificate in the CMS: reported by the validation itself
        signer_cert = signer = None
    subfilter = sig.sig_object.get("/SubFilter")
    return {
        "field_name": sig.field_name or "",
        "signer": signer,
        "signing_time": sig.self_reported_timestamp,
        "digest_algorithm": sig.md_algorithm,
        "signature_algorithm": _algorithm_name(signer_info["signature_algorithm"]["algorithm"]),
        "subfilter": str(subfilter)[1:] if subfilter is not None else None,
        "signed_revision": sig.signed_revision,
    }, signer_cert


def _algorithm_name(oid: Any) -> str:
    """asn1crypto's name for a signature algorithm, or `sha256_ecdsa_plain` & co. for plain ECDSA."""
    plain = _PLAIN_ECDSA.get(oid.dotted)
    return f"{plain}_ecdsa_plain" if plain else oid.native


def _tst_time(tst_signed_data) -> datetime | None:
    try:
        return tst_signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception:
        return None


def _level(subfilter: str | None, has_ts: bool, has_dss: bool, later_doc_ts: bool) -> Level | None:
    """PAdES baseline level validly carried (EN 319 142-1 §6): each level needs the one below."""
    if subfilter != "ETSI.CAdES.detached":
        return None  # adbe.pkcs7.detached & co. are not PAdES signatures
    if not has_ts:
        return Level.B_B
    if not has_dss:
        return Level.B_T
    return Level.B_LTA if later_doc_ts else Level.B_LT


def _coverage(status) -> Coverage:
    level = getattr(status, "coverage", None)
    if level == SignatureCoverageLevel.ENTIRE_FILE:
        return Coverage.WHOLE_FILE
    if level == SignatureCoverageLevel.ENTIRE_REVISION:
        return Coverage.EARLIER_REVISION
    return Coverage.UNCLEAR


_CHANGES = {
    ModificationLevel.NONE: Changes.NONE,
    ModificationLevel.LTA_UPDATES: Changes.VALIDATION_DATA,
    ModificationLevel.FORM_FILLING: Changes.FORM_FILLING,
    ModificationLevel.ANNOTATIONS: Changes.ANNOTATIONS,
    ModificationLevel.OTHER: Changes.OTHER,
}


def _changes(status) -> Changes:
    if status is None:
        return Changes.UNKNOWN
    if getattr(status, "coverage", None) == SignatureCoverageLevel.ENTIRE_FILE:
        return Changes.NONE
    level = status.modification_level
    return _CHANGES.get(level, Changes.UNKNOWN) if level is not None else Changes.UNKNOWN


def _chain(status) -> tuple[CertificateInfo, ...]:
    path = getattr(status, "validation_path", None)
    if path is None:
        return ()
    try:
        return tuple(_cert_info(c) for c in reversed(list(path.iter_certs(include_root=True))))
    except Exception:
        return ()


def _declares_revocation_source(cert: x509.Certificate | None) -> bool:
    return cert is not None and bool(cert.crl_distribution_points or cert.ocsp_urls)


def _revocation(status, sub: str | None, indication: Indication, cert: x509.Certificate | None):
    details = getattr(status, "revocation_details", None)
    if details is not None and not details.ca_revoked:
        return Revocation.REVOKED, details.revocation_date
    if sub in ("REVOKED_NO_POE", "REVOKED"):
        return Revocation.REVOKED, None
    if not _declares_revocation_source(cert):
        return Revocation.NOT_REQUIRED, None
    if indication is Indication.TOTAL_PASSED or getattr(status, "trusted", False):
        # The hard-fail policy only lets a chain through once revocation data was found and checked.
        return Revocation.GOOD, None
    return Revocation.UNKNOWN, None


_MESSAGES = {
    "HASH_FAILURE": "le document a été modifié : son empreinte ne correspond plus à celle qui a été signée",
    "SIG_CRYPTO_FAILURE": "la signature cryptographique est fausse",
    "FORMAT_FAILURE": "la signature est mal formée ou ne couvre pas le document",
    "NO_CERTIFICATE_CHAIN_FOUND": "aucune chaîne de certificats ne mène à une autorité de confiance donnée (--trust)",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "la chaîne de certificats n'a pas pu être validée",
    "CHAIN_CONSTRAINTS_FAILURE": "la chaîne de certificats ne respecte pas les contraintes (usage des clés, …)",
    "OUT_OF_BOUNDS_NO_POE": (
        "le certificat du signataire est expiré ou pas encore valide, et aucun horodatage ne prouve que la "
        "signature date de sa période de validité"
    ),
    "OUT_OF_BOUNDS_NOT_REVOKED": "le certificat du signataire est expiré (non révoqué), sans preuve d'antériorité",
    "REVOKED_NO_POE": (
        "le certificat du signataire est révoqué, et rien ne prouve que la signature est antérieure à la révocation"
    ),
    "REVOKED_CA_NO_POE": "un certificat d'autorité de la chaîne est révoqué",
    "REVOKED": "le certificat du signataire était révoqué au moment de la signature",
    "EXPIRED": "le certificat du signataire était expiré au moment de la signature",
    "NOT_YET_VALID": "le certificat du signataire n'était pas encore valide au moment de la signature",
    "TRY_LATER": "les informations de révocation ne sont pas encore disponibles",
    "SIG_CONSTRAINTS_FAILURE": "la signature ne respecte pas les contraintes de validation",
    "CRYPTO_CONSTRAINTS_FAILURE": "un algorithme utilisé n'est plus considéré comme sûr",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "un algorithme utilisé n'est plus sûr, sans preuve d'antériorité",
    "NO_SIGNING_CERTIFICATE_FOUND": "le certificat du signataire est absent de la signature",
    "NO_POE": "aucune preuve d'existence (horodatage) ne permet de conclure",
    "TIMESTAMP_ORDER_FAILURE": "les horodatages sont dans un ordre incohérent",
}


def _message(
    indication: Indication,
    sub: str | None,
    changes: Changes,
    online: bool,
    has_dss: bool,
    *,
    timestamp: bool = False,
) -> str:
    """One sentence in French for the auditor."""
    what = "Horodatage" if timestamp else "Signature"
    if indication is Indication.TOTAL_PASSED:
        after = {
            Changes.NONE: "",
            Changes.VALIDATION_DATA: " ; seules des données de validation ont été ajoutées depuis",
            Changes.FORM_FILLING: " ; depuis, seuls des champs de formulaire ou d'autres signatures ont été ajoutés",
            Changes.ANNOTATIONS: " ; depuis, seules des annotations ont été ajoutées",
        }.get(changes, "")
        return f"{what} valide{after}."
    if sub == "SIG_CONSTRAINTS_FAILURE" and changes is Changes.OTHER:
        return f"{what} intacte, mais le document a été modifié après la signature (contenu, pages…)."
    text = _MESSAGES.get(sub or "", f"résultat ETSI {sub}")
    if sub == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and not online and not has_dss:
        text += (
            " : le fichier ne contient aucune information de révocation (signature B-B ou B-T) ;"
            " relancez avec --online pour interroger OCSP/CRL"
        )
    if indication is Indication.TOTAL_FAILED:
        status = "invalide"
    else:
        status = "non concluant" if timestamp else "non concluante"
    return f"{what} {status} : {text}."


class _ReasonCollector(logging.Handler):
    """Keeps the reasons pyHanko logs while validating one signature (its warnings explain verdicts)."""

    _LOGGERS = ("pyhanko", "pyhanko_certvalidator")

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._saved: list[tuple[logging.Logger, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        reason = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            reason = f"{reason} ({record.exc_info[1]})"
        if reason not in self.messages:
            self.messages.append(reason)

    def __enter__(self) -> _ReasonCollector:
        self.messages = []
        for name in self._LOGGERS:
            logger = logging.getLogger(name)
            # Collected into the report instead of being printed on stderr for every file.
            self._saved.append((logger, logger.propagate))
            logger.propagate = False
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, propagate in self._saved:
            logger.removeHandler(self)
            logger.propagate = propagate
        self._saved = []
