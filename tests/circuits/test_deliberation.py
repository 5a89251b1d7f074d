"""The délibération circuit end to end: visa by the DGS, then signature by the maire."""

from __future__ import annotations

import json

import circuit_helpers
import pytest

from parapheur.circuits import engine
from parapheur.circuits.errors import ActionNotAllowed, StepNotCurrent

# The shared fixtures (bound here: a conftest.py would shadow tests/conftest.py).
now = circuit_helpers.now
shipped = circuit_helpers.shipped


@pytest.fixture
def circuit(shipped):
    return shipped["deliberation"]


def test_starts_at_the_dgs_visa(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    [step] = engine.pending(circuit, state)
    assert (step.state, step.action, step.desks, step.mode) == ("visa_dgs", "visa", ("dgs",),
                                                                "single")
    assert not state.is_final


def test_visa_then_signature_approves(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    after_visa = engine.apply(circuit, state, step="visa_dgs", desk="dgs", decision="approve",
                              metadata={}, now=now)
    [step] = engine.pending(circuit, after_visa.state)
    assert step.state == "signature_maire" and step.desks == ("maire",)
    assert step.signature is not None and step.signature.certify
    signed = engine.apply(circuit, after_visa.state, step="signature_maire", desk="maire",
                          decision="approve", metadata={}, now=now)
    assert signed.state.is_final and signed.state.outcome == "approved"
    assert [name for name, _ in signed.events] == ["document:step:signed",
                                                    "document:circuit:completed"]
    assert engine.pending(circuit, signed.state) == []


def test_rejection_ends_rejected_with_reason(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    moved = engine.apply(circuit, state, step="visa_dgs", desk="dgs", decision="reject",
                         metadata={}, reason="Pièce manquante", now=now)
    assert moved.state.outcome == "rejected"
    assert moved.events[0] == ("document:step:rejected", {"step": "visa_dgs", "desk": "dgs",
                                                          "reason": "Pièce manquante",
                                                          "to": "rejete"})


def test_rejection_without_reason_is_refused(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    with pytest.raises(ActionNotAllowed, match="motif du rejet est obligatoire"):
        engine.apply(circuit, state, step="visa_dgs", desk="dgs", decision="reject",
                     metadata={}, reason="  ", now=now)


def test_acting_twice_is_deja_traite(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    moved = engine.apply(circuit, state, step="visa_dgs", desk="dgs", decision="approve",
                         metadata={}, now=now)
    with pytest.raises(StepNotCurrent) as info:
        engine.apply(circuit, moved.state, step="visa_dgs", desk="dgs", decision="approve",
                     metadata={}, now=now)
    assert info.value.status == 409 and "déjà traité" in info.value.message


def test_wrong_desk_is_forbidden(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    with pytest.raises(ActionNotAllowed) as info:
        engine.apply(circuit, state, step="visa_dgs", desk="maire", decision="approve",
                     metadata={}, now=now)
    assert info.value.status == 403


def test_state_survives_json(circuit, now):
    state = engine.start(circuit, {}, author_desk="services-techniques", now=now)
    moved = engine.apply(circuit, state, step="visa_dgs", desk="dgs", decision="approve",
                         metadata={}, now=now).state
    assert engine.RunState.from_json(json.loads(json.dumps(moved.to_json()))) == moved
