"""XAdES enveloped signatures of PES V2 bordereaux, as Hélios (DGFiP) expects them.

Each `Bordereau` of a `PES_Aller` carries its own `ds:Signature` (the ordonnateur signs once per
bordereau): a Reference to the bordereau's `Id` with the enveloped-signature and exclusive C14N
transforms, RSA-SHA256, and XAdES 1.1.1 signed properties (the namespace the DGFiP schemas import:
`PES_V2/Rev0/PES_Aller.xsd` → `xades/XAdES-core-schema.xsd`): SigningTime, SigningCertificate
(CertDigest and IssuerSerial), the Hélios SignaturePolicyIdentifier, SignatureProductionPlace
and the ClaimedRole « Ordonnateur ».

Signing has three phases, so that the key may live elsewhere (the future local agent):

1. `prepare_signature(document, bordereau_id, certificate, options)` → `PendingSignature`, whose
   `signed_info` are the exact bytes to sign (RSA PKCS#1 v1.5 with SHA-256; `digest` is their
   SHA-256 for agents that sign a digest);
2. `finish_signature(pending, signature_value)` → the finished `ds:Signature` element (checked
   against the certificate first);
3. `insert_signature(document, pending, element)` → the document with the element inserted as
   bytes just before `</Bordereau>`: nothing else of the document is re-serialised, so earlier
   signatures and every byte outside the insertion stay as they were.

`sign_bordereaux(document, key, options)` does the three phases with a PKCS#12 or PKCS#11 key from
`signing.keys`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from signing.errors import N_, SigningError

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.1.1#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_PROPERTIES_TYPE = XADES_NS + "SignedProperties"

HELIOS_POLICY_OID = "urn:oid:1.2.250.1.131.1.5.18.21.1.7"
HELIOS_POLICY_DESCRIPTION = "Politique de signature Helios de la DGFiP"
HELIOS_POLICY_SPURI = ("https://www.collectivites-locales.gouv.fr/files/files/finances_locales/"
                       "dematerialisation/ps_helios_dgfip.pdf")
#: SHA-256 of the policy document as Libriciel's production code sends it; public sources
#: disagree on this value, so applications make it a setting (PARAPHEUR_HELIOS_POLICY_SHA256).
DEFAULT_HELIOS_POLICY_SHA256 = "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E="

#: Largest document prepared for signing (a PES with its attachments can be large, not unbounded).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024

_EMPTY_VALUE = "<ds:SignatureValue></ds:SignatureValue>"
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


class XadesError(SigningError):
    """A PES bordereau cannot be signed as asked (unknown Id, already signed, bad value...)."""

    code = "xades_failed"
    default_message = N_("La signature XAdES du bordereau a échoué.")


@dataclass(frozen=True)
class SignaturePolicy:
    """The signature policy a signature claims (SignaturePolicyIdentifier)."""

    #: the policy's identifier (an OID URN)
    identifier: str = HELIOS_POLICY_OID
    #: its description
    description: str = HELIOS_POLICY_DESCRIPTION
    #: base64 SHA-256 of the policy document (SigPolicyHash)
    sha256_b64: str = DEFAULT_HELIOS_POLICY_SHA256
    #: where the policy document is published (SPURI qualifier)
    spuri: str = HELIOS_POLICY_SPURI

    def __post_init__(self) -> None:
        try:
            raw = base64.b64decode(self.sha256_b64, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise XadesError(N_("L'empreinte SHA-256 de la politique de signature "
                                "%(sha256_b64)s n'est pas une empreinte base64 de 32 octets."),
                             sha256_b64=repr(self.sha256_b64))


@dataclass(frozen=True)
class ProductionPlace:
    """Where the ordonnateur signs (SignatureProductionPlace): the collectivité's city."""

    city: str
    postal_code: str
    country: str = "France"


@dataclass(frozen=True)
class XadesOptions:
    """What a Hélios bordereau signature states besides the signer's certificate."""

    place: ProductionPlace
    #: the ClaimedRole (Hélios expects « Ordonnateur »)
    role: str = "Ordonnateur"
    policy: SignaturePolicy = field(default_factory=SignaturePolicy)


