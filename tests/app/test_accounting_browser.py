"""In Chromium: the demo's signed bordereau exported, then its acquittement uploaded from
« Comptabilité » and what it changed shown."""

from __future__ import annotations

import pytest
from accounting_helpers import acquit_for
from app_helpers import browser_login, run_cli
from sqlalchemy import select

from parapheur.accounting.models import BordereauMandats
from parapheur.db import get_session

pytestmark = pytest.mark.e2e


def test_the_acquittement_of_the_demo_bordereau_uploaded_from_the_page(
        live_server, browser_page, demo, shared_dir, tmp_path):
    result = run_cli(demo, "export", "pes", "--budget", "00",
                     env={"PARAPHEUR_PES_DEPOSIT_DIR": str(tmp_path / "depot")})
    assert result.returncode == 0, result.stdout + result.stderr
    with demo.app_context():
        exercice = get_session().scalars(select(BordereauMandats.exercice)).one()
    acquit = tmp_path / "acquit.xml"
    acquit.write_bytes(acquit_for(shared_dir, [1], cod_bud="00", exercice=exercice))

    page = browser_page
    browser_login(page, live_server, "finances")
    page.get_by_role("link", name="Comptabilité").click()
    assert "Transmis à Hélios" in page.locator("#bordereaux").inner_text()
    page.get_by_label("PES_ACQUIT (acquittement)").set_input_files(str(acquit))
    page.get_by_role("button", name="Appliquer l'acquittement").click()
    page.locator("#changements").wait_for()
    assert f"Bordereau 1 (exercice {exercice}) : pris en charge — mandat(s) 1, 2 « Pris en " \
           f"charge »" in page.locator("#changements").inner_text()
    assert "PES_ACQUIT (acquittement) appliqué." in page.locator("main").inner_text()
    page.get_by_role("link", name="← Comptabilité").click()
    assert "Pris en charge" in page.locator("#bordereaux").inner_text()
    assert not page.failed, page.failed
    assert not page.console_errors, page.console_errors
