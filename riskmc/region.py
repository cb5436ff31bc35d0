"""The region, its blast radius and the year (MODEL.md sections 3, 4 and 6).

A *trial* here is one region-window: C cells (``region.cells``, drawn per window with the
other sampled parameters) observed for one window of T seconds, all in a common-cause shock
with probability ``region.shock.prob``.  :func:`simulate_region` runs cell layer c of every
region-window with C > c through the vectorized engine, with that layer's own random inputs
(``ChunkDraws(..., layer=c)``), so cell c of trial i sees the same planner, wakes, degraded
uniforms and write delays in every scenario that shares the seed.  Layer 0 is exactly what
:func:`riskmc.scenario.simulate` simulates, so the cell-level estimates of a region run are
those of a plain run.

**Impact.** An event in a cell of a region-window with C cells, affecting endpoints of total
normalised weight w, with outage duration R seconds, costs ``w * R / (60 * C)``
region-traffic-minutes (1.0 = the whole region down for one minute).  R comes from
``repair.duration`` or, with the ``empty_guard`` mitigation, from
``mitigations.empty_guard.repair``; it is drawn for every row of a block at the address
``(seed; block, REPAIR, layer)`` whether or not the row has an event, so R of cell c of
trial i is the same draw in every scenario (common random numbers: a constant 600 s repair
against 1200 s doubles every impact exactly, and two lognormal repairs with the same ``s``
differ by the ratio of their scales).

**The year.** A region-year is n_w = 8766 h / T independent region-windows (with T sampled
per window, T is its mean over the simulated windows: the renewal-theory number of windows
per year).  The number of event windows in a year is K ~ Binomial(n_w, p_region_window)
and their impacts are i.i.d. draws from the distribution of the impact of a window that has
an event (all its cells' events together), estimated by the observed event windows: a
compound binomial, simulated by :func:`annual_impacts` (exactly, except that a year with
more than :data:`MAX_EXACT_EVENTS` event windows gets the translated-gamma approximation of
its sum, so that common events do not cost thousands of draws per year).

**Intervals (all 95%) and why each method.**

* ``p_region_window``: Wilson score over region-windows, which are i.i.d.; finite upper
  bound with no event.
* ``events_per_region_year``: events per window-hour by :func:`riskmc.estimates.rate` (the
  union of a ratio-t interval, right when a shock hits several cells of one window at once,
  and the exact Poisson interval, right when events are sparse), times 8766.
* ``p_region_year`` = 1 - (1 - p)^n_w: the Wilson bounds pushed through that increasing
  function, so the interval has exactly the Wilson interval's coverage and stays in [0, 1].
* ``impact_given_event_min``: the ratio (sum of impacts) / (number of events) over the
  region-windows that have an event -- the resampling unit must be the window, not the
  event, since the events of one window share its shock, sampled parameters and C.  Impacts
  are right-skewed (lognormal repair times weights), where a symmetric t interval
  under-covers its upper end with few events, so up to :data:`BCA_MAX_WINDOWS` event
  windows the interval is ``scipy.stats.bootstrap``'s BCa (bias- and skew-corrected, 999
  resamples, seed from the stream system).  Beyond that the ratio's sampling distribution
  is normal to well within the interval's own Monte Carlo noise, and BCa's jackknife costs
  O(m^2), so the delta-method ratio-t interval is used; the method column says which.
* ``impact_per_year_min`` = 8766 x (sum of impacts) / (window-hours) = n_w x the mean impact
  per window: a delta-method t interval (exactly n_w times the t interval of the mean when
  T is fixed), clipped at 0.  With no event at all it is 0 with the upper bound
  ``events_per_region_year_hi x E[R] / 60`` (an event's impact is at most R/60).
* ``impact_per_year_p99_min``, ``impact_per_year_cvar99_min``: the 0.99 quantile and the
  mean of the worst 1% of simulated years (:func:`annual_impacts`).  Interval: percentile
  bootstrap over region-windows, :data:`YEAR_RESAMPLES` resamples; each resample re-estimates
  p and the event-window impacts and simulates its own years with fresh randomness, so the
  spread covers the simulation noise of the years as well as the sampling noise of the
  data (the interval is widened to hold the point estimate, whose years are other draws).
  Years per simulation: as many as :data:`YEAR_DRAW_BUDGET` index draws allow, between
  :data:`MIN_YEARS` and :data:`MAX_YEARS`; the method text states the number.  BCa would
  need a jackknife of one year simulation per region-window; percentile intervals respect
  the monotone transformations a quantile lives under.  With no event:
  0, and the Markov bounds VaR, CVaR_0.99 <= E[annual impact] / 0.01 (and VaR = 0 for every
  p in the interval when ``p_region_year_hi`` <= 0.01).
* ``cells_per_event_window``: Student t over the windows that have an event, clipped to
  [1, largest C].
* exceedance probabilities (:func:`exceedance_table`): the same bootstrap, pointwise.

Every random number of the estimation comes from the stream system too, at
``(seed; 0, REGION, k)`` (block 0; ``k`` one of the ``_SUB_*`` constants below), so a run's
estimates are reproducible and scenarios sharing the seed share their year simulations.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import scipy.stats

from riskmc import estimates as est
from riskmc.config import Config
from riskmc.distributions import ResolvedDist
from riskmc.draws import ChunkDraws, draw
from riskmc.engine import CellResults, simulate_cells
from riskmc.estimates import CONFIDENCE, ConfidenceInterval, Estimate
from riskmc.params import TrialParams, concat
from riskmc.scenario import DEFAULT_CHUNK_TRIALS, HOURS_PER_YEAR, ScenarioResult, chunks, estimate
from riskmc.streams import BLOCK_TRIALS, Purpose, stream

__all__ = [
    "BCA_MAX_WINDOWS",
    "EVENT_COLUMNS",
    "EXCEEDANCE_COLUMNS",
    "MAX_EXACT_EVENTS",
    "REGION_ESTIMATES",
    "YEAR_RESAMPLES",
    "RegionEvents",
    "RegionResults",
    "RegionRun",
    "annual_impacts",
    "estimate_region",
    "events_frame",
    "events_table",
    "exceedance_frame",
    "exceedance_table",
    "region_row",
    "run_region_scenario",
    "simulate_region",
    "windows_per_year",
    "year_probability",
]

#: The region and year estimates of MODEL.md section 6, in output order.
REGION_ESTIMATES = (
    "p_region_window",
    "events_per_region_year",
    "p_region_year",
    "impact_given_event_min",
    "impact_per_year_min",
    "impact_per_year_p99_min",
    "impact_per_year_cvar99_min",
    "cells_per_event_window",
)

#: Columns of :func:`events_table` (one row per simulated event).
EVENT_COLUMNS = (
    "trial",
    "cell",
    "time_s",
    "affected_endpoints",
    "affected_weight",
    "duration_s",
    "impact_min",
)

#: Columns of :func:`exceedance_table`.
EXCEEDANCE_COLUMNS = ("threshold_min", "p_exceed", "p_exceed_lo", "p_exceed_hi", "p_exceed_method")

#: Largest number of event windows for which ``impact_given_event_min`` gets a BCa bootstrap
#: interval (its jackknife costs O(m^2)); beyond, the delta-method ratio-t interval.
BCA_MAX_WINDOWS = 2000
#: Resamples of that BCa bootstrap.
BCA_RESAMPLES = 999

#: Bootstrap resamples behind the intervals of the annual tail and the exceedance table:
#: each resample simulates its own years, so this is kept small (the 2.5% and 97.5% points
#: of 200 resamples carry a few percent of noise of their own, fine for a tail's interval).
YEAR_RESAMPLES = 200
#: Years with more event windows than this get the translated-gamma approximation of their
#: sum (see :func:`annual_impacts`), so that a year costs at most this many draws.
MAX_EXACT_EVENTS = 50
#: Simulated years: about this many draws per year simulation, within the bounds below
#: (each bootstrap resample simulates as many years as the point estimate).
YEAR_DRAW_BUDGET = 500_000
MIN_YEARS = 10_000
MAX_YEARS = 100_000

#: Tail level of the p99 and CVaR estimates.
TAIL_LEVEL = 0.99

# Sub-addresses of the estimation streams (seed; 0, REGION, k).
_SUB_YEARS = 1  # the years behind the point estimates
_SUB_YEAR_BOOT = 2  # which region-windows each year-bootstrap resample takes
_SUB_YEAR_BOOT_YEARS = 3  # the years simulated inside those resamples
_SUB_IMPACT_BOOT = 4  # the BCa bootstrap of impact_given_event_min


# -- results -----------------------------------------------------------------------------------


@dataclass(eq=False)
class RegionEvents:
    """Every simulated event, one entry per event, sorted by (trial, cell)."""

    trial: np.ndarray  # int64: region-window index
    cell: np.ndarray  # int64: cell layer 0..C-1
    time_s: np.ndarray  # event time t* within the window
    affected: np.ndarray  # bool [events, max endpoints]: endpoints pointing to a deleted plan
    affected_weight: np.ndarray  # sum of their normalised weights
    duration_s: np.ndarray  # outage duration R
    impact_min: np.ndarray  # w * R / (60 * C), region-traffic-minutes

    def __len__(self) -> int:
        return int(self.trial.size)


@dataclass(eq=False)
class RegionResults:
    """Per region-window outcomes of trials [0, n) and the list of their events.

    ``cells_layer0`` holds the engine's outcomes of cell 0 of every region-window: exactly
    what :func:`riskmc.scenario.simulate` returns for the same config, trials and seed, so
    :func:`riskmc.scenario.estimate` on it gives the cell-level estimates (p_cell_window,
    mean_plan_age_s, ...) of a plain run.  Pooling all cells would be more data, but cells
    of one window are dependent (shock, sampled parameters) and the Wilson interval assumes
    i.i.d. trials.
    """

    seed: int
    cells: np.ndarray  # int64: C of each region-window
    window_s: np.ndarray  # T of each region-window
    shock: np.ndarray  # bool: common-cause shock
    events: np.ndarray  # int64: cells with an event
    impact_min: np.ndarray  # sum of the window's event impacts, region-traffic-minutes
    repair_mean_s: float  # mean of the outage-duration distribution in use (for bounds)
    cells_layer0: CellResults = field(repr=False)
    event_list: RegionEvents = field(repr=False)
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def n(self) -> int:
        """Region-windows simulated."""
        return int(self.cells.size)

    @property
    def cells_simulated(self) -> int:
        """Cell-windows simulated (the sum of C)."""
        return int(self.cells.sum())

    @property
    def total_events(self) -> int:
        return int(self.events.sum())

    @property
    def event_windows(self) -> int:
        """Region-windows with at least one event."""
        return int(np.count_nonzero(self.events))

    @property
    def window_sampled(self) -> bool:
        """Whether T differs between windows (then n_w uses the mean T)."""
        return bool(np.ptp(self.window_s) > 0) if self.n else False


def _repair_dist(params: TrialParams) -> ResolvedDist:
    """The outage-duration distribution of a block: empty_guard's when that mitigation is on."""
    guard = params.mitigations.get("empty_guard", {}).get("repair")
    if isinstance(guard, ResolvedDist):
        return guard
    return params.repair_duration