@dataclass(frozen=True)
class PendingSignature:
    """Phase 1's result: what the key must sign, and what is needed to finish the signature."""

    bordereau_id: str
    #: canonical (exclusive C14N) SignedInfo: the bytes signed with RSA PKCS#1 v1.5 / SHA-256
    signed_info: bytes
    #: the certificate that will sign (DER), checked against the signature value at phase 2
    certificate_der: bytes
    #: the finished element with an empty SignatureValue
    template: str = field(repr=False)
    #: SHA-256 of the bordereau's canonical form, also checked again at insertion
    bordereau_digest: bytes = field(repr=False)

    @property
    def digest(self) -> bytes:
        """SHA-256 of `signed_info`, for signers that take a digest (PKCS#11 CKM_RSA_PKCS)."""
        return hashlib.sha256(self.signed_info).digest()

    #: How a card signs `digest` (RSA PKCS#1 v1.5 over the SHA-256 DigestInfo: RSA-SHA256).
    digest_algorithm = "sha256"
    signature_algorithm = "rsassa_pkcs1v15"

    def to_dict(self) -> dict[str, str]:
        """A JSON-safe form, kept server-side between the two phases of an external signature."""
        return {"bordereau_id": self.bordereau_id, "signed_info": _b64(self.signed_info),
                "certificate_der": _b64(self.certificate_der), "template": self.template,
                "bordereau_digest": _b64(self.bordereau_digest)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingSignature:
        """The pending signature `to_dict` gave, or XadesError when it is not one."""
        try:
            pending = cls(bordereau_id=str(data["bordereau_id"]),
                          signed_info=base64.b64decode(data["signed_info"], validate=True),
                          certificate_der=base64.b64decode(data["certificate_der"],
                                                           validate=True),
                          template=str(data["template"]),
                          bordereau_digest=base64.b64decode(data["bordereau_digest"],
                                                            validate=True))
        except (KeyError, TypeError, ValueError):
            raise XadesError(N_("L'état préparé de la signature XAdES est illisible.")) from None
        # The template carries the very SignedInfo that is signed: a state whose two differ
        # would insert a signature over something else.
        signed_info = etree.tostring(etree.fromstring(
            pending.template[pending.template.index("<ds:SignedInfo>"):
                             pending.template.index("</ds:SignedInfo>") + len("</ds:SignedInfo>")]
            .replace("<ds:SignedInfo>", f'<ds:SignedInfo xmlns:ds="{DS_NS}">', 1)),
            method="c14n", exclusive=True) if "<ds:SignedInfo>" in pending.template else b""
        if signed_info != pending.signed_info:
            raise XadesError(N_("L'état préparé de la signature XAdES est incohérent."))
        return pending


def _parse(document: bytes) -> etree._ElementTree:
    if len(document) > MAX_DOCUMENT_BYTES:
        raise XadesError(N_("Le fichier PES est trop volumineux pour être signé."))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                             remove_blank_text=False, load_dtd=False)
    try:
        return etree.ElementTree(etree.fromstring(document, parser))
    except etree.XMLSyntaxError as exc:
        raise XadesError(N_("Le fichier PES n'est pas un XML lisible : %(detail)s"),
                         detail=exc) from None


def bordereau_ids(document: bytes) -> list[str]:
    """The `Id` of every `Bordereau` of a PES, in document order (unsigned and signed)."""
    return [b.get("Id") or "" for b in _parse(document).iter("Bordereau")]


def _find_bordereau(tree: etree._ElementTree, bordereau_id: str) -> etree._Element:
    if not _NCNAME.match(bordereau_id or ""):
        raise XadesError(N_("L'identifiant de bordereau %(bordereau_id)s n'est pas un "
                            "identifiant XML valide : le bordereau ne peut pas être signé."),
                         bordereau_id=repr(bordereau_id))
    matches = [e for e in tree.iter() if isinstance(e.tag, str) and e.get("Id") == bordereau_id]
    if not matches:
        raise XadesError(N_("Aucun bordereau d'identifiant %(bordereau_id)s dans le fichier "
                            "PES."), bordereau_id=bordereau_id)
    if len(matches) > 1:
        raise XadesError(N_("L'identifiant %(bordereau_id)s est porté par plusieurs éléments "
                            "du fichier PES : la signature serait ambiguë."),
                         bordereau_id=bordereau_id)
    (element,) = matches
    if element.tag != "Bordereau":
        raise XadesError(N_("L'élément d'identifiant %(bordereau_id)s n'est pas un Bordereau."),
                         bordereau_id=bordereau_id)
    return element


