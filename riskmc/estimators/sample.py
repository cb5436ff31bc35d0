"""The sample: region-windows simulated under a plan, one row per window.

:func:`simulate` draws the windows' parameters (``riskmc.params``), simulates every cell of
every window in the engine with the plan's degraded probabilities, and weights each window
with the plan's likelihood ratio (1 for ``naive``).  A :class:`WindowSample` is all that the
estimates need (``riskmc.estimators.quantities``): one implementation for every estimator,
where plain Monte Carlo is the case of weights 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from riskmc.config import Config
from riskmc.engine import kernel as K
from riskmc.engine import simulate as run_engine
from riskmc.estimators.plan import Plan

__all__ = ["WindowSample", "simulate"]


@dataclass(eq=False)
class WindowSample:
    """Per region-window values of a simulated sample (arrays over windows, in trial order).

    ``events`` counts the cells with an event, ``events_nodeg`` those among them in which no
    degraded run had started (the two strata of docs/model.md section 8);
    ``impact_min`` sums w R / (60 C) over the window's events; ``mean_plan_age_s`` is the
    mean over its cells; ``observed_h`` the sum over its cells of t_end; ``p_model`` the
    model's per-run degraded probability in the window (the shock's when shocked);
    ``degraded_cell_weight`` the largest weight a cell of the window can carry when a
    degraded run started in it (:meth:`Plan.degraded_cell_weight`).
    """

    trials: np.ndarray
    log_weight: np.ndarray
    tilted: np.ndarray
    cells: np.ndarray
    window_h: np.ndarray
    events: np.ndarray
    events_nodeg: np.ndarray
    impact_min: np.ndarray
    impact_nodeg_min: np.ndarray
    runs: np.ndarray
    degraded: np.ndarray
    abandoned: np.ndarray
    mean_plan_age_s: np.ndarray
    observed_h: np.ndarray
    first_event_cell: np.ndarray
    p_model: np.ndarray
    repair_mean_s: np.ndarray
    degraded_cell_weight: np.ndarray

    @property
    def n(self) -> int:
        return int(self.trials.size)

    @property
    def weight(self) -> np.ndarray:
        return np.exp(self.log_weight)

    @property
    def events_deg(self) -> np.ndarray:
        return self.events - self.events_nodeg

    @staticmethod
    def concat(parts: Sequence[WindowSample]) -> WindowSample:
        names = [f.name for f in fields(WindowSample)]
        if len(parts) == 1:
            return parts[0]
        return WindowSample(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})

    def take(self, rows: slice | np.ndarray) -> WindowSample:
        return WindowSample(**{f.name: getattr(self, f.name)[rows] for f in fields(WindowSample)})


def simulate(
    config: Config, seed: int, trials: np.ndarray | range, plan: Plan, threads: int = 1
) -> WindowSample:
    """The region-windows ``trials`` (indices) of ``config`` under ``plan``: bit-identical
    for a window whatever the other trials, the order, the thread count or the process."""
    idx = np.asarray(trials, dtype=np.int64)
    params = plan.windows(config, seed, idx)
    out = run_engine(plan.batch(params, seed), threads)
    runs = out[:, K.W_RUNS].astype(np.int64)
    degraded = out[:, K.W_DEGRADED].astype(np.int64)
    return WindowSample(
        trials=idx,
        log_weight=plan.log_weights(params, runs, degraded, out[:, K.W_LOG_SLOW]),
        tilted=plan.tilted(params, seed),
        cells=params.cells.copy(),
        window_h=params.window_h.copy(),
        events=out[:, K.W_EVENTS].astype(np.int64),
        events_nodeg=out[:, K.W_EVENTS_NODEG].astype(np.int64),
        impact_min=out[:, K.W_IMPACT].copy(),
        impact_nodeg_min=out[:, K.W_IMPACT_NODEG].copy(),
        runs=runs,
        degraded=degraded,
        abandoned=out[:, K.W_ABANDONED].astype(np.int64),
        mean_plan_age_s=out[:, K.W_AGE].copy(),
        observed_h=out[:, K.W_OBSERVED_H].copy(),
        first_event_cell=out[:, K.W_FIRST_EVENT_CELL].astype(np.int64),
        p_model=params.degraded_prob.copy(),
        repair_mean_s=params.repair.mean(),
        degraded_cell_weight=plan.degraded_cell_weight(config, params),
    )
