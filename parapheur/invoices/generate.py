"""Writing a CII (Factur-X EN 16931) or UBL 2.1 invoice from a few values: demo data and benchmarks.

Totals, VAT breakdown and identifiers are computed the EN 16931 way, so that what is written
passes every check; callers alter the result to make a faulty one on purpose.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

CENT = Decimal("0.01")


@dataclass(frozen=True)
class InvoiceSpec:
    """What a generated invoice says."""

    number: str
    issue_date: date
    seller_name: str = "Fournitures Dupont SARL"
    seller_siren: str = "732829320"
    seller_siret: str = "73282932000074"
    seller_vat_id: str = "FR44732829320"
    seller_iban: str = "FR7630006000011234567890189"
    buyer_name: str = "Commune de Démo"
    buyer_siret: str = "21380185500015"
    buyer_reference: str | None = "SERV-TECH"
    order_reference: str | None = None
    contract_reference: str | None = None
    due_date: date | None = None
    type_code: str = "380"
    lines: tuple[tuple[str, Decimal, Decimal, Decimal], ...] = field(default=(
        ("Ramettes de papier A4", Decimal("10"), Decimal("4.50"), Decimal("20")),
    ))  # (name, quantity, unit price, VAT rate)
    prepaid: Decimal = Decimal("0")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def cii_xml(spec: InvoiceSpec) -> bytes:
    """The CII XML (Factur-X EN 16931 profile) of an invoice spec, with consistent totals."""
    lines_xml = []
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for position, (name, quantity, price, rate) in enumerate(spec.lines, start=1):
        net = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
        by_rate[rate] += net
        lines_xml.append(f"""
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:AssociatedDocumentLineDocument><ram:LineID>{position}</ram:LineID></ram:AssociatedDocumentLineDocument>
      <ram:SpecifiedTradeProduct><ram:Name>{escape(name)}</ram:Name></ram:SpecifiedTradeProduct>
      <ram:SpecifiedLineTradeAgreement>
        <ram:NetPriceProductTradePrice><ram:ChargeAmount>{price}</ram:ChargeAmount></ram:NetPriceProductTradePrice>
      </ram:SpecifiedLineTradeAgreement>
      <ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">{quantity}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>
      <ram:SpecifiedLineTradeSettlement>
        <ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{rate}</ram:RateApplicablePercent></ram:ApplicableTradeTax>
        <ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{_money(net)}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>
      </ram:SpecifiedLineTradeSettlement>
    </ram:IncludedSupplyChainTradeLineItem>""")
    taxes_xml = []
    total_vat = Decimal(0)
    for rate, base in sorted(by_rate.items()):
        tax = (base * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        total_vat += tax
        taxes_xml.append(f"""
      <ram:ApplicableTradeTax><ram:CalculatedAmount>{_money(tax)}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>{_money(base)}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{rate}</ram:RateApplicablePercent></ram:ApplicableTradeTax>""")
    total_net = sum(by_rate.values(), Decimal(0))
    gross = total_net + total_vat
    due = gross - spec.prepaid
    buyer_reference = (f"<ram:BuyerReference>{escape(spec.buyer_reference)}</ram:BuyerReference>"
                       if spec.buyer_reference else "")
    order = (f"<ram:BuyerOrderReferencedDocument><ram:IssuerAssignedID>"
             f"{escape(spec.order_reference)}</ram:IssuerAssignedID>"
             f"</ram:BuyerOrderReferencedDocument>" if spec.order_reference else "")
    contract = (f"<ram:ContractReferencedDocument><ram:IssuerAssignedID>"
                f"{escape(spec.contract_reference)}</ram:IssuerAssignedID>"
                f"</ram:ContractReferencedDocument>" if spec.contract_reference else "")
    due_date = spec.due_date or spec.issue_date
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:BusinessProcessSpecifiedDocumentContextParameter><ram:ID>S1</ram:ID></ram:BusinessProcessSpecifiedDocumentContextParameter>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>{escape(spec.number)}</ram:ID>
    <ram:TypeCode>{spec.type_code}</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">{_day(spec.issue_date)}</udt:DateTimeString></ram:IssueDateTime>
    <ram:IncludedNote><ram:Content>Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €.</ram:Content><ram:SubjectCode>PMT</ram:SubjectCode></ram:IncludedNote>
    <ram:IncludedNote><ram:Content>En cas de retard de paiement, intérêts moratoires au taux légal en vigueur.</ram:Content><ram:SubjectCode>PMD</ram:SubjectCode></ram:IncludedNote>
    <ram:IncludedNote><ram:Content>Pas d'escompte pour paiement anticipé.</ram:Content><ram:SubjectCode>AAB</ram:SubjectCode></ram:IncludedNote>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>{''.join(lines_xml)}
    <ram:ApplicableHeaderTradeAgreement>
      {buyer_reference}
      <ram:SellerTradeParty>
        <ram:GlobalID schemeID="0009">{spec.seller_siret}</ram:GlobalID>
        <ram:Name>{escape(spec.seller_name)}</ram:Name>
        <ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">{spec.seller_siren}</ram:ID></ram:SpecifiedLegalOrganization>
        <ram:PostalTradeAddress><ram:PostcodeCode>38000</ram:PostcodeCode><ram:LineOne>1 rue de la Paix</ram:LineOne><ram:CityName>Grenoble</ram:CityName><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
        <ram:URIUniversalCommunication><ram:URIID schemeID="0225">{spec.seller_siren}</ram:URIID></ram:URIUniversalCommunication>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{spec.seller_vat_id}</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty>
        <ram:GlobalID schemeID="0009">{spec.buyer_siret}</ram:GlobalID>
        <ram:Name>{escape(spec.buyer_name)}</ram:Name>
        <ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">{spec.buyer_siret[:9]}</ram:ID></ram:SpecifiedLegalOrganization>
        <ram:PostalTradeAddress><ram:PostcodeCode>38000</ram:PostcodeCode><ram:LineOne>Place de la Mairie</ram:LineOne><ram:CityName>Grenoble</ram:CityName><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
        <ram:URIUniversalCommunication><ram:URIID schemeID="0225">{spec.buyer_siret[:9]}</ram:URIID></ram:URIUniversalCommunication>
      </ram:BuyerTradeParty>
      {order}
      {contract}
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery>
      <ram:ActualDeliverySupplyChainEvent><ram:OccurrenceDateTime><udt:DateTimeString format="102">{_day(spec.issue_date)}</udt:DateTimeString></ram:OccurrenceDateTime></ram:ActualDeliverySupplyChainEvent>
    </ram:ApplicableHeaderTradeDelivery>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementPaymentMeans>
        <ram:TypeCode>58</ram:TypeCode>
        <ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{spec.seller_iban}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount>
      </ram:SpecifiedTradeSettlementPaymentMeans>{''.join(taxes_xml)}
      <ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime><udt:DateTimeString format="102">{_day(due_date)}</udt:DateTimeString></ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:LineTotalAmount>{_money(total_net)}</ram:LineTotalAmount>
        <ram:TaxBasisTotalAmount>{_money(total_net)}</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">{_money(total_vat)}</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>{_money(gross)}</ram:GrandTotalAmount>
        <ram:TotalPrepaidAmount>{_money(spec.prepaid)}</ram:TotalPrepaidAmount>
        <ram:DuePayableAmount>{_money(due)}</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
"""
    return xml.encode("utf-8")


