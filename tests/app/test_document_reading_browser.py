"""A délibération with an annex and a comment, visa then signature, done by clicking: on a
phone (390 px, by touch), a portrait tablet (768 px, by touch) and a desktop (1366 px, mouse).

The page images load one by one, the sticky action bar keeps « Viser » / « Signer » in view while
reading and unlocks them once every page was shown (mandatory reading), and nothing is wider than
the screen, from the inbox to the document. One Chromium for the module; the PDFs and the
circuits are made once for the three screens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app_helpers import browser_login
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
#: The screens the circuit is done on: viewport and how the browser is driven.
SCREENS = {
    390: {"viewport": PHONE, "has_touch": True, "is_mobile": True, "device_scale_factor": 2},
    768: {"viewport": {"width": 768, "height": 1024}, "has_touch": True},
    1366: {"viewport": {"width": 1366, "height": 768}},
}


PAGES = 10
#: The wider screens read a shorter délibération (the phone shows the lazy loading of a long one).
SHORT = 3


def _deliberation(pages: int = PAGES) -> bytes:
    """A délibération long enough that its last pages are far below the first screen."""
    from weasyprint import HTML

    body = "".join(f"<p style='page-break-before: always'>Article {n}.</p>"
                   for n in range(2, pages + 1))
    return HTML(string=f"<html lang='fr'><body><h1>Budget de l'eau</h1><p>Article 1.</p>{body}"
                       "<p>Le Maire,</p></body></html>").write_pdf()


def _read_every_page(page, pages: int) -> None:
    """Go through the document with the viewer's page field, as a reader would."""
    field = page.get_by_label("Aller à la page")
    for number in range(2, pages + 1):
        field.fill(str(number))
        field.press("Enter")
        image = page.get_by_role("img", name=f"Page {number} sur {pages}")
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0


def _annex() -> bytes:
    from weasyprint import HTML

    return HTML(string="<html lang='fr'><body><h1>Plan de financement</h1><p>Recettes.</p>"
                       "<p style='page-break-before: always'>Annexe page deux : dépenses.</p>"
                       "</body></html>").write_pdf()