def _enveloped_digest(bordereau: etree._Element, exclude: etree._Element | None = None) -> bytes:
    """SHA-256 of the bordereau after the enveloped-signature and exclusive C14N transforms."""
    if exclude is not None:
        copy = etree.fromstring(etree.tostring(bordereau))
        for signature in copy.findall(f"{{{DS_NS}}}Signature"):
            if signature.get("Id") == exclude.get("Id"):
                _remove_keeping_tail(signature)
        bordereau = copy
    canonical = etree.tostring(bordereau, method="c14n", exclusive=True, with_comments=False)
    return hashlib.sha256(canonical).digest()


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _text(value: str) -> str:
    return escape(value)


def _signed_properties(properties_id: str, certificate: x509.Certificate, options: XadesOptions,
                       signed_at: datetime) -> str:
    policy = options.policy
    place = options.place
    # XAdES 1.1.1 declares DigestMethod/DigestValue locally in its own namespace (1.2.2 refers
    # to XML-DSig's): xad: prefixes, as the DGFiP schemas validate them.
    moment = signed_at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_digest = _b64(certificate.fingerprint(hashes.SHA256()))
    return (
        f'<xad:SignedProperties Id={quoteattr(properties_id)}>'
        f'<xad:SignedSignatureProperties>'
        f'<xad:SigningTime>{moment}</xad:SigningTime>'
        f'<xad:SigningCertificate><xad:Cert><xad:CertDigest>'
        f'<xad:DigestMethod Algorithm="{SHA256}"></xad:DigestMethod>'
        f'<xad:DigestValue>{cert_digest}</xad:DigestValue></xad:CertDigest>'
        f'<xad:IssuerSerial>'
        f'<ds:X509IssuerName>{_text(certificate.issuer.rfc4514_string())}</ds:X509IssuerName>'
        f'<ds:X509SerialNumber>{certificate.serial_number}</ds:X509SerialNumber>'
        f'</xad:IssuerSerial></xad:Cert></xad:SigningCertificate>'
        f'<xad:SignaturePolicyIdentifier><xad:SignaturePolicyId>'
        f'<xad:SigPolicyId><xad:Identifier>{_text(policy.identifier)}</xad:Identifier>'
        f'<xad:Description>{_text(policy.description)}</xad:Description></xad:SigPolicyId>'
        f'<xad:SigPolicyHash><xad:DigestMethod Algorithm="{SHA256}"></xad:DigestMethod>'
        f'<xad:DigestValue>{_text(policy.sha256_b64)}</xad:DigestValue></xad:SigPolicyHash>'
        f'<xad:SigPolicyQualifiers><xad:SigPolicyQualifier>'
        f'<xad:SPURI>{_text(policy.spuri)}</xad:SPURI>'
        f'</xad:SigPolicyQualifier></xad:SigPolicyQualifiers>'
        f'</xad:SignaturePolicyId></xad:SignaturePolicyIdentifier>'
        f'<xad:SignatureProductionPlace>'
        f'<xad:City>{_text(place.city)}</xad:City>'
        f'<xad:PostalCode>{_text(place.postal_code)}</xad:PostalCode>'
        f'<xad:CountryName>{_text(place.country)}</xad:CountryName>'
        f'</xad:SignatureProductionPlace>'
        f'<xad:SignerRole><xad:ClaimedRoles><xad:ClaimedRole>{_text(options.role)}'
        f'</xad:ClaimedRole></xad:ClaimedRoles></xad:SignerRole>'
        f'</xad:SignedSignatureProperties></xad:SignedProperties>'
    )


def _reference(uri: str, digest: bytes, transforms: Sequence[str], kind: str | None = None
               ) -> str:
    type_attribute = f' Type="{kind}"' if kind else ""
    steps = "".join(f'<ds:Transform Algorithm="{t}"></ds:Transform>' for t in transforms)
    return (f'<ds:Reference URI="#{uri}"{type_attribute}><ds:Transforms>{steps}</ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
            f'<ds:DigestValue>{_b64(digest)}</ds:DigestValue></ds:Reference>')


