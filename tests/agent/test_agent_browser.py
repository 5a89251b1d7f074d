"""End to end in Debian's Chromium: the Maire signs five documents with her card, one PIN entry."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from agent_helpers import at_signature
from app_helpers import browser_login, upload
from checks import assert_pdfsig_valid, assert_pyhanko_valid
from playwright.sync_api import expect
from sqlalchemy import select

from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus
from signing.validation import load_trust_roots, validate_pdf

pytestmark = pytest.mark.e2e


def agent_command() -> str:
    """The installed console script, next to this interpreter."""
    script = Path(sys.executable).with_name("parapheur-agent")
    return str(script) if script.exists() else shutil.which("parapheur-agent") or "parapheur-agent"


def _start_agent(demo, softhsm_token, live_server: str, tmp_path) -> subprocess.Popen:
    """The real agent on the SoftHSM2 card (its PIN from a file), allowed for the live server's
    origin; the demo is told its address. The caller terminates it."""
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm_token.pin + "\n")
    agent = subprocess.Popen(
        [agent_command(), "serve", "--module", softhsm_token.module, "--allow-origin", live_server,
         "--port", "0", "--config-dir", str(tmp_path / "agent"), "--pin-file", str(pin_file)],
        stderr=subprocess.PIPE, text=True)
    try:
        found = re.search(r"http://127\.0\.0\.1:\d+", agent.stderr.readline())
        assert found, "the agent printed no address"
    except BaseException:
        agent.kill()
        agent.wait()
        raise
    demo.config["AGENT_URL"] = found.group(0)
    return agent

def test_the_maire_signs_five_documents_with_her_card_in_the_browser(
        demo, live_server, browser_page, client_for, softhsm_token, dev_pki, pki_server, demo_pki,
        sample_pdf,
        pdfsig, tmp_path):
    # The card holds a certificate of another PKI than the demo's (whose TSA stamps): both roots
    # are this application's trust anchors.
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path, dev_pki.ca_certificate_path)
    finances = client_for("finances")
    for title in ("Délibération n° 2026-101 — Cantine", "Délibération n° 2026-102 — Voirie"):
        assert upload(finances, sample_pdf, title=title).status_code == 302
    assert len(at_signature(demo, client_for)) == 5
    agent = _start_agent(demo, softhsm_token, live_server, tmp_path)
    try:
        page = browser_page
        browser_login(page, live_server, "maire")
        page.goto(f"{live_server}/")
        boxes = page.locator("input[name=items]")
        expect(boxes).to_have_count(5)
        for index in range(5):
            boxes.nth(index).check()
        page.get_by_label("J'ai pris connaissance de chacun des documents sélectionnés.").check()
        page.get_by_role("button", name="Utiliser ma carte").click()
        expect(page.get_by_role("status")).to_contain_text("prêt", timeout=30_000)
        choice = page.get_by_label("Certificat de votre carte")
        expect(choice).to_contain_text("Martine Dupont")  # the seal's certificate is there too
        choice.select_option(choice.locator("option", has_text="Martine Dupont")
                             .get_attribute("value"))
        page.get_by_role("button", name="Signer avec ma carte").click()
        expect(page.locator(".agent-result")).to_contain_text("5 document(s) signé(s).",
                                                              timeout=90_000)
        expect(page.locator(".agent-progress")).to_have_attribute("value", "3")
        assert page.locator(".agent-result .failed").count() == 0
    finally:
        agent.terminate()
        _, output = agent.communicate(timeout=30)
    assert output.count("code PIN lu") == 1, output
    assert "demande la signature de 5 documents" in output
    assert page.console_errors == [] and page.failed == []

    maire = client_for("maire")
    roots = load_trust_roots([demo_pki.ca_certificate_path, dev_pki.ca_certificate_path])
    with demo.app_context():
        documents = get_session().execute(select(Document)).scalars().all()
        assert all(d.status is DocumentStatus.APPROVED for d in documents)
        numbers = [(d.id, d.current_version.number) for d in documents]
    for document_id, number in numbers:
        pdf = maire.get(f"/documents/{document_id}/versions/{number}/file").data
        report = assert_pdfsig_valid(pdfsig, pdf, tmp_path, 1)
        assert "Signer Certificate Common Name: Martine Dupont" in report
        # Playwright's loop runs in this thread: pyHanko validates in another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(assert_pyhanko_valid, pdf, dev_pki.ca_certificate_path, 1).result()
            verdict = pool.submit(validate_pdf, pdf, trust_roots=roots, online=True).result()
        [signature] = verdict.signatures
        assert signature.level.value == "B-LT" and signature.signer.common_name == "Martine Dupont"
        assert signature.indication.value == "TOTAL-PASSED", signature.message


def test_without_the_agent_the_page_says_how_to_get_it(demo, live_server, browser_page):
    from signing.pki_server import free_loopback_port

    demo.config["AGENT_URL"] = f"http://127.0.0.1:{free_loopback_port()}"  # nothing listens
    page = browser_page
    browser_login(page, live_server, "maire")
    page.goto(f"{live_server}/documents/3")
    page.get_by_role("button", name="Utiliser ma carte").click()
    expect(page.get_by_role("status")).to_contain_text("Agent de signature absent")
    link = page.get_by_role("link", name="Installer et démarrer l'agent de signature")
    link.click()
    expect(page.locator("h1")).to_contain_text("l'agent de signature")
    expect(page.locator("pre").nth(1)).to_contain_text(f"--allow-origin {live_server}")
    # The only failed request is the one to the absent agent (the browser reports it).
    assert all("127.0.0.1" in e or "Failed to load" in e or "ERR_CONNECTION_REFUSED" in e
               for e in page.console_errors), page.console_errors


def test_a_bordereau_signed_with_the_card_in_the_browser_carries_a_xades_xmlsec1_accepts(
        demo, live_server, browser_page, softhsm_token, dev_pki, pki_server, demo_pki, clock,
        system_tool, tmp_path):
    """The same path as above for a bordereau de mandats: the card signs its PDF (PAdES) and its
    PES bordereau (XAdES) in one act; the exported PES passes `xmlsec1 --verify`."""
    from test_agent_xades import make_bordereau_documents
    from xades_checks import xmlsec_verify

    from parapheur.accounting.models import BordereauMandats, BordereauState
    from parapheur.accounting.pes.validation import check_aller
    from parapheur.accounting.services import budget_setup, export_pes, typed_bordereau
    from parapheur.accounts.models import User
    from parapheur.context import store_for
    from parapheur.db import transaction
    from parapheur.organisations.services import sole_organisation

    xmlsec1 = system_tool("xmlsec1", "xmlsec1")
    document_id = make_bordereau_documents(demo, demo_pki, clock)[0]
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path, dev_pki.ca_certificate_path)
    agent = _start_agent(demo, softhsm_token, live_server, tmp_path)
    try:
        page = browser_page
        browser_login(page, live_server, "maire")
        page.goto(f"{live_server}/")
        page.locator(f"input[name=items][value='{document_id}:signature_ordonnateur']").check()
        page.get_by_label("J'ai pris connaissance de chacun des documents sélectionnés.").check()
        page.get_by_role("button", name="Utiliser ma carte").click()
        expect(page.get_by_role("status")).to_contain_text("prêt", timeout=30_000)
        choice = page.get_by_label("Certificat de votre carte")
        choice.select_option(choice.locator("option", has_text="Martine Dupont")
                             .get_attribute("value"))
        page.get_by_role("button", name="Signer avec ma carte").click()
        expect(page.locator(".agent-result")).to_contain_text("signé(s)", timeout=90_000)
        assert page.locator(".agent-result .failed").count() == 0
    finally:
        agent.terminate()
        _, output = agent.communicate(timeout=30)
    assert output.count("code PIN lu") == 1, output
    with demo.app_context():
        session = get_session()
        bordereau = session.scalars(select(BordereauMandats).where(
            BordereauMandats.document_id == document_id)).one()
        assert bordereau.state is BordereauState.SIGNE
        assert bordereau.signer_name == "Martine Dupont"
        signature_id = f"{typed_bordereau(bordereau).xml_id}-SIG"
        organisation = sole_organisation(session)
        maire = session.scalars(select(User).where(User.username == "maire")).one()
        with transaction(session):
            exported = export_pes(session, store_for(demo.config), budget_setup(organisation, "01"),
                                  actor=maire, now=clock())
    assert check_aller(exported.content) == []
    accepted, xmlsec_output = xmlsec_verify(xmlsec1, exported.content, signature_id,
                                            dev_pki.ca_certificate_path, tmp_path)
    assert accepted, xmlsec_output
