"""Server steps: a B-B cachet runs in the action that reaches it; a cachet that needs remote services
(time stamp, revocation data) and the export wait for the worker; signatures by delegation."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta

import pytest
from app_helpers import csrf_from, db_snapshot, page_text, upload
from sqlalchemy import select

from parapheur.accounts.models import Desk
from parapheur.accounts.services import create_delegation
from parapheur.audit.models import AuditEvent
from parapheur.audit.services import verify_chain
from parapheur.circuits import services as circuits
from parapheur.circuits.models import StepAction
from parapheur.config import PROJECT_ROOT
from parapheur.context import store_for
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document, DocumentStatus, VersionKind
from parapheur.outbox.services import DeliveryError, deliver_due

SEALED_CIRCUIT = """\
id: acte-cachete
title: Acte cacheté
description: Visa du DGS, cachet de la collectivité, export vers l'archivage.
initial: visa_dgs
on_reject: rejete
states:
  visa_dgs:
    label: Visa du DGS
    action: visa
    desk: dgs
    next: cachet_serveur
  cachet_serveur:
    label: Cachet de la collectivité
    action: cachet
    signature:
      level: B-B
      stamp: {page: 1, x: 40, y: 40, width: 220, height: 60}
    next: export_archives
  export_archives:
    label: Export vers l'archivage
    action: export
    exporter: archives
    next: termine
  termine:
    label: Terminé
    final: approved
  rejete:
    label: Rejeté
    final: rejected
"""

SEAL_ON_ARRIVAL = """\
id: copie-conforme
title: Copie conforme
initial: cachet
on_reject: rejete
states:
  cachet:
    label: Cachet dès le dépôt
    action: cachet
    signature: {level: B-B}
    next: fait
  fait:
    label: Cachetée
    final: approved
  rejete:
    label: Rejetée
    final: rejected
"""

SEAL_LT_ON_ARRIVAL = """\
id: copie-longue-duree
title: Copie conforme longue durée
initial: cachet
on_reject: rejete
states:
  cachet:
    label: Cachet longue durée
    action: cachet
    signature: {level: B-LT}
    next: fait
  fait:
    label: Cachetée
    final: approved
  rejete:
    label: Cachet impossible
    final: rejected
"""

EXPORT_ON_ARRIVAL = """\
id: depot-archives
title: Dépôt aux archives
initial: export
on_reject: rejete
states:
  export:
    label: Dépôt aux archives départementales
    action: export
    exporter: archives
    next: depose
  depose:
    label: Déposé
    final: approved
  rejete:
    label: Refusé par les archives
    final: rejected
"""

TYPOLOGY_ADDITION = """\
  ARCHIVES:
    label: Actes à cacheter
    subtypes:
      ACTE_CACHETE: {label: Acte cacheté, circuit: acte-cachete}
      COPIE: {label: Copie conforme, circuit: copie-conforme}
      COPIE_LT: {label: Copie conforme longue durée, circuit: copie-longue-duree}
      DEPOT: {label: Dépôt aux archives, circuit: depot-archives}
