"""`parapheur archive refresh`: B-LTA documents get a new archive time stamp before their TSA certificate expires.

The demo PKI's TSA certificate expires in three years: with `--within` longer than that it is "about to
expire" and the document is refreshed; with the default 180 days it is not.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from app_helpers import run_cli
from click.testing import CliRunner
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.cli import main
from parapheur.context import current_store as get_store
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document, VersionKind


def _make_b_lta(demo, demo_pki) -> int:
    """Sign demo document 1 at B-LTA through the loopback TSA, stored as a new version."""
    from parapheur.demo.seed import DEMO_PASSPHRASE
    from parapheur.documents import services as documents
    from signing.batch import sign_document
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions

    with demo.app_context():
        session = get_session()
        document = session.get(Document, 1)
        store = get_store()
        pdf = store.read(document.current_version.sha256)
        key = Pkcs12Key.open(demo_pki.pkcs12_path("maire"), DEMO_PASSPHRASE)
        signed = sign_document(pdf, key, SignOptions(level=Level.B_LTA), timestamper=demo_pki.tsa_url)
        with transaction(session):
            documents.add_version(session, store, document, data=signed, kind=VersionKind.SIGNED,
                                  actor=None, now=demo.config["CLOCK"]())
        return document.id


def _env(demo_pki) -> dict[str, str]:
    return {"PARAPHEUR_TSA_URL": demo_pki.tsa_url, "PARAPHEUR_TRUST_ANCHORS": str(demo_pki.ca_certificate_path)}


def test_refresh_adds_a_journaled_archive_time_stamp_only_when_due(demo, demo_pki, tmp_path):
    document_id = _make_b_lta(demo, demo_pki)
    quiet = run_cli(demo, "archive", "refresh", env=_env(demo_pki))
    assert quiet.returncode == 0, quiet.stderr
    assert "1 document(s) B-LTA examiné(s), 0 renouvelé(s)" in quiet.stdout

    result = run_cli(demo, "archive", "refresh", "--within", "1200", env=_env(demo_pki))
    assert result.returncode == 0, result.stderr
    assert "1 renouvelé(s)" in result.stdout and f"Document n° {document_id}" in result.stdout
    # The demo TSA keeps its certificate: the new time stamp is due for renewal within 1,200 days too.
    assert "le certificat du service d'horodatage doit être renouvelé" in result.stderr

    with demo.app_context():
        session = get_session()
        document = session.get(Document, document_id)
        versions = document.versions
        assert [v.kind for v in versions[-2:]] == [VersionKind.SIGNED, VersionKind.ARCHIVED]
        refreshed = get_store().read(versions[-1].sha256)
        previous = get_store().read(versions[-2].sha256)
        [event] = session.execute(select(AuditEvent).where(
            AuditEvent.name == "document:archive:refreshed")).scalars().all()
        assert event.document_id == document_id
        assert event.details["sha256"] == versions[-1].sha256
        assert event.details["previous_sha256"] == versions[-2].sha256
    assert refreshed.startswith(previous)  # incremental: the signed bytes are untouched

    # The refreshed file: one signature, two document time stamps, all TOTAL-PASSED offline.
    path = tmp_path / "archive.pdf"
    path.write_bytes(refreshed)
    verify = CliRunner().invoke(main, ["verify", "--trust", str(demo_pki.ca_certificate_path), "--format",
                                       "json", "--jobs", "1", str(path)])
    assert verify.exit_code == 0, verify.stdout
    [report] = json.loads(verify.stdout)
    sigs = report["signatures"]
    assert [s["kind"] for s in sigs] == ["signature", "document-timestamp", "document-timestamp"]
    assert sigs[0]["level"] == "B-LTA" and len(sigs[0]["proof_chain"]) == 3


def test_refresh_service_reports_a_failing_tsa_and_goes_on(demo, demo_pki):
    """The function the task queue's periodic job calls: a TSA that cannot be reached fails that document only."""
    from parapheur.archival.services import RefreshUnavailable, refresh_archives
    from signing.validation import load_trust_roots

    document_id = _make_b_lta(demo, demo_pki)
    with demo.app_context():
        session = get_session()
        now = demo.config["CLOCK"]()
        roots = load_trust_roots([demo_pki.ca_certificate_path])
        # Nothing due: nothing to do, even without a time stamping service.
        assert refresh_archives(session, get_store(), now=now, tsa_url=None, trust_roots=roots).refreshed == []
        with pytest.raises(RefreshUnavailable) as excinfo:
            refresh_archives(session, get_store(), now=now, tsa_url=None, trust_roots=roots,
                             within=timedelta(days=1200))
        assert "Aucun service d'horodatage" in excinfo.value.message
        report = refresh_archives(session, get_store(), now=now, tsa_url="http://127.0.0.1:9/tsa",
                                  trust_roots=roots,
                                  within=timedelta(days=1200))
        assert report.checked == 1 and report.refreshed == []
        [(failed_id, _, reason)] = report.failed
        assert failed_id == document_id and reason
        document = session.get(Document, document_id)
        assert document.current_version.kind is VersionKind.SIGNED
