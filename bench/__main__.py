"""Run every `bench/bench_*.py` module's `run()` in turn and let it print its lines.

`python -m bench` runs them all; `python -m bench signing verify` runs only those named.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the benchmarks; exit 1 if one of them raised."""
    here = Path(__file__).resolve().parent
    if str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}",
              file=sys.stderr)
        return 2
    failed = 0
    for name in wanted or names:
        started = time.perf_counter()
        print(f"== {name.removeprefix('bench_')}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            module.run()
        except Exception:
            failed += 1
            traceback.print_exc()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