"""


@pytest.fixture
def workflows(app, tmp_path):
    """A workflows directory: the shipped circuits plus one with a cachet and an export step."""
    directory = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", directory)
    (directory / "acte-cachete.yaml").write_text(SEALED_CIRCUIT, encoding="utf-8")
    (directory / "copie-conforme.yaml").write_text(SEAL_ON_ARRIVAL, encoding="utf-8")
    (directory / "copie-longue-duree.yaml").write_text(SEAL_LT_ON_ARRIVAL, encoding="utf-8")
    (directory / "depot-archives.yaml").write_text(EXPORT_ON_ARRIVAL, encoding="utf-8")
    with (directory / "typologie.yaml").open("a", encoding="utf-8") as typology:
        typology.write(TYPOLOGY_ADDITION)
    app.config["WORKFLOWS_DIR"] = directory
    exported = []

    def archives(run):
        failure = app.extensions.get("test.export_failure")
        if failure is not None:
            raise failure
        exported.append((run.document.title, run.step, run.document.current_version.kind))
        return {"sha256": run.document.current_version.sha256, "depot": "archives-test"}

    app.extensions["parapheur.exporters"]["archives"] = archives
    app.extensions["test.exported"] = exported
    return directory


@pytest.fixture
def seal_passphrase(tmp_path):
    """`seal_passphrase(text)`: a passphrase file, as PARAPHEUR_SEAL_PASSPHRASE_FILE names."""
    def write(text: str):
        path = tmp_path / "seal-passphrase"
        path.write_text(text + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path
    return write


@pytest.fixture
def sealing(app, workflows, demo_pki, seal_passphrase, request):
    """The demo, with the extra circuit and the demo PKI's seal configured explicitly."""
    from parapheur.demo.seed import DEMO_PASSPHRASE

    app.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    app.config["SEAL_PASSPHRASE_FILE"] = seal_passphrase(DEMO_PASSPHRASE)
    request.getfixturevalue("demo")
    return app


def _document_id(app, title: str) -> int:
    with app.app_context():
        return get_session().execute(
            select(Document.id).where(Document.title == title)).scalar_one()


def _visa(client, document_id: int, step: str = "visa_dgs"):
    page = client.get(f"/documents/{document_id}").get_data(as_text=True)
    return client.post(f"/documents/{document_id}/steps/{step}/visa",
                       data={"csrf_token": csrf_from(page)})


def _events(app, document_id: int) -> dict[str, dict]:
    with app.app_context():
        rows = get_session().execute(select(AuditEvent).where(
            AuditEvent.document_id == document_id).order_by(AuditEvent.seq)).scalars()
        return {row.name: row.details for row in rows}


def _exports(results) -> list[str]:
    return [r.outcome for r in results if r.kind == "circuit.export"]


def _seals(results) -> list[str]:
    return [r.outcome for r in results if r.kind == "circuit.cachet"]


def _pdfsig(pdfsig: str, pdf: bytes, tmp_path) -> str:
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    return subprocess.run([pdfsig, str(path)], capture_output=True, text=True).stdout


# --- cachet and export ------------------------------------------------------------------------------

def test_visa_into_cachet_seals_at_once_and_the_export_waits_for_the_worker(
        sealing, client_for, sample_pdf, pdfsig, system_tool, tmp_path):
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="ARCHIVES/ACTE_CACHETE", title="Arrêté à cacheter")\
        .status_code == 302
    document_id = _document_id(sealing, "Arrêté à cacheter")
    dgs = client_for("dgs")
    assert _visa(dgs, document_id).status_code == 302
    with sealing.app_context():
        document = get_session().get(Document, document_id)
        assert document.status is DocumentStatus.IN_PROGRESS  # nothing exported yet
    page = page_text(dgs.get(f"/documents/{document_id}"))
    assert "en attente d'export" in page
    assert sealing.extensions["test.exported"] == []

    assert _exports(deliver_due(sealing)) == ["done"]
    assert sealing.extensions["test.exported"] == [
        ("Arrêté à cacheter", "export_archives", VersionKind.SEALED)]
    assert "export fait" in page_text(dgs.get(f"/documents/{document_id}"))
    with sealing.app_context():
        session = get_session()
        document = session.get(Document, document_id)
        assert document.status is DocumentStatus.APPROVED
        assert [v.kind for v in document.versions] == [VersionKind.ORIGINAL, VersionKind.SEALED]
        assert document.current_version.created_by is None  # made by the server
        steps = session.execute(select(StepAction).where(StepAction.document_id == document_id)
                                .order_by(StepAction.id)).scalars().all()
        assert [(s.step, s.action, s.actor_id is None) for s in steps] == [
            ("visa_dgs", "visa", False), ("cachet_serveur", "cachet", True),
            ("export_archives", "export", True)]
        assert steps[1].version_id == document.current_version.id
        assert steps[1].certificate_subject == "Cachet serveur — Métropole de Démo"
        sealed_sha = document.current_version.sha256
        assert verify_chain(session).intact

    events = _events(sealing, document_id)
    assert events["document:step:sealed"]["sha256"] == sealed_sha
    assert events["document:step:sealed"]["triggered_by"] == "dgs"
    assert events["document:step:sealed"]["seal"] == "configured"
    assert events["document:export:queued"]["exporter"] == "archives"
    assert events["document:step:exported"]["step"] == "export_archives"
    assert events["document:step:exported"]["depot"] == "archives-test"
    assert events["document:circuit:completed"]["outcome"] == "approved"

    pdf = dgs.get(f"/documents/{document_id}/versions/2/file").data
    output = _pdfsig(pdfsig, pdf, tmp_path)
    assert "Signature is Valid." in output, output
    assert "Cachet serveur" in output
    # The circuit asked for a visible seal stamp on page 1.
    text = subprocess.run([system_tool("pdftotext", "poppler-utils"), "-f", "1", "-l", "1",
                           str(tmp_path / "checked.pdf"), "-"], capture_output=True,
                          text=True).stdout
    assert "Cachet électronique" in text and "Cachet serveur — Métropole de Démo" in text, text
    history = page_text(dgs.get(f"/documents/{document_id}"))
    assert "v2 — Cacheté" in history