def _repair_durations(
    seed: int, blocks: Sequence[int], block_params: Sequence[TrialParams], layer: int
) -> np.ndarray:
    """R for every row of the chunk's blocks in one cell layer, one draw per row from
    ``(seed; block, REPAIR, layer)``: always the whole block, so a row's R depends neither
    on the chunking nor on which rows have events."""
    parts = [
        draw(_repair_dist(p), stream(seed, b, Purpose.REPAIR, layer), (BLOCK_TRIALS,))
        for b, p in zip(blocks, block_params, strict=True)
    ]
    return np.maximum(np.concatenate(parts), 0.0)


def simulate_region(
    config: Config,
    trials: int,
    seed: int,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    progress: Callable[[int], None] | None = None,
) -> RegionResults:
    """Simulate region-windows [0, trials): every cell of each, and each event's impact.

    Chunks of whole blocks as in :func:`riskmc.scenario.simulate`; within a chunk, cell
    layer c runs only where C > c (the engine skips the other rows; a layer's random inputs
    are still drawn block-wide, which keeps every row's draws independent of C).
    Bit-identical for any ``chunk_trials``, and trials [0, k) are the same whatever
    ``trials`` >= k.
    ``progress`` gets the number of region-windows finished after each chunk.
    """
    if trials < 1:
        raise ValueError("trials must be >= 1")
    cells_p, window_p, shock_p, events_p, impact_p = [], [], [], [], []
    layer0: list[CellResults] = []
    ev: dict[str, list[np.ndarray]] = {k: [] for k in ("trial", "cell", "time", "aff", "w", "dur", "imp")}
    repair_sum = 0.0
    for part in chunks(config, trials, seed, chunk_trials):
        chunk, block_params, used, first = part.blocks, part.block_params, part.used, part.first_trial
        params = concat(block_params)
        in_use = np.arange(params.n) < used
        n_events = np.zeros(used, np.int64)
        impact = np.zeros(used)
        for c in range(int(params.cells[:used].max())):
            active = in_use & (params.cells > c)
            draws = ChunkDraws(seed, chunk, block_params, layer=c)
            res = simulate_cells(params, draws, n_used=used, active=active)
            if c == 0:
                layer0.append(res.take(slice(0, used)))
            hit = np.flatnonzero(active & res.event)
            duration = _repair_durations(seed, chunk, block_params, c)[hit]
            weight = res.affected_weight[hit]
            imp = weight * duration / (60.0 * params.cells[hit])
            n_events[hit] += 1  # one event per cell per window: rows in `hit` are distinct
            impact[hit] += imp
            ev["trial"].append(first + hit)
            ev["cell"].append(np.full(hit.size, c, np.int64))
            ev["time"].append(res.event_time_s[hit])
            ev["aff"].append(res.affected[hit])
            ev["w"].append(weight)
            ev["dur"].append(duration)
            ev["imp"].append(imp)
        repair_sum += float(_repair_dist(params).mean()[:used].sum())
        cells_p.append(params.cells[:used])
        window_p.append(params.window_s[:used])
        shock_p.append(params.shock[:used])
        events_p.append(n_events)
        impact_p.append(impact)
        if progress is not None:
            progress(used)
    width = max(a.shape[1] for a in ev["aff"])
    affected = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in ev["aff"]])
    trial, cell = np.concatenate(ev["trial"]), np.concatenate(ev["cell"])
    order = np.lexsort((cell, trial))
    events = RegionEvents(
        trial=trial[order],
        cell=cell[order],
        time_s=np.concatenate(ev["time"])[order],
        affected=affected[order],
        affected_weight=np.concatenate(ev["w"])[order],
        duration_s=np.concatenate(ev["dur"])[order],
        impact_min=np.concatenate(ev["imp"])[order],
    )
    return RegionResults(
        seed=seed,
        cells=np.concatenate(cells_p).astype(np.int64),
        window_s=np.concatenate(window_p),
        shock=np.concatenate(shock_p),
        events=np.concatenate(events_p),
        impact_min=np.concatenate(impact_p),
        repair_mean_s=repair_sum / trials,
        cells_layer0=CellResults.concat(layer0),
        event_list=events,
    )


