"""The guard language: parsed and type-checked by the engine, evaluated on typed metadata."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from parapheur.circuits.errors import GuardError
from parapheur.circuits.guards import FieldSpec, GuardSyntaxError, coerce, parse_guard

FIELDS = {
    "montant": FieldSpec("montant", "decimal"),
    "lignes": FieldSpec("lignes", "integer"),
    "urgent": FieldSpec("urgent", "boolean"),
    "nature": FieldSpec("nature", "string", values=("travaux", "fournitures", "services")),
    "objet": FieldSpec("objet", "string", optional=True),
    "service": FieldSpec("service", "desk"),
    "echeance": FieldSpec("echeance", "date"),
}
META = {"montant": "25000.00", "lignes": 3, "urgent": False, "nature": "travaux",
        "service": "dgs", "echeance": "2026-12-31"}


def holds(text: str, **changes) -> bool:
    return parse_guard(text, FIELDS).evaluate({**META, **changes}, FIELDS)


@pytest.mark.parametrize(("text", "expected"), [
    ("montant > 25000", False),
    ("montant >= 25000", True),
    ("montant == 25000", True),
    ("montant != 25000.00", False),
    ("montant < 25000.01", True),
    ("lignes <= 3", True),
    ("urgent == false", True),
    ("urgent", False),
    ("not urgent", True),
    ("nature == 'travaux'", True),
    ('nature != "travaux"', False),
    ("nature in ['travaux', 'services']", True),
    ("nature not in ['travaux', 'services']", False),
    ("service == 'dgs'", True),
    ("echeance < '2027-01-01'", True),
    ("echeance == '2026-12-31'", True),
    ("montant > 1000 and nature == 'travaux'", True),
    ("montant > 100000 or urgent", False),
    ("not (montant > 100000 or urgent)", True),
    ("montant > 100000 or lignes == 3 and nature == 'fournitures'", False),
    ("(montant > 100000 or lignes == 3) and nature == 'travaux'", True),
    ("objet == null", True),
    ("objet != null", False),
    ("-5 < montant", True),
])
def test_evaluation(text, expected):
    assert holds(text) is expected


def test_and_binds_tighter_than_or():
    assert holds("urgent or montant > 1 and lignes == 3") is True
    assert holds("urgent or montant > 1 and lignes == 4") is False


def test_absent_optional_field_orders_false():
    assert holds("objet == 'x'") is False


def test_decimal_comparison_is_exact():
    # 0.1 + 0.2 style float errors must not move an invoice across a threshold.
    assert holds("montant > 25000", montant="25000.0000000001") is True
    assert holds("montant > 25000", montant=25000.0) is False


def test_french_decimal_comma_is_accepted():
    assert coerce(FIELDS["montant"], "1234,56") == Decimal("1234.56")


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("montant >", 9, "valeur ou champ attendu, trouvé la fin de l'expression"),
    ("montant = 3", 8, "« = » seul n'est pas un opérateur : écrire « == »"),
    ("montant > 3 4", 12, "« 4 » inattendu"),
    ("(montant > 3", 12, "« ) » attendu"),
    ("nature == 'travaux", 10, "chaîne de caractères non terminée"),
    ("montant > 'x'", 10, "types incompatibles : montant (decimal) > texte"),
    ("nature > 'a'", 0, "« > » ne s'applique pas à un texte"),
    ("urgent < true", 0, "« < » ne s'applique pas à un booléen"),
    ("montant", 0, "le champ « montant » (decimal) n'est pas un booléen"),
    ("3 > 2", 0, "comparaison de deux valeurs fixes"),
    ("montants > 3", 0, "champ de métadonnées inconnu « montants » (vouliez-vous dire "
                        "« montant » ?)"),
    ("nature in ('a')", 10, "« [ » (liste de valeurs après in) attendu"),
    ("nature in [montant]", 11, "une liste après « in » ne contient que des valeurs"),
    ("lignes == 2.5", 10, "« lignes » est un entier"),
    ("echeance > '31/12/2026'", 11, "date invalide « 31/12/2026 »"),
    ("montant > null", 0, "null ne se compare qu'avec == ou !="),
    ("", 0, "condition vide"),
    ("__import__('os').system('id')", 16, "caractère inattendu « . »"),
    ("montant > 1 && urgent", 12, "caractère inattendu « & »"),
])
def test_defects_are_located(text, offset, message):
    with pytest.raises(GuardSyntaxError) as info:
        parse_guard(text, FIELDS)
    assert info.value.offset == offset
    assert message in info.value.message


def test_guard_reports_fields_it_reads():
    assert parse_guard("montant > 3 and not urgent", FIELDS).fields == {"montant", "urgent"}


@pytest.mark.parametrize(("spec", "raw"), [
    (FIELDS["montant"], "douze"), (FIELDS["montant"], True), (FIELDS["montant"], "NaN"),
    (FIELDS["lignes"], 2.5), (FIELDS["lignes"], "3a"), (FIELDS["urgent"], "oui"),
    (FIELDS["nature"], "autre"), (FIELDS["nature"], 3), (FIELDS["echeance"], "demain"),
    (FIELDS["service"], "Services Techniques"), (FIELDS["service"], 12),
])
def test_bad_values_are_refused(spec, raw):
    with pytest.raises(GuardError, match=f"« {spec.name} »"):
        coerce(spec, raw)


def test_values_are_coerced_to_their_type():
    assert coerce(FIELDS["lignes"], "7") == 7
    assert coerce(FIELDS["urgent"], "TRUE") is True
    assert coerce(FIELDS["echeance"], "2026-01-02") == date(2026, 1, 2)