def test_a_failing_export_is_retried_then_follows_on_reject_with_the_reason(
        app, workflows, demo, client_for, sample_pdf, clock):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    app.extensions["test.export_failure"] = DeliveryError("les archives ne répondent pas")
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="ARCHIVES/DEPOT", title="Registre 2025")\
        .status_code == 302
    document_id = _document_id(app, "Registre 2025")
    assert "en attente d'export" in page_text(finances.get(f"/documents/{document_id}"))

    assert _exports(deliver_due(app)) == ["retry"]
    page = page_text(finances.get(f"/documents/{document_id}"))
    assert "en attente d'export (nouvel essai prévu, dernière erreur : les archives ne " \
           "répondent pas)" in page
    assert "fait" not in page.split("Dépôt aux archives départementales")[1].split("</li>")[0]

    clock.moment += timedelta(minutes=5)
    assert _exports(deliver_due(app)) == ["failed"]
    with app.app_context():
        document = get_session().get(Document, document_id)
        assert document.status is DocumentStatus.REJECTED
        [record] = get_session().execute(select(StepAction).where(
            StepAction.document_id == document_id)).scalars().all()
        assert (record.step, record.decision) == ("export", "reject")
        assert record.reason == "échec de l'export : les archives ne répondent pas"
    assert "échec de l'export : les archives ne répondent pas" in page_text(
        finances.get(f"/documents/{document_id}"))
    events = _events(app, document_id)
    assert events["outbox:message:failed"]["error"] == "les archives ne répondent pas"
    assert events["document:step:rejected"]["reason"].startswith("échec de l'export")
    assert app.extensions["test.exported"] == []


def test_a_circuit_starting_with_a_seal_is_sealed_on_upload(sealing, client_for, sample_pdf):
    finances = client_for("finances")
    response = upload(finances, sample_pdf, typology="ARCHIVES/COPIE", title="Copie de l'arrêté 2026-12")
    assert response.status_code == 302, page_text(response)
    with sealing.app_context():
        document = get_session().get(Document, _document_id(sealing, "Copie de l'arrêté 2026-12"))
        assert document.status is DocumentStatus.APPROVED
        assert [v.kind for v in document.versions] == [VersionKind.ORIGINAL, VersionKind.SEALED]
        # Invisible seal: no stamp was asked for.
        assert document.current_version.page_count == 2


