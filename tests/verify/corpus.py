"""A corpus of signed, damaged and unsigned PDFs for `parapheur verify`, made from a generated test PKI.

The PKI is a certomancer architecture (keys generated on the fly, nothing committed); its CRLs and time
stamps are produced in-process by certomancer's and pyHanko's own responders, so that the corpus is
built without any network. The benchmark imports this module too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import x509
from certomancer.registry import CertomancerConfig, PKIArchitecture
from certomancer.services import CRLBuilder, choose_signed_digest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

# Identities of the test PKI: (label, issuer, valid from, valid to, revoked since).
_ROOT_FROM = "2020-01-01T00:00:00+0000"
_ROOT_TO = "2060-01-01T00:00:00+0000"
REVOKED_SINCE = datetime(2025, 6, 1, tzinfo=UTC)


def _key_usage(*usages: str) -> dict:
    return {
        "id": "key_usage",
        "critical": True,
        "smart-value": {"schema": "key-usage", "params": list(usages)},
    }


def _crl_dp(repo: str) -> dict:
    return {"id": "crl_distribution_points", "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [repo]}}}


def _ca_cert(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "validity": {"valid-from": _ROOT_FROM, "valid-to": _ROOT_TO},
        "extensions": [
            {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
            _key_usage("digital_signature", "key_cert_sign", "crl_sign"),
        ],
    }


def _signer_cert(issuer: str, valid_from: str, valid_to: str, **extra: object) -> dict:
    spec: dict = {
        "issuer": issuer,
        "validity": {"valid-from": valid_from, "valid-to": valid_to},
        "extensions": [_key_usage("digital_signature", "non_repudiation"), _crl_dp(issuer)],
    }
    spec.update(extra)
    return spec


def _architecture(key_dir: Path, url_prefix: str) -> PKIArchitecture:
    labels = ["root", "tsa", "alice", "bob", "carol", "rogue-root", "mallory"]
    for label in labels:
        # 2048-bit RSA: what French qualified certificates use, and what the benchmark should measure.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (key_dir / f"{label}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    config = {
        "external-url-prefix": url_prefix,
        "keysets": {"verify": {"keys": {label: {"path": f"{label}.key.pem"} for label in labels}}},
        "pki-architectures": {
            "verify": {
                "keyset": "verify",
                "entity-defaults": {"country-name": "FR", "organization-name": "Commune de Test"},
                "entities": {
                    "root": {"common-name": "Autorité racine de test"},
                    "tsa": {"common-name": "Horodatage de test"},
                    "alice": {"common-name": "Alice Maire"},
                    "bob": {"common-name": "Bob Expiré"},
                    "carol": {"common-name": "Carol Révoquée"},
                    "rogue-root": {"common-name": "Racine inconnue", "organization-name": "Ailleurs"},
                    "mallory": {"common-name": "Mallory", "organization-name": "Ailleurs"},
                },
                "certs": {
                    "root": {
                        "subject": "root",
                        "subject-key": "root",
                        "issuer": "root",
                        "authority-key": "root",
                        **{k: v for k, v in _ca_cert("root").items() if k != "issuer"},
                    },
                    "tsa": {
                        "issuer": "root",
                        "validity": {"valid-from": _ROOT_FROM, "valid-to": _ROOT_TO},
                        "extensions": [
                            _key_usage("digital_signature"),
                            {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
                            _crl_dp("root"),
                        ],
                    },
                    "alice": _signer_cert("root", "2024-01-01T00:00:00+0000", "2040-01-01T00:00:00+0000"),
                    "bob": _signer_cert("root", "2020-01-01T00:00:00+0000", "2022-01-01T00:00:00+0000"),
                    "carol": _signer_cert(
                        "root",
                        "2024-01-01T00:00:00+0000",
                        "2040-01-01T00:00:00+0000",
                        revocation={"revoked-since": REVOKED_SINCE.strftime("%Y-%m-%dT%H:%M:%S%z"), "reason": "key_compromise"},
                    ),
                    "rogue-root": {
                        "subject": "rogue-root",
                        "subject-key": "rogue-root",
                        "issuer": "rogue-root",
                        "authority-key": "rogue-root",
                        **{k: v for k, v in _ca_cert("rogue-root").items() if k != "issuer"},
                    },
                    "mallory": {
                        "issuer": "rogue-root",
                        "validity": {"valid-from": "2024-01-01T00:00:00+0000", "valid-to": "2040-01-01T00:00:00+0000"},
                        "extensions": [_key_usage("digital_signature", "non_repudiation")],
                    },
                },
                "services": {
                    "crl-repo": {"root": {"for-issuer": "root", "signing-key": "root", "simulated-update-schedule": "P30D"}},
                    "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
                },
            }
        },
    }
    return CertomancerConfig(config, key_search_dir=str(key_dir)).get_pki_arch("verify")


@dataclass
class TestPki:
    """The generated PKI: certificates, keys and in-process TSA/CRL services."""

    arch: PKIArchitecture
    root_pem: Path
    rogue_root_pem: Path

    def cert(self, label: str) -> x509.Certificate:
        """Certificate of an identity."""
        return self.arch.get_cert(label)

    def signer(self, label: str) -> signers.SimpleSigner:
        """A pyHanko signer for an identity, carrying its chain."""
        issuer = "rogue-root" if label == "mallory" else "root"
        return signers.SimpleSigner(
            signing_cert=self.cert(label),
            signing_key=self.arch.key_set.get_private_key(label),
            cert_registry=SimpleCertificateStore.from_certs([self.cert(issuer)]),
        )

    def timestamper(self) -> DummyTimeStamper:
        """An RFC 3161 TSA answering in-process with the test TSA's key."""
        return DummyTimeStamper(
            tsa_cert=self.cert("tsa"),
            tsa_key=self.arch.key_set.get_private_key("tsa"),
            certs_to_embed=SimpleCertificateStore.from_certs([self.cert("root")]),
        )

    def crl(self, this_update: datetime | None = None) -> asn1_crl.CertificateList:
        """A CRL of the root issued at `this_update` (default: now), valid a week; lists Carol as revoked."""
        this_update = this_update or datetime.now(UTC)
        info = self.arch.service_registry.get_crl_repo_info("root")
        root = self.cert("root")
        key = self.arch.key_set.get_asym_key("root")
        # Built by hand rather than with get_crl(): certomancer rounds thisUpdate down to its update
        # schedule, which would date the CRL before the signature and make it useless as B-LT evidence.
        builder = CRLBuilder(
            issuer_name=self.arch.entities["root"],
            issuer_key=key.private,
            signature_algo=choose_signed_digest("sha256", key.public),
            authority_key_identifier=root.key_identifier_value,
        )
        return builder.build_crl(
            crl_number=int(this_update.timestamp()),
            this_update=this_update,
            next_update=this_update + timedelta(days=7),
            revoked_certs=list(self.arch.get_revoked_certs_at_time(at_time=this_update, crl_info=info)),
            distpoint=info.format_idp(self.arch.entities),
        )