def _load_certificate(certificate: Any) -> x509.Certificate:
    """A pyca certificate from DER bytes, an asn1crypto certificate or a pyca certificate."""
    if isinstance(certificate, x509.Certificate):
        return certificate
    der = certificate if isinstance(certificate, bytes) else certificate.dump()
    return x509.load_der_x509_certificate(der)


def prepare_signature(document: bytes, bordereau_id: str, certificate: Any,
                      options: XadesOptions, *, signed_at: datetime | None = None,
                      chain: Iterable[Any] = ()) -> PendingSignature:
    """Phase 1: the SignedInfo to sign for the bordereau `bordereau_id` of `document`.

    `certificate` (DER, asn1crypto or pyca) is the signer's; `chain` certificates are added to
    KeyInfo after it. Refuses an unknown Id, a bordereau already signed, a non-RSA key.
    """
    cert = _load_certificate(certificate)
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise XadesError(N_("Hélios n'accepte que des signatures RSA-SHA256 : la clé de ce "
                            "certificat n'est pas une clé RSA."))
    tree = _parse(document)
    bordereau = _find_bordereau(tree, bordereau_id)
    if bordereau.find(f"{{{DS_NS}}}Signature") is not None:
        raise XadesError(N_("Le bordereau %(bordereau_id)s est déjà signé."),
                         bordereau_id=bordereau_id)
    signature_id = f"{bordereau_id}-SIG"
    properties_id = f"{bordereau_id}-SIG-SP"
    taken = {e.get("Id") for e in tree.iter() if isinstance(e.tag, str) and e.get("Id")}
    if {signature_id, properties_id} & taken:
        raise XadesError(N_("Les identifiants %(signature_id)s ou %(properties_id)s sont déjà "
                            "pris dans le fichier PES."),
                         signature_id=signature_id, properties_id=properties_id)

    bordereau_digest = _enveloped_digest(bordereau)
    properties = _signed_properties(properties_id, cert, options,
                                    signed_at or datetime.now(UTC))
    # Exclusive C14N renders only the namespaces an element visibly uses, so the properties'
    # canonical form is the same standalone as inside the PES.
    wrapped = etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS_NS}"><xad:QualifyingProperties xmlns:xad="{XADES_NS}" '
        f'Target="#{signature_id}">{properties}</xad:QualifyingProperties></ds:Signature>')
    properties_c14n = etree.tostring(wrapped[0][0], method="c14n", exclusive=True)

    signed_info_xml = (
        f'<ds:SignedInfo xmlns:ds="{DS_NS}">'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"></ds:SignatureMethod>'
        + _reference(bordereau_id, bordereau_digest, (ENVELOPED, EXC_C14N))
        + _reference(properties_id, hashlib.sha256(properties_c14n).digest(), (EXC_C14N,),
                     SIGNED_PROPERTIES_TYPE)
        + '</ds:SignedInfo>')
    signed_info = etree.tostring(etree.fromstring(signed_info_xml), method="c14n",
                                 exclusive=True)
    certificates = [cert, *(_load_certificate(c) for c in chain)]
    key_info = "".join(f"<ds:X509Certificate>{_b64(c.public_bytes(Encoding.DER))}"
                       f"</ds:X509Certificate>" for c in certificates)
    template = (
        f'<ds:Signature xmlns:ds="{DS_NS}" Id="{signature_id}">'
        + signed_info_xml.replace(f' xmlns:ds="{DS_NS}"', "", 1)
        + _EMPTY_VALUE
        + f'<ds:KeyInfo><ds:X509Data>{key_info}</ds:X509Data></ds:KeyInfo>'
        f'<ds:Object><xad:QualifyingProperties xmlns:xad="{XADES_NS}" '
        f'Target="#{signature_id}">{properties}</xad:QualifyingProperties></ds:Object>'
        '</ds:Signature>')
    return PendingSignature(bordereau_id=bordereau_id, signed_info=signed_info,
                            certificate_der=cert.public_bytes(Encoding.DER),
                            template=template,
                            bordereau_digest=bordereau_digest)


