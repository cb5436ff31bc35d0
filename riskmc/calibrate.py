"""Calibration: the value of one parameter at which the expected number of events over a
stated exposure equals the observed count.

Given an observed count N of empty-record events over an exposure of X cell-hours, find
theta (the value of one configuration key, e.g. ``degraded.prob``) such that

    r(theta) * X = N,     r(theta) = events per cell-hour = p_cell_window(theta) / E[T in hours]

(at most one event per cell-window, so the events per cell-hour of a cell observed window
after window is p_cell_window over the mean window length).

**The curve.** r is estimated on a log-spaced grid of theta between ``low`` and ``high``,
every point with the same seed and trials (common random numbers, so the curve is smooth
and its shape is not noise) and the same estimator and importance-sampling proposal (fixed
once, from the configuration as given).  For ``degraded.prob`` below the proposal's q, the
simulation under the proposal does not depend on theta at all, only the likelihood ratios
do, so one simulation serves every grid point (the weights are recomputed; this is the
same estimate as simulating each point, only faster).  The curve is made monotone (a
running maximum in the direction of its overall trend: events cannot become rarer as a
risk factor grows), and crossed by linear interpolation in (log theta, log r).

**The interval.** Two sources of uncertainty, the dominant one being that N is a single
Poisson count: the exact (Garwood) 95% interval [lambda_lo, lambda_hi] of its mean.  The
lower end of theta is where the *upper* Monte Carlo bound of the curve reaches lambda_lo,
the upper end where the *lower* bound reaches lambda_hi, so the interval covers both the
count's and the simulation's uncertainty (conservatively: each bound takes the extreme of
both).  A value outside [low, high] is an error that names the grid, not an extrapolation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.stats

from riskmc.config import KEYS, Config
from riskmc.estimates import CONFIDENCE, ConfidenceInterval, Estimate
from riskmc.params import concat, sample_block
from riskmc.rare import (
    CellSample,
    Proposal,
    p_cell_window,
    resolve_estimator,
    simulate_sample,
)
from riskmc.streams import blocks_for

__all__ = ["DEFAULT_POINTS", "Calibration", "CalibrationError", "calibrate", "poisson_mean_interval"]

#: Grid points of the rate curve.
DEFAULT_POINTS = 13


class CalibrationError(ValueError):
    """A calibration that cannot be done as asked; the message says why and what to change."""


def poisson_mean_interval(count: int) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson mean from one observed ``count``."""
    alpha = 1.0 - CONFIDENCE
    low = 0.0 if count == 0 else float(scipy.stats.chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(scipy.stats.chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return low, high


@dataclass
class Calibration:
    """The calibrated value (with its interval and method) and the curve behind it."""

    key: str
    value: Estimate
    observed_events: int
    exposure_cell_hours: float
    estimator: str
    trials: int
    seed: int
    curve: list[dict[str, float]] = field(repr=False)
    elapsed_s: float = 0.0

    def row(self) -> dict[str, object]:
        return {
            "param": self.key,
            "value": self.value.estimate,
            "value_lo": self.value.confidence_interval.low,
            "value_hi": self.value.confidence_interval.high,
            "value_method": self.value.method,
            "observed_events": self.observed_events,
            "exposure_cell_hours": self.exposure_cell_hours,
            "estimator": self.estimator,
            "trials": self.trials,
            "seed": self.seed,
            "elapsed_s": self.elapsed_s,
        }


def _override(config: Config, key: str, value: float) -> Config:
    return config.with_overrides([f"{key}={float(value)!r}"])


def _current_value(config: Config, key: str) -> float:
    """The key's plain value in the configuration (the centre of the default grid)."""
    spec = KEYS.get(key)
    kinds = {"count": "a count (integer)", "use": "a distribution drawn at every use", "int": "an integer"}
    if spec is not None and spec.kind != "number":
        raise CalibrationError(
            f"--param {key}: is {kinds.get(spec.kind, spec.kind)}; calibrate a real-valued key"
        )
    flat = config.flat()
    if key not in flat:
        raise CalibrationError(f"--param {key}: not a key of this configuration")
    value = flat[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalibrationError(f"--param {key}: is a distribution here ({value}); calibrate a plain number")
    return float(value)


def _reweight(
    sample: CellSample, config: Config, seed: int, blocks: range, n: int, proposal: Proposal
) -> CellSample:
    """The same simulated trials with the likelihood ratios of ``config`` (whose degraded
    probabilities are all at most the proposal's q, so the simulation is unchanged)."""
    params = concat([sample_block(config, seed, b) for b in blocks])
    tilted = proposal.tilt(params)
    runs = np.zeros(params.n, np.int64), np.zeros(params.n, np.int64)
    runs[0][:n], runs[1][:n] = sample.runs_started, sample.runs_degraded
    return replace(sample, log_weight=Proposal.log_weights(params, tilted, *runs)[:n])


def _crossing(thetas: np.ndarray, rates: np.ndarray, level: float, increasing: bool) -> float:
    """theta where the (monotone-envelope) curve crosses ``level``; nan when it does not."""
    r = np.maximum.accumulate(rates) if increasing else np.minimum.accumulate(rates)
    above = r >= level if increasing else r <= level
    if not above.any() or above[0]:
        return math.nan
    i = int(np.argmax(above))  # first grid point at or past the level
    t0, t1, r0, r1 = thetas[i - 1], thetas[i], r[i - 1], r[i]
    if r1 == r0:
        return float(t1)
    if r0 > 0 and r1 > 0 and level > 0:
        f = (math.log(level) - math.log(r0)) / (math.log(r1) - math.log(r0))
    else:
        f = (level - r0) / (r1 - r0)
    return float(math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0))))


