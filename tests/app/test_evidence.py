"""Evidence bundles: `parapheur audit export` writes what an auditor re-checks offline."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

from app_helpers import csrf_from, run_cli

from parapheur.audit.bundle import check_bundle


def _sign_third_document(demo, client_for) -> int:
    maire = client_for("maire")
    page = maire.get("/documents/3").get_data(as_text=True)
    response = maire.post("/documents/3/steps/signature_maire/sign",
                          data={"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert response.status_code == 302
    return 3


def _export(demo, pki, document_id: int, out, trust=None) -> subprocess.CompletedProcess:
    from parapheur.demo.seed import DEMO_PASSPHRASE

    passphrase = out.parent / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    # The bundle is sealed with the organisation's seal (B-LT through the loopback TSA).
    env = {"PARAPHEUR_SEAL_PKCS12": str(pki.seal_pkcs12_path), "PARAPHEUR_SEAL_PASSPHRASE_FILE": str(passphrase),
           "PARAPHEUR_TSA_URL": pki.tsa_url}
    if trust is not None:
        env["PARAPHEUR_TRUST_ANCHORS"] = str(trust)
    return run_cli(demo, "audit", "export", str(document_id), "--out", str(out), env=env)


def test_export_then_check_the_bundle(demo, client_for, demo_pki, tmp_path, system_tool):
    document_id = _sign_third_document(demo, client_for)
    bundle = tmp_path / "preuve.zip"
    result = _export(demo, demo_pki, document_id, bundle, trust=demo_pki.ca_certificate_path)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"document.pdf", "bordereau.pdf", "journal.json", "manifest.json",
                "validation.json", "versions/v1-original.pdf", "versions/v2-signature.pdf"} <= names
        validation = json.loads(archive.read("validation.json"))
        journal = json.loads(archive.read("journal.json"))
        bordereau = archive.read("bordereau.pdf")
    assert [s["indication"] for s in validation["signatures"]] == ["TOTAL-PASSED"]
    names_in_journal = [e["content"]["name"] for e in journal["events"]]
    assert "document:created" in names_in_journal and "document:step:signed" in names_in_journal
    check = check_bundle(bundle)
    assert check.ok, check.problems
    assert check.events == len(journal["events"])

    pdf_path = tmp_path / "bordereau.pdf"
    pdf_path.write_bytes(bordereau)
    attachments = subprocess.run([system_tool("pdfdetach", "poppler-utils"), "-list",
                                  str(pdf_path)], capture_output=True, text=True).stdout
    assert "journal.json" in attachments
    xmp = subprocess.run([system_tool("pdfinfo", "poppler-utils"), "-meta", str(pdf_path)],
                         capture_output=True, text=True).stdout
    assert "pdfaid:part" in xmp  # PDF/A identification in the XMP metadata
    text = subprocess.run([system_tool("pdftotext", "poppler-utils"), str(pdf_path),
                           "-"], capture_output=True, text=True).stdout
    text = " ".join(text.split())
    assert "Bordereau de signature" in text and "Martine Dupont" in text


def test_a_tampered_bundle_is_caught(demo, client_for, demo_pki, tmp_path):
    document_id = _sign_third_document(demo, client_for)
    bundle = tmp_path / "preuve.zip"
    assert _export(demo, demo_pki, document_id, bundle).returncode == 0

    def rewrite(name, change):
        with zipfile.ZipFile(bundle) as archive:
            items = {n: archive.read(n) for n in archive.namelist()}
        items[name] = change(items[name])
        forged = tmp_path / f"forged-{name.replace('/', '_')}.zip"
        with zipfile.ZipFile(forged, "w") as archive:
            for n, data in items.items():
                archive.writestr(n, data)
        return forged

    def edit_journal(data: bytes) -> bytes:
        journal = json.loads(data)
        journal["events"][0]["content"]["details"]["title"] = "Autre titre"
        return json.dumps(journal).encode()

    def edit_manifest(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["files"]["journal.json"] = manifest["files"]["document.pdf"]
        return json.dumps(manifest).encode()

    # A journal edited consistently with its manifest is still caught by the hash chain.
    forged = rewrite("journal.json", edit_journal)
    forged = _refresh_manifest(forged, tmp_path)
    problems = check_bundle(forged).problems
    assert any("modifié" in p for p in problems), problems
    assert check_bundle(rewrite("document.pdf", lambda d: d + b"%x")).problems
    assert check_bundle(rewrite("manifest.json", edit_manifest)).problems
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    assert check_bundle(garbage).problems


def _refresh_manifest(path, tmp_path):
    import hashlib

    with zipfile.ZipFile(path) as archive:
        items = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(items["manifest.json"])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in items.items()
                         if n != "manifest.json"}
    items["manifest.json"] = json.dumps(manifest).encode()
    out = tmp_path / "refreshed.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, d in items.items():
            archive.writestr(n, d)
    out.write_bytes(buffer.getvalue())
    return out


def test_verify_bundle_command(demo, client_for, demo_pki, tmp_path):
    document_id = _sign_third_document(demo, client_for)
    bundle = tmp_path / "preuve.zip"
    assert _export(demo, demo_pki, document_id, bundle).returncode == 0
    verify = [sys.executable, "-m", "parapheur", "verify", "--trust",
              str(demo_pki.ca_certificate_path), "--bundle"]
    result = subprocess.run([*verify, str(bundle)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "journal intègre" in result.stdout and "TOTAL-PASSED" in result.stdout

    with zipfile.ZipFile(bundle) as archive:
        items = {n: archive.read(n) for n in archive.namelist()}
    journal = json.loads(items["journal.json"])
    journal["events"][-1]["content"]["name"] = "document:step:forged"
    items["journal.json"] = json.dumps(journal).encode()
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in items.items():
            archive.writestr(name, data)
    result = subprocess.run([*verify, str(forged)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "NON CONFORME" in result.stdout
