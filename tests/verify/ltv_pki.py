"""A small PKI with short-lived certificates, for long-term validation tests (generated at run time).

Validity windows are relative to `now`, the moment the PKI is made: a signer whose certificate expires
in a year, a TSA whose certificate expires in two years and one that lasts twenty, a signer revoked a
month after `now` and one revoked the day before. CRLs are issued on demand for any moment, and time
stamps can be dated at any moment (pyHanko's in-process TSA with a fixed time), so that a test can
produce today what an archival refresh will add in eighteen months.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

CRL_URL = "http://127.0.0.1:9/crl/ltv.crl"  # never fetched: these tests are offline


@dataclass
class Identity:
    """A certificate and its key, both as cryptography and asn1crypto objects."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def asn1(self) -> asn1_x509.Certificate:
        """The certificate for pyHanko."""
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        """The key for pyHanko."""
        der = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return asn1_keys.PrivateKeyInfo.load(der)


@dataclass
class LtvPki:
    """Root, signers and TSAs with validity windows relative to `now`; CRLs for any moment."""

    now: datetime
    root: Identity
    ids: dict[str, Identity]
    revoked: dict[str, datetime] = field(default_factory=dict)

    @property
    def root_pem(self) -> bytes:
        """The trust anchor in PEM."""
        return self.root.cert.public_bytes(serialization.Encoding.PEM)

    def signer(self, label: str) -> signers.SimpleSigner:
        """A pyHanko signer for one identity."""
        ident = self.ids[label]
        return signers.SimpleSigner(
            signing_cert=ident.asn1,
            signing_key=ident.asn1_key,
            cert_registry=SimpleCertificateStore.from_certs([self.root.asn1]),
        )

    def timestamper(self, label: str = "tsa-long", at: datetime | None = None) -> DummyTimeStamper:
        """An in-process TSA; `at` fixes the time it stamps (for a refresh made "later")."""
        ident = self.ids[label]
        return DummyTimeStamper(
            tsa_cert=ident.asn1,
            tsa_key=ident.asn1_key,
            certs_to_embed=SimpleCertificateStore.from_certs([self.root.asn1]),
            fixed_dt=at,
        )

    def crl(self, this_update: datetime) -> asn1_crl.CertificateList:
        """The root's CRL as issued at `this_update` (valid a week): lists who was revoked by then."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.cert.subject)
            .last_update(this_update)
            .next_update(this_update + timedelta(days=7))
            .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.key.public_key()), critical=False
            )
        )
        for label, since in self.revoked.items():
            if since <= this_update:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(self.ids[label].cert.serial_number)
                    .revocation_date(since)
                    .build()
                )
        crl = builder.sign(self.root.key, hashes.SHA256())
        return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))

    # --- documents ---

    def sign(self, pdf: bytes, label: str = "signer", *, level: str = "B-LT", tsa: str = "tsa-long",
             field_name: str = "Signature1") -> bytes:
        """Sign at B-T, B-LT or B-LTA (validation data gathered right after, as a signing service does)."""
        meta = signers.PdfSignatureMetadata(
            field_name=field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = signers.sign_pdf(writer, meta, self.signer(label), timestamper=self.timestamper(tsa)).getvalue()
        if level in ("B-LT", "B-LTA"):
            out = self.add_validation_data(out, self.now + timedelta(seconds=1))
        if level == "B-LTA":
            out = self.add_document_timestamp(out, tsa)
        return out

    def add_validation_data(self, pdf: bytes, moment: datetime) -> bytes:
        """Append to the DSS the root's CRL issued at `moment` and the chains (an archival refresh's first step)."""
        reader = PdfFileReader(io.BytesIO(pdf))
        sig = reader.embedded_signatures[-1]
        out = io.BytesIO(pdf)
        certs = [self.root.asn1, *(ident.asn1 for ident in self.ids.values())]
        DocumentSecurityStore.add_dss(out, sig.pkcs7_content, certs=certs, crls=[self.crl(moment)])
        return out.getvalue()

    def add_document_timestamp(self, pdf: bytes, tsa: str, at: datetime | None = None) -> bytes:
        """Append a document time stamp by `tsa`, dated `at` (default: now)."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.PdfTimeStamper(self.timestamper(tsa, at)).timestamp_pdf(writer, "sha256").getvalue()

    def refresh(self, pdf: bytes, at: datetime, tsa: str = "tsa-long") -> bytes:
        """What an archival refresh made at `at` adds: fresh validation data, then a new document time stamp."""
        return self.add_document_timestamp(self.add_validation_data(pdf, at), tsa, at)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Commune de Test LTV"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _qc_statements(*statements: str) -> x509.UnrecognizedExtension:
    """The qcStatements extension (ETSI EN 319 412-5): qc_compliance, qc_sscd, qc_type esign…"""
    from pyhanko.sign.ades import qualified_asn1

    items = []
    for statement in statements:
        if statement == "qc_type_esign":
            items.append(qualified_asn1.QcStatement({"statement_id": "qc_type", "statement_info": ["qct_esign"]}))
        else:
            items.append(qualified_asn1.QcStatement({"statement_id": statement}))
    der = qualified_asn1.QcStatements(items).dump()
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3"), der)


def _issue(common_name: str, issuer: Identity | None, not_before: datetime, not_after: datetime,
           usage: str, key: rsa.RSAPrivateKey | None = None, qc: tuple[str, ...] = ()) -> Identity:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signing_key = issuer.key if issuer else key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
    )
    ku = dict(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    if usage == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        ku.update(key_cert_sign=True, crl_sign=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(CRL_URL)], relative_name=None,
                                   reasons=None, crl_issuer=None)]), critical=False)
    if usage == "sign":
        ku.update(content_commitment=True)
    if usage == "tsa":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    builder = builder.add_extension(x509.KeyUsage(**ku), critical=True)
    if qc:
        builder = builder.add_extension(_qc_statements(*qc), critical=False)
    return Identity(builder.sign(signing_key, hashes.SHA256()), key)


