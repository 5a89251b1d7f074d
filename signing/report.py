"""Validation report objects: what `parapheur verify`, the web app and the evidence bundle show.

Plain frozen dataclasses with a stable JSON form (`to_dict` / `to_json` / `from_dict`), so that a report
can be embedded in another document (an evidence bundle) and read back without pyHanko.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

REPORT_FORMAT_VERSION = 2


class Indication(StrEnum):
    """ETSI EN 319 102-1 main status indication."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"

    @property
    def severity(self) -> int:
        """Order used to find the worst indication (failed > indeterminate > passed)."""
        return {"TOTAL-PASSED": 0, "INDETERMINATE": 1, "TOTAL-FAILED": 2}[self.value]


class Level(StrEnum):
    """PAdES baseline level actually present in the file (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


class Coverage(StrEnum):
    """What the signature's byte ranges cover."""

    WHOLE_FILE = "whole-file"
    EARLIER_REVISION = "earlier-revision"
    UNCLEAR = "unclear"


class Changes(StrEnum):
    """What was changed in the file after the signed revision (pyHanko's difference analysis)."""

    NONE = "none"
    VALIDATION_DATA = "validation-data"  # DSS and document time stamps only (LTV updates)
    FORM_FILLING = "form-filling"  # form fields filled, further signatures
    ANNOTATIONS = "annotations"
    OTHER = "other"  # anything else: content, pages, …
    UNKNOWN = "unknown"  # analysis could not be carried out


class Revocation(StrEnum):
    """Revocation status of the signer's certificate as far as the available data tells."""

    GOOD = "good"  # checked against revocation data, not revoked
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # no usable revocation data
    NOT_REQUIRED = "not-required"  # the certificate declares no revocation source


class Kind(StrEnum):
    """A signature, or a document time stamp (RFC 3161 over the whole revision)."""

    SIGNATURE = "signature"
    DOCUMENT_TIMESTAMP = "document-timestamp"


@dataclass(frozen=True)
class CertificateInfo:
    """Who a certificate names, and by whom it was issued."""

    subject: str
    issuer: str
    serial: str  # hexadecimal, as printed by most tools
    common_name: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature or document time stamp, with what it is based on."""

    field_name: str
    kind: Kind
    indication: Indication
    sub_indication: str | None
    message: str  # a sentence in French for the auditor
    signer: CertificateInfo | None = None
    signing_time: datetime | None = None  # claimed by the signer (not proven)
    timestamp_time: datetime | None = None  # proven by a time stamp (signature TS, or the document TS itself)
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    level: Level | None = None  # None for document time stamps and non-PAdES (adbe.pkcs7) signatures
    subfilter: str | None = None
    coverage: Coverage = Coverage.UNCLEAR
    signed_revision: int | None = None  # 0-based revision the signature covers
    changes_after_signing: Changes = Changes.UNKNOWN
    intact: bool | None = None  # the document digest matches
    valid: bool | None = None  # the cryptographic signature verifies
    trusted: bool | None = None  # a chain to a given trust anchor was validated
    chain: tuple[CertificateInfo, ...] = ()  # signer first, trust anchor last
    revocation: Revocation = Revocation.UNKNOWN
    revocation_date: datetime | None = None
    # Long-term validation (EN 319 102-1 §5.6): the moment the signer's (or TSA's) certificate was judged
    # at, the time proven by the earliest valid time stamp (proof of existence), the stamp that proved
    # it ("signature-timestamp" or a document time stamp's field name), and the chain of time stamps
    # carrying that proof to the validation time (nearest first).
    control_time: datetime | None = None
    proof_of_existence: datetime | None = None
    proof_source: str | None = None
    proof_chain: tuple[str, ...] = ()
    # Set when the newest time stamp's TSA certificate expired without a later archive time stamp:
    # the date by which `parapheur archive refresh` should have run.
    refresh_due: datetime | None = None
    certificate_expires: datetime | None = None  # document time stamps: first expiry in the TSA chain
    baseline_elements: tuple[str, ...] = ()  # signature-timestamp, validation-data, document-timestamp
    # With --trusted-list (signing.trusted_list): the signer's certificate at the control time, QES,
    # AdES-QC or AdES; the TSA of the signature time stamp (or of this document time stamp),
    # "qualified" (a granted QTST service) or "not-qualified".
    qualification: str | None = None
    timestamp_qualification: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (dates in ISO 8601, enums as their values)."""
        return _jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignatureReport:
        """Inverse of `to_dict`."""
        values = dict(data)
        values["kind"] = Kind(values["kind"])
        values["indication"] = Indication(values["indication"])
        values["level"] = Level(values["level"]) if values.get("level") else None
        values["coverage"] = Coverage(values["coverage"])
        values["changes_after_signing"] = Changes(values["changes_after_signing"])
        values["revocation"] = Revocation(values["revocation"])
        values["signer"] = _cert_from_dict(values["signer"]) if values.get("signer") else None
        values["chain"] = tuple(_cert_from_dict(c) for c in values.get("chain", ()))
        values["warnings"] = tuple(values.get("warnings", ()))
        values["proof_chain"] = tuple(values.get("proof_chain", ()))
        values["baseline_elements"] = tuple(values.get("baseline_elements", ()))
        for key in (
            "signing_time",
            "timestamp_time",
            "revocation_date",
            "control_time",
            "proof_of_existence",
            "refresh_due",
            "certificate_expires",
        ):
            values[key] = _parse_dt(values.get(key))
        return cls(**values)