def finish_signature(pending: PendingSignature, signature_value: bytes) -> str:
    """Phase 2: the finished `ds:Signature` element, once the value verifies with the certificate."""
    public_key = x509.load_der_x509_certificate(pending.certificate_der).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(signature_value, pending.signed_info, padding.PKCS1v15(),
                          hashes.SHA256())
    except InvalidSignature:
        raise XadesError(N_("La valeur de signature reçue pour le bordereau %(bordereau_id)s "
                            "ne correspond pas à son certificat : le bordereau n'a pas été "
                            "signé."), bordereau_id=pending.bordereau_id) from None
    return pending.template.replace(
        _EMPTY_VALUE, f"<ds:SignatureValue>{_b64(signature_value)}</ds:SignatureValue>", 1)


_CLOSE_TAG = re.compile(rb"</Bordereau\s*>")


def _encoding(tree: etree._ElementTree) -> str:
    return (tree.docinfo.encoding or "UTF-8").lower()


def insert_signature(document: bytes, pending: PendingSignature, element: str) -> bytes:
    """Phase 3: `document` with the signature `element` inserted before the bordereau's end tag.

    Only bytes are inserted (in the document's encoding); the document is parsed again to check
    that the signature sits in its bordereau and that the bordereau's digest has not changed.
    """
    tree = _parse(document)
    bordereau = _find_bordereau(tree, pending.bordereau_id)
    if _enveloped_digest(bordereau) != pending.bordereau_digest:
        raise XadesError(N_("Le bordereau %(bordereau_id)s a changé depuis la préparation de "
                            "sa signature : recommencez la signature."),
                         bordereau_id=pending.bordereau_id)
    encoding = _encoding(tree)
    start = _start_tag(document, pending.bordereau_id, encoding).end()
    end = _CLOSE_TAG.search(document, start)
    if end is None:
        raise XadesError(N_("La fin du bordereau %(bordereau_id)s est introuvable."),
                         bordereau_id=pending.bordereau_id)
    payload = element.encode(encoding, "xmlcharrefreplace")
    signed = document[:end.start()] + payload + document[end.start():]

    check = _find_bordereau(_parse(signed), pending.bordereau_id)
    signature = check.find(f"{{{DS_NS}}}Signature")
    if signature is None or signature.getnext() is not None:
        raise XadesError(N_("La signature n'a pas pu être placée à la fin du bordereau "
                            "%(bordereau_id)s."), bordereau_id=pending.bordereau_id)
    if _enveloped_digest(check, exclude=signature) != pending.bordereau_digest:
        raise XadesError(N_("L'insertion de la signature a modifié le bordereau "
                            "%(bordereau_id)s : le fichier n'a pas été signé."),
                         bordereau_id=pending.bordereau_id)
    return signed


def _start_tag(document: bytes, bordereau_id: str, encoding: str) -> re.Match[bytes]:
    """Where the bordereau's start tag is, up to its attribute Id="…"."""
    if encoding.replace("-", "").replace("_", "") not in {"utf8", "iso88591", "latin1",
                                                          "usascii", "ascii", "windows1252",
                                                          "cp1252", "iso885915"}:
        raise XadesError(N_("L'encodage %(encoding)s du fichier PES n'est pas pris en charge "
                            "pour la signature (UTF-8 ou ISO-8859-1)."), encoding=encoding)
    ident = re.escape(bordereau_id.encode("ascii"))
    pattern = re.compile(rb"<Bordereau\s[^>]*?\bId\s*=\s*([\"'])" + ident + rb"\1")
    found = pattern.search(document)
    if found is None:
        raise XadesError(N_("Le début du bordereau %(bordereau_id)s est introuvable."),
                         bordereau_id=bordereau_id)
    return found


def bordereau_element(document: bytes, bordereau_id: str) -> bytes:
    """The bytes of the bordereau's element as they are in `document` (its signature included).

    A signed bordereau is self-contained (exclusive C14N, its own namespace declarations), so
    these bytes can be placed in another PES of the same encoding and still verify.
    """
    tree = _parse(document)
    _find_bordereau(tree, bordereau_id)
    start = _start_tag(document, bordereau_id, _encoding(tree))
    end = _CLOSE_TAG.search(document, start.end())
    if end is None:
        raise XadesError(N_("La fin du bordereau %(bordereau_id)s est introuvable."),
                         bordereau_id=bordereau_id)
    return document[start.start():end.end()]


