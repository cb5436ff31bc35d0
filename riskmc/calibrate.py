"""Calibration: the value of one parameter at which the expected number of events over a
stated exposure equals the observed count.

Given an observed count N of empty-record events over an exposure of X cell-hours, find
theta (the value of one configuration key, e.g. ``degraded.prob``) such that

    r(theta) * X = N,     r(theta) = events per cell-hour = p_cell_window(theta) / E[T in hours]

(at most one event per cell-window, so the events per cell-hour of a cell observed window
after window is p_cell_window over the mean window length).

**The curve.** r is estimated on a log-spaced grid of theta between ``low`` and ``high``,
every point with the same seed and trials (common random numbers, so the curve is smooth
and its shape is not noise) and the same estimator plan (resolved once, on the
configuration as given).  Its interval at each point is p_cell_window's, so it includes the
bound of any stratum the sample did not see.  The curve is made monotone (a running maximum
in the direction of its overall trend: events cannot become rarer as a risk factor grows),
and crossed by linear interpolation in (log theta, log r).

**A count the curve cannot reach is refused.**  Events that do not depend on the parameter
(e.g. events without any degraded run, when calibrating ``degraded.prob``) put a *floor*
under the curve: when even its lower bound at the grid's low end expects more events than
the count, no value of the parameter reproduces the count, and calibrate says so with the
floor instead of returning a value; likewise when the upper bound at the high end expects
fewer.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.stats

from riskmc import estimators
from riskmc.config import KEYS, Config
from riskmc.estimates import CONFIDENCE, ConfidenceInterval, Estimate
from riskmc.estimators import Plan
from riskmc.estimators.blocks import samples_in_order, spreads
from riskmc.estimators.quantities import CellStats, p_cell_window
from riskmc.estimators.sample import WindowSample
from riskmc.estimators.split import SplitSpec, check_supported

if TYPE_CHECKING:
    from riskmc.execute import Executor

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
    curve: list[dict[str, float | str]] = field(repr=False)
    elapsed_s: float = 0.0
    replicates: int | None = None  # split's, per grid point (then no trials ran)

    def row(self) -> dict[str, object]:
        size: dict[str, object] = (
            {"trials": self.trials} if self.replicates is None else {"replicates": self.replicates}
        )
        return {
            "param": self.key,
            "value": self.value.estimate,
            "value_lo": self.value.confidence_interval.low,
            "value_hi": self.value.confidence_interval.high,
            "value_method": self.value.method,
            "observed_events": self.observed_events,
            "exposure_cell_hours": self.exposure_cell_hours,
            "estimator": self.estimator,
            **size,
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


def grid(config: Config, key: str, low: float | None, high: float | None, points: int) -> np.ndarray:
    """The log-spaced values of ``key`` a calibration runs (default: the configuration's value
    / 1000 to x 1000, at most 0.5 for a probability); CalibrationError for an empty grid."""
    v = _current_value(config, key)
    if (low is None or high is None) and not v > 0:
        raise CalibrationError(f"--param {key}: the configuration's value is {v:g}; give --low and --high")
    low = v / 1000.0 if low is None else low
    if high is None:
        high = min(v * 1000.0, 0.5) if key.endswith("prob") else v * 1000.0
    if not 0 < low < high:
        raise CalibrationError(f"the grid needs 0 < --low < --high, got {low:g} and {high:g}")
    return np.geomspace(low, high, points)


_Point = tuple[Estimate, float, float, float, tuple[str, ...]]


def _points(
    configs: list[Config],
    seed: int,
    trials: int,
    plan: Plan | SplitSpec,
    threads: int,
    executor: Executor | None,
    progress: Callable[[int], None] | None,
) -> Iterator[_Point]:
    """Per grid configuration, in order: p_cell_window, the mean window in hours, the events
    seen (drawn), the effective sample size, the strata the sample did not see."""
    if isinstance(plan, SplitSpec):
        for cfg in configs:
            check_supported(cfg)
        for cfg in configs:
            r = plan.run(cfg, seed, threads)
            hits = float(sum(rep.events for rep in r.replicates))
            hours = cfg.values["window.hours"]  # a fixed value: split samples no parameter
            assert isinstance(hours, (int, float))
            yield r.estimate, float(hours), hits, math.nan, ()
            if progress is not None:
                progress(1)
        return
    samples: Iterator[WindowSample]
    if spreads(executor):
        samples = samples_in_order(executor, configs, seed, trials, plan)
    else:
        samples = (estimators.simulate(cfg, seed, range(trials), plan, threads) for cfg in configs)
    for sample in samples:
        stats = CellStats.of(sample)
        p, unseen, _ = p_cell_window(stats, plan)
        hours = float(np.sum(sample.weight * sample.window_h) / np.sum(sample.weight))
        yield p, hours, float(stats.y.hits), stats.y.ess, tuple(unseen)
        if progress is not None:
            progress(1)


def _curve_point(
    value: float, p: Estimate, hours: float, hits: float, ess: float, unseen: tuple[str, ...], exposure: float
) -> dict[str, float | str]:
    ci = p.confidence_interval
    return {
        "value": value,
        "events_per_cell_hour": p.estimate / hours,
        "events_per_cell_hour_lo": ci.low / hours,
        "events_per_cell_hour_hi": ci.high / hours,
        "events_per_cell_hour_se": p.standard_error / hours,
        "expected_events": p.estimate / hours * exposure,
        "hits": hits,
        "ess": ess,
        "unobserved_strata": ",".join(unseen),
    }


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
    plan: Plan | SplitSpec | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> Calibration:
    """Calibrate ``key`` (module docstring).  The grid defaults to [v / 1000, v * 1000]
    around the configuration's value v (capped at 0.5 for probabilities).  With an
    ``executor`` of more than one worker the blocks of every grid point run there, one
    thread each (:mod:`riskmc.estimators.blocks`): the curve is the same to the bit.  Under a
    SplitSpec (``estimator="split"``) every grid point is ``split``'s replicates on the same
    seed (``riskmc.estimators.split``; every point a configuration it takes, checked first),
    the window's length fixed, and ``trials`` unused."""
    start = time.perf_counter()
    if observed_events < 1:
        raise CalibrationError("--observed-events must be >= 1 (no event gives only an upper bound)")
    if not exposure_cell_hours > 0:
        raise CalibrationError("--exposure-cell-hours must be > 0")
    if points < 3:
        raise CalibrationError("--points must be >= 3")
    thetas = grid(config, key, low, high, points)
    low, high = float(thetas[0]), float(thetas[-1])
    trials = config.trials if trials is None else trials
    seed = config.seed if seed is None else seed
    configs = [_override(config, key, float(t)) for t in thetas]  # every value checked first
    if plan is None:
        plan = (
            SplitSpec()
            if estimator == "split"
            else estimators.resolve(config, seed, estimator, threads=threads)
        )
    curve = [
        _curve_point(float(t), p, hours, hits, ess, unseen, exposure_cell_hours)
        for t, (p, hours, hits, ess, unseen) in zip(
            thetas, _points(configs, seed, trials, plan, threads, executor, progress), strict=True
        )
    ]
    rate = np.array([float(c["events_per_cell_hour"]) for c in curve])
    rate_lo = np.array([float(c["events_per_cell_hour_lo"]) for c in curve])
    rate_hi = np.array([float(c["events_per_cell_hour_hi"]) for c in curve])
    increasing = bool(rate[-1] >= rate[0])
    lam_lo, lam_hi = poisson_mean_interval(observed_events)
    target = observed_events / exposure_cell_hours
    if not any(c["hits"] for c in curve):
        if isinstance(plan, SplitSpec):
            raise CalibrationError(
                f"--param {key}: no event at any grid point in {plan.replicates} split replicates; "
                "give more --replicates, or a grid where the event is possible"
            )
        raise CalibrationError(
            f"--param {key}: no event at any grid point in {trials:,} trials ({plan.estimator} estimator); "
            "give more --trials, or --estimator is where degraded runs are rare"
        )
    floor_end, top_end = (0, -1) if increasing else (-1, 0)
    x = exposure_cell_hours

    def expected(i: int) -> str:
        return f"{rate[i] * x:.3g} [{rate_lo[i] * x:.3g}, {rate_hi[i] * x:.3g}]"

    if rate_lo[floor_end] * x > observed_events:
        where = "--low" if increasing else "--high"
        raise CalibrationError(
            f"--param {key}: no value reproduces {observed_events} event(s) over {x:g} cell-hours: "
            f"at {where} {thetas[floor_end]:g} the curve's floor already expects {expected(floor_end)}, "
            "from events that do not need this parameter (e.g. without any degraded run)"
        )
    if rate_hi[top_end] * x < observed_events:
        where = "--high" if increasing else "--low"
        raise CalibrationError(
            f"--param {key}: no value in the grid reproduces {observed_events} event(s) over {x:g} "
            f"cell-hours: at {where} {thetas[top_end]:g} the curve expects at most {expected(top_end)}; "
            "widen the grid, if the parameter can go further"
        )
    point = _crossing(thetas, rate, target, increasing)
    if math.isnan(point):
        span = f"{rate.min() * x:.3g}..{rate.max() * x:.3g}"
        raise CalibrationError(
            f"--param {key}: over [{low:g}, {high:g}] the expected events over the exposure span "
            f"{span}, not {observed_events}; widen the grid with --low/--high"
        )
    if increasing:
        theta_lo = _crossing(thetas, rate_hi, lam_lo / x, True)
        theta_hi = _crossing(thetas, rate_lo, lam_hi / x, True)
    else:
        theta_lo = _crossing(thetas, rate_lo, lam_hi / x, False)
        theta_hi = _crossing(thetas, rate_hi, lam_lo / x, False)
    # a bound beyond the grid is reported as the grid's end, and the method says so
    notes = []
    if math.isnan(theta_lo):
        theta_lo = low
        notes.append(f"lower bound at or below the grid's low end {low:g}")
    if math.isnan(theta_hi):
        theta_hi = high
        notes.append(f"upper bound at or beyond the grid's high end {high:g}")
    if any(c["unobserved_strata"] for c in curve):
        notes.append("the curve's upper bounds include strata the sample did not see")
    method = (
        f"{points}-point log grid, {plan.short} estimator, common random numbers, log-log interpolation; "
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
        estimator=plan.short,
        trials=trials,
        seed=seed,
        curve=curve,
        elapsed_s=time.perf_counter() - start,
        replicates=plan.replicates if isinstance(plan, SplitSpec) else None,
    )
