"""The validation core on the generated corpus: each case with its ETSI indication, sub-indication and level."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from signing.report import (
    Changes,
    Coverage,
    FileReport,
    Indication,
    Kind,
    Level,
    Revocation,
    exit_code,
)
from signing.validation import TrustAnchorError, Validator, load_trust_roots, validate_pdf

P, F, U = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE

# name → [(indication, sub-indication, level, coverage, changes after signing)] per signature, offline.
OFFLINE = {
    "valide-b-b.pdf": [(U, "CERTIFICATE_CHAIN_GENERAL_FAILURE", Level.B_B, Coverage.WHOLE_FILE, Changes.NONE)],
    "valide-b-t.pdf": [(U, "CERTIFICATE_CHAIN_GENERAL_FAILURE", Level.B_T, Coverage.WHOLE_FILE, Changes.NONE)],
    "valide-b-lt.pdf": [(P, None, Level.B_LT, Coverage.EARLIER_REVISION, Changes.VALIDATION_DATA)],
    "valide-b-lta.pdf": [
        (P, None, Level.B_LTA, Coverage.EARLIER_REVISION, Changes.VALIDATION_DATA),
        (P, None, None, Coverage.WHOLE_FILE, Changes.NONE),
    ],
    "altere.pdf": [(F, "HASH_FAILURE", Level.B_B, Coverage.WHOLE_FILE, Changes.NONE)],
    "racine-inconnue.pdf": [(U, "NO_CERTIFICATE_CHAIN_FOUND", Level.B_B, Coverage.WHOLE_FILE, Changes.NONE)],
    "expire-sans-horodatage.pdf": [(U, "OUT_OF_BOUNDS_NO_POE", Level.B_B, Coverage.WHOLE_FILE, Changes.NONE)],
    "revoque.pdf": [(U, "REVOKED_NO_POE", Level.B_LT, Coverage.EARLIER_REVISION, Changes.VALIDATION_DATA)],
    "modifie-apres-signature.pdf": [
        (U, "SIG_CONSTRAINTS_FAILURE", Level.B_B, Coverage.EARLIER_REVISION, Changes.OTHER)
    ],
    "annote-apres-signature.pdf": [
        (U, "SIG_CONSTRAINTS_FAILURE", Level.B_B, Coverage.EARLIER_REVISION, Changes.OTHER)
    ],
    # Not PAdES (adbe.pkcs7.detached, the older Adobe format): validated all the same, no PAdES level.
    "adbe-pkcs7.pdf": [(P, None, None, Coverage.EARLIER_REVISION, Changes.VALIDATION_DATA)],
    "deux-signatures.pdf": [
        (P, None, Level.B_LT, Coverage.EARLIER_REVISION, Changes.FORM_FILLING),
        (P, None, Level.B_LT, Coverage.EARLIER_REVISION, Changes.VALIDATION_DATA),
    ],
}

ERRORS = {
    "pas-un-pdf.pdf": "not-pdf",
    "tronque.pdf": "truncated",
    "chiffre.pdf": "encrypted",
}


@pytest.fixture(scope="module")
def roots(trust_root: Path):
    return load_trust_roots([trust_root])


@pytest.fixture(scope="module")
def validator(roots):
    v = Validator(roots)
    yield v
    v.close()


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_each_signed_case_gets_its_verdict_offline(name, verify_corpus, validator):
    report = validator.validate_file(verify_corpus[name])
    assert report.error is None
    got = [
        (s.indication, s.sub_indication, s.level, s.coverage, s.changes_after_signing) for s in report.signatures
    ]
    assert got == OFFLINE[name]


@pytest.mark.parametrize("name", ["valide-b-b.pdf", "valide-b-t.pdf"])
def test_online_fetches_the_crl_and_passes_b_b_and_b_t(name, verify_corpus, roots, crl_server):
    before = len(crl_server.requests)
    report = validate_pdf(verify_corpus[name].read_bytes(), trust_roots=roots, online=True)
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication, sig.revocation) == (P, None, Revocation.GOOD)
    assert len(crl_server.requests) > before


def test_offline_never_touches_the_network(verify_corpus, validator, crl_server):
    before = len(crl_server.requests)
    for path in verify_corpus.values():
        validator.validate_file(path)
    assert len(crl_server.requests) == before


def test_expired_signer_without_timestamp_is_out_of_bounds(verify_corpus, roots):
    """A B-B signature checked after its certificate expired (clock injected): no proof it was made before."""
    later = datetime(2045, 1, 1, tzinfo=UTC)
    report = validate_pdf(
        verify_corpus["valide-b-b.pdf"].read_bytes(), trust_roots=roots, clock=lambda: later
    )
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication) == (U, "OUT_OF_BOUNDS_NO_POE")
    assert report.validation_time == later


def test_revoked_signer_reports_revocation_date(verify_corpus, validator):
    [sig] = validator.validate_file(verify_corpus["revoque.pdf"]).signatures
    assert sig.revocation is Revocation.REVOKED
    assert sig.revocation_date == datetime(2025, 6, 1, tzinfo=UTC)
    assert "révoqué" in sig.message


@pytest.mark.parametrize("name, code", sorted(ERRORS.items()))
def test_unusable_files_are_reported_not_raised(name, code, verify_corpus, validator):
    report = validator.validate_file(verify_corpus[name])
    assert (report.error_code, report.signatures, report.indication) == (code, (), F)
    assert report.error


def test_unsigned_file_fails_without_error(verify_corpus, validator):
    report = validator.validate_file(verify_corpus["sans-signature.pdf"])
    assert (report.error, report.signatures, report.indication) == (None, (), F)


def test_missing_file_is_reported(tmp_path, validator):
    report = validator.validate_file(tmp_path / "absent.pdf")
    assert report.error_code == "unreadable"


def test_empty_bytes(roots):
    assert validate_pdf(b"", trust_roots=roots).error_code == "empty"


def test_signature_details(verify_corpus, validator):
    report = validator.validate_file(verify_corpus["valide-b-lta.pdf"])
    sig, doc_ts = report.signatures
    assert sig.kind is Kind.SIGNATURE and doc_ts.kind is Kind.DOCUMENT_TIMESTAMP
    assert sig.signer.common_name == "Alice Maire"
    assert sig.signer.subject == "CN=Alice Maire, O=Commune de Test, C=FR"
    assert sig.signer.issuer == "CN=Autorité racine de test, O=Commune de Test, C=FR"
    assert sig.signer.serial
    assert sig.digest_algorithm == "sha256"
    assert sig.signature_algorithm == "sha256_rsa"
    assert sig.signing_time is not None and sig.timestamp_time is not None
    assert abs((sig.timestamp_time - sig.signing_time).total_seconds()) < 60
    assert [c.common_name for c in sig.chain] == ["Alice Maire", "Autorité racine de test"]
    assert doc_ts.signer.common_name == "Horodatage de test"
    assert doc_ts.timestamp_time >= sig.timestamp_time
    assert report.revisions == 4
    assert len(report.sha256) == 64


def test_no_trust_anchor_means_no_chain(verify_corpus):
    report = validate_pdf(verify_corpus["valide-b-lt.pdf"].read_bytes(), trust_roots=[])
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication) == (U, "NO_CERTIFICATE_CHAIN_FOUND")


def test_report_json_round_trip(verify_corpus, validator):
    report = validator.validate_file(verify_corpus["valide-b-lta.pdf"])
    data = json.loads(report.to_json())
    assert set(data) >= {"path", "signatures", "error", "indication"}
    assert data["signatures"][0]["indication"] == "TOTAL-PASSED"
    assert data["signatures"][0]["level"] == "B-LTA"
    assert data["signatures"][0]["sub_indication"] is None
    assert FileReport.from_json(report.to_json()) == report


def test_exit_code_rules(verify_corpus, validator):
    def code(*names):
        return exit_code([validator.validate_file(verify_corpus[n]) for n in names])

    assert code("valide-b-lt.pdf", "valide-b-lta.pdf") == 0
    assert code("valide-b-lt.pdf", "racine-inconnue.pdf") == 3
    assert code("racine-inconnue.pdf", "altere.pdf") == 1
    assert code("valide-b-lt.pdf", "sans-signature.pdf") == 1
    assert code("valide-b-lt.pdf", "tronque.pdf") == 1


def test_trust_roots_from_directory_and_der(tmp_path, verify_pki):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "racine.der").write_bytes(verify_pki.cert("root").dump())
    (tmp_path / "notes.txt").write_text("pas un certificat")
    roots = load_trust_roots([tmp_path, verify_pki.root_pem])
    assert [r.sha256 for r in roots] == [verify_pki.cert("root").sha256]


@pytest.mark.parametrize(
    "content, reason",
    [(None, "introuvable"), (b"pas un certificat", "X.509"), (b"", "X.509")],
)
def test_bad_trust_anchor_is_a_clear_error(tmp_path, content, reason):
    path = tmp_path / "ancre.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrustAnchorError) as excinfo:
        load_trust_roots([path])
    assert reason in excinfo.value.message and str(path) in excinfo.value.message


@pytest.mark.parametrize("name", ["valide-b-lta.pdf", "deux-signatures.pdf"])
def test_damaged_files_always_give_a_report(name, verify_corpus, validator):
    """Truncations and overwritten bytes anywhere in a signed file: a report every time, never an exception."""
    data = verify_corpus[name].read_bytes()
    rng = __import__("random").Random(4)
    variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 40))]
    for _ in range(60):
        at = rng.randrange(len(data))
        variants.append(data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at + 16 :])
    for variant in variants:
        report = validator.validate(variant, path="abîmé.pdf")
        assert report.indication in (P, F, U)
        if report.error is None and variant != data:
            assert all(s.indication is not P or s.intact for s in report.signatures)


@pytest.mark.parametrize(
    "name, pdfsig_says, ours",
    [
        ("valide-b-b.pdf", "Signature is Valid.", (True, None)),
        ("altere.pdf", "Digest Mismatch.", (False, "HASH_FAILURE")),
    ],
)
def test_agrees_with_pdfsig_on_integrity(name, pdfsig_says, ours, pdfsig, verify_corpus, validator):
    """poppler's pdfsig, a validator we did not write, reads the same integrity (it exits 0 either way)."""
    import subprocess

    out = subprocess.run([pdfsig, str(verify_corpus[name])], capture_output=True, text=True).stdout
    assert f"Signature Validation: {pdfsig_says}" in out
    [sig] = validator.validate_file(verify_corpus[name]).signatures
    assert (sig.intact, sig.sub_indication if sig.indication is F else None) == ours
