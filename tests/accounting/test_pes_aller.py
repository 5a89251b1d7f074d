"""PES_Aller: built in the DGFiP's order, signed, and never produced when Hélios would reject it."""

from __future__ import annotations

import base64
import gzip
from dataclasses import replace
from decimal import Decimal

import pytest
from lxml import etree
from pes_factory import BUDGET, SUPPLIER, bordereau, pdf_bytes, pes, piece
from xades_checks import xmlsec_verify

from parapheur.accounting.pes.builder import build_pes
from parapheur.accounting.pes.model import Attachment, BankAccount
from parapheur.accounting.pes.validation import (
    PesInvalid,
    check_aller,
    iban_is_valid,
    siret_is_valid,
)
from parapheur.accounting.pes.writer import sign_bordereau, write_pes
from signing.xades import ProductionPlace, XadesOptions

OPTIONS = XadesOptions(ProductionPlace("Saint-Étienne-les-Orgues", "04230"))


@pytest.fixture(scope="module")
def signed_pes(maire_p12) -> tuple[bytes, dict[str, bytes]]:
    content = pes()
    signed = {b.xml_id: sign_bordereau(content, b, maire_p12, OPTIONS) for b in content.bordereaux}
    return write_pes(content, signed), signed


def test_unsigned_pes_is_valid_and_says_it_is_not_dematerialised():
    document = write_pes(pes())

    root = etree.fromstring(document)
    assert root.tag == "{http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller}PES_Aller"
    assert root.find("PES_DepenseAller/EnTeteDepense/InfoDematerialisee").get("V") == "0"
    assert [b.find("BlocBordereau/NbrPce").get("V") for b in root.iter("Bordereau")] == ["3", "2"]
    assert root.find("PES_DepenseAller/Bordereau/BlocBordereau/MtBordHT").get("V") == "360.00"
    assert root.find("PES_DepenseAller/Bordereau/BlocBordereau/MtBordTVA").get("V") == "60.00"


def test_attachments_decode_to_the_invoices():
    content = pes()
    root = etree.fromstring(write_pes(content))

    decoded = {pj.find("IdUnique").get("V"): gzip.decompress(base64.b64decode(
        pj.findtext("Contenu/Fichier"))) for pj in root.iterfind("PES_PJ/PJ")}
    assert decoded == {a.id_unique: a.content for a in content.attachments}
    first = root.find("PES_PJ/PJ")
    assert first.find("Contenu/Fichier").get("MIMEType") == "application/pdf"
    assert first.find("NomPJ").get("V") == "facture-PJ2026DEP00001.pdf"
    refs = [r.find("IdUnique").get("V") for r in root.iter("PJRef")]
    assert refs == [f"PJ2026DEP{n:05d}" for n in range(1, 6)]


def test_signed_pes_is_dematerialised_valid_and_each_signature_verifies(signed_pes, dev_pki,
                                                                       xmlsec1, tmp_path):
    document, _ = signed_pes

    assert etree.fromstring(document).find(
        "PES_DepenseAller/EnTeteDepense/InfoDematerialisee").get("V") == "1"
    assert check_aller(document) == []
    for bordereau_id in ("BORD-2026-01-1", "BORD-2026-01-2"):
        accepted, output = xmlsec_verify(xmlsec1, document, f"{bordereau_id}-SIG",
                                         dev_pki.ca_certificate_path, tmp_path)
        assert accepted, output


def test_only_some_bordereaux_signed_is_refused(signed_pes):
    _, signed = signed_pes
    with pytest.raises(PesInvalid) as caught:
        write_pes(pes(), {"BORD-2026-01-1": signed["BORD-2026-01-1"]})

    assert [str(p) for p in caught.value.problems] == [
        "Bordereau 2 (exercice 2026) : InfoDematerialisee vaut 1 mais le bordereau n'est pas "
        "signé"]


def test_a_signed_bordereau_altered_in_storage_is_refused(signed_pes):
    _, signed = signed_pes
    damaged = dict(signed)
    damaged["BORD-2026-01-1"] = signed["BORD-2026-01-1"].replace(
        b'<MtHT V="120.00"/>', b'<MtHT V="100.00"/>', 1)

    problems = [str(p) for p in pytest.raises(PesInvalid, write_pes, pes(), damaged)
                .value.problems]
    assert any("Bordereau 1 (exercice 2026) : la signature du bordereau n'est pas intacte" in p
               for p in problems), problems


def test_the_real_sample_is_schema_valid_but_would_be_rejected_by_helios(shared_dir):
    from parapheur.accounting.pes.validation import parse_pes, schema_problems

    sample = (shared_dir / "samples" / "pes" / "pes_aller_ok.xml").read_bytes()

    assert schema_problems(parse_pes(sample)) == []
    # S²LOW's fixture is a transport test: its version and its total would not pass Hélios.
    assert [str(p) for p in check_aller(sample)] == [
        "la version du PES dépense (IdVer) doit être 2, pas 1",
        "Bordereau 12345 (exercice 2009) : MtBordHT vaut 75724.75 mais la somme des lignes est "
        "39724.75"]


