"""`parapheur workflows check` and `graph` as an administrator runs them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from circuit_helpers import WORKFLOWS
from click.testing import CliRunner
from lxml import etree

from parapheur.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped workflows, free to edit."""
    target = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, target)
    return target


def test_every_shipped_file_passes(runner):
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yaml"))
    result = runner.invoke(main, ["workflows", "check", *files])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_a_defect_gives_exit_1_and_file_line_column(runner, folder):
    path = folder / "deliberation.yaml"
    path.write_text(path.read_text().replace("    desk: dgs\n", "    desk: dgs\n    desk: dgs\n"))
    result = runner.invoke(main, ["workflows", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:15:5: clé en double « desk » dans l'état « visa_dgs » (déjà définie ligne 14)"]


def test_problems_of_several_files_are_all_listed(runner, folder):
    arrete, contrat = folder / "arrete.yaml", folder / "contrat.yaml"
    arrete.write_text(arrete.read_text().replace("action: visa", "action: vise", 1))
    contrat.write_text(contrat.read_text().replace("mode: all", "mode: tous"))
    result = runner.invoke(main, ["workflows", "check", str(arrete), str(contrat)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{arrete}:14:13", f"{contrat}:17:11"]


def test_duplicate_keys_pyyaml_would_accept(runner, folder):
    path = folder / "facture.yaml"
    text = path.read_text().replace("  visa_dgs:\n", "  visa_finances:\n    action: visa\n"
                                    "    desk: dgs\n    next: bon_a_payer\n  visa_dgs:\n")
    path.write_text(text)
    result = runner.invoke(main, ["workflows", "check", str(path)])
    assert result.exit_code == 1
    assert "clé en double « visa_finances » dans « states »" in result.stdout


def test_a_circuit_without_desk_registry_is_refused(runner, tmp_path):
    path = tmp_path / "seul.yaml"
    shutil.copy(WORKFLOWS / "deliberation.yaml", path)
    result = runner.invoke(main, ["workflows", "check", str(path)])
    assert result.exit_code == 1
    assert "registre des bureaux introuvable" in result.stdout


def test_explicit_desk_registry(runner, tmp_path):
    path = tmp_path / "seul.yaml"
    shutil.copy(WORKFLOWS / "deliberation.yaml", path)
    result = runner.invoke(main, ["workflows", "check", "--desks",
                                  str(WORKFLOWS / "desks.yaml"), str(path)])
    assert result.exit_code == 0, result.output


def test_a_desk_missing_from_the_registry(runner, folder):
    registry = folder / "desks.yaml"
    registry.write_text(registry.read_text().replace("  dgs: Direction générale des services\n",
                                                     ""))
    result = runner.invoke(main, ["workflows", "check", str(folder / "deliberation.yaml")])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{folder / 'deliberation.yaml'}:14:11: bureau inconnu "
                                    "« dgs »")


def test_a_bad_desk_registry(runner, folder):
    registry = folder / "desks.yaml"
    registry.write_text("desks:\n  maire: Maire\n  Finances Pub: Finances\n")
    result = runner.invoke(main, ["workflows", "check", str(registry)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{registry}:3:3: identifiant de bureau invalide")


def test_typology_with_an_unknown_circuit(runner, folder):
    typology = folder / "typologie.yaml"
    typology.write_text(typology.read_text().replace("circuit: arrete", "circuit: arete"))
    result = runner.invoke(main, ["workflows", "check", str(typology)])
    assert result.exit_code == 1
    assert result.stdout.strip() == (f"{typology}:7:40: circuit inconnu « arete » "
                                     "(vouliez-vous dire « arrete » ?)")


def test_missing_file(runner, tmp_path):
    result = runner.invoke(main, ["workflows", "check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "absent.yaml:1:1:" in result.stdout


def test_not_utf8(runner, folder):
    path = folder / "latin1.yaml"
    path.write_bytes("id: d\ntitle: Délibération\n".encode("latin-1"))
    result = runner.invoke(main, ["workflows", "check", str(path)])
    assert result.exit_code == 1
    assert "UTF-8" in result.stdout
    assert "Traceback" not in result.output


def test_two_files_with_the_same_id(runner, folder):
    copy = folder / "deliberation-bis.yaml"
    shutil.copy(folder / "deliberation.yaml", copy)
    result = runner.invoke(main, ["workflows", "check", str(folder / "deliberation.yaml"),
                                  str(copy)])
    assert result.exit_code == 1
    assert f"{copy}:1:1: identifiant « deliberation » déjà utilisé" in result.stdout


def test_graph_writes_an_svg(runner, tmp_path):
    output = tmp_path / "contrat.svg"
    result = runner.invoke(main, ["workflows", "graph", str(WORKFLOWS / "contrat.yaml"), "-o",
                                  str(output)])
    assert result.exit_code == 0, result.output
    svg = etree.fromstring(output.read_bytes())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    ids = {g.get("id") for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("id")}
    assert ids == {"state-visas_paralleles", "state-visa_adjoint", "state-signature_maire",
                   "state-signe", "state-rejete", "state-abandonne"}


def test_graph_of_a_broken_file_lists_its_problems(runner, folder):
    path = folder / "contrat.yaml"
    path.write_text(path.read_text().replace("next: signe", "next: signé"))
    result = runner.invoke(main, ["workflows", "graph", str(path)])
    assert result.exit_code == 1
    assert "état non défini « signé »" in result.stdout
    assert "<svg" not in result.stdout


def test_check_help_is_documented(runner):
    result = runner.invoke(main, ["workflows", "check", "--help"])
    assert "FILE:LINE:COLUMN" in result.output


def test_typology_text(tmp_path):
    from parapheur.circuits.definition import load_directory
    from parapheur.circuits.typology import parse_typology

    circuits = load_directory(WORKFLOWS)
    typology = parse_typology(textwrap.dedent("""
        types:
          ACTES:
            label: Actes
            subtypes:
              DELIBERATION: {label: Délibération, circuit: deliberation}
        """), "t.yaml", circuits)
    assert typology.circuit_for("ACTES", "DELIBERATION") == "deliberation"
    assert typology.types() == {"ACTES": "Actes"}
