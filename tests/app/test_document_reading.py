"""Reading every page: page images, search, mandatory reading, annexes and comments."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from app_helpers import counting_queries, csrf_from, db_snapshot, page_text
from sqlalchemy import select

from parapheur.accounts.models import Desk, User
from parapheur.accounts.services import add_member
from parapheur.audit.bundle import check_bundle
from parapheur.audit.models import AuditEvent
from parapheur.circuits import services as circuits
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.documents import comments as document_comments
from parapheur.documents import services as documents
from parapheur.documents.annexes import Annex
from parapheur.documents.comments import Comment
from parapheur.documents.models import Document
from parapheur.documents.reading import PageView

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _deposit(client, data: bytes, title: str, annexes=()) -> int:
    page = client.get("/documents/new?typology=ACTES/DELIBERATION").get_data(as_text=True)
    response = client.post("/documents/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "title": title, "typology": "ACTES/DELIBERATION",
        "file": (io.BytesIO(data), "deliberation.pdf"),
        "annexes": [(io.BytesIO(content), name) for name, content in annexes]})
    assert response.status_code == 302, page_text(response)
    with client.application.app_context():
        return get_session().execute(select(Document.id).where(Document.title == title)
                                     ).scalar_one()


def _events(app, name: str) -> list[dict]:
    with app.app_context():
        return [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.seq)).scalars()]


@pytest.fixture
def mandatory(demo, tmp_path):
    """The shipped circuits, the délibération's visa and signature asking for every page read."""
    directory = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", directory)
    path = directory / "deliberation.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("    desk: dgs\n", "    desk: dgs\n    mandatory_reading: true\n")
    text = text.replace("    desk: maire\n", "    desk: maire\n    mandatory_reading: true\n")
    path.write_text(text, encoding="utf-8")
    demo.config["WORKFLOWS_DIR"] = directory
    return demo


def test_the_page_shows_each_page_as_an_image_rendered_once(demo, client_for, sample_pdf):
    finances = client_for("finances")
    document_id = _deposit(finances, sample_pdf, "Délibération à lire")
    html = finances.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "<iframe" not in html
    assert f"/documents/{document_id}/versions/1/pages/1.png?zoom=100" in html
    assert f"/documents/{document_id}/versions/1/pages/2.png?zoom=100" in html
    assert 'loading="lazy"' in html and "Ouvrir le PDF original" in html
    first = finances.get(f"/documents/{document_id}/versions/1/pages/2.png?zoom=150")
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert first.data.startswith(PNG)
    assert first.headers["Cache-Control"] == "private, no-store"
    with demo.app_context():
        sha256 = get_session().get(Document, document_id).current_version.sha256
    cached = Path(demo.config["DATA_DIR"]) / "pages" / sha256[:2] / sha256 / "z150" / "2.png"
    assert cached.read_bytes() == first.data
    larger = finances.get(f"/documents/{document_id}/versions/1/pages/2.png?zoom=300")
    assert len(larger.data) > len(first.data)
    # Bad requests get a sentence, never a traceback; a hidden document is « indisponible ».
    missing = finances.get(f"/documents/{document_id}/versions/1/pages/3.png")
    assert missing.status_code == 404 and "La page 3 n'existe pas" in page_text(missing)
    odd = finances.get(f"/documents/{document_id}/versions/1/pages/1.png?zoom=33")
    assert odd.status_code == 400 and "Zoom invalide" in page_text(odd)
    hidden = client_for("adjoint").get(f"/documents/{document_id}/versions/1/pages/1.png")
    assert hidden.status_code == 404 and "indisponible" in page_text(hidden)
    zoomed = finances.get(f"/documents/{document_id}?zoom=200").get_data(as_text=True)
    assert "pages/1.png?zoom=200" in zoomed and "zoom-200" in zoomed


