"""Circuits from the administration pages: upload, check, diagram, activation, versions kept."""

from __future__ import annotations

import io
import re

from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import func, select
from test_inbox import _deposit

from parapheur.audit.models import AuditEvent
from parapheur.circuits.models import CircuitActivation
from parapheur.circuits.services import pending_steps
from parapheur.context import workflows_dir_for
from parapheur.db import get_session
from parapheur.documents.models import CircuitVersion, Document

#: The shipped délibération circuit with a visa of the finances before the DGS's.
WITH_FINANCES = (
    "id: deliberation\n"
    "title: Délibération avec visa des finances\n"
    "metadata:\n"
    "  objet: {type: string, label: Objet, optional: true}\n"
    "initial: visa_finances\n"
    "on_reject: rejete\n"
    "states:\n"
    "  visa_finances:\n"
    "    label: Visa des finances\n"
    "    action: visa\n"
    "    desk: finances\n"
    "    next: visa_dgs\n"
    "  visa_dgs:\n"
    "    label: Visa du DGS\n"
    "    action: visa\n"
    "    desk: dgs\n"
    "    next: signe\n"
    "  signe:\n"
    "    label: Signée\n"
    "    final: approved\n"
    "  rejete:\n"
    "    label: Rejetée\n"
    "    final: rejected\n")


def _upload(client, text: str, filename: str = "deliberation.yaml", token: str | None = None):
    token = token or csrf_from(client.get("/admin/circuits/").get_data(as_text=True))
    return client.post("/admin/circuits/", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(text.encode("utf-8")), filename)})


def _count(demo, model) -> int:
    with demo.app_context():
        return get_session().execute(select(func.count()).select_from(model)).scalar_one()


def test_a_circuit_with_problems_is_shown_file_line_column_and_nothing_is_kept(demo, client_for):
    admin = client_for("admin")
    broken = WITH_FINANCES.replace("desk: finances", "desk: financse").replace(
        "next: signe", "next: sgne")
    before = db_snapshot(demo)
    response = _upload(admin, broken, "mon-circuit.yaml")
    assert response.status_code == 400
    page = page_text(response)
    assert "rien n'est enregistré" in page
    assert re.search(r"mon-circuit\.yaml:11:\d+: .*financse", page), page
    assert re.search(r"mon-circuit\.yaml:17:\d+: .*sgne", page), page
    assert db_snapshot(demo) == before
    for data, filename, message in ((b"\xff\xfe", "c.yaml", "pas en UTF-8"),
                                    (b"id: x", "c.txt", "un fichier YAML"),
                                    (b"a" * (256 * 1024 + 1), "c.yaml", "dépasse 256 Ko")):
        token = csrf_from(admin.get("/admin/circuits/").get_data(as_text=True))
        response = admin.post("/admin/circuits/", content_type="multipart/form-data", data={
            "csrf_token": token, "file": (io.BytesIO(data), filename)})
        assert response.status_code in (400, 413) and message in page_text(response)
    assert db_snapshot(demo) == before


def test_upload_check_diagram_then_activation_documents_in_flight_keep_theirs(
        demo, client_for, clock, sample_pdf):
    in_flight = _deposit(demo, sample_pdf, clock, 1)[0]  # the files' circuit: the DGS's visa
    admin = client_for("admin")
    response = _upload(admin, WITH_FINANCES)
    assert response.status_code == 302
    page = page_text(admin.get(response.headers["Location"]))
    assert "Aucun problème" in page and "<svg" in page and "Visa des finances" in page
    with demo.app_context():
        version = get_session().execute(select(CircuitVersion).where(
            CircuitVersion.title == "Délibération avec visa des finances")).scalar_one()
    # Stored, not yet active: a new délibération still follows the files' circuit.
    assert _state(demo, _deposit(demo, sample_pdf, clock, 1)[0]) == ["visa_dgs"]
    url = f"/admin/circuits/versions/{version.id}/activer"
    token = csrf_from(page)
    refused = admin.post(url, data={"csrf_token": token, "typology": "ACTES/INCONNU"})
    assert refused.status_code == 400 and "Type / sous-type inconnu" in page_text(refused)
    assert admin.post(url, data={"typology": "ACTES/DELIBERATION"}).status_code == 400  # CSRF
    assert _count(demo, CircuitActivation) == 0
    done = admin.post(url, data={"csrf_token": token, "typology": "ACTES/DELIBERATION"})
    assert done.status_code == 302
    new = _deposit(demo, sample_pdf, clock, 1)[0]
    assert _state(demo, new) == ["visa_finances"]
    assert _state(demo, in_flight) == ["visa_dgs"]  # in flight: its own version, unchanged
    with demo.app_context():
        session = get_session()
        versions = {d.id: d.circuit_version_id for d in session.execute(
            select(Document).where(Document.id.in_([in_flight, new]))).scalars()}
        events = session.execute(select(AuditEvent.name, AuditEvent.details).where(
            AuditEvent.name.like("circuit:version:%")).order_by(AuditEvent.seq)).all()
    assert versions[new] == version.id and versions[in_flight] != version.id
    assert [name for name, _ in events] == ["circuit:version:uploaded",
                                            "circuit:version:activated"]
    assert events[1][1]["previous"] == "deliberation (fichiers)"
    index = page_text(admin.get("/admin/circuits/"))
    assert "Délibération avec visa des finances" in index
    assert index.count(">deliberation<") >= 2  # the files' version is kept beside the new one
    # The upload form of documents shows the active version's fields.
    form = page_text(client_for("finances").get("/documents/new?typology=ACTES/DELIBERATION"))
    assert 'name="objet"' in form