def test_a_long_term_seal_waits_for_the_worker_then_is_applied(sealing, client_for, sample_pdf,
                                                                demo_pki):
    finances = client_for("finances")
    response = upload(finances, sample_pdf, typology="ARCHIVES/COPIE_LT", title="Copie LT")
    assert response.status_code == 302, page_text(response)
    document_id = _document_id(sealing, "Copie LT")
    with sealing.app_context():
        document = get_session().get(Document, document_id)
        assert document.status is DocumentStatus.IN_PROGRESS  # not sealed before it happened
        assert [v.kind for v in document.versions] == [VersionKind.ORIGINAL]
    assert "en attente du cachet serveur" in page_text(finances.get(f"/documents/{document_id}"))

    assert _seals(deliver_due(sealing)) == ["done"]
    with sealing.app_context():
        session = get_session()
        document = session.get(Document, document_id)
        assert document.status is DocumentStatus.APPROVED
        assert [v.kind for v in document.versions] == [VersionKind.ORIGINAL, VersionKind.SEALED]
        sealed = store_for(sealing.config).read(document.current_version.sha256)
    assert "cachet apposé" in page_text(finances.get(f"/documents/{document_id}"))
    events = _events(sealing, document_id)
    assert events["document:cachet:queued"]["step"] == "cachet"
    assert events["document:step:sealed"]["level"] == "B-LT"
    from signing.validation import load_trust_roots, validate_pdf

    report = validate_pdf(sealed, trust_roots=load_trust_roots([demo_pki.ca_certificate_path]),
                          path="copie.pdf").to_dict()
    assert report["indication"] == "TOTAL-PASSED", report
    assert [s["level"] for s in report["signatures"]] == ["B-LT"]


def test_an_unreachable_time_stamping_service_is_retried_then_the_seal_follows_on_reject(
        sealing, client_for, sample_pdf, clock):
    from signing.pki_server import free_loopback_port

    sealing.config["OUTBOX_MAX_ATTEMPTS"] = 2
    sealing.config["TSA_URL"] = f"http://127.0.0.1:{free_loopback_port()}/tsa"  # nobody answers
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="ARCHIVES/COPIE_LT", title="Copie sans TSA")\
        .status_code == 302
    document_id = _document_id(sealing, "Copie sans TSA")

    assert _seals(deliver_due(sealing)) == ["retry"]
    page = page_text(finances.get(f"/documents/{document_id}"))
    assert "en attente du cachet serveur (nouvel essai prévu, dernière erreur : Service " \
           "d'horodatage indisponible" in page
    clock.moment += timedelta(minutes=5)
    assert _seals(deliver_due(sealing)) == ["failed"]
    with sealing.app_context():
        document = get_session().get(Document, document_id)
        assert document.status is DocumentStatus.REJECTED
        assert [v.kind for v in document.versions] == [VersionKind.ORIGINAL]
        [record] = get_session().execute(select(StepAction).where(
            StepAction.document_id == document_id)).scalars().all()
        assert (record.step, record.decision) == ("cachet", "reject")
        assert record.reason.startswith("échec du cachet serveur : Service d'horodatage")
    assert "échec du cachet serveur" in page_text(finances.get(f"/documents/{document_id}"))


def test_a_failing_seal_on_upload_stores_no_document(sealing, client_for, sample_pdf,
                                                     seal_passphrase):
    seal_passphrase("wrong")
    finances = client_for("finances")
    page = finances.get("/documents/new?typology=ARCHIVES/COPIE").get_data(as_text=True)
    before = db_snapshot(sealing)
    response = finances.post("/documents/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "title": "Copie refusée", "typology": "ARCHIVES/COPIE",
        "file": (io.BytesIO(sample_pdf), "copie.pdf")})
    assert response.status_code == 503
    assert "Le cachet serveur n'a pas pu être apposé" in page_text(response)
    assert db_snapshot(sealing) == before