# -- the year ----------------------------------------------------------------------------------


def windows_per_year(results: RegionResults) -> float:
    """n_w = 8766 h / T (T: the mean window length when it is sampled per window).

    A value within 1e-9 (relative) of an integer is that integer, so that 0.1-hour windows
    give exactly 87660 windows despite binary floating point.
    """
    n_w = HOURS_PER_YEAR * 3600.0 / float(np.mean(results.window_s))
    nearest = round(n_w)
    return float(nearest) if nearest > 0 and abs(n_w - nearest) <= 1e-9 * n_w else n_w


@dataclass(frozen=True)
class _YearModel:
    """The compound model of a region-year: n_w windows, each an event window with
    probability p, the impacts of event windows i.i.d. from the empirical ``impacts``."""

    n_w: float
    p: float
    impacts: np.ndarray
    #: probabilities of the impacts (importance sampling); None: equally likely
    probs: np.ndarray | None = None

    @classmethod
    def of(cls, results: RegionResults, rows: np.ndarray | None = None) -> _YearModel:
        events = results.events if rows is None else results.events[rows]
        impact = results.impact_min if rows is None else results.impact_min[rows]
        has = events > 0
        p = float(has.mean()) if has.size else 0.0
        return cls(windows_per_year(results), p, impact[has])

    def expected_events(self) -> float:
        return self.n_w * self.p

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Support and CDF of K, the event windows of a year: Binomial(w, p) + Bernoulli(f p)
        for n_w = w + f, truncated where a tail has probability below 1e-15."""
        whole = math.floor(self.n_w)
        q = (self.n_w - whole) * self.p
        with warnings.catch_warnings():  # boost cannot bracket the tail at a tiny p: harmless
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = int(scipy.stats.binom.ppf(1e-15, whole, self.p))
            hi = int(scipy.stats.binom.isf(1e-15, whole, self.p)) + 1
        ks = np.arange(max(lo - 1, 0), hi + 1)
        pmf = scipy.stats.binom.pmf(ks, whole, self.p)
        if q > 0:
            pmf = pmf * (1.0 - q) + np.concatenate([[0.0], pmf[:-1]]) * q
        cdf = np.cumsum(pmf)
        return ks, cdf / cdf[-1]

    def years(self, n_years: int, rng: np.random.Generator, max_exact: int = MAX_EXACT_EVENTS) -> np.ndarray:
        """Annual impacts of ``n_years`` simulated years (see :func:`annual_impacts`).

        K by inversion of its CDF (numpy's binomial sampler costs 50-400 ns a draw, a
        search in the CDF a few), then one index draw per event window of the years with
        K <= ``max_exact``, summed per year with ``np.add.reduceat`` (exact: no cancellation,
        a year of zero-impact events stays exactly 0)."""
        out = np.zeros(n_years)
        m = self.impacts.size
        if m == 0 or self.p <= 0.0:
            return out
        ks, cdf = self.counts()
        k = ks[np.minimum(np.searchsorted(cdf, rng.random(n_years), side="right"), ks.size - 1)]
        exact = np.flatnonzero((k > 0) & (k <= max_exact))
        if exact.size:
            k_exact = k[exact]
            size = int(k_exact.sum())
            index = rng.integers(0, m, size) if self.probs is None else rng.choice(m, size, p=self.probs)
            picks = self.impacts[index]
            out[exact] = np.add.reduceat(picks, np.cumsum(k_exact) - k_exact)
        big = np.flatnonzero(k > max_exact)
        if big.size:
            out[big] = _compound_sum_approx(self.impacts, k[big].astype(float), rng, self.probs)
        return out


def _compound_sum_approx(
    values: np.ndarray, k: np.ndarray, rng: np.random.Generator, probs: np.ndarray | None = None
) -> np.ndarray:
    """Sums of k[i] i.i.d. draws from the empirical distribution ``values``, approximately:
    the translated gamma with the sum's exact mean, variance and skewness (k mu, k s^2,
    k m3), the actuarial standard for aggregate losses.  Its quantiles are off by O(1/k)
    relative to the sum's spread (a normal's by O(1/sqrt k)); with k > 50 that is far below
    the year's sampling noise.  Normal when the skewness is not positive; clipped at 0."""
    mu = float(np.average(values, weights=probs))
    var = float(np.average((values - mu) ** 2, weights=probs))
    m3 = float(np.average((values - mu) ** 3, weights=probs))
    if var <= 0.0:
        return k * mu
    if m3 <= 0.0:
        return np.maximum(rng.normal(k * mu, np.sqrt(k * var)), 0.0)
    shape = 4.0 * k * var**3 / m3**2
    scale = m3 / (2.0 * var)
    shift = k * mu - 2.0 * k * var**2 / m3
    return np.maximum(rng.gamma(shape, scale) + shift, 0.0)


