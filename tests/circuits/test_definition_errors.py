"""Each defect `workflows check` must catch, with the exact line (and column) reported."""

from __future__ import annotations

import pytest
from circuit_helpers import circuit, located

VALID = """
id: demo
title: Démo
initial: visa
on_reject: rejete
states:
  visa:
    action: visa
    desk: dgs
    next: signe
  signe:
    final: approved
  rejete:
    final: rejected
"""


def only(text: str) -> tuple[int, int, str]:
    found = located(text)
    assert len(found) == 1, found
    return found[0]


def test_the_reference_circuit_is_valid():
    assert circuit(VALID).initial == "visa"


def test_yaml_syntax_error_reports_its_line():
    line, _column, message = only("""
        id: demo
        title: Démo
        states:
          visa: [unclosed
          signe:
            final: approved
        """)
    assert "erreur de syntaxe YAML" in message
    assert line in (4, 5)  # PyYAML points at the unclosed flow sequence or just after


def test_yaml_syntax_error_on_bad_indentation():
    line, column, message = only("""
        id: demo
        title: Démo
         initial: visa
        """)
    assert (line, "erreur de syntaxe YAML") == (3, message.split(" :")[0])


def test_duplicate_top_level_key():
    text = VALID.replace("title: Démo\n", "title: Démo\ntitle: Autre\n")
    assert only(text) == (3, 1, "clé en double « title » dans le circuit (déjà définie ligne 2)")


def test_duplicate_state_is_reported_not_silently_replaced():
    text = VALID.replace("  signe:\n", "  visa:\n    action: visa\n    desk: maire\n"
                                      "    next: signe\n  signe:\n")
    line, column, message = only(text)
    assert (line, column) == (10, 3)
    assert message == "clé en double « visa » dans « states » (déjà définie ligne 6)"


def test_duplicate_key_inside_a_step():
    text = VALID.replace("    desk: dgs\n", "    desk: dgs\n    desk: maire\n")
    assert only(text)[:2] == (9, 5)


def test_misspelt_key_suggests_the_right_one():
    text = VALID.replace("    next: signe", "    nxet: signe")
    found = located(text)
    assert (9, 5, "clé inconnue « nxet » dans l'état « visa » (vouliez-vous dire « next » ?)") \
        in found


def test_unknown_top_level_key_lists_the_allowed_ones():
    line, column, message = only(VALID + "colour: blue\n")
    assert (line, column) == (14, 1)
    assert message.startswith("clé inconnue « colour » dans le circuit (clés possibles : id,")


def test_misspelt_final_outcome():
    text = VALID.replace("final: approved", "final: aproved")
    line, column, message = located(text)[0]
    assert (line, column) == (11, 12)
    assert "issue inconnue « aproved » (vouliez-vous dire « approved » ?)" in message


def test_wrong_type_for_deadline():
    text = VALID.replace("    desk: dgs\n", "    desk: dgs\n    deadline: 5\n")
    assert only(text) == (9, 15, "« deadline » doit être un texte, trouvé un entier")


def test_wrong_type_for_certify():
    text = VALID.replace("action: visa", "action: signature").replace(
        "    desk: dgs\n", "    desk: dgs\n    signature:\n      certify: 'oui'\n")
    assert only(text) == (10, 16, "« certify » doit valoir true ou false, trouvé un texte")


def test_wrong_type_for_states():
    line, column, message = only("""
        id: demo
        title: Démo
        initial: visa
        states: [visa]
        """)
    assert (line, column) == (4, 9)
    assert message.startswith("« states » doit être un dictionnaire")


def test_undefined_state_in_next():
    text = VALID.replace("next: signe", "next: signé")
    line, column, message = located(text)[0]
    assert (line, column) == (9, 11)
    assert message == "état non défini « signé » dans la suite (next) (vouliez-vous dire " \
                      "« signe » ?)"


