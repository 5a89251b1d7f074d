"""The SVG diagram and the JSON Schema shipped for administrators."""

from __future__ import annotations

import json

import circuit_helpers
import jsonschema
import pytest
import yaml
from circuit_helpers import WORKFLOWS
from lxml import etree

from parapheur.circuits import engine
from parapheur.circuits.graph import layers, render_svg

# The shared fixtures (bound here: a conftest.py would shadow tests/conftest.py).
now = circuit_helpers.now
shipped = circuit_helpers.shipped

SVG = "{http://www.w3.org/2000/svg}"


def states_drawn(svg_text: str) -> dict[str, str]:
    root = etree.fromstring(svg_text.encode())
    return {g.get("id").removeprefix("state-"): g.get("class") for g in root.iter(f"{SVG}g")
            if g.get("id")}


@pytest.mark.parametrize("name", ["deliberation", "arrete", "contrat", "facture",
                                  "bordereau-mandats"])
def test_every_state_is_drawn_once(shipped, name):
    circuit = shipped[name]
    assert set(states_drawn(render_svg(circuit))) == set(circuit.states)


def test_current_step_is_highlighted_and_visited_ones_shaded(shipped, now):
    facture = shipped["facture"]
    meta = {"montant_ttc": "30000", "service_ordonnateur": "services-techniques"}
    state = engine.start(facture, meta, author_desk="finances", now=now)
    state = engine.apply(facture, state, step="service_fait", desk="services-techniques",
                         decision="approve", metadata=meta, now=now).state
    drawn = states_drawn(render_svg(facture, state))
    assert drawn["visa_finances"] == "state current visited"
    assert drawn["service_fait"] == "state visited"
    assert drawn["bon_a_payer"] == "state"


def test_guards_and_rejections_are_labelled(shipped):
    svg = render_svg(shipped["facture"])
    assert "si montant_ttc &gt; 25000" in svg
    assert "rejet → Suspendue" in svg
    assert 'class="edge reject"' in svg  # visa_dgs → visa_finances is drawn


def test_text_is_escaped(shipped):
    from dataclasses import replace

    circuit = shipped["deliberation"]
    hostile = replace(circuit, title="<script>alert(1)</script>")
    svg = render_svg(hostile)
    assert "<script>" not in svg
    etree.fromstring(svg.encode())


def test_layers_put_finals_at_the_bottom(shipped):
    rows = layers(shipped["deliberation"])
    assert rows == [["visa_dgs"], ["signature_maire"], ["signe", "rejete", "abandonne"]]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((WORKFLOWS / "circuit.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", ["deliberation", "arrete", "contrat", "facture",
                                  "bordereau-mandats"])
def test_shipped_circuits_match_the_schema(validator, name):
    data = yaml.safe_load((WORKFLOWS / f"{name}.yaml").read_text())
    assert list(validator.iter_errors(data)) == []


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d["states"]["visa_dgs"].update(nxet="x"), ["states", "visa_dgs"]),
    (lambda d: d["states"]["visa_dgs"].update(action="viza"), ["states", "visa_dgs"]),
    (lambda d: d["states"]["signature_maire"]["signature"].update(level="B-X"),
     ["states", "signature_maire"]),
    (lambda d: d["states"]["visa_dgs"].update(desks=["dgs", "maire"]), ["states", "visa_dgs"]),
    (lambda d: d.pop("initial"), []),
])
def test_schema_rejects_what_check_rejects(validator, change, path):
    data = yaml.safe_load((WORKFLOWS / "deliberation.yaml").read_text())
    change(data)
    errors = list(validator.iter_errors(data))
    assert errors
    assert any(list(e.absolute_path)[:len(path)] == path for e in errors)


def test_schema_and_checker_know_the_same_keys():
    from parapheur.circuits import definition as d

    schema = json.loads((WORKFLOWS / "circuit.schema.json").read_text())
    defs = schema["$defs"]
    assert set(schema["properties"]) == set(d.TOP_KEYS)
    assert set(defs["step"]["properties"]) == set(d.STEP_KEYS)
    assert set(defs["finalState"]["properties"]) == set(d.FINAL_KEYS)
    assert set(defs["step"]["properties"]["signature"]["properties"]) == set(d.SIGNATURE_KEYS)
    stamp = defs["step"]["properties"]["signature"]["properties"]["stamp"]
    assert set(stamp["properties"]) == set(d.STAMP_KEYS)
    assert defs["step"]["properties"]["action"]["enum"] == list(d.ACTIONS)
    assert defs["finalState"]["properties"]["final"]["enum"] == list(d.OUTCOMES)
    assert defs["step"]["properties"]["signature"]["properties"]["level"]["enum"] == \
        list(d.LEVELS)
