"""Development PKI, generated at runtime and never committed.

`init_dev_pki(directory, ...)` writes into `directory`:

- `ca.pem` — the root CA (the trust anchor), `private/ca.key.pem` (it also signs the CRL);
- `people/<key>.p12` — one PKCS#12 per person, encrypted with the passphrase;
- `seal.p12` — the organisation's seal (cachet serveur), same passphrase;
- `tsa.pem`/`private/tsa.key.pem` and `ocsp.pem`/`private/ocsp.key.pem` — the timestamping
  authority and the OCSP responder served by `parapheur pki serve` (see `signing.pki_server`);
- for test corpora: `people/revoked.p12` (revoked on the CRL and by OCSP), `people/expired.p12`
  (expired a year ago), `people/untrusted.p12` (issued by `untrusted-ca.pem`, another root);
- `pki.json` — the manifest read by `DevPki.load`.

Certificates point their OCSP (AIA) and CRL distribution point URLs at `base_url`
(http://127.0.0.1:<port>), where `parapheur pki serve` answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_PORT = 8765
MANIFEST = "pki.json"
#: Keys reserved for the test corpus certificates; a person cannot use them.
SPECIAL_KEYS = ("revoked", "expired", "untrusted")


@dataclass(frozen=True)
class Person:
    """A person who gets a personal signing certificate: key (file name), name and title."""

    key: str
    common_name: str
    title: str


class ResponderUrls:
    """The endpoints of the dev PKI's responders below `base_url` (the PKI and its server)."""

    base_url: str

    @property
    def tsa_url(self) -> str:
        """Where `parapheur pki serve` answers RFC 3161 requests."""
        return self.base_url + "/tsa"

    @property
    def ocsp_url(self) -> str:
        """Where `parapheur pki serve` answers OCSP requests (also in the certificates' AIA)."""
        return self.base_url + "/ocsp"

    @property
    def crl_url(self) -> str:
        """Where `parapheur pki serve` publishes the CRL (also in the certificates' CDP)."""
        return self.base_url + "/crl/ca.crl"


@dataclass(frozen=True)
class DevPki(ResponderUrls):
    """A development PKI on disk: paths to its trust anchor, PKCS#12 files and service keys."""

    directory: Path
    organisation: str
    base_url: str
    passphrase: str
    people: tuple[Person, ...] = field(default=())
    revoked_serials: tuple[tuple[int, str], ...] = field(default=())

    @classmethod
    def load(cls, directory: Path) -> DevPki:
        """Read a PKI written by `init_dev_pki`."""
        directory = Path(directory)
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return cls(directory=directory, organisation=data["organisation"],
                   base_url=data["base_url"], passphrase=data["passphrase"],
                   people=tuple(Person(**p) for p in data["people"]),
                   revoked_serials=tuple((int(s), d) for s, d in data["revoked"]))

    @property
    def ca_certificate_path(self) -> Path:
        """PEM of the root CA: the trust anchor."""
        return self.directory / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        """Unencrypted PEM key of the root CA (development only); it signs the CRL."""
        return self.directory / "private" / "ca.key.pem"

    @property
    def untrusted_ca_certificate_path(self) -> Path:
        """PEM of another root, which nobody trusts; it issued `pkcs12_path("untrusted")`."""
        return self.directory / "untrusted-ca.pem"

    @property
    def seal_pkcs12_path(self) -> Path:
        """The organisation's seal (cachet serveur), encrypted with the PKI passphrase."""
        return self.directory / "seal.p12"

    @property
    def tsa_certificate_path(self) -> Path:
        """PEM certificate of the timestamping authority."""
        return self.directory / "tsa.pem"

    @property
    def tsa_key_path(self) -> Path:
        """PEM key of the timestamping authority."""
        return self.directory / "private" / "tsa.key.pem"

    @property
    def ocsp_certificate_path(self) -> Path:
        """PEM certificate of the OCSP responder (delegated, id-kp-OCSPSigning)."""
        return self.directory / "ocsp.pem"

    @property
    def ocsp_key_path(self) -> Path:
        """PEM key of the OCSP responder."""
        return self.directory / "private" / "ocsp.key.pem"

    @property
    def port(self) -> int:
        """The loopback port in the certificates' URLs."""
        return int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    def pkcs12_path(self, key: str) -> Path:
        """A person's PKCS#12, or one of "revoked", "expired", "untrusted" for test corpora."""
        path = self.directory / "people" / f"{key}.p12"
        if not path.is_file():
            raise KeyError(f"no PKCS#12 for {key!r} in {self.directory}")
        return path


