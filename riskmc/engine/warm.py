"""Compile the engine's kernels into numba's on-disk cache: ``python -m riskmc.engine.warm``.

The first call of every compiled function compiles it (about a minute in all on this
machine) and stores it next to the source; later processes load it in about a second.
``.ci/run`` runs this once before the tests, so that the test workers do not each compile
the same kernels at once.
"""

from __future__ import annotations

import time

import numpy as np


def warm() -> float:
    """Call every kernel entry point once on a small case; the seconds it took."""
    from riskmc import engine
    from riskmc.config import parse_config
    from riskmc.engine import kernel as K
    from riskmc.params import sample_windows

    start = time.perf_counter()
    config = parse_config({"window": {"hours": 0.01}, "region": {"cells": 2}})
    batch = sample_windows(config, 1, 8).batch(1)
    engine.simulate(batch)
    engine.simulate(sample_windows(config, 1, 40).batch(1), threads=2)
    engine.simulate_cell(batch, 0, 0)
    engine.repair_durations(batch, np.zeros(batch.n, dtype=np.int64))  # (the cascade's outages)
    rnd = engine.AddressedRandomness(batch, 0, 0)
    next(iter(rnd.publication_times()))
    rnd.wake_offset(0)
    rnd.run_draws(0, 0)
    fp, ip = batch.fp[0], batch.ip[0]
    r = float(fp[K.F_R0])
    K.write_duration(*batch.key, 0, 0, 0, 0, 0, fp, ip, batch.emp_latency, r, float(K.log_(r)), 0.0)
    trials = np.arange(4, dtype=np.int64)
    key = (np.uint64(1), np.uint64(2))
    K.uniforms(*key, trials, K.P_WINDOW, 0, K.WINDOW_SHOCK, 0)
    K.draws_of(K.D_EXPON, 0.0, 1.0, 0.0, 0.0, np.empty(0), trials, K.P_REPAIR, 0, 0, *key)
    from riskmc.estimators.split import split  # (its kernels call the engine's)

    tiny = parse_config(
        {"window": {"hours": 0.01}, "write": {"fail_prob": 0.5}, "cleanup": {"keep_generations": 1}}
    )
    split(tiny, 1, replicates=1, particles=20, kill=2)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"riskmc engine kernels compiled or loaded from the cache in {warm():.1f} s")
