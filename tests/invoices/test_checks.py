"""Checks on broken invoices generated on purpose: each problem says its rule id and the facts."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from invoice_helpers import BILLION_LAUGHS, BUYER_SIRET, xml, xxe

from parapheur.invoices.checks import check_invoice, euros
from parapheur.invoices.errors import InvoiceReadError
from parapheur.invoices.reading import read_invoice


def problems(data: bytes, **kwargs):
    return check_invoice(read_invoice(data), buyer_siret=BUYER_SIRET, **kwargs)


def rules(found) -> list[str]:
    return [p.rule_id for p in found]


def test_a_correct_invoice_has_no_problem():
    assert problems(xml()) == []


def test_wrong_total_ttc():
    data = xml().replace(b"<ram:GrandTotalAmount>60.65<", b"<ram:GrandTotalAmount>70.65<")
    found = problems(data)
    assert "BR-CO-15" in rules(found) and "BR-CO-16" in rules(found)
    [ttc] = [p for p in found if p.rule_id == "BR-CO-15"]
    assert ttc.source == "calcul" and ttc.severity == "erreur"
    assert ttc.message == ("Le total TTC (70,65 €) devrait être le total HT 51,30 € + la TVA "
                           "9,35 € = 60,65 €.")
    # The schematron says the same rule; the agent reads it once, with the amounts.
    assert rules(found).count("BR-CO-15") == 1


def test_wrong_line_total():
    data = xml().replace(b"<ram:LineTotalAmount>45.00<", b"<ram:LineTotalAmount>46.00<")
    found = problems(data)
    [lines] = [p for p in found if p.rule_id == "BR-CO-10"]
    assert lines.message == ("La somme des montants nets des lignes (52,30 €) ne correspond pas "
                             "au total des lignes de la facture (51,30 €).")


def test_wrong_vat_amount():
    data = xml().replace(b"<ram:CalculatedAmount>9.00<", b"<ram:CalculatedAmount>9.90<")
    found = problems(data)
    assert {"BR-CO-14", "BR-CO-17"} <= set(rules(found))
    [rate] = [p for p in found if p.rule_id == "BR-CO-17"]
    assert rate.message == ("TVA à 20 % (catégorie S) : 45,00 € × 20 % = 9,00 €, la facture "
                            "indique 9,90 €.")


def test_bad_siret_checksum():
    found = problems(xml(seller_siret="73282932000075"))
    assert "ID-SIRET" in rules(found)
    assert any("« 73282932000075 » est invalide" in p.message for p in found)


def test_bad_iban_checksum():
    found = problems(xml(seller_iban="FR7630006000011234567890188"))
    [iban] = [p for p in found if p.rule_id == "ID-IBAN"]
    assert iban.message == ("L'IBAN du vendeur « FR76 3000 6000 0112 3456 7890 188 » est "
                            "invalide (clé de contrôle) : le paiement échouerait.")


def test_siret_not_under_its_siren():
    found = problems(xml(seller_siret="21380185500015"))
    [p] = [p for p in found if p.rule_id == "ID-SIRET-SIREN"]
    assert p.message == ("Le SIRET du vendeur « 21380185500015 » n'appartient pas à son SIREN "
                         "« 732829320 » (il doit commencer par lui).")


def test_vat_number_of_another_company():
    found = problems(xml(seller_vat_id="FR83404833048"))
    assert "ID-TVA-SIREN" in rules(found)


def test_wrong_buyer_is_mal_adressee():
    found = check_invoice(read_invoice(xml()), buyer_siret="21690123100011",
                          buyer_name="Commune de Lyon")
    [p] = [p for p in found if p.rule_id == "MAL-ADRESSEE"]
    assert p.message == ("Facture mal adressée : l'acheteur est « Commune de Démo » (SIRET "
                         "21380185500015), pas Commune de Lyon (SIRET 21690123100011). "
                         "À renvoyer au fournisseur.")


def test_en16931_rule_missing_seller_name_in_french():
    data = xml().replace(b"<ram:Name>Fournitures Dupont SARL</ram:Name>", b"")
    found = problems(data)
    assert any(p.rule_id.startswith("BR-06") and "nom du vendeur" in p.message for p in found)


def test_french_rule_long_invoice_number():
    found = problems(xml("F" * 40))
    [p] = [p for p in found if p.rule_id == "BR-FR-01_BT-1"]
    assert p.source == "schematron" and p.message.startswith(
        "BR-FR-01/BT-1 : L'identifiant de facture (ram:ID) ne doit pas dépasser 35 caractères.")


def test_xsd_error_is_reported_with_its_line():
    data = xml().replace(b"<ram:TypeCode>380</ram:TypeCode>",
                         b"<ram:TypeCode>380</ram:TypeCode><ram:Inconnu>x</ram:Inconnu>")
    found = problems(data, schematrons=False)
    assert found and found[0].rule_id == "XSD"
    assert found[0].message.startswith("Le XML n'est pas conforme au schéma XSD EN 16931 (ligne")


def test_amounts_are_written_the_french_way():
    assert euros(Decimal("1234567.5")) == "1\u202f234\u202f567,50 €"
    assert euros(Decimal("-3.005")) == "-3,01 €"


@pytest.mark.parametrize("data", [xxe(), xxe("http://127.0.0.1:9/evil.dtd"), BILLION_LAUGHS],
                         ids=["xxe-file", "xxe-network", "entity-bomb"])
def test_unsafe_xml_is_refused_not_expanded(data):
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(data, "facture.xml")
    assert caught.value.code == "unsafe_xml"
    assert "refusé par sécurité" in caught.value.message
    assert "root:" not in caught.value.message


def test_truncated_xml():
    data = xml()
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(data[: len(data) // 2])
    assert caught.value.code == "malformed_xml"
    assert caught.value.message.startswith("Le XML est mal formé ou tronqué")


def test_unknown_profile():
    data = xml().replace(b"urn:cen.eu:en16931:2017<", b"urn:example.org:facture:v9<")
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(data)
    assert caught.value.code == "unknown_profile"
    assert caught.value.message == "Profil de facture inconnu : « urn:example.org:facture:v9 »."


def test_xml_that_is_no_invoice():
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(b"<?xml version='1.0'?><commande><id>1</id></commande>")
    assert caught.value.code == "not_an_invoice"


def test_file_that_is_neither_pdf_nor_xml():
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(b"PK\x03\x04 a zip file")
    assert caught.value.code == "unknown_format"


def test_size_limit():
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(xml(), max_xml_bytes=1000)
    assert caught.value.code == "too_large"


def test_pdf_that_is_no_invoice(plain_pdf):
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(plain_pdf, "courrier.pdf")
    assert caught.value.code == "not_an_invoice"
    assert "ne contient pas de XML de facture" in caught.value.message


def test_generated_facturx_pdf_reads_back(facturx_pdf):
    invoice = read_invoice(facturx_pdf)
    assert (invoice.container, invoice.profile, invoice.number) == ("pdf", "en16931", "F-2026-001")
    assert invoice.totals.gross == Decimal("60.65")


def test_truncated_pdf(facturx_pdf):
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(facturx_pdf[: len(facturx_pdf) // 3])
    assert caught.value.code in ("unreadable_pdf", "not_an_invoice")


def test_entity_bomb_inside_a_pdf_is_refused(plain_pdf):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain_pdf)))
    writer.add_attachment("factur-x.xml", BILLION_LAUGHS)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(InvoiceReadError) as caught:
        read_invoice(out.getvalue(), "bombe.pdf")
    assert caught.value.code == "unsafe_xml"