def init_dev_pki(directory: Path, *, organisation: str, people: Sequence[Person],
                 passphrase: str, clock: datetime | None = None,
                 base_url: str | None = None) -> DevPki:
    """Create a CA, personal and seal certificates, a TSA and an OCSP responder in `directory`."""
    directory = Path(directory)
    now = (clock or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    base_url = (base_url or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")
    for person in people:
        if person.key in SPECIAL_KEYS or "/" in person.key or not person.key:
            raise ValueError(f"invalid person key {person.key!r}")
    (directory / "people").mkdir(parents=True, exist_ok=True)
    (directory / "private").mkdir(exist_ok=True)
    os.chmod(directory / "private", 0o700)
    secret = passphrase.encode("utf-8")
    country = "FR"

    ca_key = _new_key()
    ca_name = _name(f"AC de développement — {organisation}", organisation, country)
    ca_cert = _ca_certificate(ca_name, ca_key, now)
    _write_pem(directory / "ca.pem", ca_cert)
    _write_key(directory / "private" / "ca.key.pem", ca_key)

    def issue(common_name: str, *, title: str | None = None, usage: str = "sign",
              not_before: datetime | None = None, not_after: datetime | None = None,
              issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] = (ca_cert, ca_key),
              revocation_urls: bool = True) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        key = _new_key()
        issuer_cert, issuer_key = issuer
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organisation, country, title=title))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        )
        if usage == "sign":
            builder = builder.add_extension(_key_usage(digital_signature=True,
                                                       content_commitment=True), critical=True)
        elif usage == "tsa":
            builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        elif usage == "ocsp":
            builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True)
            # The responder's own certificate is not checked (RFC 6960 id-pkix-ocsp-nocheck).
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        if revocation_urls and usage != "ocsp":
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(base_url + "/ocsp")),
            ]), critical=False)
            builder = builder.add_extension(x509.CRLDistributionPoints([
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(base_url + "/crl/ca.crl")],
                    relative_name=None, reasons=None, crl_issuer=None),
            ]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()), key

    def write_p12(path: Path, friendly: str, cert, key, chain) -> None:
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                      .kdf_rounds(2048)
                      .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                      .hmac_hash(hashes.SHA256())
                      .build(secret))
        data = pkcs12.serialize_key_and_certificates(friendly.encode("utf-8"), key, cert, chain,
                                                     encryption)
        # Created private (0600), never world-readable even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    for person in people:
        cert, key = issue(person.common_name, title=person.title)
        write_p12(directory / "people" / f"{person.key}.p12", person.common_name, cert, key,
                  [ca_cert])
    seal_cert, seal_key = issue(f"Cachet serveur — {organisation}")
    write_p12(directory / "seal.p12", "seal", seal_cert, seal_key, [ca_cert])

    tsa_cert, tsa_key = issue(f"Horodatage de développement — {organisation}", usage="tsa")
    _write_pem(directory / "tsa.pem", tsa_cert)
    _write_key(directory / "private" / "tsa.key.pem", tsa_key)
    ocsp_cert, ocsp_key = issue(f"Répondeur OCSP — {organisation}", usage="ocsp")
    _write_pem(directory / "ocsp.pem", ocsp_cert)
    _write_key(directory / "private" / "ocsp.key.pem", ocsp_key)

    revoked_cert, revoked_key = issue("Rémi Révoqué", title="Certificat révoqué (tests)",
                                      not_before=now - timedelta(days=30))
    write_p12(directory / "people" / "revoked.p12", "revoked", revoked_cert, revoked_key,
              [ca_cert])
    expired_cert, expired_key = issue("Éric Expiré", title="Certificat expiré (tests)",
                                      not_before=now - timedelta(days=2 * 365),
                                      not_after=now - timedelta(days=365))
    write_p12(directory / "people" / "expired.p12", "expired", expired_cert, expired_key,
              [ca_cert])
    other_key = _new_key()
    other_name = _name("Autorité inconnue — AC racine", "Autorité inconnue", country)
    other_ca = _ca_certificate(other_name, other_key, now)
    _write_pem(directory / "untrusted-ca.pem", other_ca)
    untrusted_cert, untrusted_key = issue("Ursule Inconnue", title="Identité non reconnue (tests)",
                                          issuer=(other_ca, other_key), revocation_urls=False)
    write_p12(directory / "people" / "untrusted.p12", "untrusted", untrusted_cert, untrusted_key,
              [other_ca])

    # Revoked a day before initialisation, so signatures made "now" are clearly after it.
    revoked_at = (now - timedelta(days=1)).isoformat()
    manifest = {
        "organisation": organisation,
        "base_url": base_url,
        "passphrase": passphrase,
        "created_at": now.isoformat(),
        "people": [{"key": p.key, "common_name": p.common_name, "title": p.title} for p in people],
        "revoked": [[str(revoked_cert.serial_number), revoked_at]],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False),
                                      encoding="utf-8")
    return DevPki.load(directory)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organisation: str, country: str, *, title: str | None = None
          ) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, _limit(organisation))]
    if title:
        attributes.append(x509.NameAttribute(NameOID.TITLE, _limit(title)))
    # X.520 caps CN (and O) at 64 characters; long commune names must still work.
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, _limit(common_name)))
    return x509.Name(attributes)


def _limit(text: str, size: int = 64) -> str:
    # cryptography checks the length in UTF-8 bytes.
    while len(text.encode("utf-8")) > size:
        text = text[:-1]
    return text.rstrip()


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature,
                         content_commitment=content_commitment, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def _ca_certificate(name: x509.Name, key: rsa.RSAPrivateKey, now: datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3 * 365))
        .not_valid_after(now + timedelta(days=10 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_pem(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
