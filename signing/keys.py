"""Signing keys: PKCS#12 files and PKCS#11 tokens (smartcards, HSMs), opened once per batch.

A key object exposes `certificate` (asn1crypto), `subject_name` (the CN) and `signer` (the pyHanko
signer handed to `sign_document`). Opening it is the only place a passphrase or PIN is used; a wrong
one raises `WrongPassphrase` and is never retried here, because a card locks after three tries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.errors import CertificateNotUsable, KeyUnavailable, WrongPassphrase


class _CachedKeySigner(SimpleSigner):
    """SimpleSigner that keeps the parsed private key: pyHanko re-parses it for every signature."""

    def __init__(self, pyca_key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pyca_key = pyca_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign with the cached key; other mechanisms than RSA PKCS#1 v1.5/ECDSA go to pyHanko."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mechanism["algorithm"].native
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if algo.endswith("rsassa_pkcs1v15") and isinstance(self._pyca_key, rsa.RSAPrivateKey):
            return self._pyca_key.sign(data, PKCS1v15(), hash_algo)
        if algo.endswith("ecdsa") and isinstance(self._pyca_key, ec.EllipticCurvePrivateKey):
            return self._pyca_key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)


def subject_common_name(certificate: asn1_x509.Certificate) -> str:
    """The certificate subject's CN, or its whole name when it has no CN."""
    subject = certificate.subject.native
    return subject.get("common_name") or certificate.subject.human_friendly


def check_certificate_usable(certificate: asn1_x509.Certificate, at: datetime) -> None:
    """Refuse a certificate expired or not yet valid at `at`, or without a signing key usage."""
    validity = certificate["tbs_certificate"]["validity"]
    not_before = validity["not_before"].native
    not_after = validity["not_after"].native
    name = subject_common_name(certificate)
    if at < not_before:
        raise CertificateNotUsable(
            f"Le certificat de {name} n'est valable qu'à partir du "
            f"{_french_date(not_before)} : il ne peut pas encore signer.")
    if at > not_after:
        raise CertificateNotUsable(
            f"Le certificat de {name} a expiré le {_french_date(not_after)} : "
            f"il ne peut plus signer. Demandez un nouveau certificat.")
    usage = certificate.key_usage_value
    if usage is not None:
        allowed = set(usage.native)
        if not allowed & {"digital_signature", "non_repudiation"}:
            raise CertificateNotUsable(
                f"Le certificat de {name} n'est pas prévu pour la signature (usage de la clé : "
                f"{', '.join(sorted(allowed)) or 'aucun'}).")


def _french_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%d/%m/%Y")


class Pkcs12Key:
    """A key and certificate from a PKCS#12 file, decrypted once and kept in memory."""

    kind = "pkcs12"

    def __init__(self, certificate: asn1_x509.Certificate, signer: SimpleSigner) -> None:
        self.certificate = certificate
        self.signer = signer
        self.subject_name = subject_common_name(certificate)

    @classmethod
    def open(cls, path: Path, passphrase: str | bytes) -> "Pkcs12Key":
        """Decrypt `path`; raise WrongPassphrase or KeyUnavailable."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise KeyUnavailable(f"Le fichier de clé {Path(path).name} est introuvable ou "
                                 f"illisible.") from None
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
        except ValueError as exc:
            # cryptography says "Invalid password or PKCS12 data" for both cases: tell them
            # apart by trying to parse the structure without decrypting.
            if _looks_like_pkcs12(data):
                raise WrongPassphrase() from None
            raise KeyUnavailable(f"Le fichier {Path(path).name} n'est pas un fichier PKCS#12 "
                                 f"valide ({exc}).") from None
        if key is None or cert is None:
            raise KeyUnavailable(f"Le fichier {Path(path).name} ne contient pas de clé privée "
                                 f"avec son certificat.")
        return cls.from_key_and_chain(key, cert, extra or [])

    @classmethod
    def from_key_and_chain(cls, key: Any, cert: Any, chain: list[Any]) -> "Pkcs12Key":
        """Build from pyca/cryptography objects (a key, its certificate, the issuer chain)."""
        der = serialization.Encoding.DER
        signing_cert = asn1_x509.Certificate.load(cert.public_bytes(der))
        key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        registry = SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(der)) for c in chain])
        signer = _CachedKeySigner(key, signing_cert=signing_cert, signing_key=key_info,
                                  cert_registry=registry)
        return cls(signing_cert, signer)

    def close(self) -> None:
        """Nothing to release for a file key (kept for symmetry with tokens)."""

    def __enter__(self) -> "Pkcs12Key":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _looks_like_pkcs12(data: bytes) -> bool:
    from asn1crypto import pkcs12 as asn1_pkcs12

    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        pfx["auth_safe"]["content_type"].native  # noqa: B018 - forces parsing
        return True
    except Exception:  # asn1crypto raises many kinds on garbage
        return False
