"""The current code's estimates against committed results tables, in combined standard errors.

Used before regenerating ``results/`` after a change of engine or estimator: every
configuration is re-run with the committed row's estimator, seed and trials, and each
estimate is compared with the committed one, z = |now - then| / sqrt(se_now^2 + se_then^2),
the standard errors read from the 95% intervals (half-width / 1.96).  Where the new row's
interval carries the bound of an unobserved stratum of events (importance sampling), the
comparison uses the stratum that the committed estimator measured (``degraded``: the old
estimator tilted degraded runs only) and the new estimate's own standard error.

    python benchmarks/committed_agreement.py [--ref REV]   (default: the committed HEAD)
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess

import polars as pl

from riskmc import estimators
from riskmc.config import load_config

CASES = {
    "results/baseline.csv": "configs/baseline.toml",
    "results/stress.csv": "configs/stress.toml",
    "results/stress_tail.csv": "configs/stress_tail.toml",
    "results/region.csv": "configs/region.toml",
}
CHECKED = (
    "p_cell_window",
    "mean_plan_age_s",
    "runs_per_hour",
    "p_region_window",
    "events_per_region_year",
    "impact_given_event_min",
    "impact_per_year_min",
    "impact_per_year_p99_min",
    "cells_per_event_window",
)


def _committed(path: str, ref: str) -> dict:
    text = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=True).stdout
    return pl.read_csv(io.StringIO(text)).to_dicts()[0]


def _se(row: dict, name: str) -> float:
    return (float(row[f"{name}_hi"]) - float(row[f"{name}_lo"])) / (2 * 1.959964)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="git revision of the committed tables")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    worst = 0.0
    for path, config_path in CASES.items():
        then = _committed(path, args.ref)
        config = load_config(config_path)
        name = then["estimator"]
        plan = estimators.resolve(
            config, int(then["seed"]), "is" if name == "is" else "naive", threads=args.threads
        )
        run = estimators.run(
            config, plan, seed=int(then["seed"]), trials=int(then["trials"]), threads=args.threads
        )
        now = run.row()
        print(f"{path}: {name}, {int(then['trials']):,} trials, seed {then['seed']} ({run.elapsed_s:.0f} s)")
        for key in CHECKED:
            if run.estimates.unseen and key != "p_cell_window":
                continue  # every other region estimate carries the unseen stratum's bound now
            if run.estimates.unseen:
                e = run.estimates.strata["degraded"]
                value, se_now, label = e.estimate, e.standard_error, f"{key} (degraded stratum)"
            else:
                value, se_now, label = float(now[key]), _se(now, key), key
            se = math.hypot(se_now, _se(then, key))
            z = (
                abs(value - float(then[key])) / se
                if se > 0
                else (0.0 if value == float(then[key]) else math.inf)
            )
            worst = max(worst, z)
            print(f"  {label:44s} now {value:11.5g}  then {float(then[key]):11.5g}  z = {z:4.2f}")
    print(f"largest z: {worst:.2f} ({'within' if worst <= 4 else 'BEYOND'} 4 combined standard errors)")


if __name__ == "__main__":
    main()