def sign_bordereaux(document: bytes, key: Any, options: XadesOptions, *,
                    ids: Sequence[str] | None = None, signed_at: datetime | None = None
                    ) -> bytes:
    """Sign each bordereau of `document` (or those of `ids`) with an open `signing.keys` key."""
    from signing.pades import run_sync

    for bordereau_id in (ids if ids is not None else bordereau_ids(document)):
        pending = prepare_signature(document, bordereau_id, key.certificate, options,
                                    signed_at=signed_at)
        value = run_sync(key.signer.async_sign_raw(pending.signed_info, "sha256"))
        document = insert_signature(document, pending, finish_signature(pending, value))
    return document


def finish_external_signature(document: bytes, pending: PendingSignature,
                              signature_value: bytes) -> bytes:
    """Phases 2 and 3 for a signature value made elsewhere (a card, through the local agent).

    The value is checked against the prepared certificate, then the finished element is inserted
    as bytes: the rest of `document` is not re-serialised, and the bordereau must still have the
    canonical (exclusive C14N) digest it had when prepared.
    """
    return insert_signature(document, pending, finish_signature(pending, signature_value))


def signed_bordereau_ids(document: bytes) -> list[str]:
    """The `Id` of the bordereaux of `document` that carry a signature."""
    return [b.get("Id") or "" for b in _parse(document).iter("Bordereau")
            if b.find(f"{{{DS_NS}}}Signature") is not None]


@dataclass(frozen=True)
class BordereauSignatureCheck:
    """Outcome of `check_bordereau_signature`: `intact` when digests and value hold."""

    bordereau_id: str
    intact: bool
    reason: str = ""
    signer: str = ""


def check_bordereau_signature(document: bytes, bordereau_id: str) -> BordereauSignatureCheck:
    """Recompute the bordereau's signature (both digests and the RSA value) from `document`.

    This checks integrity against the certificate the signature carries, not trust in it (that
    is the comptable's and xmlsec1's job); used before an export to refuse a damaged signature.
    """
    def failed(reason: str) -> BordereauSignatureCheck:
        return BordereauSignatureCheck(bordereau_id, False, reason)

    bordereau = _find_bordereau(_parse(document), bordereau_id)
    signature = bordereau.find(f"{{{DS_NS}}}Signature")
    if signature is None:
        return failed("le bordereau n'est pas signé")
    ns = {"ds": DS_NS, "xad": XADES_NS}
    signed_info = signature.find("ds:SignedInfo", ns)
    value = signature.findtext("ds:SignatureValue", namespaces=ns)
    cert_b64 = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=ns)
    if signed_info is None or not value or not cert_b64:
        return failed("la signature est incomplète")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
        raw_value = base64.b64decode(value)
    except ValueError:
        return failed("le certificat ou la valeur de signature est illisible")
    for reference in signed_info.iterfind("ds:Reference", ns):
        uri = reference.get("URI") or ""
        expected = base64.b64decode(reference.findtext("ds:DigestValue", namespaces=ns) or "")
        if uri == f"#{bordereau_id}":
            actual = _enveloped_digest(bordereau, exclude=signature)
        else:
            targets = [e for e in signature.iter() if isinstance(e.tag, str)
                       and e.get("Id") == uri[1:]]
            if len(targets) != 1:
                return failed(f"la référence {uri} est introuvable")
            actual = hashlib.sha256(etree.tostring(targets[0], method="c14n",
                                                   exclusive=True)).digest()
        if actual != expected:
            return failed(f"l'empreinte de la référence {uri} ne correspond plus")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return failed("la clé du certificat n'est pas une clé RSA")
    try:
        public_key.verify(raw_value, etree.tostring(signed_info, method="c14n", exclusive=True),
                          padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return failed("la valeur de signature ne correspond pas")
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return BordereauSignatureCheck(bordereau_id, True,
                                   signer=str(names[0].value) if names else "")