def test_search_ignores_accents_and_highlights_the_hits(demo, client_for, sample_pdf):
    finances = client_for("finances")
    document_id = _deposit(finances, sample_pdf, "Délibération cherchée")
    found = finances.get(f"/documents/{document_id}/versions/1/search?q=premiere+PAGE").get_json()
    assert found["total"] == 1 and [p["page"] for p in found["pages"]] == [1]
    [[x, y, width, height]] = found["pages"][0]["boxes"]
    assert 0 < x < 595 and 0 < y < 842 and width > 20 and 5 < height < 40
    assert "Première page" in found["pages"][0]["excerpt"]
    html = finances.get(f"/documents/{document_id}?q=seconde").get_data(as_text=True)
    assert "1 occurrence</strong> de « seconde »" in html
    page_two = html[html.index('id="page-2"'):]
    assert "<rect" in page_two[:page_two.index("</figure>")]
    assert "<rect" not in html[html.index('id="page-1"'):html.index('id="page-2"')]
    none = finances.get(f"/documents/{document_id}?q=introuvable").get_data(as_text=True)
    assert "Aucune occurrence de « introuvable »" in none


@pytest.mark.postgres  # one row per page and user, under a unique constraint and a savepoint
def test_mandatory_reading_unlocks_the_visa_once_every_page_was_shown(
        mandatory, client_for, sample_pdf):
    document_id = _deposit(client_for("finances"), sample_pdf, "Délibération à lire en entier")
    dgs = client_for("dgs")
    page = dgs.get(f"/documents/{document_id}")
    html = page.get_data(as_text=True)
    assert "Lecture obligatoire : <span data-reading-seen>0</span> / 2 pages affichées" in html
    token = csrf_from(html)
    before = db_snapshot(mandatory)
    refused = dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                       data={"csrf_token": token})
    assert refused.status_code == 409
    assert ("Lecture obligatoire : affichez chacune des 2 pages du document (version 1) avant de "
            "viser. Pages pas encore affichées : 1, 2.") in page_text(refused)
    assert db_snapshot(mandatory) == before
    assert dgs.get(f"/documents/{document_id}/versions/1/pages/1.png").status_code == 200
    again = dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa", data={"csrf_token": token})
    assert again.status_code == 409 and "Pages pas encore affichées : 2." in page_text(again)
    # The author's reading is the author's: it does not count for the DGS.
    client_for("finances").get(f"/documents/{document_id}/versions/1/pages/2.png")
    assert dgs.get(f"/documents/{document_id}/reading").get_json()["seen"] == 1
    dgs.get(f"/documents/{document_id}/versions/1/pages/2.png?zoom=50")
    assert dgs.get(f"/documents/{document_id}/reading").get_json() == {
        "version": 1, "pages": 2, "seen": 2, "complete": True}
    assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                    data={"csrf_token": token}).status_code == 302
    completed = _events(mandatory, "document:reading:completed")
    assert [(e["version"], e["pages"]) for e in completed] == [(1, 2)]  # the DGS's, not finances'
    with mandatory.app_context():
        from parapheur.accounts.models import User

        reader = get_session().execute(select(AuditEvent.actor_id).where(
            AuditEvent.name == "document:reading:completed")).scalar_one()
        assert get_session().get(User, reader).username == "dgs"
    # The maire's own reading gates her signature, before her code is even asked for.
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    refused = maire.post(f"/documents/{document_id}/steps/signature_maire/sign",
                         data={"csrf_token": token, "passphrase": "1234"})
    assert refused.status_code == 409 and "avant de signer" in page_text(refused)
    for number in (1, 2):
        maire.get(f"/documents/{document_id}/versions/1/pages/{number}.png")
    signed = maire.post(f"/documents/{document_id}/steps/signature_maire/sign",
                        data={"csrf_token": token, "passphrase": "1234"})
    assert signed.status_code == 302
    with mandatory.app_context():
        views = get_session().execute(select(PageView)).scalars().all()
        assert len(views) == 5  # finances saw page 2; the DGS and the maire both, once each


def _odt() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


ODT = _odt()