def make_pki(directory: Path, url_prefix: str = "http://127.0.0.1:9") -> TestPki:
    """Generate the test PKI's keys and certificates under `directory`."""
    key_dir = directory / "keys"
    key_dir.mkdir(parents=True, exist_ok=True)
    arch = _architecture(key_dir, url_prefix)
    root_pem = directory / "racine.pem"
    rogue_pem = directory / "racine-inconnue.pem"
    root_pem.write_bytes(_pem(arch.get_cert("root")))
    rogue_pem.write_bytes(_pem(arch.get_cert("rogue-root")))
    return TestPki(arch=arch, root_pem=root_pem, rogue_root_pem=rogue_pem)


def _pem(cert: x509.Certificate) -> bytes:
    from asn1crypto import pem

    return pem.armor("CERTIFICATE", cert.dump())


def one_page_pdf(text: str = "Arrêté municipal n° 2026-001", *, user_password: str | None = None) -> bytes:
    """A one-page PDF whose content stream is left uncompressed (so a test can tamper with it)."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): writer.add_object(font)})}
    )
    safe = text.encode("latin-1", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    content = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 720 Td (" + safe + b") Tj ET")
    page = PageObject(contents=writer.add_object(content), media_box=(0, 0, 595, 842), resources=resources)
    writer.insert_page(page)
    if user_password is not None:
        writer.encrypt("proprietaire", user_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(
    pdf: bytes,
    pki: TestPki,
    signer: str = "alice",
    *,
    level: str = "B-B",
    field_name: str = "Signature1",
    subfilter: fields.SigSeedSubFilter = fields.SigSeedSubFilter.PADES,
) -> bytes:
    """Sign `pdf` at a PAdES level (B-B, B-T, B-LT, B-LTA) with an identity of the test PKI."""
    meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=subfilter, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    with_ts = level != "B-B"
    signed = signers.sign_pdf(writer, meta, pki.signer(signer), timestamper=pki.timestamper() if with_ts else None)
    out = signed.getvalue()
    if level in ("B-LT", "B-LTA"):
        # As a signing service does it: validation data gathered after signing, in its own revision.
        out = add_dss(out, pki)
    if level == "B-LTA":
        out = add_document_timestamp(out, pki)
    return out


def add_dss(pdf: bytes, pki: TestPki) -> bytes:
    """Append the root's CRL and the chains to the DSS, without validating anything first."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    sig = reader.embedded_signatures[-1]
    out = io.BytesIO(pdf)
    DocumentSecurityStore.add_dss(
        out,
        sig.pkcs7_content,
        certs=[pki.cert("root"), pki.cert("tsa"), sig.signer_cert],
        crls=[pki.crl(datetime.now(UTC) + timedelta(seconds=1))],
    )
    return out.getvalue()


