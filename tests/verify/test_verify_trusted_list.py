"""`--trusted-list`: an ETSI TS 119 612 list generated for the test PKI gives the anchors and says who is qualified."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parapheur.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
import ltv_pki  # noqa: E402


@pytest.fixture(scope="module")
def pki() -> ltv_pki.LtvPki:
    return ltv_pki.make_ltv_pki()


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tl")
    pdf = corpus.one_page_pdf("Arrêté n° 2026-314")
    made = {
        "qes": pki.sign(pdf, "qualified", tsa="tsa-long"),
        "qc": pki.sign(pdf, "qc-only", tsa="tsa-long"),
        "ades": pki.sign(pdf, "signer", tsa="tsa-short"),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = out / f"{name}.pdf"
        paths[name].write_bytes(data)
    paths["tl"] = out / "liste.xml"
    paths["tl"].write_text(ltv_pki.trusted_list_xml(pki, tsa="tsa-long"), encoding="utf-8")
    return paths


def _verify(*args: str):
    result = CliRunner().invoke(main, ["verify", "--jobs", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def test_qualification_of_each_signer_and_tsa(files):
    code, out, _ = _verify("--trusted-list", str(files["tl"]), "--format", "json",
                           str(files["qes"]), str(files["qc"]), str(files["ades"]))
    assert code == 0, out
    reports = {Path(r["path"]).stem: r["signatures"][0] for r in json.loads(out)}
    assert {name: (s["indication"], s["qualification"], s["timestamp_qualification"]) for name, s in reports.items()} == {
        "qes": ("TOTAL-PASSED", "QES", "qualified"),
        "qc": ("TOTAL-PASSED", "AdES-QC", "qualified"),
        "ades": ("TOTAL-PASSED", "AdES", "not-qualified"),
    }
    _, text, _ = _verify("--trusted-list", str(files["tl"]), str(files["qes"]))
    assert "Qualification (liste de confiance) : signature QES ; horodatage qualifié" in text


def test_without_the_list_nothing_is_said_about_qualification(files, pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    code, out, _ = _verify("--trust", str(root), "--format", "json", str(files["qes"]))
    assert code == 0
    [sig] = json.loads(out)[0]["signatures"]
    assert sig["qualification"] is None and sig["timestamp_qualification"] is None


@pytest.mark.parametrize("content, message", [
    (None, "introuvable"),
    ("<pas-une-liste/>", "liste de confiance"),
    ("pas du XML", "liste de confiance"),
])
def test_bad_trusted_list_is_a_usage_error(tmp_path, files, content, message):
    path = tmp_path / "liste.xml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = _verify("--trusted-list", str(path), str(files["qes"]))
    assert code == 2 and message in err and "Traceback" not in err


def test_trusted_list_and_trust_are_exclusive(files, pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    code, _, err = _verify("--trusted-list", str(files["tl"]), "--trust", str(root), str(files["qes"]))
    assert code == 2 and "s'excluent" in err


def test_worker_processes_read_the_list_too(files):
    result = CliRunner().invoke(main, ["verify", "--jobs", "2", "--trusted-list", str(files["tl"]), "--format",
                                       "json", str(files["qes"]), str(files["ades"])])
    assert result.exit_code == 0
    assert [r["signatures"][0]["qualification"] for r in json.loads(result.stdout)] == ["QES", "AdES"]
