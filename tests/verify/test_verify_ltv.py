"""Long-term validation (EN 319 102-1 §5.6) with a frozen validation clock, offline.

The validation data embedded in a file is judged at the time proven by its earliest valid time stamp;
the chain of document time stamps carries that proof past the expiry of the signer's and the TSA's
certificates, as long as each time stamp was added before the previous TSA certificate expired.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from parapheur.cli import main
from signing.report import Indication, Kind, Revocation
from signing.validation import Validator

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
import ltv_pki  # noqa: E402

P, F, U = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def pki() -> ltv_pki.LtvPki:
    return ltv_pki.make_ltv_pki()


@pytest.fixture(scope="module")
def docs(pki) -> dict[str, bytes]:
    pdf = corpus.one_page_pdf("Délibération n° 2026-100")
    blta = pki.sign(pdf, level="B-LTA", tsa="tsa-short")
    return {
        "b-lt": pki.sign(pdf, level="B-LT", tsa="tsa-long"),
        "b-lta": blta,
        # Refreshed eighteen months later, before the short TSA certificate expires (two years).
        "b-lta-refreshed": pki.refresh(blta, pki.now + 540 * DAY, tsa="tsa-long"),
        "b-t": pki.sign(pdf, level="B-T"),
        # Validation data added forty days later says: revoked since day 30, after the time stamp.
        "revoked-later": pki.add_validation_data(pki.sign(pdf, "later-revoked"), pki.now + 40 * DAY),
        "revoked-before": pki.sign(pdf, "revoked"),
    }


def validate(pki, data: bytes, at):
    import asn1crypto.x509

    validator = Validator([asn1crypto.x509.Certificate.load(pki.root.asn1.dump())], clock=lambda: at)
    try:
        return validator.validate(data, path="doc.pdf")
    finally:
        validator.close()


def verdicts(report):
    return [(s.kind, s.indication, s.sub_indication) for s in report.signatures]


@pytest.mark.parametrize("name", ["b-lt", "b-lta"])
@pytest.mark.parametrize("later", [timedelta(minutes=45), 2 * DAY, 60 * DAY], ids=["45min", "2days", "60days"])
def test_made_today_passes_later_offline(pki, docs, name, later):
    """Past the embedded CRL's next update (a week): judged at the time stamp's time, not at the clock's."""
    at = pki.now + later
    report = validate(pki, docs[name], at)
    assert report.validation_time == at
    assert [v[1] for v in verdicts(report)] == [P] * len(report.signatures), report.signatures[0].message
    sig = report.signatures[0]
    assert sig.proof_source == "signature-timestamp"
    assert sig.control_time == sig.proof_of_existence == sig.timestamp_time
    assert abs(sig.proof_of_existence - pki.now) < timedelta(minutes=5)
    assert sig.level.value == name.upper()


def test_b_lt_passes_after_the_signer_certificate_expired(pki, docs):
    """The signer's certificate expires after a year; the signature time stamp's TSA lasts twenty."""
    at = pki.now + 400 * DAY
    assert at > pki.ids["signer"].cert.not_valid_after_utc
    report = validate(pki, docs["b-lt"], at)
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication, sig.revocation) == (P, None, Revocation.GOOD)


def test_refreshed_b_lta_passes_ten_years_later(pki, docs):
    at = pki.now + 3650 * DAY
    report = validate(pki, docs["b-lta-refreshed"], at)
    assert [v[1] for v in verdicts(report)] == [P, P, P]
    sig, first, second = report.signatures
    assert sig.proof_source == "signature-timestamp"
    assert sig.proof_chain == ("signature-timestamp", first.field_name, second.field_name)
    assert first.proof_chain == (first.field_name, second.field_name)
    assert second.refresh_due is None and first.refresh_due is None


def test_b_lta_without_refresh_is_indeterminate_and_says_a_refresh_was_due(pki, docs):
    at = pki.now + 3650 * DAY
    report = validate(pki, docs["b-lta"], at)
    sig, stamp = report.signatures
    expiry = pki.ids["tsa-short"].cert.not_valid_after_utc
    assert (stamp.kind, stamp.indication, stamp.sub_indication) == (Kind.DOCUMENT_TIMESTAMP, U, "OUT_OF_BOUNDS_NO_POE")
    assert stamp.refresh_due == expiry
    assert "parapheur archive refresh" in stamp.message
    assert sig.indication is U and sig.proof_of_existence is None
    assert sig.refresh_due == expiry
    assert "parapheur archive refresh" in sig.message
    assert report.indication is U


