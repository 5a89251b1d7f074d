"""`parapheur invoices inspect`: what each file says and its problems, nothing stored."""

from __future__ import annotations

import json

from click.testing import CliRunner
from invoice_helpers import BUYER_SIRET, xml, xxe

from parapheur.cli import main


def test_inspect_json_on_samples_and_a_trap(shared_dir, tmp_path):
    trap = tmp_path / "piege.xml"
    trap.write_bytes(xxe())
    good = tmp_path / "bonne.xml"
    good.write_bytes(xml())
    sample = shared_dir / "samples" / "invoices" / "ubl-21-en16931.xml"
    result = CliRunner().invoke(main, ["invoices", "inspect", str(good), str(sample), str(trap),
                                       "--format", "json", "--buyer-siret", BUYER_SIRET],
                                env={"PARAPHEUR_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 1, result.output
    good_out, sample_out, trap_out = json.loads(result.stdout)
    assert good_out["problems"] == []
    assert good_out["invoice"]["totals"]["gross"] == "60.65"
    assert good_out["invoice"]["seller"]["siret"] == "73282932000074"
    assert sample_out["invoice"]["number"] == "F124212"
    assert [p["rule_id"] for p in sample_out["problems"]] == ["MAL-ADRESSEE"]
    assert trap_out["readable"] is False
    assert trap_out["problems"][0]["rule_id"] == "UNSAFE-XML"
    assert not (tmp_path / "data" / "parapheur.sqlite3").exists()


def test_inspect_text_says_no_problem(tmp_path):
    good = tmp_path / "bonne.xml"
    good.write_bytes(xml())
    result = CliRunner().invoke(main, ["invoices", "inspect", str(good)],
                                env={"PARAPHEUR_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    assert "Facture n° F-2026-001 du 2026-11-02 — EN 16931 (CII, XML)" in result.stdout
    assert "Aucun problème." in result.stdout