def _problems(document: bytes) -> list[str]:
    return [str(p) for p in check_aller(document)]


def _broken(old: bytes, new: bytes, count: int = 1) -> bytes:
    document = write_pes(pes())
    assert old in document, old
    return document.replace(old, new, count)


# Each rule, broken on purpose in a file that is otherwise valid: the problem names where it is.
BYTE_BREAKS = [
    ("nbrpce", b'<NbrPce V="3"/>', b'<NbrPce V="4"/>',
     "Bordereau 1 (exercice 2026) : NbrPce annonce 4 pièce(s) mais le bordereau en contient 3"),
    ("total-ht", b'<MtBordHT V="360.00"/>', b'<MtBordHT V="360.01"/>',
     "Bordereau 1 (exercice 2026) : MtBordHT vaut 360.01 mais la somme des lignes est 360.00"),
    ("total-tva", b'<MtBordTVA V="60.00"/>', b'<MtBordTVA V="59.00"/>',
     "Bordereau 1 (exercice 2026) : MtBordTVA vaut 59.00 mais la somme des TVA des lignes est "
     "60.00"),
    ("triplet", b'<TypPce V="01"/><NatPce V="01"/>', b'<TypPce V="07"/><NatPce V="06"/>',
     "Bordereau 1 (exercice 2026), mandat 1 : le triplet TypBord/TypPce/NatPce 01/07/06 n'est "
     "pas une combinaison connue d'Hélios"),
    ("version", b'<IdVer V="2"/><InfoDemat', b'<IdVer V="1"/><InfoDemat',
     "la version du PES dépense (IdVer) doit être 2, pas 1"),
    ("account-with-cheque", b'<ModRegl V="03"/>', b'<ModRegl V="02"/>',
     "Bordereau 1 (exercice 2026), mandat 1 : ligne 1 : aucun compte bancaire ne doit "
     "accompagner le mode de règlement 02"),
    ("iban-key", b'FR7630001007941234567890185', b'FR7630001007941234567890186',
     "Bordereau 1 (exercice 2026), mandat 1 : ligne 1 : l'IBAN FR7630001007941234567890186 du "
     "tiers n'est pas valide (clé de contrôle)"),
    ("pjref-without-pj", b'<PJRef><Support V="01"/><IdUnique V="PJ2026DEP00002"/></PJRef>',
     b'<PJRef><Support V="01"/><IdUnique V="PJ2026DEP09999"/></PJRef>',
     "Bordereau 1 (exercice 2026), mandat 2 : la pièce jointe référencée PJ2026DEP09999 (PJRef) "
     "est absente de PES_PJ"),
    ("duplicate-mandat", b'<IdPce V="2"/>', b'<IdPce V="1"/>',
     "Bordereau 1 (exercice 2026), mandat 1 : le numéro de mandat 1 est donné 2 fois"),
    ("duplicate-bordereau", b'<IdBord V="2"/>', b'<IdBord V="1"/>',
     "le numéro de bordereau 1 (type 01) est donné 2 fois pour l'exercice 2026"),
    ("signed-flag-without-signature", b'<InfoDematerialisee V="0"/>',
     b'<InfoDematerialisee V="1"/>',
     "Bordereau 1 (exercice 2026) : InfoDematerialisee vaut 1 mais le bordereau n'est pas signé"),
    ("name-too-long", b'<Nom V="Papeterie M', b'<Nom V="Papeterie de la Grande Rue et des Quatre '
     b'Chemins M',
     "Bordereau 1 (exercice 2026), mandat 1 : « Papeterie de la Grande Rue et des Quatre "
     "Chemins Méridionale » (60 caractères) dépasse les 38 caractères permis pour Nom"),
    ("pj-name-without-extension", b'<NomPJ V="facture-PJ2026DEP00001.pdf"/>',
     b'<NomPJ V="facture"/>',
     "« facture » n'a pas le format attendu pour NomPJ"),
    ("element-order", b'<NatPce V="01"/><Obj V="Fournitures de bureau 1"/>',
     b'<Obj V="Fournitures de bureau 1"/><NatPce V="01"/>',
     "Bordereau 1 (exercice 2026), mandat 1 : l'élément Obj n'est pas attendu à cet endroit "
     "(attendu : NatPce)"),
]


@pytest.mark.parametrize("old,new,expected", [b[1:] for b in BYTE_BREAKS],
                         ids=[b[0] for b in BYTE_BREAKS])
