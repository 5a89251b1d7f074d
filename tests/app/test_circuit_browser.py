"""In Chromium: the circuit diagram draws under the CSP, and the two-step upload form works."""

from __future__ import annotations

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