def add_document_timestamp(pdf: bytes, pki: TestPki) -> bytes:
    """Append a PAdES document time stamp (what makes B-LT into B-LTA)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = signers.PdfTimeStamper(pki.timestamper()).timestamp_pdf(writer, "sha256")
    return out.getvalue()


def tamper(pdf: bytes, old: bytes = b"2026-001", new: bytes = b"2026-666") -> bytes:
    """Change signed page text, keeping the length (the byte ranges stay valid, the digest does not)."""
    assert len(old) == len(new) and pdf.count(old) == 1
    return pdf.replace(old, new)


def append_page_content(pdf: bytes) -> bytes:
    """An incremental update after signing that rewrites the page's text (an 'other' change)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.add_stream_to_page(
        0, writer.add_object(generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 600 Td (Montant : 0 EUR) Tj ET"))
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def add_annotation(pdf: bytes) -> bytes:
    """An incremental update after signing that only adds a text annotation (a sticky note)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    annot = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Text"),
            pdf_name("/Rect"): generic.ArrayObject(map(generic.FloatObject, (100, 100, 120, 120))),
            pdf_name("/Contents"): generic.TextStringObject("Vu, le comptable public"),
            pdf_name("/P"): page_ref,
        }
    )
    writer.register_annotation(page_ref, writer.add_object(annot))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """An unsigned PDF encrypted with a user password: it cannot be checked without it."""
    return one_page_pdf("Confidentiel", user_password="lecteur")


# The corpus: file name → bytes. Expectations live in the tests, next to the assertions.
def build_corpus(directory: Path, pki: TestPki) -> dict[str, Path]:
    """Write every case of the corpus under `directory`; return name → path."""
    base = one_page_pdf()
    bb = sign(base, pki)
    cases: dict[str, bytes] = {
        "valide-b-b.pdf": bb,
        "valide-b-t.pdf": sign(base, pki, level="B-T"),
        "valide-b-lt.pdf": sign(base, pki, level="B-LT"),
        "valide-b-lta.pdf": sign(base, pki, level="B-LTA"),
        "altere.pdf": tamper(bb),
        "racine-inconnue.pdf": sign(base, pki, "mallory"),
        "expire-sans-horodatage.pdf": sign(base, pki, "bob"),
        "revoque.pdf": sign(base, pki, "carol", level="B-LT"),
        "modifie-apres-signature.pdf": append_page_content(bb),
        "annote-apres-signature.pdf": add_annotation(bb),
        "deux-signatures.pdf": sign(sign(base, pki, level="B-T"), pki, level="B-LT", field_name="Signature2"),
        "adbe-pkcs7.pdf": sign(base, pki, level="B-LT", subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED),
        "sans-signature.pdf": base,
        "pas-un-pdf.pdf": b"Ceci n'est pas un PDF, c'est un bordereau au format texte.\n" * 20,
        "tronque.pdf": bb[: len(bb) // 2],
        "chiffre.pdf": encrypted_pdf(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in cases.items():
        path = directory / name
        path.write_bytes(data)
        paths[name] = path
    return paths


class CrlServer:
    """The root's CRL distribution point, served over loopback HTTP (what `--online` fetches)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server_self = self
        self.pki: TestPki | None = None
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server_self.requests.append(self.path)
                if server_self.pki is None or not self.path.endswith("/latest.crl"):
                    self.send_error(404)
                    return
                body = server_self.pki.crl().dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
