"""The engine's runtime rules: parallel joins, guards, rejections, remorse, deadlines, metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import circuit_helpers
import pytest
from circuit_helpers import circuit

from parapheur.circuits import engine
from parapheur.circuits.definition import SYSTEM_DESK
from parapheur.circuits.errors import (
    ActionNotAllowed,
    CircuitError,
    MetadataError,
    StepNotCurrent,
)

# The shared fixtures (bound here: a conftest.py would shadow tests/conftest.py).
now = circuit_helpers.now
shipped = circuit_helpers.shipped

AUTHOR = "services-techniques"


def act(c, state, step, desk, decision="approve", *, metadata=None, reason=None, now):
    return engine.apply(c, state, step=step, desk=desk, decision=decision,
                        metadata=metadata or {}, reason=reason, now=now)


# --- parallel steps ---------------------------------------------------------------------------

@pytest.fixture
def contrat(shipped):
    return shipped["contrat"]


SMALL = {"montant_ht": "12000", "procedure": "mapa"}
LARGE = {"montant_ht": "150000.00", "procedure": "mapa"}


def test_all_join_waits_for_every_desk(contrat, now):
    state = engine.start(contrat, SMALL, author_desk=AUTHOR, now=now)
    first = act(contrat, state, "visas_paralleles", "dgs", metadata=SMALL, now=now)
    assert first.state.current == "visas_paralleles"
    [step] = engine.pending(contrat, first.state)
    assert step.acted == ("dgs",) and step.waiting == ("finances",)
    assert first.events == [("document:step:approved", {"step": "visas_paralleles",
                                                        "action": "visa", "desk": "dgs",
                                                        "complete": False})]
    second = act(contrat, first.state, "visas_paralleles", "finances", metadata=SMALL, now=now)
    assert second.state.current == "signature_maire"


def test_all_join_refuses_the_same_desk_twice(contrat, now):
    state = engine.start(contrat, SMALL, author_desk=AUTHOR, now=now)
    first = act(contrat, state, "visas_paralleles", "dgs", metadata=SMALL, now=now)
    with pytest.raises(StepNotCurrent, match="déjà agi"):
        act(contrat, first.state, "visas_paralleles", "dgs", metadata=SMALL, now=now)


def test_one_rejection_rejects_an_all_step(contrat, now):
    state = engine.start(contrat, SMALL, author_desk=AUTHOR, now=now)
    first = act(contrat, state, "visas_paralleles", "dgs", metadata=SMALL, now=now)
    rejected = act(contrat, first.state, "visas_paralleles", "finances", "reject",
                   metadata=SMALL, reason="Crédits insuffisants", now=now)
    assert rejected.state.outcome == "rejected"


def test_any_step_first_desk_wins_and_the_other_gets_deja_traite(contrat, now):
    state = engine.start(contrat, LARGE, author_desk=AUTHOR, now=now)
    state = act(contrat, state, "visas_paralleles", "dgs", metadata=LARGE, now=now).state
    state = act(contrat, state, "visas_paralleles", "finances", metadata=LARGE, now=now).state
    [step] = engine.pending(contrat, state)
    assert (step.state, step.mode, step.desks) == ("visa_adjoint", "any", ("adjoint", "maire"))
    won = act(contrat, state, "visa_adjoint", "maire", metadata=LARGE, now=now)
    assert won.state.current == "signature_maire"
    with pytest.raises(StepNotCurrent) as info:
        act(contrat, won.state, "visa_adjoint", "adjoint", metadata=LARGE, now=now)
    assert info.value.status == 409


def test_rejection_back_to_an_earlier_step_restarts_it(contrat, now):
    state = engine.start(contrat, LARGE, author_desk=AUTHOR, now=now)
    state = act(contrat, state, "visas_paralleles", "dgs", metadata=LARGE, now=now).state
    state = act(contrat, state, "visas_paralleles", "finances", metadata=LARGE, now=now).state
    later = now + timedelta(days=1)
    back = act(contrat, state, "visa_adjoint", "adjoint", "reject", metadata=LARGE,
               reason="Clause de révision absente", now=later)
    assert back.state.current == "visas_paralleles"
    assert back.state.acted == () and back.state.entered_at == later
    assert not back.state.is_final


# --- guards -----------------------------------------------------------------------------------

@pytest.fixture
def facture(shipped):
    return shipped["facture"]


def invoice(amount: str) -> dict:
    return {"montant_ttc": amount, "service_ordonnateur": "services-techniques"}


@pytest.mark.parametrize(("amount", "path"), [
    ("1200.50", ["service_fait", "bon_a_payer"]),
    ("25000", ["service_fait", "bon_a_payer"]),
    ("25000.01", ["service_fait", "visa_finances", "bon_a_payer"]),
    ("120000", ["service_fait", "visa_finances", "visa_dgs", "bon_a_payer"]),
])
def test_invoice_route_depends_on_the_amount(facture, now, amount, path):
    meta = invoice(amount)
    state = engine.start(facture, meta, author_desk="finances", now=now)
    while not state.is_final:
        [step] = engine.pending(facture, state)
        state = act(facture, state, step.state, step.desks[0], metadata=meta, now=now).state
    assert list(state.trail) == path
    assert state.outcome == "approved"


def test_service_fait_is_done_by_the_desk_named_in_the_metadata(facture, now):
    meta = {"montant_ttc": 100, "service_ordonnateur": "dgs"}
    state = engine.start(facture, meta, author_desk="finances", now=now)
    assert engine.pending(facture, state)[0].desks == ("dgs",)
    with pytest.raises(ActionNotAllowed):
        act(facture, state, "service_fait", "services-techniques", metadata=meta, now=now)


def test_invoice_rejection_reaches_the_supplier_status(facture, now):
    meta = invoice("30000")
    state = engine.start(facture, meta, author_desk="finances", now=now)
    state = act(facture, state, "service_fait", AUTHOR, metadata=meta, now=now).state
    moved = act(facture, state, "visa_finances", "finances", "reject", metadata=meta,
                reason="Montant différent du bon de commande", now=now)
    assert moved.state.outcome == "rejected" and moved.state.current == "suspendue"
    assert moved.events[-1] == ("document:circuit:completed", {
        "state": "suspendue", "outcome": "rejected", "external_status": "SUSPENDUE"})


def test_guard_uses_metadata_current_at_approval(facture, now):
    state = engine.start(facture, invoice("100"), author_desk="finances", now=now)
    # The amount was corrected before the service fait was certified.
    moved = act(facture, state, "service_fait", AUTHOR, metadata=invoice("50000"), now=now)
    assert moved.state.current == "visa_finances"


def test_missing_and_malformed_metadata_are_listed(facture, now):
    with pytest.raises(MetadataError) as info:
        engine.start(facture, {"montant_ttc": "douze"}, author_desk="finances", now=now)
    assert info.value.problems == [
        "la métadonnée « montant_ttc » vaut 'douze' : décimal attendu",
        "« Service ordonnateur » (service_ordonnateur) est obligatoire"]


def test_boolean_guard(shipped, now):
    arrete = shipped["arrete"]
    state = engine.start(arrete, {"reglementaire": True}, author_desk=AUTHOR, now=now)
    moved = act(arrete, state, "visa_dgs", "dgs", metadata={"reglementaire": True}, now=now)
    assert moved.state.current == "visa_adjoint"


# --- notification, author and automatic steps --------------------------------------------------

def test_notification_passes_through_and_tells_the_author(shipped, now):
    arrete = shipped["arrete"]
    meta = {"reglementaire": False}
    state = engine.start(arrete, meta, author_desk=AUTHOR, now=now)
    state = act(arrete, state, "visa_dgs", "dgs", metadata=meta, now=now).state
    signed = act(arrete, state, "signature_maire", "maire", metadata=meta, now=now)
    assert [name for name, _ in signed.events] == [
        "document:step:signed", "document:notification:queued", "document:circuit:completed"]
    assert signed.events[1][1] == {"step": "notification_auteur", "desks": [AUTHOR],
                                   "urgent": False}
    assert signed.state.trail[-2:] == ("notification_auteur", "signe")


def test_author_step(now):
    c = circuit("""
        id: relecture
        title: Relecture
        initial: relire
        on_reject: rejete
        states:
          relire:
            action: visa
            author: true
            next: signe
          signe: {final: approved}
          rejete: {final: rejected}
        """)
    state = engine.start(c, {}, author_desk="adjoint", now=now)
    assert engine.pending(c, state)[0].desks == ("adjoint",)


EXPORT_CIRCUIT = """
    id: export-essai
    title: Export d'essai
    initial: signature
    on_reject: rejete
    states:
      signature:
        action: signature
        desk: maire
        next: export
      export:
        action: export
        exporter: depot
        on_reject: signature
        next: transmis
      transmis: {final: approved}
      rejete: {final: rejected}
    """


def test_export_is_automatic(now):
    c = circuit(EXPORT_CIRCUIT)
    state = engine.start(c, {}, author_desk="finances", now=now)
    state = act(c, state, "signature", "maire", now=now).state
    [step] = engine.pending(c, state)
    assert step.automatic and step.desks == (SYSTEM_DESK,) and step.action == "export"
    assert c.states["export"].exporter == "depot"
    done = act(c, state, "export", SYSTEM_DESK, now=now)
    assert done.events[0][0] == "document:step:exported"
    assert done.state.outcome == "approved"


def test_failed_export_goes_back_to_the_signature(now):
    c = circuit(EXPORT_CIRCUIT)
    state = engine.start(c, {}, author_desk="finances", now=now)
    state = act(c, state, "signature", "maire", now=now).state
    back = act(c, state, "export", SYSTEM_DESK, "reject",
               reason="PES refusé par Hélios : IBAN invalide", now=now)
    assert back.state.current == "signature"


def test_shipped_bordereau_exports_through_the_pes_exporter(shipped, now):
    # After the signature the PES V2 exporter runs; a definitive failure goes back to the maire.
    bordereau = shipped["bordereau-mandats"]
    export = bordereau.states["export_pes"]
    assert (export.action, export.exporter, export.on_reject) == (
        "export", "pes-v2", "signature_ordonnateur")
    meta = {"exercice": 2026, "numero_bordereau": 1, "montant_total": 1}
    state = engine.start(bordereau, meta, author_desk="finances", now=now)
    state = act(bordereau, state, "signature_ordonnateur", "maire", metadata=meta, now=now).state
    assert state.current == "export_pes"
    back = act(bordereau, state, "export_pes", SYSTEM_DESK, "reject", metadata=meta,
               reason="échec de l'export : dépôt impossible", now=now)
    assert back.state.current == "signature_ordonnateur"


# --- droit de remords --------------------------------------------------------------------------

@pytest.fixture
def deliberation(shipped):
    return shipped["deliberation"]


def test_take_back_while_the_next_step_has_not_acted(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    moved = act(deliberation, state, "visa_dgs", "dgs", now=now).state
    assert engine.take_back_option(moved) == ("visa_dgs", "dgs")
    back = act(deliberation, moved, "visa_dgs", "dgs", "take_back", now=now)
    assert back.state.current == "visa_dgs" and back.state.acted == ()
    assert back.events == [("document:step:taken_back", {"step": "visa_dgs", "desk": "dgs",
                                                         "from": "signature_maire"})]
    assert engine.pending(deliberation, back.state)[0].desks == ("dgs",)


def test_take_back_by_another_desk_is_forbidden(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    moved = act(deliberation, state, "visa_dgs", "dgs", now=now).state
    with pytest.raises(ActionNotAllowed) as info:
        act(deliberation, moved, "visa_dgs", "maire", "take_back", now=now)
    assert info.value.status == 403


def test_no_take_back_once_the_next_step_acted(contrat, now):
    state = engine.start(contrat, LARGE, author_desk=AUTHOR, now=now)
    state = act(contrat, state, "visas_paralleles", "dgs", metadata=LARGE, now=now).state
    state = act(contrat, state, "visas_paralleles", "finances", metadata=LARGE, now=now).state
    state = act(contrat, state, "visa_adjoint", "adjoint", metadata=LARGE, now=now).state
    with pytest.raises(StepNotCurrent, match="droit de remords"):
        act(contrat, state, "visas_paralleles", "finances", "take_back", metadata=LARGE, now=now)


def test_take_back_of_a_partial_all_approval(contrat, now):
    state = engine.start(contrat, SMALL, author_desk=AUTHOR, now=now)
    partial = act(contrat, state, "visas_paralleles", "dgs", metadata=SMALL, now=now).state
    back = act(contrat, partial, "visas_paralleles", "dgs", "take_back", metadata=SMALL, now=now)
    assert back.state.acted == () and back.state.current == "visas_paralleles"


def test_no_take_back_of_a_signature(contrat, now):
    state = engine.start(contrat, SMALL, author_desk=AUTHOR, now=now)
    state = act(contrat, state, "visas_paralleles", "dgs", metadata=SMALL, now=now).state
    state = act(contrat, state, "visas_paralleles", "finances", metadata=SMALL, now=now).state
    signed = act(contrat, state, "signature_maire", "maire", metadata=SMALL, now=now).state
    with pytest.raises(StepNotCurrent):
        act(contrat, signed, "signature_maire", "maire", "take_back", metadata=SMALL, now=now)


def test_take_back_is_single_use(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    moved = act(deliberation, state, "visa_dgs", "dgs", now=now).state
    back = act(deliberation, moved, "visa_dgs", "dgs", "take_back", now=now).state
    with pytest.raises(StepNotCurrent):
        act(deliberation, back, "visa_dgs", "dgs", "take_back", now=now)


def test_take_back_survives_json(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    moved = act(deliberation, state, "visa_dgs", "dgs", now=now).state
    again = engine.RunState.from_json(moved.to_json())
    assert act(deliberation, again, "visa_dgs", "dgs", "take_back", now=now).state.current \
        == "visa_dgs"


# --- cancel, finality, versions ------------------------------------------------------------------

def test_author_cancels(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    cancelled = act(deliberation, state, "visa_dgs", AUTHOR, "cancel", reason="Doublon", now=now)
    assert cancelled.state.outcome == "cancelled"


def test_only_the_author_cancels(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    with pytest.raises(ActionNotAllowed) as info:
        act(deliberation, state, "visa_dgs", "dgs", "cancel", now=now)
    assert info.value.status == 403


def test_cancel_needs_a_cancel_state(facture, now):
    meta = invoice("10")
    state = engine.start(facture, meta, author_desk="finances", now=now)
    with pytest.raises(ActionNotAllowed, match="ne prévoit pas d'abandon"):
        act(facture, state, "service_fait", "finances", "cancel", metadata=meta, now=now)


@pytest.mark.parametrize("decision", ["approve", "reject", "take_back", "cancel"])
def test_final_states_absorb(deliberation, now, decision):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    done = act(deliberation, state, "visa_dgs", "dgs", "reject", reason="Non", now=now).state
    with pytest.raises(StepNotCurrent):
        act(deliberation, done, "visa_dgs", "dgs", decision, reason="x", now=now)


def test_unknown_decision(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    with pytest.raises(ActionNotAllowed, match="Décision inconnue"):
        act(deliberation, state, "visa_dgs", "dgs", "sign", now=now)


def test_an_edited_circuit_is_a_new_version_and_runs_keep_theirs(deliberation, now):
    edited = circuit(deliberation.source.replace("deadline: 5d", "deadline: 7d"))
    assert edited.id == deliberation.id and edited.version != deliberation.version
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    with pytest.raises(CircuitError, match="version"):
        act(edited, state, "visa_dgs", "dgs", now=now)
    assert act(deliberation, state, "visa_dgs", "dgs", now=now).state.current == \
        "signature_maire"


def test_same_text_same_version(deliberation):
    assert circuit(deliberation.source).version == deliberation.version


@pytest.mark.parametrize("garbage", [{}, {"format": 1}, {"format": 9, "current": "x"},
                                     {"format": 1, "circuit_id": "a", "circuit_version": "b",
                                      "current": "c", "author_desk": "d", "entered_at": "hier",
                                      "desks": [], "mode": "single", "acted": []}])
def test_unreadable_state_is_a_clear_error(garbage):
    with pytest.raises(CircuitError, match="État de circuit illisible"):
        engine.RunState.from_json(garbage)


# --- deadlines ----------------------------------------------------------------------------------

def test_deadline_counts_business_days(deliberation):
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=friday)
    # 5 business days from Friday: Mon 30, Tue 1, Wed 2, Thu 3, Fri 4 December.
    assert state.due == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def test_deadline_skips_french_public_holidays(deliberation):
    # Thursday 24 December 2026; the 25th is Christmas, 1 January is a holiday too.
    state = engine.start(deliberation, {}, author_desk=AUTHOR,
                         now=datetime(2026, 12, 24, 9, 0, tzinfo=UTC))
    # Business days: Mon 28, Tue 29, Wed 30, Thu 31 Dec, (Fri 1 Jan holiday) Mon 4 Jan.
    assert state.due == datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def test_easter_monday_and_ascension_are_holidays():
    from datetime import date

    from parapheur.circuits.calendar import easter_sunday, french_holidays

    assert easter_sunday(2026) == date(2026, 4, 5)
    assert {date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25)} <= french_holidays(2026)


def test_hours_deadline(now):
    c = circuit("""
        id: urgent
        title: Urgent
        initial: visa
        on_reject: rejete
        states:
          visa: {action: visa, desk: dgs, deadline: 48h, next: signe}
          signe: {final: approved}
          rejete: {final: rejected}
        """)
    assert engine.start(c, {}, author_desk=AUTHOR, now=now).due == now + timedelta(hours=48)


def test_a_step_becomes_late(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    assert not state.is_late(state.due)
    assert state.is_late(state.due + timedelta(seconds=1))
    assert engine.pending(deliberation, state)[0].due == state.due


def test_late_does_not_apply_once_final(deliberation, now):
    state = engine.start(deliberation, {}, author_desk=AUTHOR, now=now)
    done = act(deliberation, state, "visa_dgs", "dgs", "reject", reason="Non", now=now).state
    assert not done.is_late(now + timedelta(days=365))


def test_step_without_deadline_is_never_late(shipped, now):
    bordereau = shipped["bordereau-mandats"]
    meta = {"exercice": 2026, "numero_bordereau": 1, "montant_total": 1}
    state = engine.start(bordereau, meta, author_desk="finances", now=now)
    state = act(bordereau, state, "signature_ordonnateur", "maire", metadata=meta, now=now).state
    assert state.due is None and not state.is_late(now + timedelta(days=400))


# --- signature options --------------------------------------------------------------------------

def test_signature_options_reach_the_pending_step(shipped, now):
    arrete = shipped["arrete"]
    meta = {"reglementaire": False}
    state = engine.start(arrete, meta, author_desk=AUTHOR, now=now)
    state = act(arrete, state, "visa_dgs", "dgs", metadata=meta, now=now).state
    [step] = engine.pending(arrete, state)
    options = step.signature
    assert options is not None
    assert (options.level, options.certify) == ("B-LTA", True)
    assert options.stamp is not None and (options.stamp.page, options.stamp.width) == (-1, 220)


def test_an_arrete_without_the_optional_flag_goes_straight_to_the_maire(shipped, now):
    arrete = shipped["arrete"]
    state = engine.start(arrete, {}, author_desk=AUTHOR, now=now)
    moved = act(arrete, state, "visa_dgs", "dgs", now=now)
    assert moved.state.current == "signature_maire"
