"""Coverage audit of the importance-sampling interval of p_cell_window.

At a configuration where the event is common enough for plain Monte Carlo, a long plain
run gives the reference value of p; then ``--seeds`` independent importance-sampling runs
(each ``--trials`` trials, each with its own seed and its own pilot, exactly as
``riskmc run --estimator is`` does) report their 95% intervals, and the audit counts how
often the interval covers the reference.  The count's own Wilson interval is printed, and
the reference's standard error next to the runs' typical one (a reference much noisier
than the runs would bias the audit).  Not part of the test suite: run it by hand,

    python benchmarks/rare_coverage.py [--seeds 200] [--trials 1000] [--workers 2]

The default configuration is tests/conftest.py's stress cell with degraded.prob = 3e-4,
20 endpoints and write.fail_prob = 0.01 (p_cell_window about 0.019, every event needing a
degraded run).  Figures are recorded in the README.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from riskmc import estimates as est
from riskmc.config import Config, parse_config
from riskmc.execute import map_points
from riskmc.rare import run_adaptive

STRESS = {
    "window": {"hours": 0.1},
    "planner": {"interval": {"dist": "expon", "scale": 3.0}},
    "enactors": {"count": 3, "poll_interval": 2.0},
    "endpoints": {"count": 20},
    "write": {"latency": {"dist": "lognorm", "s": 0.5, "scale": 0.1}, "fail_prob": 0.01},
    "degraded": {"prob": 3e-4, "fail_prob": 0.8},
    "cleanup": {"keep_generations": 10},
}


def audit_config(overrides: list[str]) -> Config:
    return parse_config(STRESS, overrides=overrides)


def one_run(item: tuple[list[str], int, int, str]) -> tuple[float, float, float, int, float]:
    """(estimate, low, high, hits, seconds) of one run."""
    overrides, seed, trials, estimator = item
    start = time.perf_counter()
    config = audit_config(overrides)
    run = run_adaptive(config, estimator=estimator, max_trials=trials, seed=seed, n_resamples=2)
    p = run.scenario.estimates["p_cell_window"]
    ci = p.confidence_interval
    return p.estimate, ci.low, ci.high, run.scenario.events, time.perf_counter() - start


def reference_value(overrides: list[str], trials: int, workers: int) -> est.Estimate:
    """p from a plain run of ``trials`` trials, split over ``workers`` processes by seed."""
    per = -(-trials // workers)
    items = [(overrides, 10_000 + w, per, "naive") for w in range(workers)]
    hits = 0
    for _, (p, _lo, _hi, _h, _s) in map_points(one_run, items, workers):
        hits += round(p * per)
    return est.proportion(hits, per * workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--reference-trials", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE override of the audit config")
    args = parser.parse_args()
    start = time.perf_counter()
    ref = reference_value(args.set, args.reference_trials, args.workers)
    print(
        f"reference (plain, {args.reference_trials} trials): p = {ref.estimate:.5g} "
        f"[{ref.confidence_interval.low:.5g}, {ref.confidence_interval.high:.5g}], "
        f"SE {ref.standard_error:.3g} ({time.perf_counter() - start:.0f} s)"
    )
    items = [(args.set, s, args.trials, "is") for s in range(1, args.seeds + 1)]
    rows = [r for _, r in sorted(map_points(one_run, items, args.workers))]
    p = np.array([r[0] for r in rows])
    lo = np.array([r[1] for r in rows])
    hi = np.array([r[2] for r in rows])
    hits = np.array([r[3] for r in rows])
    secs = np.array([r[4] for r in rows])
    covered = int(np.count_nonzero((lo <= ref.estimate) & (ref.estimate <= hi)))
    cov = est.proportion(covered, len(rows))
    below = int(np.count_nonzero(hi < ref.estimate))
    above = int(np.count_nonzero(lo > ref.estimate))
    print(
        f"importance sampling, {args.seeds} seeds x {args.trials} trials: covered {covered}/{len(rows)} = "
        f"{cov.estimate:.3f} [Wilson {cov.confidence_interval.low:.3f}, {cov.confidence_interval.high:.3f}]; "
        f"interval entirely below the reference {below}, above {above}"
    )
    rel_se = np.std(p, ddof=1) / ref.estimate
    print(
        f"mean estimate {p.mean():.5g} (bias {(p.mean() / ref.estimate - 1) * 100:+.2f}% "
        f"+- {rel_se / math.sqrt(len(rows)) * 200:.2f}%), spread of estimates (relative SD) {rel_se:.3f}, "
        f"median hits {int(np.median(hits))}, median half-width/estimate {np.median((hi - lo) / 2 / p):.3f}, "
        f"{secs.mean():.2f} s per run; total {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