def test_undefined_initial_state():
    text = VALID.replace("initial: visa", "initial: vissa")
    assert (3, 10) == located(text)[0][:2]


def test_undefined_rejection_target():
    text = VALID.replace("on_reject: rejete", "on_reject: refuse")
    line, column, message = located(text)[0]
    assert (line, column) == (4, 12) and "état non défini « refuse »" in message


def test_a_rejection_that_notifications_carry_to_the_approved_end_is_refused():
    """Found by the engine's property test: a rejection sent back to a notification whose
    branch jumps to the end would end the document approved without any new approval."""
    line, column, message = only("""
id: demo
title: Démo
initial: avis
metadata:
  montant: decimal
states:
  avis:
    action: notification
    desk: dgs
    next:
      - if: montant <= 100
        to: signe
      - to: visa
  visa:
    action: visa
    desk: dgs
    on_reject: avis
    next: signe
  signe:
    final: approved
""")
    assert (line, column) == (17, 16)
    assert "le rejet de « visa » mène à « avis »" in message
    assert "« signe »" in message and "sans nouvelle approbation" in message


def test_unreachable_state():
    text = VALID + "  oublie:\n    action: visa\n    desk: maire\n    next: signe\n"
    assert only(text) == (14, 3, "état « oublie » inaccessible depuis l'état initial « visa »")


def test_step_without_a_way_out():
    text = VALID.replace("    next: signe\n", "")
    line, column, message = only(text)
    assert (line, column) == (6, 3)
    assert "n'a pas de suite" in message


def test_cycle_with_no_exit():
    found = located("""
        id: demo
        title: Démo
        initial: a
        on_reject: rejete
        states:
          a:
            action: visa
            desk: dgs
            next: b
          b:
            action: visa
            desk: maire
            next: a
          signe:
            final: approved
          rejete:
            final: rejected
        """)
    assert (6, 3, "cycle sans issue : a → b → a (aucune suite ne mène à un état final)") in found
    # The approved end is then unreachable too, which is reported where it is defined.
    assert (14, 3, "état « signe » inaccessible depuis l'état initial « a »") in found


def test_cycle_with_a_guarded_exit_is_fine():
    circuit("""
        id: demo
        title: Démo
        metadata:
          montant: decimal
        initial: a
        on_reject: rejete
        states:
          a:
            action: visa
            desk: dgs
            next: b
          b:
            action: visa
            desk: maire
            next:
              - if: montant > 10
                to: a
              - to: signe
          signe:
            final: approved
          rejete:
            final: rejected
        """)


def test_unknown_desk():
    text = VALID.replace("desk: dgs", "desk: dsg")
    assert only(text) == (8, 11, "bureau inconnu « dsg » (vouliez-vous dire « dgs » ?) : le "
                                 "déclarer dans desks.yaml")


def test_unknown_desk_in_a_parallel_list():
    text = VALID.replace("    desk: dgs\n", "    desks: [dgs, financez]\n    mode: all\n")
    assert only(text)[:2] == (8, 18)


def test_unknown_action():
    text = VALID.replace("action: visa", "action: viza")
    assert only(text) == (7, 13, "action inconnue « viza » (vouliez-vous dire « visa » ?) "
                                 "(actions : visa, signature, cachet, export, notification)")


def test_guard_that_does_not_parse_points_at_the_column():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: montant > \n"
                                              "        to: signe\n      - to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  montant: decimal\ninitial: visa")
    line, column, message = only(text)
    assert line == 12
    assert message.startswith("condition invalide : valeur ou champ attendu")
    # "      - if: " is 12 characters; the expression ends at offset 9.
    assert column == 13 + len("montant >")  # YAML drops the trailing space


def test_guard_with_a_single_equals():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: montant = 3\n"
                                              "        to: signe\n      - to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  montant: decimal\ninitial: visa")
    assert only(text) == (12, 21, "condition invalide : « = » seul n'est pas un opérateur : "
                                  "écrire « == »")