def test_annexes_are_listed_previewed_signed_with_the_act_and_in_the_bundle(
        demo, client_for, sample_pdf, demo_pki, tmp_path):
    from parapheur.demo.seed import DEMO_PASSPHRASE

    finances = client_for("finances")
    from weasyprint import HTML

    annex_pdf = HTML(string="<html lang='fr'><body><p>Plan de financement.</p><p style="
                            "'page-break-before: always'>Dépenses.</p></body></html>").write_pdf()
    document_id = _deposit(finances, sample_pdf, "Délibération avec annexes",
                           annexes=[("plan de financement.pdf", annex_pdf),
                                    ("note.odt", ODT)])
    later = finances.post(f"/documents/{document_id}/annexes", content_type="multipart/form-data",
                          data={"csrf_token": csrf_from(finances.get("/").get_data(as_text=True)),
                                "annexes": [(io.BytesIO(b"montant;objet\n12000,50;voirie\n"),
                                             "budget.csv")]})
    assert later.status_code == 302
    with demo.app_context():
        annexes = get_session().execute(select(Annex).where(Annex.document_id == document_id)
                                        .order_by(Annex.position)).scalars().all()
        assert [(a.filename, a.media_type, a.page_count) for a in annexes] == [
            ("plan de financement.pdf", "application/pdf", 2),
            ("note.odt", "application/vnd.oasis.opendocument.text", None),
            ("budget.csv", "text/csv", None)]
        pdf_id, odt_id = annexes[0].id, annexes[1].id
    html = finances.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "note.odt" in html and "budget.csv" in html
    preview = finances.get(f"/documents/{document_id}?annexe={pdf_id}").get_data(as_text=True)
    assert f"/annexes/{pdf_id}/pages/2.png?zoom=100" in preview
    assert finances.get(f"/documents/{document_id}/annexes/{pdf_id}/pages/1.png").data.startswith(PNG)
    no_preview = finances.get(f"/documents/{document_id}/annexes/{odt_id}/pages/1.png")
    assert no_preview.status_code == 404 and "téléchargez-la" in page_text(no_preview)
    download = finances.get(f"/documents/{document_id}/annexes/{odt_id}/file")
    assert download.data == ODT and "attachment" in download.headers["Content-Disposition"]
    # Refusals: a type not accepted, a file that lies about its type, another user, too late.
    token = csrf_from(finances.get("/").get_data(as_text=True))
    dgs = client_for("dgs")
    dgs_token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    before = db_snapshot(demo)
    bad = finances.post(f"/documents/{document_id}/annexes", content_type="multipart/form-data",
                        data={"csrf_token": token,
                              "annexes": [(io.BytesIO(b"MZ\x90\x00"), "outil.exe")]})
    assert bad.status_code == 400 and "type de fichier non accepté" in page_text(bad)
    liar = finances.post(f"/documents/{document_id}/annexes", content_type="multipart/form-data",
                         data={"csrf_token": token,
                               "annexes": [(io.BytesIO(b"not a pdf"), "faux.pdf")]})
    assert liar.status_code == 400 and "ne correspond pas à l'extension" in page_text(liar)
    stranger = dgs.post(f"/documents/{document_id}/annexes", content_type="multipart/form-data",
                        data={"csrf_token": dgs_token,
                              "annexes": [(io.BytesIO(b"x"), "x.txt")]})
    assert stranger.status_code == 403
    assert db_snapshot(demo) == before
    assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                    data={"csrf_token": dgs_token}).status_code == 302
    too_late = finances.post(f"/documents/{document_id}/annexes",
                             content_type="multipart/form-data",
                             data={"csrf_token": token, "annexes": [(io.BytesIO(b"x"), "x.txt")]})
    assert too_late.status_code == 403 and "avant la première action" in page_text(too_late)
    # The délibération's signature step signs its PDF annex in the same act.
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    assert maire.post(f"/documents/{document_id}/steps/signature_maire/sign",
                      data={"csrf_token": token, "passphrase": "1234"}).status_code == 302
    with demo.app_context():
        session = get_session()
        pdf_annex, odt_annex = session.get(Annex, pdf_id), session.get(Annex, odt_id)
        assert pdf_annex.signed_sha256 and odt_annex.signed_sha256 is None
    signed = maire.get(f"/documents/{document_id}/annexes/{pdf_id}/file?signe=1")
    assert signed.status_code == 200 and signed.data.startswith(b"%PDF")
    from signing.validation import Validator, load_trust_roots

    validator = Validator(load_trust_roots([demo_pki.ca_certificate_path]), online=False)
    try:
        report = validator.validate(signed.data)
    finally:
        validator.close()
    assert report.error is None and len(report.signatures) == 1
    assert report.signatures[0].intact and report.signatures[0].valid
    assert [e["annex_id"] for e in _events(demo, "document:annex:signed")] == [pdf_id]
    # The evidence bundle carries every annex, deposited and signed, and still checks.
    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    bundle = client_for("auditeur").get(f"/documents/{document_id}/evidence.zip")
    path = tmp_path / "preuve.zip"
    path.write_bytes(bundle.data)
    check = check_bundle(path)
    assert check.ok, check.problems
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("annexes/02-note.odt") == ODT
    assert {n for n in names if n.startswith("annexes/")} == set(manifest["annexes"])
    assert len(manifest["annexes"]) == 4  # the PDF twice (deposited, signed), the ODT, the CSV


