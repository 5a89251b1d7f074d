"""Constructs not covered by the shipped circuits: the server seal, desk checks, typology errors."""

from __future__ import annotations

import circuit_helpers
import pytest
from circuit_helpers import WORKFLOWS, circuit

from parapheur.circuits import engine
from parapheur.circuits.definition import SYSTEM_DESK, load_directory
from parapheur.circuits.desks import check_against, referenced_desks
from parapheur.circuits.errors import CircuitDefinitionError, CircuitError
from parapheur.circuits.typology import parse_typology

# The shared fixtures (bound here: a conftest.py would shadow tests/conftest.py).
now = circuit_helpers.now
shipped = circuit_helpers.shipped

SEALED = """
id: cachet
title: Cachet serveur
initial: visa
on_reject: rejete
states:
  visa: {action: visa, desk: dgs, next: cachet}
  cachet:
    action: cachet
    signature: {level: B-LTA, certify: true}
    next: scelle
  scelle: {final: approved}
  rejete: {final: rejected}
"""


def test_server_seal_is_automatic_and_carries_its_options(now):
    c = circuit(SEALED)
    state = engine.start(c, {}, author_desk="dgs", now=now)
    state = engine.apply(c, state, step="visa", desk="dgs", decision="approve", metadata={},
                         now=now).state
    [step] = engine.pending(c, state)
    assert step.automatic and step.desks == (SYSTEM_DESK,)
    assert step.signature is not None and step.signature.level == "B-LTA"
    sealed = engine.apply(c, state, step="cachet", desk=SYSTEM_DESK, decision="approve",
                          metadata={}, now=now)
    assert sealed.events[0][0] == "document:step:sealed"
    assert sealed.state.outcome == "approved"


def test_a_seal_may_be_triggered_by_a_desk(now):
    c = circuit(SEALED.replace("    action: cachet\n", "    action: cachet\n    desk: finances\n"))
    state = engine.start(c, {}, author_desk="dgs", now=now)
    state = engine.apply(c, state, step="visa", desk="dgs", decision="approve", metadata={},
                         now=now).state
    [step] = engine.pending(c, state)
    assert not step.automatic and step.desks == ("finances",)


def test_a_visa_has_no_default_actor():
    with pytest.raises(CircuitDefinitionError) as info:
        circuit(SEALED.replace("{action: visa, desk: dgs, next: cachet}",
                               "{action: visa, next: cachet}"))
    assert "ne dit pas qui agit" in info.value.problems[0].message


def test_desks_checked_against_the_database():
    circuits = load_directory(WORKFLOWS).values()
    problems = check_against(circuits, ["maire", "dgs", "finances", "adjointe"])
    assert {(p.file.rsplit("/", 1)[-1], p.message) for p in problems} == {
        ("arrete.yaml", "bureau « adjoint » absent de la base (étape(s) visa_adjoint) "
                        "(vouliez-vous dire « adjointe » ?)"),
        ("contrat.yaml", "bureau « adjoint » absent de la base (étape(s) visa_adjoint) "
                         "(vouliez-vous dire « adjointe » ?)"),
    }
    assert check_against(circuits, ["maire", "adjoint", "dgs", "finances"]) == []


def test_referenced_desks_exclude_metadata_and_author(shipped):
    assert referenced_desks(shipped["facture"]) == {"finances": ["visa_finances"],
                                                    "dgs": ["visa_dgs"]}
    assert referenced_desks(shipped["arrete"]) == {"dgs": ["visa_dgs"],
                                                   "adjoint": ["visa_adjoint"],
                                                   "maire": ["signature_maire"]}


@pytest.mark.parametrize(("text", "position", "message"), [
    ("types:\n  ACTES:\n    subtypes:\n      DELIB: {label: D}\n", (4, 7),
     "le sous-type « DELIB » n'indique pas son « circuit »"),
    ("types:\n  actes:\n    subtypes:\n      DELIB: {circuit: deliberation}\n", (2, 3),
     "code de type invalide « actes »"),
    ("types:\n  ACTES:\n    subtypes:\n      DELIB: {circuit: deliberation}\n      DELIB: "
     "{circuit: arrete}\n", (5, 7), "clé en double « DELIB »"),
    ("types:\n  ACTES:\n    label: Actes\n", (2, 3), "n'a pas de « subtypes »"),
    ("typs: {}\n", (1, 1), "clé inconnue « typs » dans la typologie (vouliez-vous dire "
                           "« types » ?)"),
])
def test_typology_defects(shipped, text, position, message):
    with pytest.raises(CircuitDefinitionError) as info:
        parse_typology(text, "typologie.yaml", shipped)
    first = info.value.problems[0]
    assert (first.line, first.column) == position
    assert message in first.message


def test_typology_unknown_pair(shipped):
    typology = parse_typology((WORKFLOWS / "typologie.yaml").read_text(), "t", shipped)
    assert typology.circuit_for("COMPTABILITE", "BORDEREAU_MANDATS") == "bordereau-mandats"
    with pytest.raises(CircuitError, match="Aucun circuit"):
        typology.circuit_for("ACTES", "CONVENTION")
    assert [s.code for s in typology.subtypes("ACTES")] == ["DELIBERATION", "ARRETE"]


def test_every_shipped_circuit_is_in_the_typology(shipped):
    typology = parse_typology((WORKFLOWS / "typologie.yaml").read_text(), "t", shipped)
    assert {e.circuit for e in typology.entries.values()} == set(shipped)
