"""Tables of a run beyond its row: one row per simulated event, and the loss-exceedance curve.

* :func:`events_frame`: every cell-window with an event in a run's sample (the windows with
  events are re-simulated cell by cell in the engine, which gives each event's time and
  affected endpoints; the same numbers, so the same events).  Under importance sampling the
  events are those drawn under the proposal, and ``weight`` is their window's mixture weight
  1 / (alpha + (1 - alpha) L) (1 for naive): a weighted count of them estimates the events of
  the model.
* :func:`exceedance_frame`: P(annual impact > threshold), with the intervals of
  ``riskmc.estimators.year`` and, where a stratum is unobserved, its bound.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from riskmc.engine import simulate_cell
from riskmc.estimates import ConfidenceInterval, Estimate
from riskmc.estimators import Run, estimate, windows_per_year
from riskmc.estimators.year import YearSummary

__all__ = ["EVENT_COLUMNS", "EXCEEDANCE_COLUMNS", "EXCEEDANCE_QUANTITIES", "events_frame", "exceedance_frame"]

EVENT_COLUMNS = {
    "trial": pl.Int64,
    "cell": pl.Int64,
    "time_s": pl.Float64,
    "cause": pl.String,
    "degraded_runs": pl.Int64,
    "affected_endpoints": pl.String,
    "affected_weight": pl.Float64,
    "duration_s": pl.Float64,
    "impact_min": pl.Float64,
    "weight": pl.Float64,
}
EXCEEDANCE_COLUMNS = {
    "quantity": pl.String,
    "threshold_min": pl.Float64,
    "p_exceed": pl.Float64,
    "p_exceed_lo": pl.Float64,
    "p_exceed_hi": pl.Float64,
    "p_exceed_method": pl.String,
}


def events_frame(run: Run) -> pl.DataFrame:
    """One row per cell-window with an event (:data:`EVENT_COLUMNS`), by trial and cell."""
    smp = run.sample
    rows = np.flatnonzero(smp.events > 0)
    records: list[dict[str, object]] = []
    if rows.size:
        params = run.plan.windows(run.config, run.seed, smp.trials[rows])
        batch = run.plan.batch(params, run.seed)
        weights = smp.weight[rows]  # (exp of every log-weight: once, not per event)
        for j, i in enumerate(rows):
            c_count = int(params.cells[j])
            for c in range(c_count):
                res = simulate_cell(batch, j, c)
                if not res.event:
                    continue
                records.append(
                    {
                        "trial": int(smp.trials[i]),
                        "cell": c,
                        "time_s": res.observed_s,
                        "cause": res.cause,
                        "degraded_runs": res.runs_degraded,
                        "affected_endpoints": ",".join(map(str, res.affected)),
                        "affected_weight": res.affected_weight,
                        "duration_s": res.repair_s,
                        "impact_min": res.affected_weight * res.repair_s / (60.0 * c_count),
                        "weight": float(weights[j]),
                    }
                )
    return pl.DataFrame(records, schema=EVENT_COLUMNS, orient="row")


#: What a loss-exceedance table can be of: the DNS impact, or the cascade's EC2 impairment.
EXCEEDANCE_QUANTITIES = ("impact_per_year_min", "ec2_impaired_per_year_min")


def exceedance_frame(
    run: Run, thresholds: Sequence[float] | None = None, quantity: str = "impact_per_year_min"
) -> pl.DataFrame:
    """P(annual quantity > threshold) for each threshold (default: 0 and 24 log-spaced ones up
    to the largest simulated year), non-increasing: the DNS impact (region-traffic-minutes),
    or with ``quantity="ec2_impaired_per_year_min"`` the downstream cascade's EC2
    launch-impairment minutes (its default grid only), from the same simulated years."""
    if quantity not in EXCEEDANCE_QUANTITIES:
        raise ValueError(f"quantity must be one of {EXCEEDANCE_QUANTITIES}, got {quantity!r}")
    est = run.estimates
    year = est.year
    cascade = quantity != "impact_per_year_min"
    if thresholds is not None and year is not None:
        if cascade:
            raise ValueError("the cascade's exceedance is at its default thresholds only")
        year = estimate(run.sample, run.plan, run.seed, thresholds=list(thresholds)).year
    if cascade and year is not None and not year.extra_exceed:
        year = None if not run.sample.events.any() else _cascade_year(run)
    p_year = est.values["p_region_year"].confidence_interval.high
    if year is None:  # no event: P(S > x) <= P(S > 0) = p_region_year
        thr = np.zeros(1) if thresholds is None else np.asarray(thresholds, dtype=float)
        values = [
            Estimate(0.0, ConfidenceInterval(0.0, p_year), "no event: bounded by p_region_year_hi")
        ] * thr.size
    else:
        thr, values = year.extra_exceed[0] if cascade else (year.thresholds, year.exceed)
        if est.unseen:  # P(S > x) <= P(S_seen > x) + P(an unseen event in the year)
            n_w = windows_per_year(run.sample)
            p_rw = est.values["p_region_window"]
            extra = min(1.0, n_w * max(0.0, p_rw.confidence_interval.high - p_rw.estimate))
            values = [
                Estimate(
                    e.estimate,
                    ConfidenceInterval(
                        e.confidence_interval.low, min(1.0, e.confidence_interval.high + extra)
                    ),
                    f"{e.method}; + the chance of an event of an unobserved stratum in the year",
                )
                for e in values
            ]
    records = [
        {
            "quantity": quantity,
            "threshold_min": float(x),
            "p_exceed": e.estimate,
            "p_exceed_lo": e.confidence_interval.low,
            "p_exceed_hi": e.confidence_interval.high,
            "p_exceed_method": e.method,
        }
        for x, e in zip(thr, values, strict=True)
    ]
    return pl.DataFrame(records, schema=EXCEEDANCE_COLUMNS, orient="row")


def _cascade_year(run: Run) -> YearSummary:
    """The year model of the run's sample with its cascade as the further column (for a run
    whose estimates were made without it)."""
    assert run.cascade is not None
    return estimate(run.sample, run.plan, run.seed, extra_impacts=run.cascade.annual_columns()).year  # type: ignore[return-value]
