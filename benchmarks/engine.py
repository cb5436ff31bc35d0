"""Benchmark: cell-hours per CPU-second of the compiled engine, its peers, and its start-up.

In one process, interleaved over ``--rounds`` rounds (the best round of each is quoted, in
CPU seconds of this process but for the threads' wall time):

* the engine on one thread, and on every core (wall time; the rows must be identical);
* the engine's random draws alone (the same Philox blocks, normals and exponentials for the
  runs and generations a cell-hour needs, without the event loop): the ceiling;
* the exact reference simulator (the same addressed numbers, a heapq event loop);
* a SimPy model of the same semantics (``benchmarks/simpy_model.py``, its own sampler).

Then, each in a fresh process: the first compile of every kernel (an empty numba cache),
the start-up with the cache, and the peak memory of ``riskmc run`` over 100,000 windows.
Not part of the test suite: run it by hand on a quiet machine,

    python benchmarks/engine.py [CONFIG] [--trials 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from riskmc import engine, reference
from riskmc.config import load_config
from riskmc.engine import kernel as K
from riskmc.params import sample_windows

HERE = Path(__file__).resolve().parent


@njit(cache=False, error_model="numpy")
def _draws_only(k0, k1, fp, ip, emp, runs, gens):  # type: ignore[no-untyped-def]
    """The random numbers of ``runs`` runs and ``gens`` generations per window, no event loop."""
    acc = 0.0
    E = ip[0, K.I_E]
    out = np.empty(K.padded(E))
    w1 = np.empty(K.padded(E), np.uint64)
    w2 = np.empty(K.padded(E), np.uint64)
    z = np.empty(K.padded(E))
    r = fp[0, K.F_R0]
    lr = K.log_(r) if r > 0 else -1.0
    for i in range(fp.shape[0]):
        trial = ip[i, K.I_TRIAL]
        for g in range(1, gens + 1):
            acc += K._interval(k0, k1, trial, 0, g, fp[i], ip[i], emp)
        for m in range(runs):
            k, n = m % 3, m // 3
            acc += K.draw_run(k0, k1, trial, 0, k, n)[0]
            K.run_durations(
                k0, k1, trial, 0, k, n, E, fp[i], ip[i], emp, r, lr, out, w1, w2, z, -1, 0.0, False
            )
            acc += out[0]
    return acc


def _fresh_process(code: str, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of ``python -c code`` in a new process; the child reports
    its own peak, since the children's figure is the largest of every child so far."""
    code += "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return wall, int(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="configs/bench.toml")
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference-trials", type=int, default=10)
    parser.add_argument("--simpy-trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-startup", action="store_true", help="no fresh-process measurements")
    args = parser.parse_args()
    config = load_config(args.config)
    hours = float(config.values["window.hours"])  # type: ignore[arg-type]
    params = sample_windows(config, 1, args.trials)
    batch = params.batch(1)
    engine.simulate(sample_windows(config, 1, 4).batch(1))  # compiled, or loaded from the cache
    engine.simulate(sample_windows(config, 1, 4).batch(1), threads=args.threads)
    sums = engine.simulate(batch)
    runs = round(float(sums[:, K.W_RUNS].mean()))
    writes = runs * int(params.endpoints[0])
    gens = round(hours * 3600 / float(params.planner.mean()[0]))
    k0, k1 = batch.key
    _draws_only(k0, k1, batch.fp[:2], batch.ip[:2], batch.emp_latency, runs, gens)

    n_ref = args.reference_trials
    rows = [(params.cell_params(i), engine.AddressedRandomness(batch, i, 0)) for i in range(n_ref)]
    reference.simulate_cell(*rows[0])  # the reference's draw kernels: loaded before the clock
    simpy_peer: Any = None
    if (HERE / "simpy_model.py").exists():
        sys.path.insert(0, str(HERE))
        import simpy_model  # type: ignore[import-not-found]

        simpy_peer = simpy_model

    # every figure the best of its rounds, the rounds interleaved, so that a slow spell of
    # the machine hits them all alike
    best = dict.fromkeys(("one", "draws", "threads", "reference", "simpy"), np.inf)
    out1 = out_n = None
    for _ in range(args.rounds):
        t = time.process_time()
        out1 = engine.simulate(batch)
        best["one"] = min(best["one"], time.process_time() - t)
        t = time.process_time()
        _draws_only(k0, k1, batch.fp, batch.ip, batch.emp_latency, runs, gens)
        best["draws"] = min(best["draws"], time.process_time() - t)
        t = time.perf_counter()
        out_n = engine.simulate(batch, threads=args.threads)
        best["threads"] = min(best["threads"], time.perf_counter() - t)
        t = time.process_time()
        for cp, rnd in rows:
            reference.simulate_cell(cp, rnd)
        best["reference"] = min(best["reference"], time.process_time() - t)
        if simpy_peer is not None:
            t = time.process_time()
            simpy_peer.simulate(params.cell_params(0), args.simpy_trials, 7)
            best["simpy"] = min(best["simpy"], time.process_time() - t)
    assert np.array_equal(np.asarray(out1), np.asarray(out_n)), "rows differ between one and several threads"
    one, draws, wall_threads, ref_s = best["one"], best["draws"], best["threads"], best["reference"]
    simpy_s = best["simpy"] if simpy_peer is not None else None

    cell_hours = args.trials * hours
    rate = cell_hours / one
    print(
        f"config                 {args.config}: {runs:,} runs, {writes:,} writes, "
        f"{gens:,} generations per cell-hour"
    )
    print(
        f"engine, 1 thread       {rate:8,.0f} cell-hours per CPU-second  "
        f"({args.trials:,} windows, best of {args.rounds})"
    )
    print(
        f"engine, {args.threads} threads      {cell_hours / wall_threads:8,.0f} cell-hours per wall second  "
        f"({cell_hours / wall_threads / rate:.2f}x one thread; rows identical)"
    )
    print(
        f"draws alone            {cell_hours / draws:8,.0f} cell-hours per CPU-second  "
        f"(the ceiling: {draws / one:.0%} of the engine's time)"
    )
    ref_rate = n_ref * hours / ref_s
    print(
        f"reference              {ref_rate:8,.2f} cell-hours per CPU-second  "
        f"({n_ref} windows; engine / reference = {rate / ref_rate:,.0f}x)"
    )
    if simpy_s is not None:
        simpy_rate = args.simpy_trials * hours / simpy_s
        print(
            f"SimPy model            {simpy_rate:8,.2f} cell-hours per CPU-second  "
            f"({args.simpy_trials} windows; engine / SimPy = {rate / simpy_rate:,.0f}x)"
        )
    if args.skip_startup:
        return
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        first, _ = _fresh_process("import riskmc.engine.warm as w; w.warm()", env)
        again, _ = _fresh_process("import riskmc.engine.warm as w; w.warm()", env)
    print(f"first compile          {first:8.1f} s  (every kernel, an empty cache, a fresh process)")
    print(f"cached start-up        {again:8.1f} s  (the same, the cache on disk)")
    code = (
        "from riskmc.config import load_config; from riskmc import estimators; "
        f"c = load_config({args.config!r}); "
        "estimators.run(c, estimators.naive_plan(), trials=100_000, n_resamples=20)"
    )
    wall, peak = _fresh_process(code, dict(os.environ))
    print(
        f"100,000 windows        {peak / 1024:8.0f} MiB peak resident memory  ({wall:.0f} s wall, one thread)"
    )


if __name__ == "__main__":
    main()