def annual_impacts(
    results: RegionResults,
    n_years: int,
    rng: np.random.Generator,
    *,
    max_exact: int = MAX_EXACT_EVENTS,
) -> np.ndarray:
    """Impacts (region-traffic-minutes) of ``n_years`` simulated region-years.

    A region-year is n_w independent region-windows (:func:`windows_per_year`): the number
    of event windows K ~ Binomial(n_w, p_region_window), and their impacts are drawn with
    replacement from the observed impacts of the event windows (each the sum over its cells,
    so simultaneous events in a shock stay together).  Exact for integer n_w.  For
    fractional n_w = w + f, K = Binomial(w, p) + Bernoulli(f p): the year's last, partial
    window has an event with probability in proportion to its length (exact when events are
    rare, where p is proportional to T), which keeps E[K] = n_w p exactly.  A year with
    K > ``max_exact`` gets the translated-gamma approximation of its sum (same mean,
    variance and skewness; see :func:`_compound_sum_approx`), so a year never costs more
    than ``max_exact`` draws: such years only occur where events are common and the sum is
    nearly normal.
    """
    return _YearModel.of(results).years(n_years, rng, max_exact)


def _n_years(model: _YearModel) -> int:
    """Years per simulation: as many as :data:`YEAR_DRAW_BUDGET` draws allow."""
    per_year = min(model.expected_events(), MAX_EXACT_EVENTS) + 1.0
    return int(np.clip(YEAR_DRAW_BUDGET / per_year, MIN_YEARS, MAX_YEARS))


