"""Circuit engine throughput: 10,000 documents driven through the shipped circuits.

Ratios are against baselines measured in the same run: a bare transition table (the least any
engine must do) and the JSON round trip the service performs on every action anyway.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parapheur.circuits import engine
from parapheur.circuits.definition import SYSTEM_DESK, Circuit, load_directory

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
DOCUMENTS = 10_000
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _metadata(circuit: Circuit, rng: random.Random) -> dict:
    values = {"montant_ttc": f"{rng.uniform(10, 150_000):.2f}",
              "montant_ht": f"{rng.uniform(10, 150_000):.2f}",
              "service_ordonnateur": rng.choice(["services-techniques", "dgs", "finances"]),
              "procedure": rng.choice(["gre-a-gre", "mapa", "appel-offres"]),
              "reglementaire": rng.random() < 0.3, "exercice": 2026,
              "numero_bordereau": rng.randint(1, 999), "montant_total": "1000.00"}
    return {name: values[name] for name in circuit.fields if name in values}


def _script(circuits: list[Circuit]) -> list[tuple[Circuit, dict, list[float]]]:
    rng = random.Random(20261125)
    return [(circuit, _metadata(circuit, rng), [rng.random() for _ in range(12)])
            for circuit in (circuits[i % len(circuits)] for i in range(DOCUMENTS))]


def _drive(script) -> tuple[int, list[dict]]:
    """Run every document to its end; returns the transitions applied and the final states."""
    transitions = 0
    finals = []
    for circuit, metadata, dice in script:
        now = START
        state = engine.start(circuit, metadata, author_desk="services-techniques", now=now)
        roll = iter(dice * 4)
        while not state.is_final:
            [step] = engine.pending(circuit, state)
            now += timedelta(hours=3)
            die = next(roll, 0.5)
            desk = SYSTEM_DESK if step.automatic else step.waiting[0]
            decision = "reject" if die < 0.05 else "approve"
            state = engine.apply(circuit, state, step=step.state, desk=desk, decision=decision,
                                 metadata=metadata, reason="Motif" if die < 0.05 else None,
                                 now=now).state
            transitions += 1
            option = engine.take_back_option(state)
            if option is not None and die > 0.95:
                state = engine.apply(circuit, state, step=option[0], desk=option[1],
                                     decision="take_back", metadata=metadata, now=now).state
                transitions += 1
        finals.append(state.to_json())
    return transitions, finals


def _table_baseline(circuits: list[Circuit], transitions: int) -> float:
    """Seconds for the same number of bare dict-lookup transitions."""
    table = {(c.id, name): (s.next[0].target if s.next else None)
             for c in circuits for name, s in c.states.items()}
    keys = list(table)
    started = time.perf_counter()
    position = keys[0]
    for i in range(transitions):
        target = table[position]
        position = (position[0], target) if target is not None else keys[i % len(keys)]
    return time.perf_counter() - started


def _json_baseline(finals: list[dict], transitions: int) -> float:
    """Seconds to serialise and reload a run state once per transition (what the service pays)."""
    started = time.perf_counter()
    for i in range(transitions):
        engine.RunState.from_json(json.loads(json.dumps(finals[i % len(finals)])))
    return time.perf_counter() - started


def run() -> None:
    """Print throughput and ratios of the circuit engine."""
    started = time.perf_counter()
    circuits = list(load_directory(WORKFLOWS).values())
    load_seconds = time.perf_counter() - started
    script = _script(circuits)
    started = time.perf_counter()
    transitions, finals = _drive(script)
    engine_seconds = time.perf_counter() - started
    table_seconds = _table_baseline(circuits, transitions)
    json_seconds = _json_baseline(finals, transitions)
    outcomes: dict[str, int] = {}
    for final in finals:
        outcomes[final["outcome"]] = outcomes.get(final["outcome"], 0) + 1
    print(f"circuits: loaded and checked {len(circuits)} circuits in "
          f"{load_seconds * 1000:.1f} ms")
    print(f"circuits: {DOCUMENTS} documents, {transitions} transitions in {engine_seconds:.2f} s "
          f"= {transitions / engine_seconds:,.0f} transitions/s "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))})")
    print(f"circuits: engine / bare transition table: {engine_seconds / table_seconds:.1f}x "
          "(guards, joins, deadlines, events)")
    print(f"circuits: engine / JSON round trip of the run state: "
          f"{engine_seconds / json_seconds:.2f}x (the persistence cost paid per action)")


if __name__ == "__main__":
    run()
