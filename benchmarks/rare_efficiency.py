"""Benchmark: work-normalised efficiency of importance sampling against plain Monte Carlo.

Efficiency of an estimator = 1 / (variance of its estimate x seconds it took): the gain
of importance sampling is (var_naive x t_naive) / (var_is x t_is), the factor by which it
is cheaper for the same precision.  On configs/baseline.toml with ``degraded.prob`` set so
that p_cell_window is near each target (1e-4, 1e-6, 1e-9 by default; p is proportional
to degraded.prob there), it times an importance-sampling run of ``--is-trials`` trials
(pilot and estimates included) and a plain run of ``--naive-trials`` trials.  The plain
run's variance is p(1 - p) / n with p the importance-sampling estimate (the binomial
variance is exact given p; at 1e-6 and 1e-9 a plain run would see no event to estimate it
from), and at the first target its measured hits are printed beside it.  Not part of the
test suite: run it by hand,

    python benchmarks/rare_efficiency.py [CONFIG] [--targets 1e-4 1e-6 1e-9]
"""

from __future__ import annotations

import argparse
import time

from riskmc.config import load_config
from riskmc.rare import run_adaptive


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
    # p per unit of degraded.prob, from one importance-sampling run at the config's value
    probe = run_adaptive(base, estimator="is", max_trials=args.is_trials, seed=args.seed, n_resamples=2)
    slope = probe.scenario.estimates["p_cell_window"].estimate / float(base.values["degraded.prob"])  # type: ignore[arg-type]
    start = time.perf_counter()
    run_adaptive(base, estimator="naive", max_trials=args.naive_trials, seed=args.seed, n_resamples=2)
    naive_s_per_trial = (time.perf_counter() - start) / args.naive_trials
    print(
        f"{args.config}: plain Monte Carlo {1 / naive_s_per_trial:.0f} trials/s ({args.naive_trials} trials)"
    )
    header = f"{'target p':>9} {'degraded.prob':>13} {'p (IS)':>10} {'rel err':>8} {'hits':>5} {'IS s':>6}"
    print(header + f" {'naive s for same var':>21} {'gain':>10}")
    for target in args.targets:
        config = base.with_overrides([f"degraded.prob={target / slope!r}"])
        t0 = time.perf_counter()
        run = run_adaptive(config, estimator="is", max_trials=args.is_trials, seed=args.seed, n_resamples=2)
        t_is = time.perf_counter() - t0
        p = run.scenario.estimates["p_cell_window"]
        var_is = p.standard_error**2
        var_naive_per_trial = p.estimate * (1 - p.estimate)  # variance of one plain trial
        naive_seconds_same_var = var_naive_per_trial / var_is * naive_s_per_trial
        gain = (var_naive_per_trial * naive_s_per_trial) / (var_is * t_is)
        print(
            f"{target:>9.0e} {target / slope:>13.3g} {p.estimate:>10.3g} {p.rel_err:>8.3f} "
            f"{run.scenario.events:>5} {t_is:>6.1f} {naive_seconds_same_var:>21.3g} {gain:>10.3g}"
        )
        if target == args.targets[0]:
            n = args.check_trials
            measured = run_adaptive(config, estimator="naive", max_trials=n, seed=args.seed + 1)
            m = measured.scenario.estimates["p_cell_window"]
            print(
                f"{'':>9} plain run at this value: {measured.scenario.events} hits in {n} trials, "
                f"p = {m.estimate:.3g} [{m.confidence_interval.low:.3g}, {m.confidence_interval.high:.3g}]"
            )


if __name__ == "__main__":
    main()