def _iso(value: date) -> str:
    return value.isoformat()


def ubl_xml(spec: InvoiceSpec) -> bytes:
    """The UBL 2.1 XML (EN 16931) of an invoice spec, with the totals `cii_xml` computes."""
    amount = 'currencyID="EUR"'
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    lines_xml = []
    for position, (name, quantity, price, rate) in enumerate(spec.lines, start=1):
        net = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
        by_rate[rate] += net
        lines_xml.append(f"""
  <cac:InvoiceLine>
    <cbc:ID>{position}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">{quantity}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount {amount}>{_money(net)}</cbc:LineExtensionAmount>
    <cac:Item>
      <cbc:Name>{escape(name)}</cbc:Name>
      <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price><cbc:PriceAmount {amount}>{price}</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>""")
    subtotals = []
    total_vat = Decimal(0)
    for rate, base in sorted(by_rate.items()):
        tax = (base * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        total_vat += tax
        subtotals.append(f"""
    <cac:TaxSubtotal>
      <cbc:TaxableAmount {amount}>{_money(base)}</cbc:TaxableAmount>
      <cbc:TaxAmount {amount}>{_money(tax)}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>""")
    total_net = sum(by_rate.values(), Decimal(0))
    gross = total_net + total_vat
    buyer_reference = (f"<cbc:BuyerReference>{escape(spec.buyer_reference)}</cbc:BuyerReference>"
                       if spec.buyer_reference else "")
    order = (f"<cac:OrderReference><cbc:ID>{escape(spec.order_reference)}</cbc:ID>"
             f"</cac:OrderReference>" if spec.order_reference else "")
    contract = (f"<cac:ContractDocumentReference><cbc:ID>{escape(spec.contract_reference)}"
                f"</cbc:ID></cac:ContractDocumentReference>" if spec.contract_reference else "")

    def party(name: str, siret: str, siren: str, street: str, vat_id: str | None) -> str:
        vat = (f"<cac:PartyTaxScheme><cbc:CompanyID>{vat_id}</cbc:CompanyID><cac:TaxScheme>"
               f"<cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>" if vat_id else "")
        return f"""<cac:Party>
      <cbc:EndpointID schemeID="0225">{siren}</cbc:EndpointID>
      <cac:PartyIdentification><cbc:ID schemeID="0009">{siret}</cbc:ID></cac:PartyIdentification>
      <cac:PartyName><cbc:Name>{escape(name)}</cbc:Name></cac:PartyName>
      <cac:PostalAddress><cbc:StreetName>{street}</cbc:StreetName><cbc:CityName>Grenoble</cbc:CityName><cbc:PostalZone>38000</cbc:PostalZone><cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
      {vat}
      <cac:PartyLegalEntity><cbc:RegistrationName>{escape(name)}</cbc:RegistrationName><cbc:CompanyID schemeID="0002">{siren}</cbc:CompanyID></cac:PartyLegalEntity>
    </cac:Party>"""

    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ProfileID>S1</cbc:ProfileID>
  <cbc:ID>{escape(spec.number)}</cbc:ID>
  <cbc:IssueDate>{_iso(spec.issue_date)}</cbc:IssueDate>
  <cbc:DueDate>{_iso(spec.due_date or spec.issue_date)}</cbc:DueDate>
  <cbc:InvoiceTypeCode>{spec.type_code}</cbc:InvoiceTypeCode>
  <cbc:Note>#PMT#Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €.</cbc:Note>
  <cbc:Note>#PMD#En cas de retard de paiement, intérêts moratoires au taux légal en vigueur.</cbc:Note>
  <cbc:Note>#AAB#Pas d'escompte pour paiement anticipé.</cbc:Note>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  {buyer_reference}
  {order}
  {contract}
  <cac:AccountingSupplierParty>
    {party(spec.seller_name, spec.seller_siret, spec.seller_siren, "1 rue de la Paix",
           spec.seller_vat_id)}
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    {party(spec.buyer_name, spec.buyer_siret, spec.buyer_siret[:9], "Place de la Mairie", None)}
  </cac:AccountingCustomerParty>
  <cac:Delivery><cbc:ActualDeliveryDate>{_iso(spec.issue_date)}</cbc:ActualDeliveryDate></cac:Delivery>
  <cac:PaymentMeans>
    <cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>{spec.seller_iban}</cbc:ID></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:TaxTotal>
    <cbc:TaxAmount {amount}>{_money(total_vat)}</cbc:TaxAmount>{''.join(subtotals)}
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount {amount}>{_money(total_net)}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount {amount}>{_money(total_net)}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount {amount}>{_money(gross)}</cbc:TaxInclusiveAmount>
    <cbc:PrepaidAmount {amount}>{_money(spec.prepaid)}</cbc:PrepaidAmount>
    <cbc:PayableAmount {amount}>{_money(gross - spec.prepaid)}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>{''.join(lines_xml)}
</Invoice>
"""
    return xml.encode("utf-8")


def facturx_pdf(xml: bytes, visual_pdf: bytes) -> bytes:
    """A Factur-X PDF: the visual PDF with the CII XML embedded by the factur-x library."""
    from facturx import generate_from_binary

    return generate_from_binary(visual_pdf, xml, flavor="factur-x", level="en16931",
                                check_xsd=False)