def test_a_bundle_whose_annex_is_not_in_the_journal_fails(demo, client_for, sample_pdf,
                                                         demo_pki, tmp_path):
    from parapheur.demo.seed import DEMO_PASSPHRASE

    document_id = _deposit(client_for("finances"), sample_pdf, "Délibération à annexe",
                           annexes=[("note.txt", b"Pour information.\n")])
    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    path = tmp_path / "preuve.zip"
    path.write_bytes(client_for("auditeur").get(f"/documents/{document_id}/evidence.zip").data)
    assert check_bundle(path).ok
    with demo.app_context():
        session = get_session()
        annex = session.execute(select(Annex).where(Annex.document_id == document_id)).scalar_one()
        from parapheur.context import store_for

        annex.sha256 = store_for(demo.config).put(b"Une autre note.\n")  # swapped behind the journal
        session.commit()
    path.write_bytes(client_for("auditeur").get(f"/documents/{document_id}/evidence.zip").data)
    assert ("l'annexe annexes/01-note.txt n'est mentionnée par aucun événement du journal"
            in check_bundle(path).problems)


def test_public_and_desk_comments_are_shown_to_whom_they_are_for(demo, client_for, sample_pdf):
    finances = client_for("finances")
    document_id = _deposit(finances, sample_pdf, "Délibération commentée")
    token = csrf_from(finances.get(f"/documents/{document_id}").get_data(as_text=True))
    assert finances.post(f"/documents/{document_id}/comments", data={
        "csrf_token": token, "body": "Montant vérifié avec le budget annexe.",
        "visibility": "public"}).status_code == 302
    dgs = client_for("dgs")
    dgs_token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    assert dgs.post(f"/documents/{document_id}/comments", data={
        "csrf_token": dgs_token, "body": "À revoir avec le maire avant la séance.",
        "visibility": "bureau"}).status_code == 302
    dgs_page = dgs.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "Montant vérifié avec le budget annexe." in dgs_page
    assert "À revoir avec le maire avant la séance." in dgs_page
    assert "Privé — bureau" in dgs_page
    for other in ("finances", "auditeur"):
        html = client_for(other).get(f"/documents/{document_id}").get_data(as_text=True)
        assert "Montant vérifié avec le budget annexe." in html
        assert "À revoir avec le maire" not in html
    hidden = client_for("adjoint").post(f"/documents/{document_id}/comments", data={
        "csrf_token": token, "body": "Intrus"})
    assert hidden.status_code in (400, 404)
    before = db_snapshot(demo)
    long = finances.post(f"/documents/{document_id}/comments", data={
        "csrf_token": token, "body": "x" * 4001})
    assert long.status_code == 400 and "4000 caractères au plus (4001 saisis)" in page_text(long)
    empty = finances.post(f"/documents/{document_id}/comments", data={
        "csrf_token": token, "body": "   "})
    assert empty.status_code == 400 and "Le commentaire est vide." in page_text(empty)
    odd = finances.post(f"/documents/{document_id}/comments", data={
        "csrf_token": token, "body": "ok", "visibility": "tous"})
    assert odd.status_code == 400 and "Visibilité du commentaire inconnue" in page_text(odd)
    assert db_snapshot(demo) == before
    journaled = _events(demo, "document:comment:added")
    assert [e["visibility"] for e in journaled] == ["public", "bureau"]
    assert all("body" not in e and len(e["text_sha256"]) == 64 for e in journaled)
    with demo.app_context():
        assert get_session().execute(select(Comment.body).where(
            Comment.document_id == document_id).order_by(Comment.id)).scalars().all() == [
            "Montant vérifié avec le budget annexe.", "À revoir avec le maire avant la séance."]