def _state(demo, document_id: int) -> list[str]:
    with demo.app_context():
        return [p.state for p in pending_steps(get_session().get(Document, document_id))]


def _uploaded_rows(demo) -> int:
    with demo.app_context():
        return get_session().execute(select(func.count()).select_from(CircuitVersion).where(
            CircuitVersion.title == "Délibération avec visa des finances")).scalar_one()


def test_uploading_the_same_text_twice_keeps_one_version_and_says_so(demo, client_for):
    admin = client_for("admin")
    first = _upload(admin, WITH_FINANCES)
    assert first.status_code == 302
    assert "vérifié sans problème et enregistré" in page_text(admin.get(first.headers["Location"]))
    again = _upload(admin, WITH_FINANCES)
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    page = page_text(admin.get(again.headers["Location"]))
    assert "déjà enregistré à l&#39;identique" in page or "déjà enregistré à l'identique" in page
    assert _uploaded_rows(demo) == 1
    assert _count_events(demo, "circuit:version:uploaded") == 1  # nothing new happened
    assert workflows_dir_for(demo.config).is_dir()  # the files are never written to


def _count_events(demo, name: str) -> int:
    with demo.app_context():
        return get_session().execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.name == name)).scalar_one()


def test_another_text_under_a_stored_circuit_id_and_version_is_refused_nothing_stored(
        demo, client_for):
    from sqlalchemy import update

    from parapheur.db import transaction

    admin = client_for("admin")
    assert _upload(admin, WITH_FINANCES).status_code == 302
    # The stored row's text differs from the upload's while its id and version are the same.
    with demo.app_context():
        session = get_session()
        with transaction(session):
            session.execute(update(CircuitVersion).where(
                CircuitVersion.title == "Délibération avec visa des finances")
                .values(source=WITH_FINANCES + "# modifié\n"))
    before = db_snapshot(demo)
    refused = _upload(admin, WITH_FINANCES)
    assert refused.status_code == 409
    page = page_text(refused)
    assert "est déjà enregistrée avec un autre texte" in page
    assert "rien n&#39;a été enregistré" in page or "rien n'a été enregistré" in page
    assert db_snapshot(demo) == before


def test_a_version_naming_a_desk_gone_since_is_shown_with_its_problem_and_not_activated(
        demo, client_for):
    from sqlalchemy import update

    from parapheur.accounts.models import Desk
    from parapheur.db import transaction

    admin = client_for("admin")
    location = _upload(admin, WITH_FINANCES).headers["Location"]
    with demo.app_context():
        session = get_session()
        with transaction(session):
            session.execute(update(Desk).where(Desk.slug == "finances")
                            .values(slug="finances-ancien"))
    page = page_text(admin.get(location))
    found = re.search(r"problème\(s\) aujourd.hui.*?</div>", page, re.S)
    assert found, page[page.find("verification") - 200:page.find("verification") + 800]
    assert re.search(r"deliberation\.yaml:\d+:\d+: .*finances", found.group(0)), found.group(0)
    refused = admin.post(f"{location}/activer", data={"csrf_token": csrf_from(page),
                                                      "typology": "ACTES/DELIBERATION"})
    assert refused.status_code == 400
    assert "ne peut pas être activée" in page_text(refused)
    assert _count(demo, CircuitActivation) == 0
