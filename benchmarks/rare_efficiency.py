"""Benchmark: work-normalised efficiency of importance sampling against plain Monte Carlo.

Efficiency of an estimator = 1 / (variance of its estimate x seconds it took): the gain
of importance sampling is (var_naive x t_naive) / (var_is x t_is), the factor by which it
is cheaper for the same precision.  On configs/baseline.toml with ``degraded.prob`` set so
that the events with a degraded run are near each target (1e-4, 1e-6, 1e-9 by default; p
is proportional to degraded.prob there), it times an importance-sampling run of
``--is-trials`` region-windows (pilot and estimates included) and a plain run of
``--naive-trials``.  What is compared is the *degraded stratum* of p_cell_window, the part
importance sampling speeds up; the total's interval also carries the bound of the stratum of
events without a degraded run, which no window of these runs shows (printed beside: that
bound shrinks only as 1 / windows, whatever the estimator).  The plain run's variance is
p(1 - p) / (n C) with p the importance-sampling estimate (exact given p for C independent
cells; at 1e-6 and 1e-9 a plain run would see no event to estimate it from), and at the
first target its measured events are printed beside it.  Not part of the test suite:

    python benchmarks/rare_efficiency.py [CONFIG] [--targets 1e-4 1e-6 1e-9]
"""

from __future__ import annotations

import argparse
import time

from riskmc import estimators
from riskmc.config import load_config


def _run(config, plan, trials: int, seed: int) -> estimators.Run:  # type: ignore[no-untyped-def]
    return estimators.run(config, plan, trials=trials, seed=seed, n_resamples=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="configs/baseline.toml")
    parser.add_argument("--targets", type=float, nargs="+", default=[1e-4, 1e-6, 1e-9])
    parser.add_argument("--is-trials", type=int, default=2000)
    parser.add_argument("--naive-trials", type=int, default=20_000)
    parser.add_argument("--check-trials", type=int, default=100_000, help="plain run at the first target")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    base = load_config(args.config)
    cells = int(base.values["region.cells"])  # type: ignore[call-overload]
    plan = estimators.resolve(base, args.seed, "is")
    # p per unit of degraded.prob, from one importance-sampling run at the config's value
    probe = _run(base, plan, args.is_trials, args.seed)
    slope = probe.estimates.strata["degraded"].estimate / float(base.values["degraded.prob"])  # type: ignore[arg-type]
    start = time.perf_counter()
    _run(base, estimators.naive_plan(), args.naive_trials, args.seed)
    naive_s_per_trial = (time.perf_counter() - start) / args.naive_trials
    print(
        f"{args.config}: plain Monte Carlo {1 / naive_s_per_trial:.0f} region-windows/s "
        f"({args.naive_trials} windows of {cells} cells); importance sampling: {plan.label}"
    )
    header = (
        f"{'target p':>9} {'degraded.prob':>13} {'p_degraded':>10} {'rel err':>8} {'events':>6} {'IS s':>6}"
    )
    print(header + f" {'naive s for same var':>21} {'gain':>10} {'p_cell_window_hi':>16}")
    for target in args.targets:
        config = base.with_overrides([f"degraded.prob={target / slope!r}"])
        t0 = time.perf_counter()
        run = _run(config, plan, args.is_trials, args.seed)
        t_is = time.perf_counter() - t0
        p = run.estimates.strata["degraded"]
        var_is = p.standard_error**2
        var_naive_per_trial = p.estimate * (1 - p.estimate) / cells  # one plain window of C cells
        naive_seconds_same_var = var_naive_per_trial / var_is * naive_s_per_trial
        gain = (var_naive_per_trial * naive_s_per_trial) / (var_is * t_is)
        total_hi = run.estimates.values["p_cell_window"].confidence_interval.high
        print(
            f"{target:>9.0e} {target / slope:>13.3g} {p.estimate:>10.3g} {p.rel_err:>8.3f} "
            f"{run.events:>6} {t_is:>6.1f} {naive_seconds_same_var:>21.3g} {gain:>10.3g} {total_hi:>16.3g}"
        )
        if target == args.targets[0]:
            n = args.check_trials
            measured = _run(config, estimators.naive_plan(), n, args.seed + 1)
            m = measured.estimates.values["p_cell_window"]
            print(
                f"{'':>9} plain run at this value: {measured.events} events in {n * cells:,} cell-windows, "
                f"p = {m.estimate:.3g} [{m.confidence_interval.low:.3g}, {m.confidence_interval.high:.3g}]"
            )


if __name__ == "__main__":
    main()
