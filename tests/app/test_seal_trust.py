"""The server seal uses the same signing options and trust anchors as the officials' signatures."""

from __future__ import annotations

import shutil

from app_helpers import page_text, upload
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from sqlalchemy import select

from parapheur.context import store_for
from parapheur.db import get_session
from parapheur.demo.seed import DEMO_PASSPHRASE
from parapheur.documents.models import Document, VersionKind
from parapheur.outbox.services import deliver_due
from parapheur.resources import shipped_dir

SEAL_AT_B_LT = """\
id: copie-conforme-lt
title: Copie conforme (cachet longue durée)
initial: cachet
on_reject: rejete
states:
  cachet:
    label: Cachet de la collectivité
    action: cachet
    signature: {level: B-LT}
    next: fait
  fait: {label: Cachetée, final: approved}
  rejete: {label: Rejetée, final: rejected}
"""


def test_the_seal_validates_against_the_configured_trust_anchor(demo, demo_pki, tmp_path,
                                                                sample_pdf):
    # The seal's PKCS#12 without its CA: only PARAPHEUR_TRUST_ANCHORS can vouch for its chain
    # when the B-LT seal gathers its revocation data.
    key, certificate, _ = pkcs12.load_key_and_certificates(
        demo_pki.seal_pkcs12_path.read_bytes(), DEMO_PASSPHRASE.encode())
    alone = tmp_path / "seal-alone.p12"
    alone.write_bytes(pkcs12.serialize_key_and_certificates(
        b"seal", key, certificate, None, BestAvailableEncryption(b"seal-secret")))
    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text("seal-secret\n", encoding="utf-8")
    workflows = tmp_path / "workflows"
    shutil.copytree(shipped_dir("workflows"), workflows)
    (workflows / "copie-conforme-lt.yaml").write_text(SEAL_AT_B_LT, encoding="utf-8")
    with (workflows / "typologie.yaml").open("a", encoding="utf-8") as typology:
        typology.write("  ARCHIVES:\n    label: Actes à cacheter\n    subtypes:\n"
                       "      COPIE: {label: Copie conforme, circuit: copie-conforme-lt}\n")
    demo.config.update(SEAL_PKCS12=alone, SEAL_PASSPHRASE_FILE=passphrase, WORKFLOWS_DIR=workflows,
                       TRUST_ANCHORS=(demo_pki.ca_certificate_path,))

    from app_helpers import login

    client = demo.test_client()
    login(client, "finances")
    response = upload(client, sample_pdf, typology="ARCHIVES/COPIE", title="Copie à cacheter")
    assert response.status_code == 302, page_text(response)
    # A B-LT seal calls the time-stamping and revocation services: the worker applies it.
    assert [r.outcome for r in deliver_due(demo) if r.kind == "circuit.cachet"] == ["done"]
    with demo.app_context():
        document = get_session().execute(
            select(Document).where(Document.title == "Copie à cacheter")).scalar_one()
        version = document.current_version
        assert version.kind is VersionKind.SEALED
        sealed = store_for(demo.config).read(version.sha256)
    from signing.validation import load_trust_roots, validate_pdf

    report = validate_pdf(sealed, trust_roots=load_trust_roots([demo_pki.ca_certificate_path]),
                          path="copie.pdf").to_dict()
    assert report["indication"] == "TOTAL-PASSED", report
    assert [s["level"] for s in report["signatures"]] == ["B-LT"]