def calibrate(
    config: Config,
    key: str,
    observed_events: int,
    exposure_cell_hours: float,
    *,
    low: float | None = None,
    high: float | None = None,
    points: int = DEFAULT_POINTS,
    trials: int | None = None,
    seed: int | None = None,
    estimator: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> Calibration:
    """Calibrate ``key`` (module docstring).  The grid defaults to [v / 1000, v * 1000]
    around the configuration's value v (capped at 0.5 for probabilities)."""
    start = time.perf_counter()
    if observed_events < 1:
        raise CalibrationError("--observed-events must be >= 1 (no event gives only an upper bound)")
    if not exposure_cell_hours > 0:
        raise CalibrationError("--exposure-cell-hours must be > 0")
    if points < 3:
        raise CalibrationError("--points must be >= 3")
    v = _current_value(config, key)
    if (low is None or high is None) and not v > 0:
        raise CalibrationError(f"--param {key}: the configuration's value is {v:g}; give --low and --high")
    low = v / 1000.0 if low is None else low
    if high is None:
        high = min(v * 1000.0, 0.5) if key.endswith("prob") else v * 1000.0
    if not 0 < low < high:
        raise CalibrationError(f"the grid needs 0 < --low < --high, got {low:g} and {high:g}")
    trials = config.trials if trials is None else trials
    seed = config.seed if seed is None else seed
    name, proposal = resolve_estimator(config, seed, estimator)
    thetas = np.geomspace(low, high, points)
    configs = [_override(config, key, float(t)) for t in thetas]  # every value checked first
    blocks = blocks_for(trials)
    reuse = key == "degraded.prob" and proposal is not None and high <= proposal.q
    shared: CellSample | None = None
    label = proposal.label if proposal is not None else "naive"
    curve: list[dict[str, float]] = []
    for t, cfg in zip(thetas, configs, strict=True):
        if reuse and proposal is not None:
            if shared is None:
                shared = simulate_sample(cfg, seed, blocks, trials, proposal, all_cells=False)
            sample = _reweight(shared, cfg, seed, blocks, trials, proposal)
        else:
            sample = simulate_sample(cfg, seed, blocks, trials, proposal, all_cells=False)
        p = p_cell_window(sample, name, label)
        hours = float(np.mean(sample.window_s)) / 3600.0
        ci = p.estimate.confidence_interval
        curve.append(
            {
                "value": float(t),
                "events_per_cell_hour": p.estimate.estimate / hours,
                "events_per_cell_hour_lo": ci.low / hours,
                "events_per_cell_hour_hi": ci.high / hours,
                "expected_events": p.estimate.estimate / hours * exposure_cell_hours,
                "hits": float(p.hits),
                "ess": p.ess,
            }
        )
        if progress is not None:
            progress(1)
    rate = np.array([c["events_per_cell_hour"] for c in curve])
    rate_lo = np.array([c["events_per_cell_hour_lo"] for c in curve])
    rate_hi = np.array([c["events_per_cell_hour_hi"] for c in curve])
    increasing = bool(rate[-1] >= rate[0])
    lam_lo, lam_hi = poisson_mean_interval(observed_events)
    target = observed_events / exposure_cell_hours
    point = _crossing(thetas, rate, target, increasing)
    if not any(c["hits"] for c in curve):
        raise CalibrationError(
            f"--param {key}: no event at any grid point in {trials:,} trials ({name} estimator); "
            "give more --trials, or --estimator is where degraded runs are rare"
        )
    if math.isnan(point):
        span = f"{rate.min() * exposure_cell_hours:.3g}..{rate.max() * exposure_cell_hours:.3g}"
        raise CalibrationError(
            f"--param {key}: over [{low:g}, {high:g}] the expected events over the exposure span "
            f"{span}, not {observed_events}; widen the grid with --low/--high"
        )
    if increasing:
        theta_lo = _crossing(thetas, rate_hi, lam_lo / exposure_cell_hours, True)
        theta_hi = _crossing(thetas, rate_lo, lam_hi / exposure_cell_hours, True)
    else:
        theta_lo = _crossing(thetas, rate_lo, lam_hi / exposure_cell_hours, False)
        theta_hi = _crossing(thetas, rate_hi, lam_lo / exposure_cell_hours, False)
    # a bound beyond the grid is reported as the grid's end, and the method says so
    notes = []
    if math.isnan(theta_lo):
        theta_lo = low
        notes.append(f"lower bound below the grid's low end {low:g}")
    if math.isnan(theta_hi):
        theta_hi = high
        notes.append(f"upper bound beyond the grid's high end {high:g}")
    method = (
        f"{points}-point log grid, {name} estimator, common random numbers, log-log interpolation; "
        f"interval: exact Poisson interval of {observed_events} event(s) [{lam_lo:.4g}, {lam_hi:.4g}] "
        "through the Monte Carlo bounds of the curve"
    )
    if notes:
        method += " (" + "; ".join(notes) + ")"
    value = Estimate(point, ConfidenceInterval(float(theta_lo), float(theta_hi)), method)
    return Calibration(
        key=key,
        value=value,
        observed_events=observed_events,
        exposure_cell_hours=exposure_cell_hours,
        estimator=name,
        trials=trials,
        seed=seed,
        curve=curve,
        elapsed_s=time.perf_counter() - start,
    )
