"""`parapheur workflows …`: check circuit files offline and draw them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from parapheur.circuits.definition import (
    DESKS_FILE,
    TYPOLOGY_FILE,
    Circuit,
    load_circuit,
    load_desks,
)
from parapheur.circuits.errors import CircuitDefinitionError, Problem
from parapheur.circuits.exporters import default_exporters, missing_exporters
from parapheur.circuits.typology import load_typology


@click.group("workflows")
def workflows_group() -> None:
    """Circuits (workflows/*.yaml): check them, draw them."""


def _registry(path: Path, explicit: Path | None, problems: list[Problem]) -> dict[str, str] | None:
    registry = explicit or path.parent / DESKS_FILE
    if not registry.is_file():
        problems.append(Problem(str(path), 1, 1, f"registre des bureaux introuvable ({registry}) "
                                                 ": placez desks.yaml à côté ou passez --desks"))
        return None
    try:
        return load_desks(registry)
    except CircuitDefinitionError as exc:
        problems.extend(exc.problems)
        return None


def _circuit_ids(directory: Path) -> dict[str, Circuit | None]:
    """Circuit ids of a directory; a file with defects still counts by its declared id."""
    ids: dict[str, Circuit | None] = {}
    for file in sorted(directory.glob("*.yaml")):
        if file.name in (DESKS_FILE, TYPOLOGY_FILE):
            continue
        try:
            circuit = load_circuit(file)
            ids[circuit.id] = circuit
        except CircuitDefinitionError:
            # Its own check reports its defects; the typology only needs the id to exist.
            match = re.search(r"^id:\s*['\"]?([a-z0-9-]+)", file.read_text("utf-8", "replace"),
                              re.MULTILINE)
            if match:
                ids.setdefault(match.group(1), None)
    return ids


def check_files(files: list[Path], desks: Path | None = None) -> list[Problem]:
    """Every problem in these circuit, desk-registry and typology files."""
    problems: list[Problem] = []
    seen_ids: dict[str, str] = {}
    for path in files:
        try:
            if path.name == DESKS_FILE:
                load_desks(path)
            elif path.name == TYPOLOGY_FILE:
                load_typology(path, _circuit_ids(path.parent))
            else:
                local: list[Problem] = []
                registry = _registry(path, desks, local)
                problems.extend(local)
                if registry is None:
                    continue
                circuit = load_circuit(path, desks=registry)
                if circuit.id in seen_ids and seen_ids[circuit.id] != str(path):
                    problems.append(Problem(str(path), 1, 1, f"identifiant « {circuit.id} » déjà "
                                                             f"utilisé par {seen_ids[circuit.id]}"))
                seen_ids[circuit.id] = str(path)
                problems.extend(missing_exporters({circuit.id: circuit}, default_exporters()))
        except CircuitDefinitionError as exc:
            problems.extend(exc.problems)
    return problems


@workflows_group.command("check")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--desks", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Registre des bureaux (par défaut : desks.yaml à côté de chaque fichier).")
def check_command(files: tuple[Path, ...], desks: Path | None) -> None:
    """Check circuit files; print FILE:LINE:COLUMN: message per problem, exit 1 if any."""
    problems = check_files(list(files), desks)
    for problem in sorted(set(problems)):
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(set(problems))} problème(s).", err=True)
        sys.exit(1)
    click.echo(f"{len(files)} fichier(s) valide(s).", err=True)


@workflows_group.command("graph")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier SVG à écrire (par défaut : la sortie standard).")
def graph_command(file: Path, output: Path | None) -> None:
    """Draw a circuit as an SVG diagram."""
    from parapheur.circuits.graph import render_svg

    labels: dict[str, str] = {}
    if (file.parent / DESKS_FILE).is_file():
        try:
            labels = load_desks(file.parent / DESKS_FILE)
        except CircuitDefinitionError:
            labels = {}
    try:
        circuit = load_circuit(file, desks=labels or None)
    except CircuitDefinitionError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        sys.exit(1)
    svg = render_svg(circuit, desk_labels=labels)
    if output is None:
        click.echo(svg)
    else:
        output.write_text(svg, encoding="utf-8")
        click.echo(f"Schéma écrit dans {output}.", err=True)
