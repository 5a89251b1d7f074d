"""Reading an invoice file (Factur-X/ZUGFeRD PDF, CII or UBL 2.1 XML) into typed values.

A library part: no Flask, no database. The XML is always parsed safely (no entity resolution,
no network, no DTD, a size limit); a file declaring a DTD or entities is refused, never expanded.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from parapheur.errors import N_
from parapheur.invoices.errors import InvoiceReadError

#: Default size limits: a whole file, and the XML inside it.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_XML_BYTES = 5 * 1024 * 1024

CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ZUGFERD1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"

#: Guideline ids (BT-24) of every profile we read, CII and UBL alike.
PROFILE_IDS = {
    "urn:factur-x.eu:1p0:minimum": "minimum",
    "urn:factur-x.eu:1p0:basicwl": "basicwl",
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic": "basic",
    "urn:cen.eu:en16931:2017": "en16931",
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended": "extended",
    "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr": "extended-ctc-fr",
    # ZUGFeRD 2.x names the same profiles with its own URNs.
    "urn:zugferd.de:2p0:minimum": "minimum",
    "urn:zugferd.de:2p0:basicwl": "basicwl",
    "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic": "basic",
    "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended": "extended",
}
PROFILE_LABELS = {
    "minimum": "MINIMUM", "basicwl": "BASIC WL", "basic": "BASIC", "en16931": "EN 16931",
    "extended": "EXTENDED", "extended-ctc-fr": "EXTENDED-CTC-FR",
}
#: UNTDID 1001 codes of credit notes; every other accepted code is an invoice.
CREDIT_NOTE_CODES = {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}

logging.getLogger("facturx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Party:
    """A seller or buyer (BG-4 / BG-7) with its French identifiers."""

    name: str | None = None
    siren: str | None = None  # BT-30 / BT-47 with scheme 0002
    siret: str | None = None  # BT-29 / BT-46 with scheme 0009
    vat_id: str | None = None  # BT-31 / BT-48
    country: str | None = None
    iban: str | None = None  # BT-84, for the seller


@dataclass(frozen=True)
class Line:
    """One invoice line (BG-25)."""

    line_id: str | None
    name: str | None
    quantity: Decimal | None
    unit_code: str | None
    unit_price: Decimal | None  # net price for one unit (BT-146 / BT-149)
    net_amount: Decimal | None
    vat_category: str | None
    vat_rate: Decimal | None


@dataclass(frozen=True)
class VatRow:
    """One VAT breakdown row (BG-23)."""

    category: str | None
    rate: Decimal | None
    taxable_amount: Decimal | None
    tax_amount: Decimal | None
    exemption_reason: str | None = None


@dataclass(frozen=True)
class Totals:
    """Document totals (BG-22)."""

    lines: Decimal | None = None  # BT-106
    allowances: Decimal | None = None  # BT-107
    charges: Decimal | None = None  # BT-108
    net: Decimal | None = None  # BT-109, HT
    vat: Decimal | None = None  # BT-110, TVA
    gross: Decimal | None = None  # BT-112, TTC
    prepaid: Decimal | None = None  # BT-113
    rounding: Decimal | None = None  # BT-114
    due: Decimal | None = None  # BT-115


@dataclass(frozen=True)
class Attachment:
    """A supporting document (BG-24) or a file attached to the PDF."""

    filename: str
    mime_type: str | None = None
    description: str | None = None
    content: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReadInvoice:
    """Everything read from one invoice file."""

    container: str  # pdf | xml
    syntax: str  # cii | ubl
    profile: str  # minimum, basicwl, basic, en16931, extended, extended-ctc-fr
    guideline_id: str
    number: str | None
    type_code: str | None
    issue_date: date | None
    due_date: date | None
    currency: str | None
    seller: Party
    buyer: Party
    buyer_reference: str | None  # BT-10, the code service
    order_reference: str | None  # BT-13
    contract_reference: str | None  # BT-12
    totals: Totals
    vat_breakdown: tuple[VatRow, ...]
    lines: tuple[Line, ...]
    attachments: tuple[Attachment, ...]
    xml: bytes = field(repr=False)
    xml_filename: str | None = None
    file_sha256: str = ""
    pdf: bytes | None = field(default=None, repr=False)
    tree: etree._Element | None = field(default=None, repr=False, compare=False)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_CODES

    @property
    def profile_label(self) -> str:
        return PROFILE_LABELS[self.profile]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=False)


def parse_xml_safely(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse XML bytes with no entity expansion, no network and a size limit; refuse any DTD."""
    if len(data) > max_bytes:
        raise InvoiceReadError("too_large", N_("Le XML dépasse la taille maximale (%(value)s "
                                               "Mo)."), value=max_bytes // (1024 * 1024))
    try:
        tree = etree.parse(io.BytesIO(data), _parser())
    except etree.XMLSyntaxError as exc:
        if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
            raise InvoiceReadError("unsafe_xml", _UNSAFE) from exc
        raise InvoiceReadError("malformed_xml", N_("Le XML est mal formé ou tronqué : "
                                                   "%(detail)s."), detail=exc) \
            from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None \
            or tree.docinfo.system_url:
        raise InvoiceReadError("unsafe_xml", _UNSAFE)
    return tree.getroot()


_UNSAFE = N_("Le XML déclare une DTD ou des entités (DOCTYPE) : refusé par sécurité, sans "
             "les développer (attaque XXE ou « bombe d'entités »). Une facture électronique "
             "n'en contient jamais.")


def read_invoice(data: bytes, filename: str = "", *, max_bytes: int = MAX_FILE_BYTES,
                 max_xml_bytes: int = MAX_XML_BYTES) -> ReadInvoice:
    """Read a Factur-X/ZUGFeRD PDF, or a CII or UBL XML invoice; raise InvoiceReadError."""
    if not data:
        raise InvoiceReadError("empty", N_("Le fichier est vide."))
    if len(data) > max_bytes:
        raise InvoiceReadError("too_large", N_("Le fichier dépasse la taille maximale "
                                               "(%(value)s Mo)."), value=max_bytes // (1024 * 1024))
    sha256 = hashlib.sha256(data).hexdigest()
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        xml_name, xml, pdf_attachments = _xml_from_pdf(data, max_xml_bytes)
        root = parse_xml_safely(xml, max_bytes=max_xml_bytes)
        return _read_tree(root, xml, container="pdf", xml_filename=xml_name, pdf=data,
                          extra_attachments=pdf_attachments, sha256=sha256)
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        root = parse_xml_safely(data, max_bytes=max_xml_bytes)
        return _read_tree(root, data, container="xml", xml_filename=filename or None, pdf=None,
                          extra_attachments=(), sha256=sha256)
    raise InvoiceReadError("unknown_format", N_("Ce fichier n'est ni un PDF ni un XML : ce "
                                                "n'est pas une facture électronique."))


#: Names of the invoice XML inside a PDF (Factur-X, ZUGFeRD 1 and 2, XRechnung), lower case.
EMBEDDED_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")


def _xml_from_pdf(data: bytes, max_xml_bytes: int
                  ) -> tuple[str, bytes, tuple[Attachment, ...]]:
    """The invoice XML embedded in a Factur-X/ZUGFeRD PDF, and its other attachments.

    The PDF is opened once with pypdf (as the factur-x library does), but the embedded XML is
    handed to our safe parser only: the library's own extraction parses it with lxml's default
    parser, which expands internal entities.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        attachments = [(a.name, a.content) for a in reader.attachment_list]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError,
            IndexError, RecursionError) as exc:
        raise InvoiceReadError("unreadable_pdf", N_("Le PDF est illisible ou tronqué : il n'a "
                                                    "pas pu être ouvert.")) from exc
    found = [(name, content) for name, content in attachments
             if (name or "").lower() in EMBEDDED_XML_NAMES and content]
    if not found:
        raise InvoiceReadError(
            "not_an_invoice", N_("Ce PDF ne contient pas de XML de facture (factur-x.xml ou "
                                 "ZUGFeRD-invoice.xml) : ce n'est pas une facture "
                                 "électronique. Demandez au fournisseur une facture Factur-X, "
                                 "UBL ou CII."))
    xml_name, xml = found[0]
    if len(xml) > max_xml_bytes:
        raise InvoiceReadError("too_large", N_("Le XML de la facture dépasse la taille "
                                               "maximale."))
    others = tuple(Attachment(filename=name, content=content) for name, content in attachments
                   if name != xml_name)
    return xml_name, xml, others


def _detect(root: etree._Element) -> tuple[str, str, str]:
    """Syntax, profile and guideline id of a parsed XML invoice."""
    tag = etree.QName(root)
    if tag.namespace == CII_NS["rsm"] and tag.localname == "CrossIndustryInvoice":
        guideline = _text(root, "rsm:ExchangedDocumentContext/"
                                "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", CII_NS)
        syntax = "cii"
    elif tag.namespace in (UBL_INVOICE, UBL_CREDIT_NOTE):
        guideline = _text(root, "cbc:CustomizationID", UBL_NS)
        syntax = "ubl"
    elif tag.namespace == ZUGFERD1_NS:
        raise InvoiceReadError("unknown_profile", N_("Facture ZUGFeRD 1.0 : ce format ancien "
                                                     "n'est pas conforme à EN 16931 et n'est "
                                                     "pas accepté."))
    else:
        raise InvoiceReadError("not_an_invoice", N_("Ce XML n'est pas une facture (élément "
                                                    "racine « %(localname)s ») : UBL 2.1 ou "
                                                    "CII attendu."), localname=tag.localname)
    if not guideline:
        raise InvoiceReadError("unknown_profile", N_("La facture n'indique pas son profil "
                                                     "(BT-24, identifiant de spécification)."))
    profile = PROFILE_IDS.get(guideline.strip())
    if profile is None:
        # XRechnung and other CIUS declare compliance with EN 16931 followed by their own id.
        if guideline.startswith("urn:cen.eu:en16931:2017#compliant#"):
            profile = "en16931"
        else:
            raise InvoiceReadError("unknown_profile", N_("Profil de facture inconnu : « "
                                                         "%(value)s »."),
                                                      value=guideline.strip()[:200])
    if syntax == "ubl" and profile not in ("en16931", "extended-ctc-fr"):
        raise InvoiceReadError("unknown_profile", N_("Profil « %(value)s » inconnu en UBL."),
                                                  value=PROFILE_LABELS[profile])
    return syntax, profile, guideline.strip()


def _read_tree(root: etree._Element, xml: bytes, *, container: str, xml_filename: str | None,
               pdf: bytes | None, extra_attachments: tuple[Attachment, ...],
               sha256: str) -> ReadInvoice:
    syntax, profile, guideline = _detect(root)
    fields = _read_cii(root) if syntax == "cii" else _read_ubl(root)
    attachments = fields.pop("attachments") + extra_attachments
    return ReadInvoice(container=container, syntax=syntax, profile=profile,
                       guideline_id=guideline, xml=xml, xml_filename=xml_filename,
                       file_sha256=sha256, pdf=pdf, tree=root, attachments=attachments,
                       **fields)


# ---------------------------------------------------------------------------------------------
# Small typed accessors

def _text(node: etree._Element | None, path: str, ns: dict[str, str]) -> str | None:
    if node is None:
        return None
    found = node.find(path, ns)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _all(node: etree._Element | None, path: str, ns: dict[str, str]) -> list[etree._Element]:
    return [] if node is None else list(node.iterfind(path, ns))


def _decimal(value: str | None, what: str) -> Decimal | None:
    if value is None:
        return None
    try:
        result = Decimal(value.strip())
    except InvalidOperation as exc:
        raise InvoiceReadError("bad_value", N_("%(what)s n'est pas un nombre : « %(value)s »."),
                                            what=what, value=value) \
            from exc
    if not result.is_finite():
        raise InvoiceReadError("bad_value", N_("%(what)s n'est pas un nombre : « %(value)s »."),
                                            what=what, value=value)
    return result


def _date(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    raw = value.strip()
    try:
        if len(raw) == 8 and raw.isdigit():
            return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise InvoiceReadError("bad_value", N_("%(what)s n'est pas une date : « %(value)s »."),
                                            what=what, value=value) from exc


def _digits(value: str | None) -> str | None:
    return None if value is None else "".join(value.split())


def _scheme_id(nodes: list[etree._Element], scheme: str) -> str | None:
    for node in nodes:
        if node.get("schemeID") == scheme and node.text and node.text.strip():
            return _digits(node.text)
    return None


# ---------------------------------------------------------------------------------------------
# CII (Factur-X, ZUGFeRD 2, EXTENDED-CTC-FR)

def _cii_party(party: etree._Element | None) -> Party:
    ns = CII_NS
    if party is None:
        return Party()
    ids = _all(party, "ram:GlobalID", ns) + _all(party, "ram:ID", ns)
    legal = party.find("ram:SpecifiedLegalOrganization/ram:ID", ns)
    siren = siret = None
    if legal is not None and legal.text:
        legal_id = _digits(legal.text)
        scheme = legal.get("schemeID")
        if scheme == "0009" or (scheme is None and legal_id and len(legal_id) == 14):
            siret = legal_id
        elif scheme in ("0002", None):
            siren = legal_id
    siret = siret or _scheme_id(ids, "0009")
    vat = None
    for reg in _all(party, "ram:SpecifiedTaxRegistration/ram:ID", ns):
        if reg.get("schemeID") == "VA" and reg.text:
            vat = reg.text.strip()
    return Party(name=_text(party, "ram:Name", ns), siren=siren, siret=siret, vat_id=vat,
                 country=_text(party, "ram:PostalTradeAddress/ram:CountryID", ns))


def _read_cii(root: etree._Element) -> dict:
    ns = CII_NS
    doc = root.find("rsm:ExchangedDocument", ns)
    transaction = root.find("rsm:SupplyChainTradeTransaction", ns)
    agreement = transaction.find("ram:ApplicableHeaderTradeAgreement", ns) \
        if transaction is not None else None
    settlement = transaction.find("ram:ApplicableHeaderTradeSettlement", ns) \
        if transaction is not None else None
    currency = _text(settlement, "ram:InvoiceCurrencyCode", ns)

    iban = None
    for means in _all(settlement, "ram:SpecifiedTradeSettlementPaymentMeans", ns):
        iban = iban or _digits(_text(means, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID",
                                     ns))
    seller = _cii_party(agreement.find("ram:SellerTradeParty", ns)
                        if agreement is not None else None)
    seller = Party(**{**seller.__dict__, "iban": iban})
    buyer = _cii_party(agreement.find("ram:BuyerTradeParty", ns)
                       if agreement is not None else None)

    summation = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", ns) \
        if settlement is not None else None

    def amount(tag: str, what: str) -> Decimal | None:
        return _decimal(_text(summation, f"ram:{tag}", ns), what)

    vat_total = None
    for node in _all(summation, "ram:TaxTotalAmount", ns):
        # BT-110 is the one in the invoice currency; BT-111 may follow in the accounting one.
        if node.get("currencyID") in (None, currency) and vat_total is None:
            vat_total = _decimal(node.text, "Le total de TVA (BT-110)")
    totals = Totals(
        lines=amount("LineTotalAmount", "Le total des lignes (BT-106)"),
        allowances=amount("AllowanceTotalAmount", "Le total des remises (BT-107)"),
        charges=amount("ChargeTotalAmount", "Le total des frais (BT-108)"),
        net=amount("TaxBasisTotalAmount", "Le total HT (BT-109)"),
        vat=vat_total,
        gross=amount("GrandTotalAmount", "Le total TTC (BT-112)"),
        prepaid=amount("TotalPrepaidAmount", "Le montant payé (BT-113)"),
        rounding=amount("RoundingAmount", "L'arrondi (BT-114)"),
        due=amount("DuePayableAmount", "Le montant à payer (BT-115)"),
    )
    vat_rows = tuple(
        VatRow(category=_text(tax, "ram:CategoryCode", ns),
               rate=_decimal(_text(tax, "ram:RateApplicablePercent", ns), "Le taux de TVA"),
               taxable_amount=_decimal(_text(tax, "ram:BasisAmount", ns), "La base de TVA"),
               tax_amount=_decimal(_text(tax, "ram:CalculatedAmount", ns), "Le montant de TVA"),
               exemption_reason=_text(tax, "ram:ExemptionReason", ns))
        for tax in _all(settlement, "ram:ApplicableTradeTax", ns))
    lines = []
    for item in _all(transaction, "ram:IncludedSupplyChainTradeLineItem", ns):
        price = _decimal(_text(item, "ram:SpecifiedLineTradeAgreement/"
                                     "ram:NetPriceProductTradePrice/ram:ChargeAmount", ns),
                         "Le prix unitaire")
        basis = _decimal(_text(item, "ram:SpecifiedLineTradeAgreement/"
                                     "ram:NetPriceProductTradePrice/ram:BasisQuantity", ns),
                         "La quantité de base du prix")
        if price is not None and basis not in (None, 0):
            price = price / basis
        quantity_node = item.find("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", ns)
        lines.append(Line(
            line_id=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineID", ns),
            name=_text(item, "ram:SpecifiedTradeProduct/ram:Name", ns),
            quantity=_decimal(quantity_node.text if quantity_node is not None else None,
                              "La quantité"),
            unit_code=quantity_node.get("unitCode") if quantity_node is not None else None,
            unit_price=price,
            net_amount=_decimal(_text(item, "ram:SpecifiedLineTradeSettlement/"
                                            "ram:SpecifiedTradeSettlementLineMonetarySummation/"
                                            "ram:LineTotalAmount", ns), "Le montant de ligne"),
            vat_category=_text(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/"
                                     "ram:CategoryCode", ns),
            vat_rate=_decimal(_text(item, "ram:SpecifiedLineTradeSettlement/"
                                          "ram:ApplicableTradeTax/ram:RateApplicablePercent",
                                    ns), "Le taux de TVA de ligne"),
        ))
    attachments = []
    for ref in _all(agreement, "ram:AdditionalReferencedDocument", ns):
        binary = ref.find("ram:AttachmentBinaryObject", ns)
        if binary is None:
            continue
        attachments.append(_embedded(
            binary, binary.get("filename") or _text(ref, "ram:IssuerAssignedID", ns) or "annexe",
            _text(ref, "ram:Name", ns)))
    return dict(
        number=_text(doc, "ram:ID", ns),
        type_code=_text(doc, "ram:TypeCode", ns),
        issue_date=_date(_text(doc, "ram:IssueDateTime/udt:DateTimeString", ns),
                         "La date de facture (BT-2)"),
        due_date=_date(_text(settlement, "ram:SpecifiedTradePaymentTerms/"
                                         "ram:DueDateDateTime/udt:DateTimeString", ns),
                       "La date d'échéance (BT-9)"),
        currency=currency, seller=seller, buyer=buyer,
        buyer_reference=_text(agreement, "ram:BuyerReference", ns),
        order_reference=_text(agreement, "ram:BuyerOrderReferencedDocument/"
                                         "ram:IssuerAssignedID", ns),
        contract_reference=_text(agreement, "ram:ContractReferencedDocument/"
                                            "ram:IssuerAssignedID", ns),
        totals=totals, vat_breakdown=vat_rows, lines=tuple(lines),
        attachments=tuple(attachments),
    )


def _embedded(binary: etree._Element, filename: str, description: str | None) -> Attachment:
    import base64
    import binascii

    try:
        content = base64.b64decode("".join((binary.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvoiceReadError("bad_value", N_("La pièce jointe « %(filename)s » n'est pas "
                                               "correctement encodée (base64)."),
                                            filename=filename) from exc
    return Attachment(filename=filename, mime_type=binary.get("mimeCode"),
                      description=description, content=content)


# ---------------------------------------------------------------------------------------------
# UBL 2.1 (Invoice and CreditNote)

def _ubl_party(party: etree._Element | None) -> Party:
    ns = UBL_NS
    if party is None:
        return Party()
    siren = siret = None
    legal = party.find("cac:PartyLegalEntity/cbc:CompanyID", ns)
    if legal is not None and legal.text:
        legal_id = _digits(legal.text)
        scheme = legal.get("schemeID")
        if scheme == "0009" or (scheme is None and legal_id and len(legal_id) == 14):
            siret = legal_id
        elif scheme in ("0002", None):
            siren = legal_id
    siret = siret or _scheme_id(_all(party, "cac:PartyIdentification/cbc:ID", ns), "0009")
    vat = None
    for scheme in _all(party, "cac:PartyTaxScheme", ns):
        if _text(scheme, "cac:TaxScheme/cbc:ID", ns) == "VAT":
            vat = _text(scheme, "cbc:CompanyID", ns)
    name = _text(party, "cac:PartyLegalEntity/cbc:RegistrationName", ns) \
        or _text(party, "cac:PartyName/cbc:Name", ns)
    return Party(name=name, siren=siren, siret=siret, vat_id=vat,
                 country=_text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode",
                               ns))


def _read_ubl(root: etree._Element) -> dict:
    ns = UBL_NS
    credit = etree.QName(root).namespace == UBL_CREDIT_NOTE
    currency = _text(root, "cbc:DocumentCurrencyCode", ns)
    iban = None
    for means in _all(root, "cac:PaymentMeans", ns):
        iban = iban or _digits(_text(means, "cac:PayeeFinancialAccount/cbc:ID", ns))
    seller = _ubl_party(root.find("cac:AccountingSupplierParty/cac:Party", ns))
    seller = Party(**{**seller.__dict__, "iban": iban})
    buyer = _ubl_party(root.find("cac:AccountingCustomerParty/cac:Party", ns))
    monetary = root.find("cac:LegalMonetaryTotal", ns)

    def amount(tag: str, what: str) -> Decimal | None:
        return _decimal(_text(monetary, f"cbc:{tag}", ns), what)

    vat_total = None
    vat_rows = []
    for tax_total in _all(root, "cac:TaxTotal", ns):
        node = tax_total.find("cbc:TaxAmount", ns)
        if node is not None and node.get("currencyID") in (None, currency) and vat_total is None:
            vat_total = _decimal(node.text, "Le total de TVA (BT-110)")
            for sub in _all(tax_total, "cac:TaxSubtotal", ns):
                vat_rows.append(VatRow(
                    category=_text(sub, "cac:TaxCategory/cbc:ID", ns),
                    rate=_decimal(_text(sub, "cac:TaxCategory/cbc:Percent", ns),
                                  "Le taux de TVA"),
                    taxable_amount=_decimal(_text(sub, "cbc:TaxableAmount", ns),
                                            "La base de TVA"),
                    tax_amount=_decimal(_text(sub, "cbc:TaxAmount", ns), "Le montant de TVA"),
                    exemption_reason=_text(sub, "cac:TaxCategory/cbc:TaxExemptionReason", ns)))
    totals = Totals(
        lines=amount("LineExtensionAmount", "Le total des lignes (BT-106)"),
        allowances=amount("AllowanceTotalAmount", "Le total des remises (BT-107)"),
        charges=amount("ChargeTotalAmount", "Le total des frais (BT-108)"),
        net=amount("TaxExclusiveAmount", "Le total HT (BT-109)"),
        vat=vat_total,
        gross=amount("TaxInclusiveAmount", "Le total TTC (BT-112)"),
        prepaid=amount("PrepaidAmount", "Le montant payé (BT-113)"),
        rounding=amount("PayableRoundingAmount", "L'arrondi (BT-114)"),
        due=amount("PayableAmount", "Le montant à payer (BT-115)"),
    )
    line_tag, quantity_tag = ("cac:CreditNoteLine", "cbc:CreditedQuantity") if credit \
        else ("cac:InvoiceLine", "cbc:InvoicedQuantity")
    lines = []
    for item in _all(root, line_tag, ns):
        price = _decimal(_text(item, "cac:Price/cbc:PriceAmount", ns), "Le prix unitaire")
        basis = _decimal(_text(item, "cac:Price/cbc:BaseQuantity", ns),
                         "La quantité de base du prix")
        if price is not None and basis not in (None, 0):
            price = price / basis
        quantity_node = item.find(quantity_tag, ns)
        lines.append(Line(
            line_id=_text(item, "cbc:ID", ns),
            name=_text(item, "cac:Item/cbc:Name", ns),
            quantity=_decimal(quantity_node.text if quantity_node is not None else None,
                              "La quantité"),
            unit_code=quantity_node.get("unitCode") if quantity_node is not None else None,
            unit_price=price,
            net_amount=_decimal(_text(item, "cbc:LineExtensionAmount", ns),
                                "Le montant de ligne"),
            vat_category=_text(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID", ns),
            vat_rate=_decimal(_text(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", ns),
                              "Le taux de TVA de ligne"),
        ))
    attachments = []
    for ref in _all(root, "cac:AdditionalDocumentReference", ns):
        binary = ref.find("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", ns)
        if binary is None:
            continue
        attachments.append(_embedded(
            binary, binary.get("filename") or _text(ref, "cbc:ID", ns) or "annexe",
            _text(ref, "cbc:DocumentDescription", ns)))
    due = _text(root, "cbc:DueDate", ns) or _text(root, "cac:PaymentMeans/cbc:PaymentDueDate", ns)
    return dict(
        number=_text(root, "cbc:ID", ns),
        type_code=_text(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode", ns),
        issue_date=_date(_text(root, "cbc:IssueDate", ns), "La date de facture (BT-2)"),
        due_date=_date(due, "La date d'échéance (BT-9)"),
        currency=currency, seller=seller, buyer=buyer,
        buyer_reference=_text(root, "cbc:BuyerReference", ns),
        order_reference=_text(root, "cac:OrderReference/cbc:ID", ns),
        contract_reference=_text(root, "cac:ContractDocumentReference/cbc:ID", ns),
        totals=totals, vat_breakdown=tuple(vat_rows), lines=tuple(lines),
        attachments=tuple(attachments),
    )