def _tail(years: np.ndarray) -> tuple[float, float]:
    """(VaR, CVaR) at :data:`TAIL_LEVEL`: the quantile (numpy's default, linear
    interpolation), and the mean of the worst ceil((1 - level) n) years (the CVaR of the
    empirical distribution); one partition for both."""
    n = years.size
    h = TAIL_LEVEL * (n - 1)
    i = math.floor(h)
    top = max(1, math.ceil((1.0 - TAIL_LEVEL) * n))
    part = np.partition(years, sorted({i, min(i + 1, n - 1), n - top}))
    var = float(part[i] + (h - i) * (part[min(i + 1, n - 1)] - part[i]))
    return var, float(part[n - top :].mean())


def _exceed(years: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """P(annual impact > x) for each threshold x (one search per year in the sorted
    thresholds, instead of sorting the years)."""
    order = np.argsort(thresholds, kind="stable")
    below = np.bincount(np.searchsorted(thresholds[order], years, side="left"), minlength=order.size + 1)
    exceed = np.empty(order.size)
    exceed[order] = (years.size - np.cumsum(below)[:-1]) / years.size  # slot <= t: years <= x_t
    return exceed


@dataclass(frozen=True)
class _YearSummary:
    thresholds: np.ndarray
    exceed: list[Estimate]
    p99: Estimate
    cvar99: Estimate


def _rng_kw(rng: np.random.Generator) -> dict[str, np.random.Generator]:
    """scipy.stats.bootstrap's generator keyword: ``rng`` (scipy >= 1.15) or ``random_state``."""
    if "rng" in inspect.signature(scipy.stats.bootstrap).parameters:
        return {"rng": rng}
    return {"random_state": rng}


def _default_thresholds(years: np.ndarray, points: int = 24) -> np.ndarray:
    """0 and ``points`` log-spaced thresholds from the smallest positive to the largest
    simulated annual impact."""
    pos = years[years > 0]
    if pos.size == 0:
        return np.zeros(1)
    lo, hi = float(pos.min()), float(pos.max())
    grid = np.geomspace(lo, hi, points) if hi > lo else np.array([lo])
    return np.concatenate([[0.0], grid])


def _year_summary(
    results: RegionResults,
    thresholds: Sequence[float] | None,
    n_resamples: int,
    bounds: tuple[float, float],
) -> _YearSummary:
    """The annual tail and exceedance probabilities with bootstrap intervals (cached).

    ``bounds``: (p_region_year_hi, impact_per_year_hi), for the zero-event bounds."""
    key = (None if thresholds is None else tuple(float(x) for x in thresholds), n_resamples, bounds)
    if key in results._cache:
        return results._cache[key]  # type: ignore[no-any-return]
    model = _YearModel.of(results)
    n_years = _n_years(model)
    years = model.years(n_years, stream(results.seed, 0, Purpose.REGION, _SUB_YEARS))
    thr = _default_thresholds(years) if thresholds is None else np.asarray(thresholds, float)
    p99, cvar = _tail(years)
    exceed = _exceed(years, thr)
    if model.impacts.size == 0:
        p_year_hi, per_year_hi = bounds
        cvar_hi = per_year_hi / (1.0 - TAIL_LEVEL)
        var_hi = 0.0 if p_year_hi <= 1.0 - TAIL_LEVEL else cvar_hi
        why = "no events: Markov bound E[annual impact]/0.01 from impact_per_year_min_hi"
        summary = _YearSummary(
            thr,
            [
                Estimate(
                    float(e), ConfidenceInterval(0.0, p_year_hi), "no events: bounded by p_region_year_hi"
                )
                for e in exceed
            ],
            Estimate(p99, ConfidenceInterval(0.0, var_hi), why),
            Estimate(cvar, ConfidenceInterval(0.0, cvar_hi), why),
        )
        results._cache[key] = summary
        return summary
    year_rng = stream(results.seed, 0, Purpose.REGION, _SUB_YEAR_BOOT_YEARS)

    def statistic(rows: np.ndarray) -> np.ndarray:
        sub = _YearModel.of(results, rows)
        y = sub.years(n_years, year_rng)
        return np.concatenate([_tail(y), _exceed(y, thr)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        boot = scipy.stats.bootstrap(
            (np.arange(results.n),),
            statistic,
            n_resamples=n_resamples,
            vectorized=False,
            confidence_level=CONFIDENCE,
            method="percentile",
            batch=10,  # resampled index arrays of 10 x n, not n_resamples x n
            **_rng_kw(stream(results.seed, 0, Purpose.REGION, _SUB_YEAR_BOOT)),
        )
    lo = np.atleast_1d(boot.confidence_interval.low)
    hi = np.atleast_1d(boot.confidence_interval.high)
    se = np.atleast_1d(boot.standard_error)
    method = (
        f"bootstrap-percentile ({n_resamples} resamples of region-windows, {n_years} simulated years each)"
    )
    point = np.concatenate([[p99, cvar], exceed])
    # the point estimate and the resamples use different year draws: keep it inside
    lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    ests = [
        Estimate(float(v), ConfidenceInterval(float(a), float(b)), method, float(s))
        for v, a, b, s in zip(point, lo, hi, se, strict=True)
    ]
    summary = _YearSummary(thr, ests[2:], ests[0], ests[1])
    results._cache[key] = summary
    return summary


# -- estimates ---------------------------------------------------------------------------------


def _scaled(e: Estimate, factor: float, method: str | None = None) -> Estimate:
    ci = e.confidence_interval
    return Estimate(
        e.estimate * factor,
        ConfidenceInterval(ci.low * factor, ci.high * factor),
        e.method if method is None else method,
        e.standard_error * factor,
    )


def _nan(method: str) -> Estimate:
    nan = float("nan")
    return Estimate(nan, ConfidenceInterval(nan, nan), method)


def _impact_given_event(results: RegionResults) -> Estimate:
    """Mean impact per event: a ratio over the region-windows with an event (see the module
    docstring for the choice between BCa and ratio-t)."""
    has = results.events > 0
    m = int(has.sum())
    if m == 0:
        return _nan(f"n/a: no events in {results.n} region-windows (mean impact of an event undefined)")
    num = results.impact_min[has]
    den = results.events[has].astype(float)
    r = float(num.sum() / den.sum())
    if np.ptp(num / den) == 0:  # every window's events have the same mean impact
        return Estimate(
            r, ConfidenceInterval(r, r), "exact: every event window has the same mean impact", 0.0
        )
    if m == 1:
        return Estimate(r, ConfidenceInterval(0.0, math.inf), "n/a: one event window")
    if m > BCA_MAX_WINDOWS:
        e = est.ratio(num, den)
        ci = e.confidence_interval
        return Estimate(
            r,
            ConfidenceInterval(max(0.0, ci.low), ci.high),
            f"ratio-t (delta method over {m} region-windows with events)",
            e.standard_error,
        )

    def ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(a.sum(axis=axis) / b.sum(axis=axis))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        boot = scipy.stats.bootstrap(
            (num, den),
            ratio,
            paired=True,
            vectorized=True,
            n_resamples=BCA_RESAMPLES,
            batch=max(1, 1_000_000 // m),  # resample arrays of at most 1e6 entries
            confidence_level=CONFIDENCE,
            method="BCa",
            **_rng_kw(stream(results.seed, 0, Purpose.REGION, _SUB_IMPACT_BOOT)),
        )
    lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    return Estimate(
        r,
        ConfidenceInterval(lo, hi),
        f"bootstrap-bca ({BCA_RESAMPLES} resamples of the {m} region-windows with events)",
        float(boot.standard_error),
    )


def _t_note(results: RegionResults) -> str:
    return "; n_w = 8766 h / mean T (T sampled per window)" if results.window_sampled else ""


def year_probability(p_rw: Estimate, n_w: float, method: str, note: str = "") -> Estimate:
    """P(an event in a region-year) = 1 - (1 - p)^n_w from p_region_window, its bounds
    pushed through that increasing map (so the interval keeps p's coverage); ``method`` is
    p's interval method, ``note`` appended to the method text."""

    def to_year(p: float) -> float:
        return float(-math.expm1(n_w * math.log1p(-p))) if p < 1.0 else 1.0

    ci = p_rw.confidence_interval
    return Estimate(
        to_year(p_rw.estimate),
        ConfidenceInterval(to_year(ci.low), to_year(ci.high)),
        f"{method}, transformed: 1-(1-p)^n_w, n_w = {n_w:.6g}{note}",
    )


def _p_region_year(results: RegionResults, p_rw: Estimate, proportion_method: str) -> Estimate:
    """1 - (1 - p)^n_w, with the proportion's bounds pushed through that increasing map."""
    return year_probability(p_rw, windows_per_year(results), proportion_method, _t_note(results))


def _events_per_year(results: RegionResults) -> Estimate:
    """Events (all cells) per window-hour by :func:`riskmc.estimates.rate`, x 8766 h."""
    per_hour = est.rate(results.events, results.window_s / 3600.0)
    return _scaled(per_hour, HOURS_PER_YEAR, f"{per_hour.method}, x 8766 h")


def _impact_per_year(results: RegionResults, events_per_year: Estimate) -> Estimate:
    """8766 x impact per window-hour (= n_w x mean impact per window), ratio-t; with no event
    0 and the bound events_per_region_year_hi x E[R]/60."""
    if results.event_windows == 0:
        hi = events_per_year.confidence_interval.high * results.repair_mean_s / 60.0
        return Estimate(
            0.0,
            ConfidenceInterval(0.0, hi),
            "no events: bound events_per_region_year_hi x E[R]/60 (an event costs at most R/60)",
        )
    e = est.ratio(results.impact_min, results.window_s / 3600.0)
    ci = e.confidence_interval
    return Estimate(
        e.estimate * HOURS_PER_YEAR,
        ConfidenceInterval(max(0.0, ci.low * HOURS_PER_YEAR), ci.high * HOURS_PER_YEAR),
        f"t (ratio per window-hour x 8766 h = n_w x mean impact per region-window){_t_note(results)}",
        e.standard_error * HOURS_PER_YEAR,
    )


def _zero_event_bounds(results: RegionResults, proportion_method: str) -> tuple[float, float]:
    """(p_region_year_hi, impact_per_year_min_hi): the bounds of the annual tail and the
    exceedance probabilities when there is no event."""
    p_rw = est.proportion(results.event_windows, results.n, proportion_method)
    p_year = _p_region_year(results, p_rw, proportion_method)
    per_year = _impact_per_year(results, _events_per_year(results))
    return p_year.confidence_interval.high, per_year.confidence_interval.high


def _cells_per_event_window(results: RegionResults) -> Estimate:
    if results.event_windows == 0:
        return _nan(f"n/a: no events in {results.n} region-windows")
    e = est.mean(results.events[results.events > 0].astype(float))
    ci = e.confidence_interval
    top = float(results.cells.max())
    return Estimate(
        e.estimate,
        ConfidenceInterval(min(max(1.0, ci.low), top), max(1.0, min(top, ci.high))),
        "t over region-windows with events, clipped to [1, max C]",
        e.standard_error,
    )


def estimate_region(
    results: RegionResults,
    *,
    proportion_method: str = "wilson",
    n_resamples: int = YEAR_RESAMPLES,
) -> dict[str, Estimate]:
    """The region and year estimates of MODEL.md section 6 (names: :data:`REGION_ESTIMATES`),
    each with a 95% interval and its method (module docstring: which and why)."""
    p_rw = est.proportion(results.event_windows, results.n, proportion_method)
    p_year = _p_region_year(results, p_rw, proportion_method)
    events_per_year = _events_per_year(results)
    per_year = _impact_per_year(results, events_per_year)
    bounds = (p_year.confidence_interval.high, per_year.confidence_interval.high)
    year = _year_summary(results, None, n_resamples, bounds)
    return {
        "p_region_window": p_rw,
        "events_per_region_year": events_per_year,
        "p_region_year": p_year,
        "impact_given_event_min": _impact_given_event(results),
        "impact_per_year_min": per_year,
        "impact_per_year_p99_min": year.p99,
        "impact_per_year_cvar99_min": year.cvar99,
        "cells_per_event_window": _cells_per_event_window(results),
    }


def exceedance_table(
    results: RegionResults,
    thresholds: Sequence[float] | None = None,
    *,
    n_resamples: int = YEAR_RESAMPLES,
    proportion_method: str = "wilson",
) -> list[dict[str, object]]:
    """P(annual impact > threshold) per threshold (region-traffic-minutes), non-increasing.

    Default thresholds: 0 and 24 log-spaced values from the smallest positive to the largest
    simulated annual impact.  Point: the fraction of the years simulated for the point
    estimates (:func:`annual_impacts`, same stream) above the threshold; interval: the
    percentile bootstrap over region-windows of :func:`estimate_region`, pointwise (with no
    event: [0, p_region_year_hi], since P(S > x) <= P(S > 0)).  After
    :func:`estimate_region`, the default table reuses its bootstrap.
    """
    bounds = _zero_event_bounds(results, proportion_method)
    year = _year_summary(results, thresholds, n_resamples, bounds)
    rows: list[dict[str, object]] = []
    for x, e in zip(year.thresholds, year.exceed, strict=True):
        rows.append(
            {
                "threshold_min": float(x),
                "p_exceed": e.estimate,
                "p_exceed_lo": e.confidence_interval.low,
                "p_exceed_hi": e.confidence_interval.high,
                "p_exceed_method": e.method,
            }
        )
    return rows


def events_table(results: RegionResults) -> list[dict[str, object]]:
    """One row per simulated event (:data:`EVENT_COLUMNS`), sorted by trial and cell.

    ``affected_endpoints`` lists the 0-based indices of the endpoints that pointed to a
    deleted plan at t*, comma-separated (the only per-event Python work: formatting)."""
    ev = results.event_list
    rows: list[dict[str, object]] = []
    for i in range(len(ev)):
        rows.append(
            {
                "trial": int(ev.trial[i]),
                "cell": int(ev.cell[i]),
                "time_s": float(ev.time_s[i]),
                "affected_endpoints": ",".join(map(str, np.flatnonzero(ev.affected[i]))),
                "affected_weight": float(ev.affected_weight[i]),
                "duration_s": float(ev.duration_s[i]),
                "impact_min": float(ev.impact_min[i]),
            }
        )
    return rows


def events_frame(results: RegionResults) -> pl.DataFrame:
    """:func:`events_table` as a typed polars frame (with its columns even when empty), ready
    for :func:`riskmc.tables.write_table`."""
    schema = {
        "trial": pl.Int64,
        "cell": pl.Int64,
        "time_s": pl.Float64,
        "affected_endpoints": pl.String,
        "affected_weight": pl.Float64,
        "duration_s": pl.Float64,
        "impact_min": pl.Float64,
    }
    return pl.DataFrame(events_table(results), schema=schema, orient="row")


def exceedance_frame(results: RegionResults, thresholds: Sequence[float] | None = None) -> pl.DataFrame:
    """:func:`exceedance_table` as a typed polars frame."""
    schema = {
        "threshold_min": pl.Float64,
        "p_exceed": pl.Float64,
        "p_exceed_lo": pl.Float64,
        "p_exceed_hi": pl.Float64,
        "p_exceed_method": pl.String,
    }
    return pl.DataFrame(exceedance_table(results, thresholds), schema=schema, orient="row")


def region_row(results: RegionResults, estimates: dict[str, Estimate]) -> dict[str, object]:
    """Columns to merge into the scenario row: counts, n_w, then each estimate of
    :data:`REGION_ESTIMATES` with ``_lo``, ``_hi`` and ``_method``.

    ``region_events`` counts events in every cell (the scenario row's ``events`` counts
    cell 0's, the trials behind ``p_cell_window``)."""
    row: dict[str, object] = {
        "region_windows": results.n,
        "cells_simulated": results.cells_simulated,
        "region_event_windows": results.event_windows,
        "region_events": results.total_events,
        "windows_per_region_year": windows_per_year(results),
    }
    for name in REGION_ESTIMATES:
        row.update(estimates[name].columns(name))
    return row


# -- one scenario, region included -------------------------------------------------------------


@dataclass
class RegionRun:
    """A scenario run with its region layer: what ``riskmc run`` needs.

    ``scenario`` is a :class:`~riskmc.scenario.ScenarioResult` whose estimates are the
    cell-level ones of a plain run followed by the region ones (so a summary printer that
    iterates ``scenario.estimates`` shows both); :meth:`row` is its row with the region
    columns of :func:`region_row` inserted after the cell estimates."""

    scenario: ScenarioResult
    results: RegionResults
    region_estimates: dict[str, Estimate]

    def row(self) -> dict[str, object]:
        base = self.scenario.row()
        extra = region_row(self.results, self.region_estimates)
        row: dict[str, object] = {}
        for key, value in base.items():
            if key == "rel_err":
                row.update(extra)
            if key not in extra:
                row[key] = value
        return row


def run_region_scenario(
    config: Config,
    *,
    trials: int | None = None,
    seed: int | None = None,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    progress: Callable[[int], None] | None = None,
    proportion_method: str = "wilson",
) -> RegionRun:
    """Simulate a scenario's region-windows (trials and seed default to the config's) and
    estimate everything (what ``riskmc run`` does).  Then ``exceedance_table(run.results)`` reuses the
    bootstrap of the estimates."""
    trials = config.trials if trials is None else trials
    seed = config.seed if seed is None else seed
    start = time.perf_counter()
    results = simulate_region(config, trials, seed, chunk_trials=chunk_trials, progress=progress)
    cell_estimates = estimate(results.cells_layer0, proportion_method)
    region_estimates = estimate_region(results, proportion_method=proportion_method)
    elapsed = time.perf_counter() - start
    scenario = ScenarioResult(
        config=config,
        trials=trials,
        seed=seed,
        events=int(np.sum(results.cells_layer0.event)),
        estimates={**cell_estimates, **region_estimates},
        elapsed_s=elapsed,
    )
    return RegionRun(scenario, results, region_estimates)
