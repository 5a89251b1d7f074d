"""« Comptabilité » over HTTP: acquittements and returns uploaded by finance agents (checked,
applied once, what they changed shown), rejected mandats re-issued into a new bordereau, the PES
files downloaded again, and the demo's signed bordereau ready for export."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from accounting_helpers import (
    acquit_for,
    bordereau_in_circuit,
    demo_invoices,
    retour_paying,
    sign_as_maire,
)
from app_helpers import csrf_from, db_snapshot, page_text, run_cli
from sqlalchemy import func, select

from parapheur.accounting.models import (
    BordereauMandats,
    BordereauState,
    Mandat,
    MandatState,
    PesExport,
    PesReturnFile,
)
from parapheur.accounting.pes.validation import check_aller
from parapheur.audit.models import AuditEvent
from parapheur.context import store_for
from parapheur.db import get_session
from parapheur.invoices.models import Invoice, InvoiceStatus
from parapheur.outbox.services import deliver_due


def _token(client) -> str:
    return csrf_from(client.get("/comptabilite/").get_data(as_text=True))


def _upload(client, kind: str, data: bytes, filename: str = "retour.xml", *, token=None):
    return client.post("/comptabilite/retours", data={
        "csrf_token": token or _token(client), "kind": kind,
        "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def _exported_bordereau(demo, client_for, clock, tmp_path, count: int = 2) -> int:
    """A bordereau of the budget annexe signed by the maire and exported by the export step."""
    demo.config["PES_DEPOSIT_DIR"] = tmp_path / "depot"
    bordereau_id, document_id = bordereau_in_circuit(demo, clock,
                                                     demo_invoices(demo, clock, count))
    assert sign_as_maire(client_for("maire"), document_id).status_code == 302
    assert [r.outcome for r in deliver_due(demo) if r.kind == "circuit.export"] == ["done"]
    return bordereau_id


def _mandats(demo, bordereau_id: int) -> list[tuple[int, MandatState, int]]:
    with demo.app_context():
        return [(m.id, m.state, m.number) for m in get_session().scalars(
            select(Mandat).where(Mandat.bordereau_id == bordereau_id).order_by(Mandat.id))]


def test_acquit_then_retour_uploaded_applied_once_and_shown(demo, client_for, clock, tmp_path,
                                                            shared_dir):
    bordereau_id = _exported_bordereau(demo, client_for, clock, tmp_path)
    finances = client_for("finances")

    response = _upload(finances, "acquit", acquit_for(shared_dir, [1]), "acquit-1.xml")
    assert response.status_code == 302
    page = page_text(finances.get(response.headers["Location"]))
    assert "PES_ACQUIT (acquittement) appliqué." in page
    assert "Bordereau 1 (exercice 2026) : pris en charge — mandat(s) 1, 2 « Pris en charge »" \
        in page
    assert {s for _, s, _ in _mandats(demo, bordereau_id)} == {MandatState.PRIS_EN_CHARGE}

    # The same file again: recognised, nothing changes, the first application is shown.
    before = db_snapshot(demo)
    response = _upload(finances, "acquit", acquit_for(shared_dir, [1]), "acquit-copie.xml")
    assert response.status_code == 302
    page = page_text(finances.get(response.headers["Location"]))
    assert "Ce fichier a déjà été appliqué le" in page and "rien n'a changé cette fois" in page
    assert "acquit-1.xml" in page
    assert db_snapshot(demo) == before

    with demo.app_context():
        mandats = get_session().scalars(select(Mandat).where(
            Mandat.bordereau_id == bordereau_id).order_by(Mandat.number)).all()
        pieces = [(1, m.number, m.amount_ht + m.amount_tva) for m in mandats]
        numbers = [m.invoice.number for m in mandats]
    response = _upload(finances, "retour", retour_paying(pieces), "retour-1.xml")
    assert response.status_code == 302
    page = page_text(finances.get(response.headers["Location"]))
    assert "PES_Retour (retour de dépense) appliqué." in page
    assert page.count("mis en paiement le 15/03/2026") == len(numbers) == 2
    for number in numbers:
        assert f"facture {number} « Mise en paiement »" in page
    with demo.app_context():
        session = get_session()
        assert {i.status for i in session.scalars(select(Invoice).where(
            Invoice.number.in_(numbers)))} == {InvoiceStatus.MISE_EN_PAIEMENT}
        assert session.scalar(select(func.count(PesReturnFile.id))) == 2
        assert {e.name for e in session.scalars(select(AuditEvent))} >= {
            "accounting:acquit:imported", "accounting:retour:imported"}
    index = page_text(finances.get("/comptabilite/"))
    assert "acquit-1.xml" in index and "retour-1.xml" in index and "Pris en charge" in index


REFUSALS = [
    ("no file", None, None, 400, "Choisissez le fichier à envoyer"),
    ("empty", "acquit", b"", 400, "est vide"),
    ("not XML", "acquit", b"%PDF-1.7\n%%EOF\n", 422, "n'est pas un XML lisible"),
    ("entities", "retour", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
     422, "déclare une DTD ou des entités"),
    ("wrong kind", "acquit", "retour", 422, "Ce fichier est un PES_Retour (retour de dépense) : "
                                             "déposez-le dans le formulaire prévu."),
    ("other collectivité", "acquit", "foreign", 400,
     "est adressé à la collectivité de SIRET 20004910400025"),
    ("never sent", "acquit", "unknown", 400, "qui n'a jamais été transmis : rien n'a été modifié"),
    ("unknown kind", "facture", b"<x/>", 400, "Type de fichier inconnu"),
]


@pytest.mark.parametrize(("case", "kind", "data", "status", "message"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_wrong_files_are_refused_in_french_and_change_nothing(demo, client_for, shared_dir,
                                                              case, kind, data, status, message):
    finances = client_for("finances")
    token = _token(finances)
    if data == "retour":
        data = retour_paying([(1, 1, Decimal("10.00"))])
    elif data == "foreign":
        data = (shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes()
    elif data == "unknown":
        data = acquit_for(shared_dir, [41])
    before = db_snapshot(demo)
    if data is None:
        response = finances.post("/comptabilite/retours", data={"csrf_token": token,
                                                                "kind": "acquit"})
    else:
        response = _upload(finances, kind, data, f"{case}.xml", token=token)
    assert response.status_code == status
    assert message in page_text(response)
    assert db_snapshot(demo) == before


def test_uploads_have_a_size_limit_a_form_token_and_a_role(demo, client_for, shared_dir):
    demo.config["PES_UPLOAD_MAX_MB"] = 1
    finances = client_for("finances")
    maire = client_for("maire")
    before = db_snapshot(demo)
    response = _upload(finances, "acquit", b"<a>" + b" " * (1024 * 1024) + b"</a>")
    assert response.status_code == 413
    assert "dépasse la taille maximale acceptée (1 Mo)" in page_text(response)
    response = finances.post("/comptabilite/retours", data={
        "kind": "acquit", "file": (io.BytesIO(acquit_for(shared_dir, [1])), "a.xml")},
        content_type="multipart/form-data")
    assert response.status_code == 400 and "jeton CSRF" in page_text(response)
    token = csrf_from(maire.get("/").get_data(as_text=True))
    response = _upload(maire, "acquit", acquit_for(shared_dir, [1]), token=token)
    assert response.status_code == 403
    assert "Seuls les agents des finances" in page_text(response)
    assert db_snapshot(demo) == before


def test_rejected_mandats_are_reissued_into_a_new_bordereau_end_to_end(
        demo, client_for, clock, tmp_path, shared_dir):
    rejected_id = _exported_bordereau(demo, client_for, clock, tmp_path, count=3)
    finances = client_for("finances")
    response = _upload(finances, "acquit", acquit_for(shared_dir, [1], accepted=False))
    page = page_text(finances.get(response.headers["Location"]))
    assert "Bordereau 1 (exercice 2026) : rejeté (ERREUR_DOUBLON_BORDEREAU — Bordereau deja " \
           "present) — mandat(s) 1, 2, 3 à corriger et réémettre" in page
    old = _mandats(demo, rejected_id)
    assert {s for _, s, _ in old} == {MandatState.REJETE}

    index = finances.get("/comptabilite/").get_data(as_text=True)
    section = page_text(finances.get("/comptabilite/")).split('id="a-reemettre"')[1]
    section = section.split("</section>")[0]
    assert "Bordereau 1 (exercice 2026)" in section
    assert "Motif du rejet : ERREUR_DOUBLON_BORDEREAU — Bordereau deja present" in section
    assert len(re.findall(r'name="mandat" value="\d+"', section)) == 3

    # Two of the three mandats go again; the third waits (still rejected).
    again = [mandat_id for mandat_id, _, _ in old[:2]]
    response = finances.post(f"/comptabilite/bordereaux/{rejected_id}/reemettre", data={
        "csrf_token": csrf_from(index), "mandat": [str(m) for m in again]})
    assert response.status_code == 302
    page = page_text(finances.get("/comptabilite/"))
    assert "Bordereau 2 (exercice 2026) créé avec 2 mandat(s) réémis du Bordereau 1 (exercice " \
           "2026)" in page
    assert "réémet les mandats du Bordereau 1 (exercice 2026)" in page
    assert "mandats réémis dans le Bordereau 2 (exercice 2026)" in page
    with demo.app_context():
        session = get_session()
        new = session.scalars(select(BordereauMandats).where(
            BordereauMandats.replaces_id == rejected_id)).one()
        assert (new.number, new.state) == (2, BordereauState.A_SIGNER)
        assert sorted(m.id for m in new.mandats) == sorted(again)
        assert [m.number for m in new.mandats] == [4, 5]  # new IdPce, never reused
        assert all(m.rejection_reason is None for m in new.mandats)
        new_id, document_id = new.id, new.document_id
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.name == "accounting:bordereau:reissued")).one()
        assert event.details["replaces_number"] == 1
        assert [m["reason"] for m in event.details["mandats"]] == [
            "ERREUR_DOUBLON_BORDEREAU — Bordereau deja present"] * 2
    assert _mandats(demo, rejected_id) == [old[2]]

    # Re-issuing what is not rejected is refused and changes nothing.
    before = db_snapshot(demo)
    response = finances.post(f"/comptabilite/bordereaux/{rejected_id}/reemettre", data={
        "csrf_token": csrf_from(index), "mandat": [str(again[0])]})
    assert response.status_code == 400
    assert "Choisissez des mandats rejetés du Bordereau 1" in page_text(response)
    response = finances.post(f"/comptabilite/bordereaux/{rejected_id}/reemettre", data={
        "csrf_token": csrf_from(index)})
    assert response.status_code == 400 and "Cochez au moins un mandat" in page_text(response)
    assert db_snapshot(demo) == before

    # The maire signs the new bordereau; the worker's export step sends it in a new file.
    assert sign_as_maire(client_for("maire"), document_id).status_code == 302
    assert [r.outcome for r in deliver_due(demo) if r.kind == "circuit.export"] == ["done"]
    with demo.app_context():
        session = get_session()
        new = session.get(BordereauMandats, new_id)
        assert new.state is BordereauState.EXPORTE and new.export.number == 2
        content = store_for(demo.config).read(new.export.sha256)
    assert check_aller(content) == []
    assert b'<IdBord V="2"/>' in content and b'<IdPce V="4"/>' in content
    assert b'<IdBord V="1"/>' not in content


def test_the_demo_holds_a_signed_bordereau_ready_for_export(demo, client_for, tmp_path):
    finances = client_for("finances")
    page = page_text(finances.get("/comptabilite/"))
    row = page.split('id="bordereaux"')[1].split("</tr>")[1]
    assert "Bordereau 1 (exercice" in row and "990/00" in row and "Signé" in row
    assert "Aucun fichier PES produit." in page

    result = run_cli(demo, "export", "pes", "--budget", "00",
                     env={"PARAPHEUR_PES_DEPOSIT_DIR": str(tmp_path / "depot")})
    assert result.returncode == 0, result.stdout + result.stderr
    (deposited,) = (tmp_path / "depot").iterdir()
    assert check_aller(deposited.read_bytes()) == []

    page = page_text(finances.get("/comptabilite/"))
    assert "Transmis à Hélios" in page and deposited.name in page
    with demo.app_context():
        export_id = get_session().scalars(select(PesExport.id)).one()
    response = finances.get(f"/comptabilite/exports/{export_id}/fichier")
    assert response.status_code == 200
    assert response.data == deposited.read_bytes()
    assert f'filename="{deposited.name}"' in response.headers["Content-Disposition"]
    with demo.app_context():
        assert get_session().scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.name == "accounting:pes:downloaded")) == 1


def test_a_bordereau_the_maire_refuses_is_never_exported_and_its_mandats_come_back(
        demo, client_for, clock, tmp_path):
    bordereau_id, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2))
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    assert maire.post(f"/documents/{document_id}/steps/signature_ordonnateur/reject", data={
        "csrf_token": token, "reason": "Imputation à revoir"}).status_code == 302

    finances = client_for("finances")
    page = finances.get("/comptabilite/").get_data(as_text=True)
    section = page_text(finances.get("/comptabilite/")).split('id="a-reemettre"')[1]
    assert "refusé par l'ordonnateur : Imputation à revoir" in section.split("</section>")[0]
    assert [s for _, s, _ in _mandats(demo, bordereau_id)] == [MandatState.REJETE] * 2
    result = run_cli(demo, "export", "pes", "--budget", "01",
                     env={"PARAPHEUR_PES_DEPOSIT_DIR": str(tmp_path / "depot")})
    assert result.returncode == 0 and "aucun nouveau fichier PES" in result.stdout

    response = finances.post(f"/comptabilite/bordereaux/{bordereau_id}/reemettre", data={
        "csrf_token": csrf_from(page),
        "mandat": [str(m) for m, _, _ in _mandats(demo, bordereau_id)]})
    assert response.status_code == 302
    with demo.app_context():
        new = get_session().scalars(select(BordereauMandats).where(
            BordereauMandats.replaces_id == bordereau_id)).one()
        assert (new.number, len(new.mandats), new.state) == (2, 2, BordereauState.A_SIGNER)
        assert get_session().scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.name == "accounting:bordereau:refused")) == 1


def test_the_commands_apply_a_return_once_too(demo, shared_dir, tmp_path):
    assert run_cli(demo, "export", "pes", "--budget", "00", env={
        "PARAPHEUR_PES_DEPOSIT_DIR": str(tmp_path / "depot")}).returncode == 0
    with demo.app_context():
        exercice = get_session().scalars(select(BordereauMandats.exercice)).one()
    acquit = tmp_path / "acquit.xml"
    acquit.write_bytes(acquit_for(shared_dir, [1], cod_bud="00", exercice=exercice))
    result = run_cli(demo, "pes", "import-acquit", str(acquit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"- Bordereau 1 (exercice {exercice}) : pris en charge" in result.stdout
    result = run_cli(demo, "pes", "import-acquit", str(acquit))
    assert result.returncode == 0 and "a déjà été appliqué le" in result.stdout
    foreign = tmp_path / "autre.xml"
    foreign.write_bytes((shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes())
    result = run_cli(demo, "pes", "import-acquit", str(foreign))
    assert result.returncode == 1
    assert "est adressé à la collectivité de SIRET 20004910400025" in result.stdout + result.stderr