def _no_overflow(page, screen: int | None = None) -> None:
    screen = screen or page.viewport_size["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""w => [...document.querySelectorAll('body *')].filter(
        e => e.getBoundingClientRect().right > w).slice(0, 8).map(
        e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))""", screen)
    assert width <= screen, f"{page.url} is {width} px wide on a {screen} px screen: {wide}"


def _press(locator) -> None:
    """Tap on a touch screen, click with the mouse elsewhere."""
    if locator.page.context.touch:
        locator.tap()
    else:
        locator.click()


def _go(page, locator) -> None:
    """Tap or click what navigates, and wait for the next page."""
    with page.expect_navigation():
        _press(locator)


def _logout(page) -> None:
    _go(page, page.get_by_role("button", name="Se déconnecter"))
    page.wait_for_url("**/login*")


def _bar_in_view(page, name: str) -> None:
    bar = page.get_by_role("navigation", name="Actions sur le document")
    box = bar.bounding_box()
    height = page.viewport_size["height"]
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= height
    assert bar.get_by_role("button" if name == "Viser" else "link", name=name).is_visible()


@pytest.fixture(scope="module")
def circuit_files(tmp_path_factory) -> dict[str, Path]:
    """The circuits with mandatory reading, the délibération and its annex, made once."""
    root = tmp_path_factory.mktemp("reading")
    workflows = root / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[2] / "workflows", workflows)
    circuit = workflows / "deliberation.yaml"
    circuit.write_text(circuit.read_text(encoding="utf-8").replace(
        "    desk: dgs\n", "    desk: dgs\n    mandatory_reading: true\n").replace(
        "    desk: maire\n", "    desk: maire\n    mandatory_reading: true\n"), encoding="utf-8")
    long_pdf, short_pdf = root / "long" / "deliberation.pdf", root / "short" / "deliberation.pdf"
    for path, pages in ((long_pdf, PAGES), (short_pdf, SHORT)):
        path.parent.mkdir()
        path.write_bytes(_deliberation(pages))
    annex_pdf = root / "plan de financement.pdf"
    annex_pdf.write_bytes(_annex())
    return {"workflows": workflows, "long": long_pdf, "short": short_pdf, "annex": annex_pdf}


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_a_deliberation_with_an_annex_and_a_comment(live_server, chromium_browser, demo,
                                                    circuit_files, screen):
    demo.config["WORKFLOWS_DIR"] = circuit_files["workflows"]  # the app live_server serves
    context = chromium_browser.new_context(locale="fr-FR", **SCREENS[screen])
    context.touch = "has_touch" in SCREENS[screen]
    page = context.new_page()
    failed: list[str] = []
    errors: list[str] = []
    page.on("response", lambda r: failed.append(r.url)
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    phone = screen == 390
    pages = PAGES if phone else SHORT
    main_pdf, annex_pdf = circuit_files["long" if phone else "short"], circuit_files["annex"]

    browser_login(page, live_server, "finances")
    _no_overflow(page)
    _go(page, page.get_by_role("link", name="Déposer un document"))
    page.get_by_label("1. Type et sous-type").select_option("ACTES/DELIBERATION")
    _go(page, page.get_by_role("button", name="Continuer"))
    page.get_by_label("Titre").fill("Délibération budget de l'eau")
    page.get_by_label("Fichier PDF").set_input_files(str(main_pdf))
    page.get_by_label("Annexes").set_input_files(str(annex_pdf))
    _go(page, page.get_by_role("button", name="Déposer et lancer le circuit"))
    assert "part dans son circuit" in page.locator("main").inner_text()
    _no_overflow(page)
    page.get_by_label("Ajouter un commentaire").fill("Le plan de financement est en annexe.")
    _go(page, page.get_by_role("button", name="Publier le commentaire"))
    expect(page.locator("main")).to_contain_text("Commentaire ajouté.")
    _logout(page)

    browser_login(page, live_server, "dgs")
    _no_overflow(page)
    _go(page, page.get_by_role("link", name="Délibération budget de l'eau"))
    _no_overflow(page)
    history = page.locator("ol.history").inner_text()
    assert "Le plan de financement est en annexe." in history
    # The pages are images from the server, each loaded as it comes into view.
    first = page.get_by_role("img", name=f"Page 1 sur {pages}")
    first.wait_for()
    assert first.evaluate("img => img.complete && img.naturalWidth > 0")
    if phone:
        last = page.get_by_role("img", name=f"Page {PAGES} sur {PAGES}")
        assert last.evaluate("img => img.naturalWidth") == 0  # lazy: not loaded before it is near
    bar = page.get_by_role("navigation", name="Actions sur le document")
    assert "Lecture obligatoire" in bar.inner_text()
    if phone:  # the short délibération's pages may all come into view on a wide screen at once
        assert bar.get_by_role("button", name="Viser").is_disabled()  # not every page shown yet
    _read_every_page(page, pages)
    expect(bar.get_by_role("button", name="Viser")).to_be_enabled()
    assert f"{pages} / {pages} pages affichées — lecture complète" in bar.inner_text()
    _bar_in_view(page, "Viser")  # read to the last page, the visa is still in reach
    # The annex is listed and previewed in the same viewer.
    _go(page, page.locator("#annexes").get_by_role("link", name="Aperçu"))
    assert page.get_by_role("heading", name="Annexe « plan de financement.pdf »").is_visible()
    page.get_by_role("img", name="Page 1 sur 2").wait_for()
    page.get_by_label("Rechercher dans le texte").fill("annexe page")
    _go(page, page.get_by_role("button", name="Rechercher"))
    assert "1 occurrence" in page.locator(".search-hits").inner_text()
    assert page.locator("#page-2 svg.hits rect").count() == 1
    _go(page, page.get_by_role("button", name="Viser"))
    assert "Visa donné" in page.locator("main").inner_text()
    _logout(page)

    browser_login(page, live_server, "maire")
    _no_overflow(page)
    _go(page, page.get_by_role("link", name="Délibération budget de l'eau"))
    signer = page.get_by_role("navigation", name="Actions sur le document").get_by_role(
        "link", name="Signer")
    if phone:
        assert signer.get_attribute("aria-disabled") == "true"
    _read_every_page(page, pages)
    expect(signer).to_have_attribute("aria-disabled", "false")
    _bar_in_view(page, "Signer")
    _press(page.get_by_role("navigation", name="Actions sur le document").get_by_role(
        "link", name="Signer"))
    code = page.get_by_label("Code de votre certificat")
    assert code.evaluate("input => document.activeElement === input")
    code.fill("1234")
    _go(page, page.get_by_role("button", name="Signer", exact=True))
    assert "est signé" in page.locator("main").inner_text()
    _go(page, page.get_by_role("link", name="Délibération budget de l'eau").first)
    main = page.locator("main").inner_text()
    assert "Terminé" in main and "Signée" in page.locator("#annexes").inner_text()
    assert page.get_by_role("link", name="Télécharger signée").is_visible()
    _no_overflow(page)
    # On the phone, a landscape tablet too: the same page fits, its actions above the document.
    for width, height in ((1024, 768),) if phone else ():
        page.set_viewport_size({"width": width, "height": height})
        page.reload()
        _no_overflow(page, width)
        assert page.get_by_role("img", name=f"Page 1 sur {PAGES}").bounding_box()["width"] > width / 3
    assert errors == [] and failed == []
    context.close()
