"""Coverage audits of the 95% intervals, over many seeds, against a long plain run.

At a configuration where plain Monte Carlo can run, a long plain run gives the reference
values; then ``--seeds`` independent runs (each ``--trials`` region-windows, its own seed,
the plan resolved once as every command does) report their intervals, and the audit counts
how often each interval holds the reference.  The count's Wilson interval is printed, and
the reference's standard error beside the runs' spread (a noisy reference lowers the
measured coverage).  Cases:

* ``degraded``: events need a degraded run (the stress cell, degraded.prob 3e-4, 20
  endpoints, write.fail_prob 0.01; p_cell_window ~ 0.019), importance sampling;
* ``no-degraded``: most events need none (a heavy latency tail; p ~ 1.2e-3) while degraded
  runs are rare, so importance sampling tilts them (issue 11's confident wrong answer);
* ``cascade``: the downstream cascade's estimates on the ``degraded`` case's events (each
  run sees about 18 event windows);
* ``rare-shock``: a 3-cell region whose rare shock (0.4% of windows) causes most events:
  the shock is tilted too;
* ``region``: a 3-cell region whose shock (5% of windows) hits several cells at once, with
  events of both strata, importance sampling: p_region_window and cells_per_event_window
  (issue 11 measured 63% and 0%);
* ``rare-tail``, ``rare-retries``, ``rare-bursts``: no degraded run at all (configs/ordinary.toml's
  cell), events from a latency tail (p ~ 9e-4), from retries (p ~ 1.4e-3), from plans
  published in a burst (G = 2, p ~ 5e-4); ``--estimator rare``.
* ``split-stress``, ``split-tail``, ``split-retries``, ``split-bursts``: ``--estimator split``
  (each run ``--replicates`` replicates of 500 trajectories) on the stress cell itself
  (p ~ 0.2) and on the three ``rare-`` cells.

    python benchmarks/interval_coverage.py --case region [--seeds 200] [--trials 1000] [--workers 2]
    python benchmarks/interval_coverage.py --case split-tail --replicates 10
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from riskmc import estimators
from riskmc.config import Config, parse_config
from riskmc.estimates import proportion
from riskmc.estimators.split import split
from riskmc.execute import map_points

STRESS = {
    "window": {"hours": 0.1},
    "planner": {"interval": {"dist": "expon", "scale": 3.0}},
    "enactors": {"count": 3, "poll_interval": 2.0},
    "endpoints": {"count": 5},
    "write": {"latency": {"dist": "lognorm", "s": 0.5, "scale": 0.1}, "fail_prob": 0.05},
    "degraded": {"prob": 0.05, "fail_prob": 0.8},
    "cleanup": {"keep_generations": 10},
}
RETRIES = ["endpoints.count=20", "write.fail_prob=0.01"]
ORDINARY = ["degraded.prob=0", "write.fail_prob=0"]
RARE_NAMES = ("p_cell_window", "p_cell_window_no_degraded")
#: The cases run with --estimator rare (the others with is).
RARE_CASES = {
    "rare-tail": [*ORDINARY, 'write.latency={dist="lognorm", s=1.2, scale=0.1}'],
    "rare-retries": [*ORDINARY, "write.fail_prob=0.55"],
    "rare-bursts": [*ORDINARY, "cleanup.keep_generations=2"],
}
#: The cases run with --estimator split.
SPLIT_CASES = {
    "split-stress": [],
    **{"split-" + name.removeprefix("rare-"): overrides for name, overrides in RARE_CASES.items()},
}
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "degraded": (["degraded.prob=3e-4", *RETRIES], ("p_cell_window", "p_cell_window_degraded")),
    "no-degraded": (
        [
            "degraded.prob=5e-5",
            'write.latency={dist="lognorm", s=1.25, scale=0.1}',
            "cleanup.keep_generations=12",
        ],
        ("p_cell_window", "p_cell_window_no_degraded", "p_cell_window_degraded"),
    ),
    # The downstream cascade's intervals (docs/model.md section 5b) on the degraded case's
    # events: about 18 event windows a run, the calibrated cascade defaults.
    "cascade": (
        ["degraded.prob=3e-4", *RETRIES],
        (
            "p_collapse_given_event",
            "ec2_impaired_given_event_min",
            "nlb_capacity_lost_given_event",
            "ec2_impaired_per_year_min",
        ),
    ),
    # A rare shock (0.4% of windows) behind most events: importance sampling tilts the shock
    # itself (docs/model.md section 8).
    "rare-shock": (
        [
            "degraded.prob=1e-6",
            *RETRIES,
            "region.cells=3",
            "region.shock.prob=0.004",
            "region.shock.degraded_prob=0.02",
        ],
        ("p_region_window", "cells_per_event_window", "events_per_region_year", "p_cell_window"),
    ),
    "region": (
        [
            "degraded.prob=1e-4",
            "region.cells=3",
            "region.shock.prob=0.05",
            "region.shock.degraded_prob=0.03",  # above q: a shocked window's runs stay untilted
            'write.latency={dist="lognorm", s=1.25, scale=0.1}',  # events without degraded runs too
            "cleanup.keep_generations=12",
        ],
        ("p_region_window", "cells_per_event_window", "events_per_region_year", "p_cell_window"),
    ),
    **{name: (overrides, RARE_NAMES) for name, overrides in RARE_CASES.items()},
    **{name: (overrides, ("p_cell_window",)) for name, overrides in SPLIT_CASES.items()},
}


def audit_config(overrides: list[str]) -> Config:
    return parse_config(STRESS, overrides=overrides)


def one_run(item: tuple[list[str], int, int, estimators.Plan | None, tuple[str, ...]]) -> dict[str, object]:
    overrides, seed, trials, plan, names = item
    start = time.perf_counter()
    if plan is None:  # split: trials are its replicates
        e = split(audit_config(overrides), seed, replicates=trials).estimate
        lo, hi = e.confidence_interval.low, e.confidence_interval.high
        return {"p_cell_window": (e.estimate, lo, hi), "unseen": "", "seconds": time.perf_counter() - start}
    row = estimators.run(audit_config(overrides), plan, trials=trials, seed=seed, n_resamples=2).row()
    out: dict[str, object] = {k: (row[k], row[f"{k}_lo"], row[f"{k}_hi"]) for k in names}
    out["unseen"] = row["unobserved_strata"]
    out["seconds"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="degraded")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=10, help="split's replicates a run")
    parser.add_argument("--reference-trials", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    overrides, names = CASES[args.case]
    start = time.perf_counter()
    config = audit_config(overrides)
    ref = estimators.run(
        config,
        estimators.naive_plan(),
        trials=args.reference_trials,
        seed=10_001,
        threads=args.workers,
        n_resamples=2,
    ).row()
    took = time.perf_counter() - start
    print(f"case {args.case}: reference, {args.reference_trials:,} plain region-windows ({took:.0f} s)")
    for k in names:
        print(f"  {k:28s} {ref[k]:.5g} [{ref[f'{k}_lo']:.5g}, {ref[f'{k}_hi']:.5g}]")
    plan = (
        None
        if args.case in SPLIT_CASES
        else estimators.resolve(config, 1, "rare" if args.case in RARE_CASES else "is")
    )
    print(f"runs: {plan.label}" if plan else f"runs: split, {args.replicates} replicates each")
    size = args.replicates if plan is None else args.trials
    items = [(overrides, s, size, plan, names) for s in range(1, args.seeds + 1)]
    rows = [r for _, r in sorted(map_points(one_run, items, args.workers), key=lambda x: x[0])]
    unseen = sum(1 for r in rows if r["unseen"])
    unit = "split replicates" if plan is None else "region-windows"
    print(f"{args.seeds} seeds x {size:,} {unit}; runs with an unobserved stratum: {unseen}")
    for k in names:
        truth = float(ref[k])  # type: ignore[arg-type]
        est = np.array([r[k][0] for r in rows], dtype=np.float64)  # type: ignore[index]
        lo = np.array([r[k][1] for r in rows], dtype=np.float64)  # type: ignore[index]
        hi = np.array([r[k][2] for r in rows], dtype=np.float64)  # type: ignore[index]
        ok = np.isfinite(est)
        covered = int(np.count_nonzero((lo <= truth) & (truth <= hi)))
        cov = proportion(covered, len(rows))
        below, above = int(np.count_nonzero(hi < truth)), int(np.count_nonzero(lo > truth))
        rel_sd = float(np.std(est[ok], ddof=1) / truth) if truth else math.nan
        ci = cov.confidence_interval
        bias = (est[ok].mean() / truth - 1) * 100
        # the bias's standard error: the mean over seeds' and the reference's own (from its CI)
        se_ref = (float(ref[f"{k}_hi"]) - float(ref[f"{k}_lo"])) / (2 * 1.96) / truth  # type: ignore[arg-type]
        se_bias = 100 * math.hypot(rel_sd / math.sqrt(max(int(ok.sum()), 1)), se_ref)
        print(
            f"  {k:28s} covered {covered}/{len(rows)} = {cov.estimate:.3f} "
            f"[Wilson {ci.low:.3f}, {ci.high:.3f}]; entirely below {below}, above {above}; "
            f"mean estimate {est[ok].mean():.5g} (bias {bias:+.2f}% +- {se_bias:.2f}%), "
            f"relative SD {rel_sd:.3f}"
        )
    secs = np.array([r["seconds"] for r in rows], float)
    print(f"{secs.mean():.2f} s per run; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