def test_upload_refuses_a_bad_annex_and_keeps_nothing(demo, client_for, sample_pdf):
    finances = client_for("finances")
    before = db_snapshot(demo)
    page = finances.get("/documents/new?typology=ACTES/DELIBERATION").get_data(as_text=True)
    response = finances.post("/documents/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "title": "Avec une annexe vide",
        "typology": "ACTES/DELIBERATION", "file": (io.BytesIO(sample_pdf), "d.pdf"),
        "annexes": [(io.BytesIO(b""), "vide.pdf")]})
    assert response.status_code == 400
    assert "Annexe « vide.pdf » : le fichier est vide." in page_text(response)
    assert db_snapshot(demo) == before


def test_a_batch_signature_signs_each_documents_pdf_annexes(demo, client_for, sample_pdf):
    finances = client_for("finances")
    ids = [_deposit(finances, sample_pdf, f"Délibération groupée {n}",
                    annexes=[(f"annexe-{n}.pdf", sample_pdf), ("liste.txt", "Pour mémoire.\n".encode())])
           for n in (1, 2)]
    dgs = client_for("dgs")
    for document_id in ids:
        token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
        assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                        data={"csrf_token": token}).status_code == 302
    maire = client_for("maire")
    token = csrf_from(maire.get("/").get_data(as_text=True))
    response = maire.post("/signatures/batch", data={
        "csrf_token": token, "reviewed": "1", "passphrase": "1234",
        "items": [f"{document_id}:signature_maire" for document_id in ids]})
    assert response.status_code == 302
    assert "2 document(s) signé(s)." in page_text(maire.get("/"))
    with demo.app_context():
        rows = get_session().execute(select(Annex.document_id, Annex.filename, Annex.signed_sha256)
                                     .where(Annex.document_id.in_(ids))
                                     .order_by(Annex.id)).all()
    assert [(d, f, bool(s)) for d, f, s in rows] == [
        (ids[0], "annexe-1.pdf", True), (ids[0], "liste.txt", False),
        (ids[1], "annexe-2.pdf", True), (ids[1], "liste.txt", False)]


@pytest.mark.postgres
def test_the_document_page_runs_as_many_queries_with_9_history_entries_as_with_1(
        demo, client_for, clock, sample_pdf):
    """Who acted, for which desk, and who commented are read with the history, not one by one."""
    with demo.app_context():
        session = get_session()
        with transaction(session):
            users = {u.username: u for u in session.execute(select(User)).scalars()}
            desk = session.execute(select(Desk).where(Desk.slug == "finances")).scalar_one()
            made = [documents.create_document(
                session, store_for(demo.config), title=f"Délibération {n}", doc_type="ACTES",
                doc_subtype="DELIBERATION", data=sample_pdf, filename="d.pdf",
                author=users["finances"], author_desk=desk, now=clock(),
                circuits_dir=workflows_dir_for(demo.config)) for n in (1, 2)]
            short, long = made
            circuits.act(session, short, step="visa_dgs", actor=users["dgs"],
                         decision="approve", now=clock())
            dgs_desk = session.execute(select(Desk).where(Desk.slug == "dgs")).scalar_one()
            add_member(session, dgs_desk, users["adjoint"], now=clock(), actor=None)
            for actor in ("adjoint", "dgs", "adjoint", "dgs"):  # a visa given and taken back
                circuits.act(session, long, step="visa_dgs", actor=users[actor],
                             decision="approve", now=clock())
                circuits.take_back(session, long, actor=users[actor], now=clock())
            circuits.act(session, long, step="visa_dgs", actor=users["dgs"], decision="approve",
                         now=clock())
            for document, authors in ((short, ["finances"]),
                                      (long, ["finances", "auditeur", "admin"])):
                for author in authors:
                    document_comments.add_comment(
                        session, document, author=users[author], body=f"Vu par {author}.",
                        visibility="public", desk_slug=None, now=clock())
            ids = short.id, long.id
    maire = client_for("maire")
    counts = []
    for document_id in ids:
        maire.get(f"/documents/{document_id}")  # warm-up: first-request work is not the page's
        with counting_queries(demo) as statements:
            page = page_text(maire.get(f"/documents/{document_id}"))
        assert "Vu par finances." in page and "Signer" in page
        counts.append(len(statements))
    assert page.count("Repris") == 4 and "Vu par auditeur." in page and "Vu par admin." in page
    assert counts[0] == counts[1], counts