def test_each_broken_rule_is_reported(old, new, expected):
    problems = _problems(_broken(old, new))
    assert expected in problems, problems


def test_transfer_needs_a_bank_account():
    no_account = replace(SUPPLIER, bank_account=None)
    broken = replace(piece(2, attachment="PJ2026DEP00002"),
                     lines=(replace(piece(2).lines[0], tiers=no_account),))
    content = pes((bordereau(1, (piece(1, attachment="PJ2026DEP00001"), broken)),))

    with pytest.raises(PesInvalid) as caught:
        write_pes(content)
    assert [str(p) for p in caught.value.problems] == [
        "Bordereau 1 (exercice 2026), mandat 2 : ligne 1 : le mode de règlement 03 (virement) "
        "exige le compte bancaire du tiers (CpteBancaire)"]
    assert "mandat 2" in caught.value.message


def test_an_attachment_no_mandat_references_is_refused():
    content = pes()
    extra = Attachment(id_unique="PJORPHELINE", filename="orpheline.pdf", content=pdf_bytes(99))

    problems = _problems(build_pes(replace(content, dematerialised=False,
                                           attachments=(*content.attachments, extra))))
    assert problems == ["la pièce jointe PJORPHELINE de PES_PJ n'est référencée par aucun "
                        "mandat (PJRef)"]


def test_signed_bordereau_needs_a_positive_cumulative_amount(maire_p12):
    content = pes((bordereau(1, (piece(1, attachment="PJ2026DEP00001"),),
                             cumulative_amount=None),))
    signed = {b.xml_id: sign_bordereau(content, b, maire_p12, OPTIONS) for b in content.bordereaux}

    with pytest.raises(PesInvalid) as caught:
        write_pes(content, signed)
    assert [str(p) for p in caught.value.problems] == [
        "Bordereau 1 (exercice 2026) : MtCumulAnnuel doit être présent et strictement positif "
        "pour un bordereau dématérialisé"]


def test_a_signature_with_infodematerialisee_zero_is_refused(signed_pes):
    document, _ = signed_pes
    broken = document.replace(b'<InfoDematerialisee V="1"/>', b'<InfoDematerialisee V="0"/>')

    assert _problems(broken) == [
        f"Bordereau {n} (exercice 2026) : le bordereau est signé mais InfoDematerialisee vaut 0 "
        f"(Hélios rejette le flux)" for n in (1, 2)]


def test_a_missing_element_is_located_and_explained():
    problems = _problems(_broken(b'<TVAIntraCom V="0"/>', b""))
    assert problems[0].startswith("Bordereau 1 (exercice 2026), mandat 1 : ")
    assert "TVAIntraCom" in problems[0]


def test_people_need_civility_and_first_name():
    person = replace(SUPPLIER, category="01", legal_nature="01", siret=None)
    broken = replace(piece(1, attachment="PJ2026DEP00001"),
                     lines=(replace(piece(1).lines[0], tiers=person),))

    problems = _problems(build_pes(replace(pes((bordereau(1, (broken,)),)),
                                           dematerialised=False)))
    assert problems == [
        "Bordereau 1 (exercice 2026), mandat 1 : ligne 1 : la civilité du tiers est obligatoire "
        "pour une personne physique (CatTiers 01)",
        "Bordereau 1 (exercice 2026), mandat 1 : ligne 1 : le prénom du tiers est obligatoire "
        "pour une personne physique (CatTiers 01)"]


def test_siret_and_iban_keys():
    assert siret_is_valid("73282932000074")
    assert not siret_is_valid("73282932000075")
    assert siret_is_valid("35600000000056")  # La Poste: digit sum multiple of 5
    assert iban_is_valid("FR7630001007941234567890185")
    assert not iban_is_valid("FR7630001007941234567890186")
    assert not iban_is_valid("fr7630001007941234567890185")


def test_amounts_and_accents_are_written_as_hélios_reads_them():
    account = BankAccount(iban="FR7630001007941234567890185", holder="ÉCOLE DES ŒUVRES")
    tiers = replace(SUPPLIER, name="Œuvres & Cie", bank_account=account)
    line = replace(piece(1).lines[0], tiers=tiers, amount_ht=Decimal("1234.5"), amount_tva=None)
    content = pes((bordereau(1, (replace(piece(1, attachment="PJ2026DEP00001"),
                                         lines=(line,)),)),))

    document = write_pes(content)
    assert document.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert b'<Nom V="&#338;uvres &amp; Cie"/>' in document
    root = etree.fromstring(document)
    assert root.find(".//Tiers/InfoTiers/Nom").get("V") == "Œuvres & Cie"
    assert root.find(".//InfoLignePce/MtHT").get("V") == "1234.50"
    assert root.find("EnTetePES/IdColl").get("V") == BUDGET.id_coll