def test_guard_using_an_unknown_field():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: montant_tc > 3\n"
                                              "        to: signe\n      - to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  montant_ttc: decimal\ninitial: visa")
    assert only(text) == (12, 13, "condition invalide : champ de métadonnées inconnu "
                                  "« montant_tc » (vouliez-vous dire « montant_ttc » ?)")


def test_guard_comparing_a_number_with_text():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: \"montant > 'beaucoup'\"\n"
                                              "        to: signe\n      - to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  montant: decimal\ninitial: visa")
    line, column, message = only(text)
    assert (line, column) == (12, 24)
    assert "types incompatibles : montant (decimal) > texte" in message


def test_guard_with_a_value_outside_the_declared_ones():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: nature == 'travo'\n"
                                              "        to: signe\n      - to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  nature: {type: string, values: [travaux, "
                                         "fournitures]}\ninitial: visa")
    assert "valeur « travo » impossible pour « nature »" in only(text)[2]


def test_last_branch_must_be_unconditional():
    text = VALID.replace("    next: signe\n", "    next:\n      - if: montant > 3\n"
                                              "        to: signe\n")
    text = text.replace("initial: visa", "metadata:\n  montant: decimal\ninitial: visa")
    line, column, message = only(text)
    assert (line, column) == (12, 9)
    assert message.startswith("la dernière branche de « next » ne doit pas avoir de condition")


def test_unconditional_branch_before_the_last():
    text = VALID.replace("    next: signe\n", "    next:\n      - to: signe\n"
                                              "      - to: rejete\n")
    assert only(text)[:2] == (10, 9)


def test_desk_from_needs_a_desk_field():
    text = VALID.replace("desk: dgs", "desk_from: service").replace(
        "initial: visa", "metadata:\n  service: string\ninitial: visa")
    assert only(text) == (10, 16, "le champ « service » est de type string : desk_from demande "
                                  "un champ de type desk")


def test_parallel_desks_need_a_mode():
    text = VALID.replace("    desk: dgs\n", "    desks: [dgs, finances]\n")
    assert only(text) == (8, 5, "« mode » manquant : all (tous doivent agir) ou any (le premier "
                                "suffit)")


def test_unknown_mode():
    text = VALID.replace("    desk: dgs\n", "    desks: [dgs, finances]\n    mode: each\n")
    assert only(text)[:2] == (9, 11)


def test_two_actors_on_one_step():
    text = VALID.replace("    desk: dgs\n", "    desk: dgs\n    author: true\n")
    assert only(text)[:2] == (9, 5)


def test_step_without_actor():
    text = VALID.replace("    desk: dgs\n", "")
    assert only(text) == (6, 3, "l'étape « visa » ne dit pas qui agit : desk, desks, desk_from "
                                "ou author")


def test_bad_deadline():
    text = VALID.replace("    desk: dgs\n", "    desk: dgs\n    deadline: 5 days\n")
    assert only(text)[:2] == (9, 15)


def test_unknown_pades_level():
    text = VALID.replace("action: visa", "action: signature").replace(
        "    desk: dgs\n", "    desk: dgs\n    signature:\n      level: B-LTB\n")
    assert "niveau PAdES inconnu « B-LTB » (vouliez-vous dire « B-LT » ?)" in only(text)[2]


def test_signature_options_on_a_visa():
    text = VALID.replace("    desk: dgs\n", "    desk: dgs\n    signature:\n      level: B-T\n")
    assert only(text)[:2] == (9, 5)


def test_incomplete_stamp():
    text = VALID.replace("action: visa", "action: signature").replace(
        "    desk: dgs\n", "    desk: dgs\n    signature:\n      stamp: {page: 1, x: 10}\n")
    assert {p[:2] for p in located(text)} == {(10, 14)}


def test_missing_rejection_target():
    text = VALID.replace("on_reject: rejete\n", "")
    line, _column, message = located(text)[0]
    assert line == 5 and "ne dit pas où va un rejet" in message


