"""Benchmark: cell-hours per second of the vectorized engine and of the exact reference.

Runs both simulators on the same configuration (default ``configs/bench.toml``: about 700
Enactor runs and 15,000 writes per cell-hour) in one process, on one core, and prints
their throughput, the ratio, and where the engine's time goes (drawing the random inputs
vs. the simulation proper).  Not part of the test suite: run it by hand,

    python benchmarks/engine.py [CONFIG] [--trials N] [--reference-trials M]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

import numpy as np

from riskmc import reference
from riskmc.config import load_config
from riskmc.draws import ChunkDraws
from riskmc.engine import simulate_cells
from riskmc.params import concat, sample_block
from riskmc.scenario import DEFAULT_CHUNK_TRIALS, simulate
from riskmc.streams import BLOCK_TRIALS


def draw_only_seconds(config, trials: int, seed: int, runs_per_enactor: int) -> float:
    """Time to draw the random inputs the engine reads, alone (a floor for the engine)."""
    from riskmc.draws import RUN_PAGE

    start = time.perf_counter()
    for b in range(-(-trials // BLOCK_TRIALS)):
        params = sample_block(config, seed, b)
        draws = ChunkDraws(seed, [b], [params])
        draws.publication_times(params.window_s)
        for k in range(draws.n_enactors):
            for page in range(-(-runs_per_enactor // RUN_PAGE)):
                draws.release(k, page)
                draws._page(k, page)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench.toml")
    parser.add_argument("--trials", type=int, default=8000)
    parser.add_argument("--reference-trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the engine's top functions")
    args = parser.parse_args()
    config = load_config(args.config)
    hours_per_trial = float(config.values["window.hours"])  # a plain number in bench.toml

    simulate(config, BLOCK_TRIALS, args.seed)  # warm-up: imports, first allocations
    start = time.perf_counter()
    cells = simulate(config, args.trials, args.seed, chunk_trials=DEFAULT_CHUNK_TRIALS)
    engine_s = time.perf_counter() - start
    runs = float(cells.runs_started.mean()) / hours_per_trial
    writes = runs * float(config.values["endpoints.count"])
    engine_rate = args.trials * hours_per_trial / engine_s

    params = sample_block(config, args.seed, 0)
    start = time.perf_counter()
    reference.simulate_many([params.cell(i) for i in range(args.reference_trials)], seed=args.seed)
    ref_s = time.perf_counter() - start
    ref_rate = args.reference_trials * hours_per_trial / ref_s

    per_enactor = int(np.ceil(cells.runs_started.max() / max(1, int(config.values["enactors.count"]))))
    draw_s = draw_only_seconds(config, args.trials, args.seed, per_enactor)

    coretype = os.environ.get("OPENBLAS_CORETYPE", "-")
    print(f"config                {args.config}  (OPENBLAS_CORETYPE={coretype})")
    print(f"work per cell-hour    {runs:,.0f} enactor runs, {writes:,.0f} writes")
    n_ref = args.reference_trials
    n = args.trials
    print(f"engine                {engine_rate:,.0f} cell-hours/s  ({n:,} trials, {engine_s:.2f} s)")
    print(f"reference             {ref_rate:,.2f} cell-hours/s  ({n_ref} trials, {ref_s:.2f} s)")
    print(f"ratio                 {engine_rate / ref_rate:,.0f}x")
    print(
        f"of the engine's time  {draw_s / engine_s:.0%} drawing random inputs "
        f"({args.trials * hours_per_trial / draw_s:,.0f} cell-hours/s if that were all)"
    )
    if args.profile:
        blocks = list(range(-(-args.trials // BLOCK_TRIALS)))[:4]
        ps = [sample_block(config, args.seed, b) for b in blocks]
        prof = cProfile.Profile()
        prof.enable()
        simulate_cells(concat(ps), ChunkDraws(args.seed, blocks, ps))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
