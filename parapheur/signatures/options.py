"""From a circuit step to the signing layer: the one conversion signatures and the seal share.

A step's `signature:` block (level, stamp box, certification) and the application's signing
setup (time-stamping service, trust anchors) become `signing.pades.SignOptions` and a configured
`signing.batch.BatchSigner` here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parapheur.circuits.definition import SignatureOptions
from parapheur.documents.models import Document, VersionKind
from parapheur.errors import N_, ParapheurError
from parapheur.signatures.reports import trust_anchor_paths
from signing.xades import DEFAULT_HELIOS_POLICY_SHA256

if TYPE_CHECKING:
    from signing.batch import BatchSigner
    from signing.pades import Level, SignOptions


class TimestampNotConfigured(ParapheurError):
    """The step's level needs a time stamp and no time-stamping service is configured."""

    status = 400

    def __init__(self, level: str):
        super().__init__(N_("Le niveau %(level)s demande un horodatage, mais aucun service "
                            "d'horodatage (PARAPHEUR_TSA_URL) n'est configuré."), level=level)
        self.level = level


@dataclass(frozen=True)
class SigningSetup:
    """The application's signing environment: its time-stamping service and trust anchors.

    The trust anchors (with the signer's own root) validate the certificates a B-LT signature
    embeds, the TSA's included, for signatures and for the seal alike.
    """

    tsa_url: str | None = None
    trust_roots: tuple = ()
    #: SHA-256 of the Hélios signature policy, for the XAdES of bordereaux de mandats
    helios_policy_sha256: str = DEFAULT_HELIOS_POLICY_SHA256

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SigningSetup:
        """PARAPHEUR_TSA_URL and PARAPHEUR_TRUST_ANCHORS (or the demo CA) of a configuration."""
        from signing.validation import load_trust_roots

        return cls(tsa_url=config.get("TSA_URL"),
                   trust_roots=tuple(load_trust_roots(trust_anchor_paths(config))),
                   helios_policy_sha256=config.get("HELIOS_POLICY_SHA256")
                   or DEFAULT_HELIOS_POLICY_SHA256)


def step_level(options: SignatureOptions | None, default: str) -> Level:
    """The PAdES level a step asks for, else `default` (B-B for signatures, B-LT for seals)."""
    from signing.pades import Level

    return Level(options.level) if options is not None and options.level else Level(default)


def has_signature(document: Document) -> bool:
    """Whether the document already carries a signature or a seal (then it cannot be certified)."""
    return any(v.kind in (VersionKind.SIGNED, VersionKind.SEALED) for v in document.versions)


def step_sign_options(options: SignatureOptions | None, document: Document, *, default_level: str,
                      signer_name: str, quality: str, on_behalf_of: str | None = None,
                      always_stamp: bool, use_text_tag: bool, purpose: str,
                      field_prefix: str) -> SignOptions:
    """The SignOptions of a circuit step for this document.

    The stamp goes to the author's #signature# tag when `use_text_tag` and the document has one,
    else to the box the circuit gives, else (when `always_stamp`) bottom right of the last page.
    Only the first signature of a document may certify it.
    """
    from signing.pades import SignOptions, Stamp

    page, box = -1, None
    where = options.stamp if options is not None else None
    if where is not None:
        # Circuit pages count from 1 (negative from the end); the signing layer from 0.
        page = where.page - 1 if where.page > 0 else where.page
        box = (where.x, where.y, where.x + where.width, where.y + where.height)
    stamp = None
    if always_stamp or where is not None:
        stamp = Stamp(signer_name=signer_name, quality=quality, on_behalf_of=on_behalf_of,
                      page=page, box=box, **({} if use_text_tag else {"text_tag": None}))
    certify = bool(options is not None and options.certify) and not has_signature(document)
    return SignOptions(level=step_level(options, default_level), stamp=stamp, certify=certify,
                       reason=f"{purpose} — {document.title}"[:200],
                       field_name=f"{field_prefix}{len(document.versions)}")


def batch_signer(key, options: SignOptions, setup: SigningSetup, *, now: datetime) -> BatchSigner:
    """A BatchSigner for `key` at the options' level: TSA when the level needs one, trust anchors
    (plus the key's own root) when it needs revocation data."""
    from signing.batch import BatchSigner

    level = options.level
    if level.needs_timestamp and not setup.tsa_url:
        raise TimestampNotConfigured(level.value)
    own_roots = [c for c in key.signer.cert_registry if c.self_signed]
    return BatchSigner(key, options, clock=lambda: now,
                       timestamper=setup.tsa_url if level.needs_timestamp else None,
                       trust_roots=[*setup.trust_roots, *own_roots] if setup.trust_roots else None)
