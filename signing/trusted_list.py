"""Trusted lists (ETSI TS 119 612), read offline: qualified CAs and time stamping services, and what a
certificate's qualification was at a given moment (QES, AdES-QC or AdES).

`parapheur verify --trusted-list FILE.xml` uses the list's services as the trust anchors and reports,
for each signer and each TSA, whether the certificate was qualified at the time its validation was
judged (the time proven by the signature's time stamp, see signing.validation). pyHanko parses the
list (xsdata, without DTDs, entities or network access) and assesses qualification; this module gives
that a small, French-speaking surface. The list's own XML signature is not checked here: like a --trust
anchor, the file is taken as the auditor gives it (download it from the official source).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from signing.errors import N_
from signing.validation import ValidationSetupError

MAX_TRUSTED_LIST_BYTES = 64 * 1024 * 1024  # the EU member states' lists are a few MB at most

QES = "QES"  # qualified certificate for e-signatures, key in a QSCD: a qualified electronic signature
ADES_QC = "AdES-QC"  # advanced signature supported by a qualified certificate
ADES = "AdES"  # advanced electronic signature, certificate not qualified (or not listed)
QUALIFIED_TIMESTAMP = "qualified"  # the TSA is a qualified time stamping service (QTST)
NOT_QUALIFIED_TIMESTAMP = "not-qualified"


class TrustedListError(ValidationSetupError):
    """A --trusted-list file could not be used."""

    def __init__(self, path: str, reason: str):
        super().__init__(N_("liste de confiance inutilisable « %(path)s » : %(reason)s"),
                         path=path, reason=reason)


@dataclass
class TrustedList:
    """A parsed trusted list: its services as trust anchors, and the qualification assessor."""

    path: str
    registry: Any  # pyhanko TSPRegistry
    services: int

    @property
    def trust_manager(self) -> Any:
        """The trust manager to validate against (its CA and QTST services are the anchors)."""
        from pyhanko.sign.validation.qualified.tsp import TSPTrustManager

        return TSPTrustManager(self.registry)

    def signer_qualification(self, path: Any, moment: datetime | None) -> str:
        """QES, AdES-QC or AdES for a validated signer's path at `moment`."""
        from pyhanko.sign.validation.qualified.assess import QualificationAssessor
        from pyhanko.sign.validation.qualified.tsp import QcCertType

        try:
            result = QualificationAssessor(self.registry).check_entity_cert_qualified(path, moment)
        except Exception:  # an unusual certificate the assessor cannot read: not shown qualified
            return ADES
        status = result.status
        if not status.qualified:
            return ADES
        if status.qc_type is QcCertType.QC_ESIGN and status.qc_key_security.is_qscd:
            return QES
        return ADES_QC

    def timestamp_qualification(self, path: Any, moment: datetime | None) -> str:
        """Whether a TSA's path leads to a qualified time stamping service (QTST) granted at `moment`."""
        from pyhanko.sign.validation.qualified.tsp import QTSTServiceInformation

        try:
            # The list names the TSA unit's own certificate (or, sometimes, its issuing CA).
            candidates = [_authority(path.leaf), *path.iter_authorities()]
            for authority in candidates:
                for service in self.registry.applicable_service_definitions(authority, moment):
                    if isinstance(service, QTSTServiceInformation):
                        return QUALIFIED_TIMESTAMP
        except Exception:
            return NOT_QUALIFIED_TIMESTAMP
        return NOT_QUALIFIED_TIMESTAMP


def _authority(cert: Any) -> Any:
    from pyhanko_certvalidator.authority import AuthorityWithCert

    return AuthorityWithCert(cert)


def load_trusted_list(path: str | os.PathLike[str]) -> TrustedList:
    """Read and parse a TS 119 612 trusted list file; TrustedListError (French) when it cannot be used."""
    from pyhanko.sign.validation.qualified.eutl_parse import trust_list_to_registry_unsafe

    shown = str(path)
    file = Path(path)
    try:
        if file.stat().st_size > MAX_TRUSTED_LIST_BYTES:
            raise TrustedListError(shown, "fichier trop volumineux pour une liste de confiance")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrustedListError(shown, "fichier introuvable") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustedListError(shown, f"lecture impossible ({exc})") from None
    try:
        registry, errors = trust_list_to_registry_unsafe(text)
    except Exception as exc:  # xsdata/lxml raise many types on bad XML
        raise TrustedListError(shown, f"ce n'est pas une liste de confiance ETSI TS 119 612 lisible ({exc})") from None
    services = len(set(registry.known_certificate_authorities)) + len(set(registry.known_timestamp_authorities))
    if not services:
        detail = f" ({errors[0]})" if errors else ""
        raise TrustedListError(shown, f"aucun service qualifié (CA/QC ou TSA/QTST) utilisable{detail}")
    return TrustedList(path=shown, registry=registry, services=services)