def test_rejection_to_a_later_step_is_refused():
    found = located("""
        id: demo
        title: Démo
        initial: a
        on_reject: rejete
        states:
          a:
            action: visa
            desk: dgs
            on_reject: b
            next: b
          b:
            action: visa
            desk: maire
            next: signe
          signe:
            final: approved
          rejete:
            final: rejected
        """)
    assert found == [(9, 16, "le rejet de « a » doit ramener à une étape antérieure ; « b » ne "
                             "précède pas « a »")]


def test_rejection_to_an_approved_final_state_is_refused():
    text = VALID.replace("on_reject: rejete", "on_reject: signe")
    line, column, message = located(text)[0]
    assert (line, column) == (4, 12) and "état final « approved »" in message


def test_certify_only_on_the_first_signature():
    found = located("""
        id: demo
        title: Démo
        initial: a
        on_reject: rejete
        states:
          a:
            action: signature
            desk: dgs
            next: b
          b:
            action: signature
            desk: maire
            signature: {certify: true}
            next: signe
          signe:
            final: approved
          rejete:
            final: rejected
        """)
    assert found == [(10, 3, "seule la première signature peut certifier le document : « b » "
                             "peut suivre « a »")]


def test_circuit_without_an_approved_end():
    text = VALID.replace("final: approved", "final: cancelled")
    assert any("aucun état final « approved »" in m for _l, _c, m in located(text))


def test_bad_circuit_id():
    assert only(VALID.replace("id: demo", "id: Démo Circuit"))[:2] == (1, 5)


@pytest.mark.parametrize("missing", ["id", "title", "initial"])
def test_missing_required_top_key(missing):
    lines = [line for line in VALID.splitlines() if not line.startswith(f"{missing}:")]
    found = located("\n".join(lines))
    assert any(m == f"clé obligatoire « {missing} » manquante dans le circuit"
               for _l, _c, m in found)


def test_every_problem_is_reported_at_once():
    text = (VALID.replace("title: Démo\n", "title: Démo\ntitle: Bis\n")
            .replace("desk: dgs", "desk: dsg").replace("next: signe", "next: sign"))
    assert len(located(text)) == 3


def test_yaml_anchors_and_merge_keys_are_supported():
    c = circuit("""
        id: demo
        title: Démo
        initial: a
        on_reject: rejete
        x-visa: &visa {action: visa, desk: dgs, deadline: 5d}
        states:
          a:
            <<: *visa
            next: b
          b:
            <<: *visa
            desk: maire
            next: signe
          signe: {final: approved}
          rejete: {final: rejected}
        """)
    assert c.states["a"].actor.desks == ("dgs",)
    assert c.states["b"].actor.desks == ("maire",)  # the key written here wins
    assert str(c.states["b"].deadline) == "5d"


def test_merged_mapping_with_a_misspelt_key_is_reported_where_written():
    found = located("""
        id: demo
        title: Démo
        initial: a
        on_reject: rejete
        x-visa: &visa {action: visa, dessk: dgs}
        states:
          a:
            <<: *visa
            desk: dgs
            next: signe
          signe: {final: approved}
          rejete: {final: rejected}
        """)
    assert found[0][:2] == (5, 30)
    assert "clé inconnue « dessk »" in found[0][2]


def test_unquoted_text_in_a_guard_gets_a_hint():
    found = located("""
        id: demo
        title: Démo
        metadata: {nature: string}
        initial: a
        on_reject: rejete
        states:
          a:
            action: visa
            desk: dgs
            next:
              - if: nature == travaux
                to: signe
              - to: signe
          signe: {final: approved}
          rejete: {final: rejected}
        """)
    assert found == [(11, 23, "condition invalide : champ de métadonnées inconnu « travaux » ; "
                              "champs déclarés : nature (un texte s'écrit entre apostrophes : "
                              "'travaux')")]
