"""Benchmarks: `python -m bench` runs every `bench/bench_*.py` module's `run()`.

Each benchmark measures its baseline in the same run and prints ratios, never absolute targets
checked against a stopwatch; `BENCH_SCALE` (default 1) scales the workload sizes.
"""
