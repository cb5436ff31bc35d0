"""Regression tests on estimates: the committed results under results/ must still hold.

The committed files are ``riskmc run configs/<name>.toml`` outputs (see the README); each
is recomputed with the estimator its row names (``naive``, or ``is`` for the baseline,
where ``--estimator auto`` picks importance sampling).

Each committed scenario row is recomputed (same configuration and seed, fewer trials) and
every checked estimate must lie within 4 combined standard errors of the committed one.
A standard error is read back from the committed 95% interval (half-width / 1.96), so a
scenario with zero events keeps its honest upper bound as the scale.  A change to the
model, the engine or the sampling that moves an estimate fails here and must be explained
(and the results regenerated with the command in the README).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from riskmc.config import load_config
from riskmc.rare import run_adaptive
from riskmc.region import run_region_scenario
from riskmc.tables import read_table

ROOT = Path(__file__).resolve().parent.parent
CHECKED = (
    "p_cell_window",
    "mean_plan_age_s",
    "runs_per_hour",
    "p_region_window",
    "events_per_region_year",
    "impact_per_year_min",
)
#: (results file, configuration, trials (region-windows) for the recomputation)
CASES = [
    ("results/baseline.csv", "configs/baseline.toml", 1000),
    ("results/stress.csv", "configs/stress.toml", 3000),
    ("results/stress_tail.csv", "configs/stress_tail.toml", 2000),
    ("results/region.csv", "configs/region.toml", 800),
]


def _se(row: dict, name: str) -> float:
    return (float(row[f"{name}_hi"]) - float(row[f"{name}_lo"])) / (2 * 1.959964)


@pytest.mark.parametrize(("results", "config", "trials"), CASES)
def test_committed_estimates_still_hold(results: str, config: str, trials: int) -> None:
    committed = read_table(ROOT / results).to_dicts()[0]
    cfg = load_config(ROOT / config)
    assert committed["seed"] == cfg.seed and committed["scenario"] == cfg.name
    if committed["estimator"] == "naive":
        now = run_region_scenario(cfg, trials=trials).row()
    else:  # what `riskmc run` does with --estimator is (or auto choosing it)
        now = run_adaptive(cfg, estimator=committed["estimator"], max_trials=trials).row()
    for name in CHECKED:
        diff = abs(float(now[name]) - float(committed[name]))
        combined = np.hypot(_se(now, name), _se(committed, name))
        assert diff <= 4 * combined, f"{name}: now {now[name]}, committed {committed[name]}"
