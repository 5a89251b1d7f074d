"""PES_ACQUIT and PES_Retour: the real samples are read; broken ones get a clear French error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from parapheur.accounting.pes.returns import UnreadableReturn, read_acquit, read_retour
from parapheur.cli import main


@pytest.fixture(scope="module")
def samples(shared_dir):
    return shared_dir / "samples" / "pes"


@pytest.fixture(scope="module")
def acquit_bytes(samples) -> bytes:
    return (samples / "pes_acquit.xml").read_bytes()


@pytest.fixture(scope="module")
def retour_bytes(samples) -> bytes:
    return (samples / "pes_retour.xml").read_bytes()


def test_the_real_acquit_accepts_a_bordereau_and_four_attachments(acquit_bytes):
    acquit = read_acquit(acquit_bytes)

    assert acquit.file_name == "pescg291201703030412001"
    assert (acquit.cod_col, acquit.cod_bud) == ("400", "01")
    (bordereau, *attachments) = acquit.elements
    assert (bordereau.domain_label, bordereau.bordereau_number, bordereau.exercice,
            bordereau.accepted) == ("dépense", 1847, 2015, True)
    assert [a.attachment_id for a in attachments] == [
        "200049104000252015DEPENSE0000087458", "20004904000252015DEPENSE0000087460",
        "200049104000252015DEPENSE0000087461", "200049104000252015DEPENSE0000087459"]
    assert all(a.accepted and a.domain_label == "pièce jointe" for a in attachments)


def rejected_acquit(acquit_bytes: bytes) -> bytes:
    """The sample with its bordereau rejected for a duplicate, on mandat 12 line 1."""
    rejected = (b'<EtatAck V="0"/>\n            <NumBord V="1847"/>\n'
                b'            <ExerciceBord V="2015"/>\n'
                b'            <Erreur><NumAnoAck V="ERREUR_DOUBLON_BORDEREAU"/>'
                b'<LibelleAnoAck V="Bordereau deja present"/></Erreur>\n'
                b'            <DetailPiece><NumPiece V="12"/><DetailLigne><NumLigne V="1"/>'
                b'<Erreur><NumAnoAck V="ERREUR_DOUBLON_LIGNE"/></Erreur></DetailLigne>'
                b'</DetailPiece>')
    old = (b'<EtatAck V="1"/>\n            <NumBord V="1847"/>\n'
           b'            <ExerciceBord V="2015"/>')
    assert old in acquit_bytes
    return acquit_bytes.replace(old, rejected)


def test_a_rejected_bordereau_carries_its_anomalies(acquit_bytes):
    acquit = read_acquit(rejected_acquit(acquit_bytes))

    bordereau = acquit.elements[0]
    assert not bordereau.accepted
    assert [str(a) for a in bordereau.anomalies] == [
        "ERREUR_DOUBLON_BORDEREAU — Bordereau deja present",
        "mandat 12 ligne 1 : ERREUR_DOUBLON_LIGNE"]


def test_the_real_retour_gives_the_state_of_mandat_832(retour_bytes):
    retour = read_retour(retour_bytes)

    (piece,) = retour.pieces
    assert (piece.exercice, piece.bordereau_number, piece.number) == (2009, 1234567, 832)
    assert piece.state_label == "En instance"
    assert piece.taken_on == date(2008, 12, 12)
    assert piece.payments == ()


def test_payments_of_a_retour_are_read(retour_bytes):
    paid = retour_bytes.replace(b'<EtatPce V="01"/>', b'<EtatPce V="05"/>').replace(
        b"</BlocLignePiece>\n     </LigneDePiece>",
        b'</BlocLignePiece>\n<PaiementEmargement><OrgEma V="01"/><DtePay V="2009-01-15"/>'
        b'<MtPay V="39724.75"/></PaiementEmargement></LigneDePiece>')
    (piece,) = read_retour(paid).pieces

    assert piece.state_label == "Soldé"
    assert [(p.paid_on, p.amount) for p in piece.payments] == [
        (date(2009, 1, 15), Decimal("39724.75"))]


@pytest.mark.parametrize("content,expected", [
    (b"not xml at all", "PES_ACQUIT illisible : Le fichier n'est pas un XML lisible"),
    (b'<?xml version="1.0"?><n:PES_Retour xmlns:n="http://www.minefi.gouv.fr/cp/helios/pes_v2/'
     b'Rev0/retour"/>', "Ce fichier n'est pas un PES_ACQUIT (élément racine PES_Retour"),
])
def test_unreadable_acquits_are_refused_in_french(content, expected):
    with pytest.raises(UnreadableReturn) as caught:
        read_acquit(content)
    assert caught.value.message.startswith(expected), caught.value.message


def test_a_schema_invalid_acquit_names_the_problem(acquit_bytes):
    broken = acquit_bytes.replace(b'<EtatAck V="1"/>', b"", 1)

    with pytest.raises(UnreadableReturn) as caught:
        read_acquit(broken)
    assert "n'est pas conforme au schéma DGFiP" in caught.value.message
    assert "EtatAck" in caught.value.message


def test_external_entities_are_never_read(acquit_bytes, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-VALUE")
    hostile = acquit_bytes.replace(
        b'<n:PES_ACQUIT', f'<!DOCTYPE n:PES_ACQUIT [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        f'<n:PES_ACQUIT'.encode(), 1).replace(b"pescg291201703030412001", b"&x;")

    try:
        acquit = read_acquit(hostile)
    except UnreadableReturn as exc:
        assert "SECRET-VALUE" not in exc.message
    else:
        assert "SECRET-VALUE" not in acquit.file_name


def test_retour_without_spending_is_refused(retour_bytes):
    # A revenue-only return has no mandats; say so instead of reading nothing silently.
    start = retour_bytes.index(b"<PES_DepenseRetour>")
    end = retour_bytes.index(b"</PES_DepenseRetour>") + len(b"</PES_DepenseRetour>")
    with pytest.raises(UnreadableReturn) as caught:
        read_retour(retour_bytes[:start] + retour_bytes[end:])
    assert "PES_DepenseRetour" in caught.value.message


def test_cli_reads_acquit_and_retour_and_checks_an_aller(samples, acquit_bytes, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["pes", "read-acquit", str(samples / "pes_acquit.xml")])
    assert result.exit_code == 0, result.output
    assert "- bordereau 1847 (exercice 2015) [dépense] : accepté" in result.output

    rejected = tmp_path / "rejet.xml"
    rejected.write_bytes(rejected_acquit(acquit_bytes))
    result = runner.invoke(main, ["pes", "read-acquit", str(rejected)])
    assert "- bordereau 1847 (exercice 2015) [dépense] : REJETÉ" in result.output
    assert "anomalie ERREUR_DOUBLON_BORDEREAU — Bordereau deja present" in result.output

    result = runner.invoke(main, ["pes", "read-retour", str(samples / "pes_retour.xml")])
    assert result.exit_code == 0, result.output
    assert ("- bordereau 1234567 (exercice 2009), mandat 832 : En instance (pris en charge le "
            "12/12/2008)") in result.output

    result = runner.invoke(main, ["pes", "read-retour", str(samples / "pes_acquit.xml")])
    assert result.exit_code == 1
    assert "n'est pas un PES_Retour" in result.output

    result = runner.invoke(main, ["pes", "check", str(samples / "pes_aller_ok.xml")])
    assert result.exit_code == 1
    assert "- la version du PES dépense (IdVer) doit être 2, pas 1" in result.output


def test_cli_check_accepts_a_valid_file(tmp_path):
    from pes_factory import pes

    from parapheur.accounting.pes.writer import write_pes

    path = tmp_path / "pes.xml"
    path.write_bytes(write_pes(pes()))
    result = CliRunner().invoke(main, ["pes", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "conforme" in result.output