def test_a_failing_seal_rolls_back_the_visa_that_led_to_it(sealing, client_for, sample_pdf,
                                                           seal_passphrase):
    finances = client_for("finances")
    upload(finances, sample_pdf, typology="ARCHIVES/ACTE_CACHETE", title="Arrêté sans cachet")
    document_id = _document_id(sealing, "Arrêté sans cachet")
    seal_passphrase("not-the-seal-passphrase")
    dgs = client_for("dgs")
    before = db_snapshot(sealing)
    response = _visa(dgs, document_id)
    assert response.status_code == 503
    text = page_text(response)
    assert "Le cachet serveur n'a pas pu être apposé" in text
    assert "mot de passe" in text.lower() or "incorrect" in text
    assert "le document est inchangé" in text
    assert db_snapshot(sealing) == before
    with sealing.app_context():
        document = get_session().get(Document, document_id)
        assert [p.state for p in circuits.pending_steps(document)] == ["visa_dgs"]


def test_without_any_seal_configured_the_visa_is_refused_and_nothing_changes(
        app, workflows, client_for, sample_pdf):
    finances = client_for("finances")
    upload(finances, sample_pdf, typology="ARCHIVES/ACTE_CACHETE", title="Arrêté orphelin")
    document_id = _document_id(app, "Arrêté orphelin")
    dgs = client_for("dgs")
    before = db_snapshot(app)
    response = _visa(dgs, document_id)
    assert response.status_code == 503
    assert "aucun certificat de cachet n'est configuré (PARAPHEUR_SEAL_PKCS12)" in \
        page_text(response)
    assert db_snapshot(app) == before


def test_demo_pki_seal_is_the_default(app, workflows, demo_pki, client_for, sample_pdf):
    shutil.copytree(demo_pki.directory, app.config["DATA_DIR"] / "demo-pki")
    finances = client_for("finances")
    upload(finances, sample_pdf, typology="ARCHIVES/ACTE_CACHETE", title="Arrêté de démonstration")
    document_id = _document_id(app, "Arrêté de démonstration")
    assert _visa(client_for("dgs"), document_id).status_code == 302
    assert _events(app, document_id)["document:step:sealed"]["seal"] == "demo"


def test_seal_settings_name_missing_files(tmp_path):
    from parapheur.config import ConfigError, load_settings

    for variable in ("PARAPHEUR_SEAL_PKCS12", "PARAPHEUR_SEAL_PASSPHRASE_FILE",
                     "PARAPHEUR_WORKFLOWS_DIR"):
        with pytest.raises(ConfigError) as error:
            load_settings({variable: str(tmp_path / "absent")})
        assert error.value.variable == variable


def _waiting_signature(app) -> int:
    with app.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = circuits.pending_steps(document)
            if pending and pending[0].action == "signature":
                return document.id
    raise AssertionError("no document waits for a signature")


# --- signature by delegation ------------------------------------------------------------------------

def test_signature_in_the_absence_of_the_maire_says_so_on_the_stamp(demo, client_for, clock,
                                                                     pdfsig, system_tool, tmp_path):
    pdftotext = system_tool("pdftotext", "poppler-utils")
    with demo.app_context():
        session = get_session()
        desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
        with transaction(session):
            create_delegation(session, from_desk=desks["maire"], to_desk=desks["adjoint"],
                              starts_at=clock() - timedelta(days=1),
                              ends_at=clock() + timedelta(days=7), now=clock())
    document_id = _waiting_signature(demo)
    adjoint = client_for("adjoint")
    page = adjoint.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "Code de votre certificat" in page
    response = adjoint.post(f"/documents/{document_id}/steps/signature_maire/sign",
                            data={"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert response.status_code == 302, page_text(response)

    pdf = adjoint.get(f"/documents/{document_id}/versions/2/file").data
    path = tmp_path / "delegated.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True,
                          text=True).stdout
    flat = " ".join(text.split())
    assert "en l'absence de Martine Dupont, Le Maire" in flat, text
    assert "Paul Lefèvre" in flat and "par délégation" in flat
    output = _pdfsig(pdfsig, pdf, tmp_path)
    assert "Signature is Valid." in output, output
    assert "Paul Lef" in output

    signed = _events(demo, document_id)["document:step:signed"]
    assert signed["actor"] == "adjoint"
    assert signed["en_l_absence_de"] == "maire"
    assert signed["stamp_on_behalf_of"] == "en l'absence de Martine Dupont, Le Maire"
