"""What the downstream cascade costs against the simulation it follows (README, Performance).

``python benchmarks/cascade.py [--events N] [--rounds R]``: CPU seconds of
:func:`riskmc.cascade.cascade` for N events (outages lognormal around the incident's 157 min,
the default parameters), and of a whole ``riskmc`` run's estimation with and without the
cascade's estimates on ``configs/baseline.toml``, best of R rounds each, interleaved.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=5000)
    args = parser.parse_args()

    from riskmc import estimators
    from riskmc.cascade import cascade
    from riskmc.config import load_config
    from riskmc.estimators.cascade import cascade_estimates, window_cascade
    from riskmc.estimators.quantities import estimate

    outages = np.random.default_rng(20251020).lognormal(np.log(157.0), 0.5, args.events)
    cfg = load_config("configs/baseline.toml")
    plan = estimators.resolve(cfg, cfg.seed, "auto")
    t = time.process_time()
    result = estimators.run(cfg, plan, trials=args.trials)
    simulate_s = time.process_time() - t
    smp = result.sample
    best = {"cascade": np.inf, "estimate": np.inf, "estimate+cascade": np.inf}
    for _ in range(args.rounds):
        t = time.process_time()
        cascade(outages)
        best["cascade"] = min(best["cascade"], time.process_time() - t)
        t = time.process_time()
        estimate(smp, plan, result.seed)
        best["estimate"] = min(best["estimate"], time.process_time() - t)
        t = time.process_time()
        wc = window_cascade(cfg, result.seed, smp)
        joint = estimate(smp, plan, result.seed, extra_impacts=wc.annual_columns())
        cascade_estimates(wc, result.seed, smp, plan, joint)
        best["estimate+cascade"] = min(best["estimate+cascade"], time.process_time() - t)
    print(
        f"cascade of {args.events:,} events: {best['cascade']:.3f} CPU s "
        f"({best['cascade'] / args.events * 1e9:.0f} ns an event)"
    )
    print(
        f"baseline, {args.trials:,} region-windows ({int(np.count_nonzero(smp.events)):,} with an event): "
        f"whole run {simulate_s:.2f} CPU s"
    )
    print(
        f"  estimation alone {best['estimate']:.3f} CPU s; with the cascade's estimates "
        f"{best['estimate+cascade']:.3f} CPU s (x{best['estimate+cascade'] / best['estimate']:.2f})"
    )


if __name__ == "__main__":
    main()
