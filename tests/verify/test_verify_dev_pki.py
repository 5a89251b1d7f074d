"""`parapheur verify` on documents signed by the signing layer with the dev PKI and its loopback TSA/OCSP/CRL.

The other half of the corpus: signatures we did not build by hand, at every PAdES level, and the dev
PKI's revoked and untrusted identities.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parapheur.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

PASSPHRASE = "dev-passphrase"  # tests/conftest.py DEV_PKI_PASSPHRASE


@pytest.fixture(scope="module")
def dev_signed(dev_pki, pki_server, tmp_path_factory) -> dict[str, Path]:
    """Documents signed with signing.pades through the loopback TSA and OCSP/CRL responders."""
    from signing.batch import sign_document
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions

    out = tmp_path_factory.mktemp("dev-signed")
    pdf = corpus.one_page_pdf("Délibération n° 2026-042")
    maire = Pkcs12Key.open(dev_pki.pkcs12_path("maire"), PASSPHRASE)
    files = {}
    for level in Level:
        tsa = pki_server.tsa_url if level.needs_timestamp else None
        signed = sign_document(pdf, maire, SignOptions(level=level), timestamper=tsa)
        files[level.value] = out / f"maire-{level.value}.pdf"
        files[level.value].write_bytes(signed)
    for key in ("revoked", "untrusted"):
        identity = Pkcs12Key.open(dev_pki.pkcs12_path(key), PASSPHRASE)
        files[key] = out / f"{key}.pdf"
        files[key].write_bytes(sign_document(pdf, identity, SignOptions(level=Level.B_T), timestamper=pki_server.tsa_url))
    return files


def _verify(dev_pki, *paths: Path, online: bool = False) -> tuple[int, list[dict]]:
    args = ["verify", "--trust", str(dev_pki.ca_certificate_path), "--format", "json", "--jobs", "1"]
    result = CliRunner().invoke(main, [*args, *(["--online"] if online else []), *map(str, paths)])
    return result.exit_code, json.loads(result.stdout)


def _verdicts(reports: list[dict]) -> list[tuple]:
    return [(s["indication"], s["sub_indication"], s["level"]) for r in reports for s in r["signatures"]]


def test_long_term_levels_pass_offline(dev_pki, dev_signed):
    code, reports = _verify(dev_pki, dev_signed["B-LT"], dev_signed["B-LTA"])
    assert code == 0
    assert _verdicts(reports) == [
        ("TOTAL-PASSED", None, "B-LT"),
        ("TOTAL-PASSED", None, "B-LTA"),
        ("TOTAL-PASSED", None, None),  # the document time stamp
    ]


def test_b_b_and_b_t_need_revocation_data_offline_and_pass_online(dev_pki, dev_signed):
    files = (dev_signed["B-B"], dev_signed["B-T"])
    code, reports = _verify(dev_pki, *files)
    assert code == 3
    assert [v[0] for v in _verdicts(reports)] == ["INDETERMINATE", "INDETERMINATE"]
    assert [v[2] for v in _verdicts(reports)] == ["B-B", "B-T"]
    code, reports = _verify(dev_pki, *files, online=True)
    assert code == 0
    assert _verdicts(reports) == [("TOTAL-PASSED", None, "B-B"), ("TOTAL-PASSED", None, "B-T")]


def test_revoked_signer_online(dev_pki, dev_signed):
    code, reports = _verify(dev_pki, dev_signed["revoked"], online=True)
    assert code == 3
    [sig] = reports[0]["signatures"]
    assert (sig["indication"], sig["sub_indication"], sig["revocation"]) == ("INDETERMINATE", "REVOKED_NO_POE", "revoked")


def test_untrusted_root(dev_pki, dev_signed):
    code, reports = _verify(dev_pki, dev_signed["untrusted"])
    assert code == 3
    assert _verdicts(reports) == [("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND", "B-T")]


@pytest.mark.parametrize("later", ["45min", "2days", "60days"])
def test_long_term_levels_pass_offline_later(dev_pki, dev_signed, later):
    """The signing layer's B-LT/B-LTA (30-minute OCSP responses) judged later: at the time proven, not now."""
    from datetime import UTC, datetime, timedelta

    offset = {"45min": timedelta(minutes=45), "2days": timedelta(days=2), "60days": timedelta(days=60)}[later]
    at = (datetime.now(UTC) + offset).isoformat()
    args = ["verify", "--trust", str(dev_pki.ca_certificate_path), "--format", "json", "--jobs", "1", "--at", at]
    result = CliRunner().invoke(main, [*args, str(dev_signed["B-LT"]), str(dev_signed["B-LTA"])])
    reports = json.loads(result.stdout)
    assert result.exit_code == 0, [s["message"] for r in reports for s in r["signatures"]]
    assert _verdicts(reports) == [
        ("TOTAL-PASSED", None, "B-LT"),
        ("TOTAL-PASSED", None, "B-LTA"),
        ("TOTAL-PASSED", None, None),
    ]
    assert all(r["validation_time"] == at for r in reports)
    assert [s["proof_source"] for r in reports for s in r["signatures"]][:2] == ["signature-timestamp"] * 2
