"""Every sample of ../shared/samples/invoices read into typed values, field by field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from parapheur.invoices.reading import Party, Totals, VatRow, read_invoice

FOURNISSEUR = Party(name="LE FOURNISSEUR", siren="123456782", siret="12345678200077",
                    vat_id="FR11123456782", country="FR", iban="FR2012542547256985425874698")
CLIENT = Party(name="LE CLIENT", siren="987654321", siret=None, vat_id="FR 05 987 654 321",
               country="FR")
CII_TOTALS = Totals(lines=D("95.00"), allowances=D("9.00"), charges=D("14.00"), net=D("100.00"),
                    vat=D("4.90"), gross=D("104.90"), prepaid=D("0.00"), rounding=None,
                    due=D("104.90"))
CII_VAT = (VatRow("S", D("20.00"), D("11.00"), D("2.20")),
           VatRow("E", D("0.00"), D("60.00"), D("0.00"), "DEBOURS"),
           VatRow("S", D("10.00"), D("27.00"), D("2.70")),
           VatRow("K", D("0.00"), D("2.00"), D("0.00"), "LIVRAISON INTRACOMMUNAUTAIRE"))
CII_LINES = [("1", "PRESTATION SUPPORT", D("1.0000"), "C62", D("60"), D("60.00"), "E", D("0.00")),
             ("2", "FOURNITURES PAPIER", D("3.0000"), "C62", D("10"), D("28.00"), "S", D("10.00")),
             ("3", "APPEL", D("1.0000"), "C62", D("7.0000"), D("7.00"), "S", D("20.00"))]
CII_COMMON = dict(syntax="cii", number="F20260023", type_code="380", issue_date=date(2026, 1, 31),
                  due_date=date(2026, 3, 2), currency="EUR", seller=FOURNISSEUR, buyer=CLIENT,
                  buyer_reference="SERVEXEC", order_reference="PO201925478",
                  contract_reference="CT2018120802", totals=CII_TOTALS, vat_breakdown=CII_VAT)

MOULIN = Party(name="Au bon moulin", siren="999999998", siret="99999999800019",
               vat_id="FR11999999998", country="FR", iban="FR2012421242124212421242124")
BOUTIQUE = Party(name="Ma jolie boutique SARL", siren="787878784", siret="78787878400018",
                 vat_id="FR19787878784", country="FR")
UBL_COMMON = dict(
    syntax="ubl", container="xml", number="F124212", type_code="380", issue_date=date(2026, 6, 17),
    due_date=date(2026, 7, 16), currency="EUR", seller=MOULIN, buyer=BOUTIQUE,
    buyer_reference="120943", order_reference="PO1242", contract_reference="Contrat_du_siècle",
    totals=Totals(lines=D("273.00"), allowances=D("5.50"), charges=D("5.50"), net=D("273.00"),
                  vat=D("35.03"), gross=D("308.03"), prepaid=D("100.00"), due=D("208.03")),
    vat_breakdown=(VatRow("S", D("20.00"), D("138.00"), D("27.6")),
                   VatRow("S", D("5.50"), D("135.00"), D("7.43"))),
    lines=[("1", "Huile d'olive Joio 50cl", D("10"), "C62", D("13.50"), D("135.00"), "S", D("5.50")),
           ("2", "Nougats en cubes", D("20"), "C62", D("6.90"), D("138.00"), "S", D("20.00"))],
    attachments=[])

EXPECTED = {
    "factur-x-minimum.xml": dict(
        syntax="cii", container="xml", profile="minimum", number="F20260023", type_code="380",
        issue_date=date(2026, 1, 31), due_date=None, currency="EUR",
        seller=Party(name="LE FOURNISSEUR", siren="123456782", vat_id="FR11123456782",
                     country="FR"),
        buyer=Party(name="LE CLIENT", siren="987654321"), buyer_reference="SERVEXEC",
        order_reference="PO201925478", contract_reference=None,
        totals=Totals(net=D("100.00"), vat=D("4.90"), gross=D("104.90"), due=D("104.90")),
        vat_breakdown=(), lines=[], attachments=[]),
    "factur-x-basicwl.xml": dict(CII_COMMON, container="xml", profile="basicwl", lines=[],
                                 attachments=[]),
    "factur-x-basic.xml": dict(CII_COMMON, container="xml", profile="basic", lines=CII_LINES,
                               attachments=[]),
    "factur-x-en16931.xml": dict(CII_COMMON, container="xml", profile="en16931",
                                 totals=Totals(**{**CII_TOTALS.__dict__, "rounding": D("0.00")}),
                                 lines=CII_LINES, attachments=[]),
    "factur-x-extended.xml": dict(
        CII_COMMON, container="xml", profile="extended",
        buyer=Party(**{**CLIENT.__dict__, "siret": "98765432100029"}),
        totals=Totals(**{**CII_TOTALS.__dict__, "rounding": D("0.00")}), lines=CII_LINES,
        attachments=[]),
    "invoice_EN16931.pdf": dict(
        CII_COMMON, container="pdf", profile="en16931",
        totals=Totals(**{**CII_TOTALS.__dict__, "rounding": D("0.00")}), lines=CII_LINES,
        attachments=[("Bon_de_livraison.pdf", 30382)]),
    "ubl-21-en16931.xml": dict(UBL_COMMON, profile="en16931"),
    "ubl-21-extended-ctc-fr.xml": dict(UBL_COMMON, profile="extended-ctc-fr"),
}


def test_every_sample_is_covered(shared_dir):
    assert sorted(p.name for p in (shared_dir / "samples" / "invoices").iterdir()) \
        == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_fields(shared_dir, name):
    data = (shared_dir / "samples" / "invoices" / name).read_bytes()
    invoice = read_invoice(data, name)
    expected = EXPECTED[name]
    got = {key: getattr(invoice, key) for key in expected
           if key not in ("lines", "attachments")}
    got["lines"] = [(line.line_id, line.name, line.quantity, line.unit_code, line.unit_price,
                     line.net_amount, line.vat_category, line.vat_rate)
                    for line in invoice.lines][:len(expected["lines"]) or None]
    got["attachments"] = [(a.filename, len(a.content or b"")) for a in invoice.attachments]
    assert got == expected
    assert not invoice.is_credit_note
    if invoice.container == "pdf":
        assert invoice.pdf == data and b"<rsm:CrossIndustryInvoice" in invoice.xml
        assert invoice.xml_filename == "factur-x.xml"
        assert invoice.attachments[0].content.startswith(b"%PDF-")
    else:
        assert invoice.xml == data and invoice.pdf is None


def test_extended_sample_line_count(shared_dir):
    data = (shared_dir / "samples" / "invoices" / "factur-x-extended.xml").read_bytes()
    assert len(read_invoice(data).lines) == 3