def test_b_lta_without_refresh_still_passes_before_the_tsa_expires(pki, docs):
    """Same file, a day before the short TSA certificate expires: the chain still carries the proof."""
    at = pki.ids["tsa-short"].cert.not_valid_after_utc - DAY
    assert [v[1] for v in verdicts(validate(pki, docs["b-lta"], at))] == [P, P]


@pytest.mark.parametrize("later", [timedelta(0), 2 * DAY])
def test_b_t_without_validation_data_is_indeterminate_offline(pki, docs, later):
    [sig] = validate(pki, docs["b-t"], pki.now + later).signatures
    assert sig.indication is U
    assert sig.revocation is Revocation.UNKNOWN


def test_signer_revoked_after_the_signature_time_stamp_stays_passed(pki, docs):
    [sig] = validate(pki, docs["revoked-later"], pki.now + 60 * DAY).signatures
    assert (sig.indication, sig.sub_indication) == (P, None)


def test_signer_revoked_before_the_signature_time_stamp_is_not_passed(pki, docs):
    [sig] = validate(pki, docs["revoked-before"], pki.now + 60 * DAY).signatures
    assert (sig.indication, sig.sub_indication, sig.revocation) == (U, "REVOKED_NO_POE", Revocation.REVOKED)
    assert sig.revocation_date == pki.revoked["revoked"]


def test_cli_at_says_which_time_and_which_proof(pki, docs, tmp_path):
    path = tmp_path / "refreshed.pdf"
    path.write_bytes(docs["b-lta-refreshed"])
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    at = (pki.now + 3650 * DAY).date().isoformat()
    result = CliRunner().invoke(
        main, ["verify", "--trust", str(root), "--format", "json", "--jobs", "1", "--at", at, str(path)]
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["validation_time"].startswith(at)
    sig = report["signatures"][0]
    assert sig["proof_source"] == "signature-timestamp" and len(sig["proof_chain"]) == 3
    text = CliRunner().invoke(main, ["verify", "--trust", str(root), "--jobs", "1", "--at", at, str(path)])
    assert "Preuve d'existence" in text.stdout and "prolongée par" in text.stdout
    assert f"Date de validation : {at}" in text.stdout


@pytest.mark.parametrize("value", ["demain", "2036-13-01", "01/02/2036"])
def test_cli_bad_at_is_a_usage_error(value, tmp_path):
    result = CliRunner().invoke(main, ["verify", "--at", value, str(tmp_path)])
    assert result.exit_code == 2
    assert "ISO 8601" in result.stderr


def test_archive_state_says_when_the_newest_time_stamp_stops_proving(pki, docs):
    from signing.archive import archive_state

    state = archive_state(docs["b-lta"])
    assert (state.is_b_lta, state.signatures, state.document_timestamps) == (True, 1, 1)
    assert state.newest_tsa_expiry == pki.ids["tsa-short"].cert.not_valid_after_utc
    assert archive_state(docs["b-lta-refreshed"]).newest_tsa_expiry == pki.ids["tsa-long"].cert.not_valid_after_utc
    assert not archive_state(docs["b-lt"]).is_b_lta


def test_refresh_archive_carries_a_b_lta_ten_years_on(pki, docs):
    """signing.archive.refresh_archive (what `parapheur archive refresh` runs): validation data, new time stamp."""
    import asn1crypto.x509
    from pyhanko_certvalidator import ValidationContext

    from signing.archive import archive_state, refresh_archive

    root = asn1crypto.x509.Certificate.load(pki.root.asn1.dump())
    context = ValidationContext(
        trust_roots=[root], crls=[pki.crl(datetime.now(UTC))], other_certs=[i.asn1 for i in pki.ids.values()],
        allow_fetching=False, revocation_mode="hard-fail", retroactive_revinfo=True)
    refreshed = refresh_archive(docs["b-lta"], trust_roots=[root], timestamper=pki.timestamper("tsa-long"),
                                validation_context=context)
    assert refreshed.startswith(docs["b-lta"])
    assert archive_state(refreshed).document_timestamps == 2
    report = validate(pki, refreshed, pki.now + 3650 * DAY)
    assert [s.indication for s in report.signatures] == [P, P, P]