def make_ltv_pki(now: datetime | None = None) -> LtvPki:
    """Generate the PKI (2048-bit keys, about a second)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    day = timedelta(days=1)
    root = _issue("Racine de test LTV", None, now - 365 * day, now + 40 * 365 * day, "ca")
    ids = {
        "signer": _issue("Sylvie Courte", root, now - day, now + 365 * day, "sign"),
        "later-revoked": _issue("Denis Révoqué-Plus-Tard", root, now - day, now + 5 * 365 * day, "sign"),
        "revoked": _issue("Edgar Déjà-Révoqué", root, now - 30 * day, now + 5 * 365 * day, "sign"),
        "tsa-short": _issue("Horodatage court", root, now - day, now + 2 * 365 * day, "tsa"),
        "tsa-long": _issue("Horodatage long", root, now - day, now + 20 * 365 * day, "tsa"),
        # Qualified certificates (ETSI EN 319 412-5 statements): in a QSCD for e-signatures, and without.
        "qualified": _issue("Quentin Qualifié", root, now - day, now + 3 * 365 * day, "sign",
                            qc=("qc_compliance", "qc_sscd", "qc_type_esign")),
        "qc-only": _issue("Odile Sans-QSCD", root, now - day, now + 3 * 365 * day, "sign",
                          qc=("qc_compliance", "qc_type_esign")),
    }
    revoked = {"later-revoked": now + 30 * day, "revoked": now - day}
    return LtvPki(now=now, root=root, ids=ids, revoked=revoked)


def trusted_list_xml(pki: LtvPki, *, tsa: str = "tsa-long") -> str:
    """An ETSI TS 119 612 trusted list naming the test root as a qualified CA and `tsa` as a QTST."""
    import base64

    def b64(ident: Identity) -> str:
        return base64.b64encode(ident.cert.public_bytes(serialization.Encoding.DER)).decode()

    start = (pki.now - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def service(type_uri: str, name: str, cert: str) -> str:
        return f"""
      <tsl:TSPService><tsl:ServiceInformation>
        <tsl:ServiceTypeIdentifier>{type_uri}</tsl:ServiceTypeIdentifier>
        <tsl:ServiceName><tsl:Name xml:lang="fr">{name}</tsl:Name></tsl:ServiceName>
        <tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{cert}</tsl:X509Certificate></tsl:DigitalId>
        </tsl:ServiceDigitalIdentity>
        <tsl:ServiceStatus>http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted</tsl:ServiceStatus>
        <tsl:StatusStartingTime>{start}</tsl:StatusStartingTime>
      </tsl:ServiceInformation></tsl:TSPService>"""

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" TSLTag="http://uri.etsi.org/19612/TSLTag" Id="tl">
  <tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier>
    <tsl:TSLSequenceNumber>1</tsl:TSLSequenceNumber>
    <tsl:TSLType>http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric</tsl:TSLType>
    <tsl:SchemeOperatorName><tsl:Name xml:lang="fr">Opérateur de test</tsl:Name></tsl:SchemeOperatorName>
    <tsl:SchemeTerritory>FR</tsl:SchemeTerritory>
    <tsl:ListIssueDateTime>{start}</tsl:ListIssueDateTime>
  </tsl:SchemeInformation>
  <tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
    <tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="fr">Prestataire de test</tsl:Name></tsl:TSPName>
    </tsl:TSPInformation>
    <tsl:TSPServices>{service("http://uri.etsi.org/TrstSvc/Svctype/CA/QC", "AC qualifiée de test", b64(pki.root))}{
        service("http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST", "Horodatage qualifié de test", b64(pki.ids[tsa]))}
    </tsl:TSPServices>
  </tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>
"""


# --- Plain ECDSA (BSI TR-03111): the signature value is r‖s, not a DER SEQUENCE ---

PLAIN_ECDSA_SHA256 = "0.4.0.127.0.7.1.1.4.1.3"


class PlainEcdsaSigner(signers.SimpleSigner):
    """A signer writing ecdsa-plain-SHA256 signatures, as some German and smart-card software does."""

    def get_signature_mechanism_for_digest(self, digest_algorithm):  # noqa: ANN001, ANN201
        from asn1crypto import algos

        return algos.SignedDigestAlgorithm({"algorithm": PLAIN_ECDSA_SHA256})

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if dry_run:
            return bytes(64)
        key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_identity(pki: LtvPki) -> Identity:
    """A P-256 signer issued by the test root."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return _issue("Érwin Courbe-Elliptique", pki.root, pki.now - timedelta(days=1),
                  pki.now + timedelta(days=3 * 365), "sign", key=key)  # type: ignore[arg-type]


def sign_plain_ecdsa(pki: LtvPki, pdf: bytes, ident: Identity, *, tamper: bool = False) -> bytes:
    """A B-LT signature whose value is plain r‖s; `tamper` flips a bit of s (a wrong signature)."""
    signer = PlainEcdsaSigner(signing_cert=ident.asn1, signing_key=ident.asn1_key,
                              cert_registry=SimpleCertificateStore.from_certs([pki.root.asn1]))
    if tamper:
        original = signer.async_sign_raw

        async def broken(data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            value = bytearray(await original(data, digest_algorithm, dry_run))
            value[-1] ^= 1
            return bytes(value)

        signer.async_sign_raw = broken  # type: ignore[method-assign]
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = signers.sign_pdf(writer, meta, signer, timestamper=pki.timestamper("tsa-long")).getvalue()
    return pki.add_validation_data(out, pki.now + timedelta(seconds=1))
