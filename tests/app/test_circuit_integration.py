"""The circuit in the pages: diagram, metadata on upload, parallel steps, late documents, labels."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

from app_helpers import csrf_from, db_snapshot, page_text, upload
from sqlalchemy import select

from parapheur.circuits import services as circuits
from parapheur.db import get_session
from parapheur.documents.models import Document

SVG = "{http://www.w3.org/2000/svg}"


def _document(app, title: str) -> Document:
    with app.app_context():
        return get_session().execute(select(Document).where(Document.title == title)).scalar_one()


def _first_waiting_visa(app) -> Document:
    with app.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = circuits.pending_steps(document)
            if pending and pending[0].action == "visa":
                return document
    raise AssertionError("no document waits for a visa")


def _current_boxes(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [g.get("id") for g in root.iter(f"{SVG}g") if "current" in (g.get("class") or "").split()]


# --- the diagram ---------------------------------------------------------------------------------

def test_document_page_shows_the_circuit_with_the_current_step(demo, client_for):
    document = _first_waiting_visa(demo)
    response = client_for("dgs").get(f"/documents/{document.id}")
    html = response.get_data(as_text=True)
    svg = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    assert _current_boxes(svg) == ["state-visa_dgs"]
    assert "Visa du DGS" in svg and "signature · Maire" in svg  # desk names, not slugs
    # The CSP allows no inline style: the drawing must use presentation attributes only.
    csp = response.headers["Content-Security-Policy"]
    assert "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "style=" not in svg and "<style" not in svg
    # The diagram needs no script; the page's only scripts are files of the application.
    assert "<script" not in svg
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(re.fullmatch(r'<script src="/static/\w+\.js" defer>', s)
                           for s in scripts), scripts


def test_circuit_svg_route_serves_the_diagram_as_an_image(demo, client_for):
    document = _first_waiting_visa(demo)
    dgs = client_for("dgs")
    response = dgs.get(f"/documents/{document.id}/circuit.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert _current_boxes(response.get_data(as_text=True)) == ["state-visa_dgs"]
    # After the visa the highlight moves to the signature.
    token = csrf_from(dgs.get(f"/documents/{document.id}").get_data(as_text=True))
    dgs.post(f"/documents/{document.id}/steps/visa_dgs/visa", data={"csrf_token": token})
    svg = dgs.get(f"/documents/{document.id}/circuit.svg").get_data(as_text=True)
    assert _current_boxes(svg) == ["state-signature_maire"]


def test_circuit_svg_of_an_invisible_document_is_refused(demo, client_for):
    document = _first_waiting_visa(demo)
    response = client_for("adjoint").get(f"/documents/{document.id}/circuit.svg")
    assert response.status_code == 404
    assert f"Document n° {document.id} indisponible." in page_text(response)


# --- metadata on upload ----------------------------------------------------------------------------

def test_upload_form_shows_the_fields_of_the_chosen_circuit(demo, client_for):
    finances = client_for("finances")
    first = page_text(finances.get("/documents/new"))
    assert "Montant TTC" not in first and "Continuer" in first
    html = page_text(finances.get("/documents/new?typology=FACTURES/FACTURE"))
    assert "<legend>Informations demandées par le circuit</legend>" in html
    assert '<label for="meta-montant_ttc">Montant TTC (€)' in html
    select_html = re.search(r'<select id="meta-service_ordonnateur" name="service_ordonnateur" '
                            r'required>(.*?)</select>', html, re.S)
    assert select_html, html
    assert '<option value="services-techniques" >Services techniques</option>' in \
        select_html.group(1)
    assert 'name="fournisseur"' in html and "(facultatif)" in html


def test_facture_metadata_are_stored_and_route_the_invoice(demo, client_for, sample_pdf):
    finances = client_for("finances")
    response = upload(finances, sample_pdf, typology="FACTURES/FACTURE", title="Facture ACME 2026-118",
                       montant_ttc="30 000,50".replace(" ", ""),
                       service_ordonnateur="services-techniques", fournisseur="ACME")
    assert response.status_code == 302, page_text(response)
    document = _document(demo, "Facture ACME 2026-118")
    assert document.meta == {"montant_ttc": "30000,50", "service_ordonnateur": "services-techniques",
                             "fournisseur": "ACME"}
    with demo.app_context():
        pending = circuits.pending_steps(get_session().get(Document, document.id))
        assert [(p.state, p.desks) for p in pending] == [("service_fait",
                                                          ("services-techniques",))]
    # Service fait by the ordonnateur; above 25 000 € the finances visa follows.
    page = finances.get(f"/documents/{document.id}").get_data(as_text=True)
    assert finances.post(f"/documents/{document.id}/steps/service_fait/visa",
                         data={"csrf_token": csrf_from(page)}).status_code == 302
    with demo.app_context():
        pending = circuits.pending_steps(get_session().get(Document, document.id))
        assert [p.state for p in pending] == ["visa_finances"]


def test_bad_metadata_get_a_french_400_and_store_nothing(demo, client_for, sample_pdf):
    finances = client_for("finances")
    before = db_snapshot(demo)
    store = demo.config["DATA_DIR"] / "store"
    files_before = sorted(p.name for p in store.glob("*/*"))
    response = upload(finances, sample_pdf, typology="FACTURES/FACTURE", title="Facture douteuse",
                       montant_ttc="beaucoup", service_ordonnateur="")
    assert response.status_code == 400
    text = page_text(response)
    assert "Métadonnées du document invalides" in text, text[text.find("notice-error"):][:800]
    assert "« Montant TTC (€) » : « beaucoup » n'est pas valable, décimal" in text
    assert "« Service ordonnateur » est obligatoire" in text
    assert "montant_ttc" not in text.split("notice-error", 1)[1].split("</ul>", 1)[0]
    # The form comes back filled in, so nothing typed is lost.
    assert 'value="beaucoup"' in text and 'value="Facture douteuse"' in text
    assert db_snapshot(demo) == before
    assert sorted(p.name for p in store.glob("*/*")) == files_before


def test_unknown_desk_in_metadata_is_refused(demo, client_for, sample_pdf):
    finances = client_for("finances")
    before = db_snapshot(demo)
    response = upload(finances, sample_pdf, typology="FACTURES/FACTURE", title="Facture sans bureau",
                       montant_ttc="100", service_ordonnateur="bureau-fantome")
    assert response.status_code == 400
    assert "bureau inconnu « bureau-fantome »" in page_text(response)
    assert db_snapshot(demo) == before


def test_value_outside_the_declared_list_is_refused(demo, client_for, sample_pdf):
    finances = client_for("finances")
    before = db_snapshot(demo)
    response = upload(finances, sample_pdf, typology="CONTRATS/CONTRAT", title="Contrat bizarre",
                       montant_ht="1000", procedure="marche-noir")
    assert response.status_code == 400
    assert "parmi gre-a-gre, mapa, appel-offres" in page_text(response)
    assert db_snapshot(demo) == before


# --- parallel steps --------------------------------------------------------------------------------

def _desk_line(html: str, desk: str) -> str:
    match = re.search(rf'<li class="desk desk-(\w+)">{re.escape(desk)} :\s*(.*?)</li>', html, re.S)
    assert match, f"no line for {desk}"
    return match.group(1) + ": " + " ".join(match.group(2).split())


def test_parallel_visas_show_who_acted_and_who_is_awaited(demo, client_for, sample_pdf):
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="CONTRATS/CONTRAT", title="Marché de voirie 2027",
                   montant_ht="120000", procedure="appel-offres").status_code == 302
    document = _document(demo, "Marché de voirie 2027")
    dgs = client_for("dgs")
    html = page_text(dgs.get(f"/documents/{document.id}"))
    assert "(tous les bureaux)" in html
    assert _desk_line(html, "Service finances") == "waiting: attendu"
    assert _desk_line(html, "Direction générale des services") == "waiting: attendu"

    page = finances.get(f"/documents/{document.id}").get_data(as_text=True)
    assert finances.post(f"/documents/{document.id}/steps/visas_paralleles/visa",
                         data={"csrf_token": csrf_from(page)}).status_code == 302
    html = page_text(dgs.get(f"/documents/{document.id}"))
    assert _desk_line(html, "Service finances").startswith("done: fait par Karim Benali")
    assert _desk_line(html, "Direction générale des services") == "waiting: attendu"
    # Finances has acted: no second visa button for them, and the step still waits for the DGS.
    assert "Donner le visa" not in page_text(finances.get(f"/documents/{document.id}"))
    assert "Donner le visa" in html


def test_any_mode_step_is_already_processed_for_the_other_desk(demo, client_for, sample_pdf):
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="CONTRATS/CONTRAT", title="Marché de restauration",
                   montant_ht="95000", procedure="mapa").status_code == 302
    document = _document(demo, "Marché de restauration")
    dgs = client_for("dgs")
    for client in (finances, dgs):
        page = client.get(f"/documents/{document.id}").get_data(as_text=True)
        assert client.post(f"/documents/{document.id}/steps/visas_paralleles/visa",
                           data={"csrf_token": csrf_from(page)}).status_code == 302
    maire = client_for("maire")
    adjoint = client_for("adjoint")
    html = page_text(adjoint.get(f"/documents/{document.id}"))
    assert "(un seul bureau suffit)" in html
    adjoint_token = csrf_from(html)
    page = maire.get(f"/documents/{document.id}").get_data(as_text=True)
    assert maire.post(f"/documents/{document.id}/steps/visa_adjoint/visa",
                      data={"csrf_token": csrf_from(page)}).status_code == 302

    # The adjoint's desk acts nowhere later, yet still sees the document and that it is settled.
    html = page_text(adjoint.get(f"/documents/{document.id}"))
    assert _desk_line(html, "1er adjoint") == "settled: déjà traité (un autre bureau a agi)"
    assert _desk_line(html, "Maire").startswith("done: fait par Martine Dupont")
    assert "Donner le visa" not in html
    before = db_snapshot(demo)
    late_visa = adjoint.post(f"/documents/{document.id}/steps/visa_adjoint/visa",
                             data={"csrf_token": adjoint_token})
    assert late_visa.status_code == 409
    assert "déjà traité" in page_text(late_visa).lower()
    assert db_snapshot(demo) == before


# --- late documents and labels ---------------------------------------------------------------------

def test_late_documents_are_marked_and_listed_first(demo, client_for, sample_pdf, clock):
    finances = client_for("finances")
    assert upload(finances, sample_pdf, typology="CONTRATS/CONTRAT", title="Contrat à l'heure",
                   montant_ht="1000", procedure="gre-a-gre").status_code == 302
    clock.moment += timedelta(hours=1)
    finances = client_for("finances")  # an hour later the idle session has ended: log in again
    assert upload(finances, sample_pdf, typology="ACTES/ARRETE", title="Arrêté en retard").status_code == 302
    contract, arrete = _document(demo, "Contrat à l'heure"), _document(demo, "Arrêté en retard")
    with demo.app_context():
        contract_due = circuits.run_state(contract).due
        arrete_due = circuits.run_state(arrete).due
    assert arrete_due < contract_due  # 3 business days against 5
    dgs = client_for("dgs")
    html = page_text(dgs.get("/"))
    assert "En retard" not in html
    clock.moment = arrete_due + timedelta(minutes=1)
    dgs = client_for("dgs")  # days later: a new login
    html = page_text(dgs.get("/"))
    section = html[html.index('id="a-traiter"'):html.index('id="mes-documents"')]
    # Each row: its selection box (batch visa / signature), then the title.
    rows = re.findall(r"<tr( class=\"late\")?[^>]*>\s*<td>(?:<input[^>]*>)?</td>\s*<td>(.*?)</td>",
                      section, re.S)
    titles = [(bool(late), re.sub(r"<[^>]+>", "", cell).strip()) for late, cell in rows]
    assert titles[0] == (True, "En retard Arrêté en retard")
    assert all(not late for late, _ in titles[1:])
    assert (False, "Contrat à l'heure") in titles
    assert "1 en retard" in section
    page = page_text(dgs.get(f"/documents/{arrete.id}"))
    assert '<span class="badge badge-late">En retard</span>' in page


def test_pages_show_typology_labels_not_codes(demo, client_for):
    document = _first_waiting_visa(demo)
    dgs = client_for("dgs")
    inbox = page_text(dgs.get("/"))
    assert "Actes administratifs — Délibération" in inbox
    assert "ACTES / DELIBERATION" not in inbox
    page = page_text(dgs.get(f"/documents/{document.id}"))
    assert "Actes administratifs — Délibération" in page
    assert "ACTES / DELIBERATION" not in page