@dataclass(frozen=True)
class FileReport:
    """Everything found in one file: its signatures, or why it could not be checked."""

    path: str
    signatures: tuple[SignatureReport, ...] = ()
    error: str | None = None  # French message when the file could not be read at all
    error_code: str | None = None  # stable machine code: not-pdf, truncated, encrypted, unreadable, …
    sha256: str | None = None
    size: int | None = None
    revisions: int | None = None
    validation_time: datetime | None = None  # the moment validated at: now, or `verify --at`
    warnings: tuple[str, ...] = ()  # about the file itself (e.g. read again tolerantly)
    format_version: int = field(default=REPORT_FORMAT_VERSION)

    @property
    def has_signature(self) -> bool:
        """True when at least one signature (not only document time stamps) is present."""
        return any(s.kind is Kind.SIGNATURE for s in self.signatures)

    @property
    def indication(self) -> Indication:
        """The file's overall verdict: its worst entry; unreadable or unsigned files fail."""
        if self.error is not None or not self.has_signature:
            return Indication.TOTAL_FAILED
        return worst(s.indication for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: {"path", "signatures": [...], "error", ...}."""
        data = _jsonable(self)
        data["indication"] = self.indication.value
        return data

    def to_json(self, **kwargs: Any) -> str:
        """The report as a JSON document."""
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileReport:
        """Inverse of `to_dict` (the evidence bundle reads embedded reports back with it)."""
        values = {k: v for k, v in data.items() if k != "indication"}
        values["signatures"] = tuple(SignatureReport.from_dict(s) for s in values.get("signatures", ()))
        values["validation_time"] = _parse_dt(values.get("validation_time"))
        values["warnings"] = tuple(values.get("warnings", ()))
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> FileReport:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))


def worst(indications: Iterable[Indication]) -> Indication:
    """The most severe of some indications (TOTAL-PASSED when there are none)."""
    return max(indications, key=lambda i: i.severity, default=Indication.TOTAL_PASSED)


def exit_code(reports: Iterable[FileReport]) -> int:
    """0 all passed; 1 any failure, unsigned or unreadable file; 3 some indeterminate and none failed."""
    return exit_code_for(r.indication for r in reports)


def exit_code_for(indications: Iterable[Indication]) -> int:
    """The exit code for files' overall indications (see `exit_code`)."""
    overall = worst(indications)
    return {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 3}[overall]


def _cert_from_dict(data: dict[str, Any]) -> CertificateInfo:
    values = dict(data)
    for key in ("not_before", "not_after"):
        values[key] = _parse_dt(values.get(key))
    return CertificateInfo(**values)


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _jsonable(value: Any) -> Any:
    # By hand rather than dataclasses.asdict(), which deep-copies every value: a quarter of the
    # time of a bulk run went there.
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
