"""In Chromium: the circuit diagram draws under the CSP, and the two-step upload form works."""

from __future__ import annotations

import re

import pytest
from app_helpers import browser_login

pytestmark = pytest.mark.e2e


def test_diagram_draws_under_the_content_security_policy(live_server, browser_page):
    page = browser_page
    browser_login(page, live_server, "dgs")
    page.locator("section[aria-labelledby=a-traiter]").get_by_role("link").first.click()
    diagram = page.get_by_role("img", name="Délibération")
    box = diagram.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    current = page.locator("svg g.state.current rect")
    assert current.get_attribute("stroke") == "#e67e22"
    # Presentation attributes apply: the computed stroke is the orange of the current step.
    assert current.evaluate("e => getComputedStyle(e).stroke") == "rgb(230, 126, 34)"
    assert not [m for m in page.console_errors if "Content Security Policy" in m], \
        page.console_errors


def test_upload_in_two_steps_with_the_circuit_fields(live_server, browser_page, sample_pdf,
                                                      tmp_path):
    page = browser_page
    pdf = tmp_path / "facture.pdf"
    pdf.write_bytes(sample_pdf)
    browser_login(page, live_server, "finances")
    page.get_by_role("link", name="Déposer un document").click()
    page.get_by_label("1. Type et sous-type").select_option("FACTURES/FACTURE")
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Titre").fill("Facture Électricité novembre")
    page.get_by_label("Montant TTC (€)").fill("1 250,00".replace(" ", ""))
    page.get_by_label("Service ordonnateur").select_option(label="Services techniques")
    page.get_by_label("Fichier PDF").set_input_files(str(pdf))
    page.get_by_role("button", name="Déposer et lancer le circuit").click()
    main = page.locator("main").inner_text()
    assert "est déposé" in main, main
    assert "Constatation du service fait" in main
    assert "Services techniques : attendu" in " ".join(main.split())
    assert not page.failed, page.failed
    assert not [m for m in page.console_errors if "404" not in m], page.console_errors


def test_an_administrator_uploads_checks_and_activates_a_circuit(live_server, browser_page,
                                                                   tmp_path):
    from test_admin_circuits import WITH_FINANCES

    page = browser_page
    broken, good = tmp_path / "mon-circuit.yaml", tmp_path / "deliberation.yaml"
    broken.write_text(WITH_FINANCES.replace("desk: finances", "desk: financse"), encoding="utf-8")
    good.write_text(WITH_FINANCES, encoding="utf-8")
    browser_login(page, live_server, "admin")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Pages d'administration").get_by_role(
        "link", name="Circuits").click()
    page.get_by_label("Fichier de circuit").set_input_files(str(broken))
    page.get_by_role("button", name="Vérifier le circuit").click()
    problems = page.get_by_role("alert").inner_text()
    assert "rien n'est enregistré" in problems
    assert re.search(r"mon-circuit\.yaml:11:\d+: .*financse", problems), problems
    page.get_by_label("Fichier de circuit").set_input_files(str(good))
    page.get_by_role("button", name="Vérifier le circuit").click()
    assert "vérifié sans problème et enregistré" in page.locator("main").inner_text()
    assert "Aucun problème" in page.locator("#verification").inner_text()
    diagram = page.locator("figure.diagram svg")
    assert diagram.is_visible() and "Visa des finances" in diagram.text_content()
    page.get_by_label("Type / sous-type", exact=True).select_option("ACTES/DELIBERATION")
    page.get_by_role("button", name="Activer cette version").click()
    main = " ".join(page.locator("main").inner_text().split())
    assert "« ACTES / DELIBERATION » suivront le circuit « Délibération avec visa des finances »" \
        in main, main
    followed = page.locator("section[aria-labelledby=typologie-circuits] tr",
                            has_text="Délibération").first
    assert "deliberation" in followed.inner_text() and followed.get_by_role("link").count() == 1
    # The only failed request is the refused upload (400, its problems shown).
    assert page.failed == [f"{live_server}/admin/circuits/"], page.failed
    assert [m for m in page.console_errors if "400" not in m] == [], page.console_errors
