"""`mandatory_reading` and `sign_annexes` on steps: read, and refused where they mean nothing."""

from __future__ import annotations

from circuit_helpers import circuit, located

BASE = """
id: demo
title: Démo
initial: visa
on_reject: rejete
states:
  visa:
    action: visa
    desk: dgs
    mandatory_reading: true
    next: signature
  signature:
    action: signature
    desk: maire
    mandatory_reading: true
    sign_annexes: true
    next: cachet
  cachet:
    action: cachet
    next: signe
  signe:
    final: approved
  rejete:
    final: rejected
"""


def test_the_options_are_read_on_visa_and_signature_steps():
    loaded = circuit(BASE)
    assert loaded.states["visa"].mandatory_reading is True
    assert loaded.states["visa"].sign_annexes is False
    assert loaded.states["signature"].mandatory_reading is True
    assert loaded.states["signature"].sign_annexes is True
    assert loaded.states["cachet"].mandatory_reading is False


def test_sign_annexes_on_a_visa_is_refused_with_its_line():
    text = BASE.replace("    mandatory_reading: true\n    next: signature",
                        "    sign_annexes: true\n    next: signature")
    assert (9, 5, "« sign_annexes » ne s'applique qu'aux étapes signature, pas à « visa »") \
        in located(text)


def test_mandatory_reading_on_a_seal_is_refused_with_its_line():
    text = BASE.replace("    action: cachet\n", "    action: cachet\n    mandatory_reading: true\n")
    assert (19, 5, "« mandatory_reading » ne s'applique qu'aux étapes visa et signature, pas à "
                   "« cachet »") in located(text)


def test_a_non_boolean_value_is_refused():
    text = BASE.replace("    sign_annexes: true", "    sign_annexes: oui")
    assert any("« sign_annexes » doit valoir true ou false" in message
               for _, _, message in located(text))
