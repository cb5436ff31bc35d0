"""Rare events: importance sampling on degraded runs, and a stopping rule.

At realistic parameters the empty-record event needs a *degraded* run (MODEL.md section 2,
step 3: probability ``degraded.prob`` per run, independently) and ``degraded.prob`` is tiny,
so plain Monte Carlo sees no event at all.  The estimator here (``is``) samples every run
of a cell-window as degraded with a larger probability q instead of p, and corrects with
the likelihood ratio.

**Why it is unbiased.** A run's degraded flag is drawn when the run starts, independently
of everything before it; whether a run starts at all depends only on what happened before
its flag is drawn.  So the flags revealed up to the end of a trial (the event t* or the
window's end T) are a stopped sequence of independent Bernoulli draws, and the likelihood
ratio of the model to the proposal over them is

    w = (p / q)^D * ((1 - p) / (1 - q))^(S - D)

with S the runs started and D the degraded ones among them (the engine counts both).
E_q[w * 1{event}] = P(event) exactly (Wald's likelihood-ratio identity for stopped
sequences); everything else in a trial (planner, wakes, write delays) is drawn as in the
model, from the same addresses, so a naive trial and its tilted twin share all their other
random numbers (with the same uniform u, a run degraded under p is degraded under q >= p).

**Why q = 1 / S-bar.** When an event needs one degraded run among the S of a window and
P(event | one degraded run) does not depend much on which, the second moment of the
estimator is proportional to p^2 S / (q (1 - q)^(S - 1)), smallest at q = 1 / S.  S-bar,
the mean runs started per cell-window, comes from a pilot run of :data:`PILOT_TRIALS`
trials on its own seed (address ``(seed; 0, PILOT)``, so the proposal does not depend on
the main trials' random numbers).  The relative error of the estimator then does not grow
as p -> 0 (the weights scale with p; their spread does not): the cost of a 10% estimate is
the same at p = 1e-6 and at 1e-12 (README: benchmark).  Rows where p >= q (a common-cause
shock's degraded probability, say) and rows with p = 0 are not tilted (weight 1).

**Intervals.** p_cell_window: the mean of w * 1{event} with the Wilson interval at the
effective sample size (:func:`riskmc.estimates.weighted_proportion`); ``ess`` is that
effective size and ``effective_hits`` Kish's over the hits.  Ratios (plan age, runs per
hour, impact per event): self-normalised weighted ratios with the delta-method t interval.

**The region.** Windows the proposal leaves untilted (weight 1: every window of a naive
run, and windows whose degraded probability is already >= q, such as a shock's) have
every cell simulated, as :func:`riskmc.region.simulate_region` does.  Tilted windows
simulate cell 0 only (a C-fold saving): given a window's sampled parameters and shock its
C cells are exchangeable, so E[events in the window] = E[C * H_0] and E[its impact] =
E[C * impact_0] (H_0, impact_0: cell 0's event and impact), exactly; for P(any event) and
the cells per event window, C * H_0 is the first-order value (>= P(any) there, equal up to
O(C^2 p^2) when events are rare and the cells independent), and the method says so.  The
annual tail (p99, CVaR) uses the compound year model of :mod:`riskmc.region` with the
weighted event windows.

:func:`run_adaptive` adds whole blocks until the stopping rule holds (``target_rel_err``
with at least ``min_hits`` effective hits), or ``max_seconds`` or ``max_trials`` is reached;
the rule is checked at every block boundary on moments merged in block order, so a run
stopped by the target always ends at the same trial count for a seed, whatever the
chunking, and reports the very estimate the rule accepted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from riskmc import estimates as est
from riskmc.config import Config
from riskmc.draws import ChunkDraws
from riskmc.engine import CellResults, simulate_cells
from riskmc.estimates import ConfidenceInterval, Estimate
from riskmc.params import TrialParams, concat, sample_block
from riskmc.region import (
    REGION_ESTIMATES,
    YEAR_RESAMPLES,
    _n_years,
    _nan,
    _repair_durations,
    _scaled,
    _tail,
    _YearModel,
    year_probability,
)
from riskmc.scenario import HOURS_PER_YEAR, ScenarioResult
from riskmc.streams import BLOCK_TRIALS, Purpose, seed_sequence, stream

__all__ = [
    "AUTO_IS_BELOW",
    "ESTIMATORS",
    "CellSample",
    "Proposal",
    "RareRun",
    "estimate_sample",
    "resolve_estimator",
    "run_adaptive",
    "simulate_sample",
    "window_impacts",
]

#: ``--estimator`` values.
ESTIMATORS = ("auto", "naive", "is")
#: ``auto`` chooses importance sampling when the expected number of degraded runs per
#: cell-window is below this (events that need a degraded run are then rarer still).
AUTO_IS_BELOW = 0.1
#: ``auto`` keeps the naive estimator when the pilot itself sees this many events.
AUTO_NAIVE_HITS = 10
#: Trials of the pilot run that sets the proposal.
PILOT_TRIALS = 1000
#: Largest tilted degraded probability.
MAX_TILT = 0.5
#: Stopping rule defaults.
DEFAULT_MIN_HITS = 10
DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_TRIALS = 100_000_000
#: Blocks simulated between two looks at the clock (the rule itself is checked per block).
MAX_CHUNK_BLOCKS = 4

# Sub-addresses of the estimation streams (seed; 0, REGION, k): distinct from region.py's.
_SUB_IS_YEARS = 11
_SUB_IS_YEAR_BOOT = 12


# -- the proposal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """Every run of a cell-window is degraded with probability max(p, q) instead of p
    (rows with p = 0 stay at 0)."""

    q: float
    runs_per_window: float  # the pilot's mean runs started per cell-window

    @property
    def label(self) -> str:
        return f"importance sampling (degraded runs at q = {self.q:.3g})"

    def _raise(self, p: np.ndarray) -> np.ndarray:
        return np.where(p > 0, np.maximum(p, self.q), p)

    def tilt(self, params: TrialParams) -> TrialParams:
        """The parameters to simulate under: the model's, degraded probabilities raised."""
        return replace(
            params,
            base_degraded_prob=self._raise(params.base_degraded_prob),
            shock_degraded_prob=self._raise(params.shock_degraded_prob),
        )

    @staticmethod
    def log_weights(
        params: TrialParams, tilted: TrialParams, runs_started: np.ndarray, runs_degraded: np.ndarray
    ) -> np.ndarray:
        """log w per row: D log(p/q) + (S - D) log((1-p)/(1-q)); 0 where p == q."""
        p, q = params.degraded_prob, tilted.degraded_prob
        d = runs_degraded.astype(float)
        ok = (runs_started - runs_degraded).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_deg = np.where(d > 0, d * (np.log(p) - np.log(q)), 0.0)
            log_ok = np.where(ok > 0, ok * (np.log1p(-p) - np.log1p(-q)), 0.0)
        return np.where(p == q, 0.0, log_deg + log_ok)


def pilot_seed(seed: int) -> int:
    """The seed of the pilot run: from the address (seed; 0, PILOT), unrelated to the main trials."""
    return int(seed_sequence(seed, 0, Purpose.PILOT).generate_state(1)[0])


def _pilot(config: Config, seed: int, trials: int = PILOT_TRIALS) -> tuple[float, float, int]:
    """(mean runs started, mean expected degraded runs, events) per cell-window of a naive
    pilot on its own seed."""
    s = pilot_seed(seed)
    params = sample_block(config, s, 0)
    cells = simulate_cells(params, ChunkDraws(s, [0], [params]), n_used=trials)
    runs = cells.runs_started[:trials].astype(float)
    expected_degraded = float(np.mean(runs * params.degraded_prob[:trials]))
    return float(runs.mean()), expected_degraded, int(np.count_nonzero(cells.event[:trials]))


def resolve_estimator(config: Config, seed: int, requested: str) -> tuple[str, Proposal | None]:
    """The estimator to use and its proposal (q = 1 / the pilot's mean runs per cell-window).

    ``auto`` picks ``is`` when the pilot expects fewer than :data:`AUTO_IS_BELOW` degraded
    runs per cell-window (but more than 0: at p = 0 there is nothing to tilt) and sees fewer
    than :data:`AUTO_NAIVE_HITS` events (events that do not need a degraded run, such as
    heavy-tailed latencies alone, are common enough for plain Monte Carlo, which the
    proposal would only add variance to); else ``naive``.
    """
    if requested not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {requested!r}")
    if requested == "naive":
        return "naive", None
    runs, degraded, events = _pilot(config, seed)
    proposal = Proposal(min(MAX_TILT, 1.0 / runs) if runs > 0 else MAX_TILT, runs)
    if requested == "is" or (0.0 < degraded < AUTO_IS_BELOW and events < AUTO_NAIVE_HITS):
        return "is", proposal
    return "naive", None


# -- sampling ----------------------------------------------------------------------------------


@dataclass(eq=False)
class CellSample:
    """Region-windows [0, n): cell 0 of each, and the window totals (module docstring)."""

    log_weight: np.ndarray  # log likelihood ratio (0 for the naive estimator)
    event: np.ndarray  # bool
    cells: np.ndarray  # int64: C of the region-window
    window_s: np.ndarray
    impact_min: np.ndarray  # cell 0's event impact w R / (60 C); 0 without an event
    mean_plan_age_s: np.ndarray
    runs_started: np.ndarray
    runs_abandoned: np.ndarray
    runs_degraded: np.ndarray
    observed_s: np.ndarray
    tilted: np.ndarray  # bool: the proposal raised this row's degraded probability
    window_events: np.ndarray  # int64: events in every cell of an untilted row; cell 0's if tilted
    window_impact_min: np.ndarray  # their impact: the window's total (untilted), cell 0's (tilted)

    @property
    def n(self) -> int:
        return int(self.event.size)

    @property
    def weight(self) -> np.ndarray:
        return np.exp(self.log_weight)

    @staticmethod
    def concat(parts: Sequence[CellSample]) -> CellSample:
        names = [f.name for f in fields(CellSample)]
        return CellSample(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})

    def take(self, rows: slice) -> CellSample:
        return CellSample(**{f.name: getattr(self, f.name)[rows] for f in fields(CellSample)})


def simulate_sample(
    config: Config,
    seed: int,
    blocks: Sequence[int],
    used: int,
    proposal: Proposal | None,
    *,
    all_cells: bool = True,
) -> CellSample:
    """Region-windows [first row, ``used``) of ``blocks`` (consecutive) under the proposal
    (or the model when None): cell 0 of every window, and every other cell of the windows
    the proposal leaves untilted (weight 1: all of them for the naive estimator), exactly as
    :func:`riskmc.region.simulate_region` simulates them (same layers, same repair draws).
    Each block's rows depend only on the seed and the block, so any grouping of blocks
    gives the same rows.  ``all_cells`` False: cell 0 only (the window totals are then cell
    0's), for what needs p_cell_window alone (calibration)."""
    blocks = list(blocks)
    block_params = [sample_block(config, seed, b) for b in blocks]
    params = concat(block_params)
    sim_blocks = block_params if proposal is None else [proposal.tilt(p) for p in block_params]
    sim_params = concat(sim_blocks)
    res = simulate_cells(sim_params, ChunkDraws(seed, blocks, sim_blocks), n_used=used)
    if proposal is None:
        log_w = np.zeros(params.n)
    else:
        log_w = Proposal.log_weights(params, sim_params, res.runs_started, res.runs_degraded)
    tilted = sim_params.degraded_prob != params.degraded_prob

    def impact(layer: int, cells: CellResults) -> np.ndarray:
        repair = _repair_durations(seed, blocks, block_params, layer)
        return np.where(cells.event, cells.affected_weight * repair / (60.0 * params.cells), 0.0)

    impact0 = impact(0, res)
    window_events = res.event.astype(np.int64)
    window_impact = impact0.copy()
    in_use = (np.arange(params.n) < used) & all_cells
    c = 1
    while np.any(active := in_use & ~tilted & (params.cells > c)):
        layer = simulate_cells(sim_params, ChunkDraws(seed, blocks, sim_blocks, layer=c), used, active)
        hit = active & layer.event
        window_events += hit
        window_impact += np.where(hit, impact(c, layer), 0.0)
        c += 1
    rows = slice(0, used)
    return CellSample(
        log_weight=log_w[rows],
        event=res.event[rows],
        cells=params.cells[rows].astype(np.int64),
        window_s=params.window_s[rows],
        impact_min=impact0[rows],
        mean_plan_age_s=res.mean_plan_age_s[rows],
        runs_started=res.runs_started[rows],
        runs_abandoned=res.runs_abandoned[rows],
        runs_degraded=res.runs_degraded[rows],
        observed_s=res.observed_s[rows],
        tilted=tilted[rows],
        window_events=window_events[rows],
        window_impact_min=window_impact[rows],
    )


# -- estimates ---------------------------------------------------------------------------------


def _clip0(e: Estimate) -> Estimate:
    ci = e.confidence_interval
    return Estimate(e.estimate, ConfidenceInterval(max(0.0, ci.low), ci.high), e.method, e.standard_error)


@dataclass(frozen=True)
class SampleEstimates:
    """The estimates of a :class:`CellSample` and the diagnostics of p_cell_window."""

    estimates: dict[str, Estimate]
    ess: float
    effective_hits: float
    hits: int


def p_cell_window(
    sample: CellSample, estimator: str, label: str, proportion_method: str = "wilson"
) -> est.WeightedProportion:
    """p_cell_window: the plain proportion (naive) or the weighted one (importance sampling)."""
    return p_cell_window_of(
        est.WeightedMoments.of(sample.weight * sample.event, sample.event),
        estimator,
        label,
        proportion_method,
    )


def p_cell_window_of(
    moments: est.WeightedMoments, estimator: str, label: str, proportion_method: str = "wilson"
) -> est.WeightedProportion:
    """:func:`p_cell_window` from the moments of w x 1{event} (merged block by block)."""
    if estimator == "naive":
        e = est.proportion(moments.hits, moments.n, proportion_method)
        return est.WeightedProportion(e, moments.hits, moments.n, float(moments.n), float(moments.hits))
    return est.weighted_proportion_of(moments, label)


def estimate_sample(
    sample: CellSample,
    estimator: str,
    proposal: Proposal | None,
    seed: int,
    *,
    proportion_method: str = "wilson",
    n_resamples: int = YEAR_RESAMPLES,
    p: est.WeightedProportion | None = None,
) -> SampleEstimates:
    """The estimates of MODEL.md section 6 (module docstring: the cell ones from cell 0, the
    region ones from every cell of untilted windows and by exchangeability in tilted ones).
    ``p``: p_cell_window when the caller has it (the stopping rule's, to the last bit)."""
    label = proposal.label if proposal is not None else "naive"
    w = sample.weight
    hours = sample.observed_s / 3600.0
    if p is None:
        p = p_cell_window(sample, estimator, label, proportion_method)
    cell: dict[str, Estimate]
    if estimator == "naive":
        cell = {
            "p_cell_window": p.estimate,
            "mean_plan_age_s": est.mean(sample.mean_plan_age_s),
            "runs_per_hour": est.rate(sample.runs_started, hours),
            "abandoned_runs_per_hour": est.rate(sample.runs_abandoned, hours),
        }
    else:
        sn = f"{label}: self-normalised ratio, delta-method t"

        def per_hour(counts: np.ndarray) -> Estimate:
            if not counts.any():  # no count at all: the ratio's interval would be [0, 0]
                bound = est.poisson_rate(0, float(hours.sum())).confidence_interval.high
                return Estimate(
                    0.0,
                    ConfidenceInterval(0.0, bound),
                    f"{label}: none in the sample; exact Poisson bound on its exposure (approximate: "
                    "the exposure was observed under the proposal)",
                )
            return _clip0(est.ratio(w * counts, w * hours, sn))

        cell = {
            "p_cell_window": p.estimate,
            "mean_plan_age_s": est.ratio(w * sample.mean_plan_age_s, w, sn),
            "runs_per_hour": per_hour(sample.runs_started),
            "abandoned_runs_per_hour": per_hour(sample.runs_abandoned),
        }
    region = _region_estimates(sample, p, label, seed, n_resamples)
    return SampleEstimates({**cell, **region}, p.ess, p.effective_hits, p.hits)


@dataclass(frozen=True)
class _WindowValues:
    """Per region-window values whose weighted means are the region's expectations.

    Untilted rows (all cells simulated): the window's events, whether it has any, its
    impact.  Tilted rows (cell 0 only): C x cell 0's event and impact, by exchangeability
    (E[events] = E[C H_0] exactly; for P(any event) this is the first-order value, exact
    up to O(C^2 p^2) when events are rare and the window's cells independent)."""

    events: np.ndarray  # E[.] = expected events per region-window
    any: np.ndarray  # E[.] = P(an event in the window), first order in tilted rows
    impact: np.ndarray  # E[.] = expected impact per region-window
    mass: np.ndarray  # weight of the row as an event window in the year model
    window_impact: np.ndarray  # impact of the row as an event window

    @classmethod
    def of(cls, sample: CellSample) -> _WindowValues:
        w, c, t = sample.weight, sample.cells.astype(float), sample.tilted
        events = w * np.where(t, c * sample.event, sample.window_events)
        any_ = w * np.where(t, c * sample.event, sample.window_events > 0)
        impact = w * np.where(t, c * sample.impact_min, sample.window_impact_min)
        window_impact = np.where(t, sample.impact_min, sample.window_impact_min)
        return cls(events, any_, impact, any_, window_impact)


def window_impacts(sample: CellSample) -> np.ndarray:
    """Per region-window w x impact (untilted: the window's total; tilted: C x cell 0's):
    their mean is the expected impact per region-window (pairable across scenarios that
    share the trials and the proposal)."""
    return _WindowValues.of(sample).impact


def _region_estimates(
    sample: CellSample, p_cell: est.WeightedProportion, label: str, seed: int, n_resamples: int
) -> dict[str, Estimate]:
    v = _WindowValues.of(sample)
    window_h = sample.window_s / 3600.0
    n_w = HOURS_PER_YEAR / float(window_h.mean())
    any_tilted = bool(sample.tilted.any())
    windows = np.flatnonzero(v.any > 0)
    exch = f"{label}; tilted windows by exchangeable cells (C x cell 0)" if any_tilted else label
    if windows.size == 0:
        # no event: bounds from p_cell_window's upper end (an event costs at most R/60)
        hi = min(1.0, p_cell.estimate.confidence_interval.high * float(sample.cells.max()))
        p_rw = Estimate(0.0, ConfidenceInterval(0.0, hi), f"{label}; no event: max C x p_cell_window_hi")
    elif not any_tilted:
        p_rw = est.proportion(int(windows.size), sample.n)
    else:
        wp = est.weighted_proportion(v.any, v.any > 0, exch).estimate
        ci = wp.confidence_interval
        p_rw = Estimate(
            min(wp.estimate, 1.0),
            ConfidenceInterval(min(ci.low, 1.0), min(ci.high, 1.0)),
            wp.method + "; first order in tilted windows (>= P(any event) there)",
            wp.standard_error,
        )

    p_year = year_probability(p_rw, n_w, "p_region_window's interval")
    if windows.size == 0:
        per_year = _scaled(p_rw, n_w, f"{label}; no event: n_w x p_region_window_hi")
        impact_year = Estimate(0.0, ConfidenceInterval(0.0, math.inf), "no event: no bound on the impact")
        given = _nan("n/a: no event")
        p99 = cvar = Estimate(0.0, ConfidenceInterval(0.0, math.inf), "no event: no bound")
        cells = _nan("n/a: no event")
    else:
        ratio_method = f"{exch}; ratio per window-hour x 8766 h, delta-method t"
        per_year = _clip0(_scaled(est.ratio(v.events, window_h), HOURS_PER_YEAR, ratio_method))
        impact_year = _clip0(_scaled(est.ratio(v.impact, window_h), HOURS_PER_YEAR, ratio_method))
        given_e = est.ratio(v.impact, v.events, f"{exch}; ratio over events, delta-method t")
        given = (
            _clip0(given_e)
            if windows.size > 1
            else Estimate(given_e.estimate, ConfidenceInterval(0.0, math.inf), "n/a: one event window")
        )
        cells_e = est.ratio(v.events, v.any, f"{exch}; events / event windows, delta-method t")
        top = float(sample.cells.max())
        cci = cells_e.confidence_interval
        cells = Estimate(
            cells_e.estimate,
            ConfidenceInterval(min(max(1.0, cci.low), top), max(1.0, min(top, cci.high))),
            cells_e.method + ", clipped to [1, max C]",
            cells_e.standard_error,
        )
        p99, cvar = _tail_estimates(v, n_w, p_rw, seed, n_resamples, exch)
    return {
        "p_region_window": p_rw,
        "events_per_region_year": per_year,
        "p_region_year": p_year,
        "impact_given_event_min": given,
        "impact_per_year_min": impact_year,
        "impact_per_year_p99_min": p99,
        "impact_per_year_cvar99_min": cvar,
        "cells_per_event_window": cells,
    }


def _tail_estimates(
    v: _WindowValues, n_w: float, p_rw: Estimate, seed: int, n_resamples: int, label: str
) -> tuple[Estimate, Estimate]:
    """p99 and CVaR_0.99 of the annual impact: K ~ Binomial(n_w, p_region_window) event
    windows a year, their impacts drawn from the event windows' impacts with probabilities
    in proportion to their weights (a tilted window counts C times, with cell 0's impact:
    one event per window, the first-order model).  Interval: a parametric bootstrap, p ~
    Normal(p, SE) clipped to [0, 1] and the event windows resampled with their weights;
    every draw from (seed; 0, REGION, ...)."""
    hits = np.flatnonzero(v.any > 0)
    values = v.window_impact[hits]
    mass = v.mass[hits]
    model = _YearModel(n_w, min(p_rw.estimate, 1.0), values, mass / mass.sum())
    n_years = _n_years(model)
    point = _tail(model.years(n_years, stream(seed, 0, Purpose.REGION, _SUB_IS_YEARS)))
    rng = stream(seed, 0, Purpose.REGION, _SUB_IS_YEAR_BOOT)
    boot = np.empty((n_resamples, 2))
    se = p_rw.standard_error if math.isfinite(p_rw.standard_error) else 0.0
    for b in range(n_resamples):  # a loop over resamples, each vectorized over its years
        pick = rng.integers(0, hits.size, hits.size)
        m = mass[pick]
        p_b = min(max(rng.normal(p_rw.estimate, se), 0.0), 1.0)
        boot[b] = _tail(_YearModel(n_w, p_b, values[pick], m / m.sum()).years(n_years, rng))
    lo = np.minimum(np.quantile(boot, 0.025, axis=0), point)
    hi = np.maximum(np.quantile(boot, 0.975, axis=0), point)
    method = (
        f"{label}; compound year model, {n_years} years; parametric bootstrap "
        f"({n_resamples} resamples of p and of the {hits.size} event windows)"
    )
    sd = boot.std(axis=0, ddof=1)
    return (
        Estimate(float(point[0]), ConfidenceInterval(float(lo[0]), float(hi[0])), method, float(sd[0])),
        Estimate(float(point[1]), ConfidenceInterval(float(lo[1]), float(hi[1])), method, float(sd[1])),
    )


# -- the stopping rule -------------------------------------------------------------------------


@dataclass
class RareRun:
    """A run of :func:`run_adaptive`: the scenario result (row, summary) and its sample."""

    scenario: ScenarioResult
    sample: CellSample
    proposal: Proposal | None
    stopped_by: str
    target_rel_err: float | None
    min_hits: int
    effective_hits: float

    def row(self) -> dict[str, object]:
        """The ``riskmc run`` row: identification, estimates (cell, then region), stopping."""
        base = self.scenario.row()
        smp = self.sample
        extra: dict[str, object] = {
            "region_windows": smp.n,
            # cell 0 of every window, every cell of the untilted ones
            "cells_simulated": int(smp.n + np.sum(np.where(smp.tilted, 0, smp.cells - 1))),
            "region_event_windows": int(np.count_nonzero(smp.window_events)),
            "region_events": int(smp.window_events.sum()),
            "windows_per_region_year": HOURS_PER_YEAR / float(smp.window_s.mean() / 3600.0),
        }
        for name in REGION_ESTIMATES:
            extra.update(self.scenario.estimates[name].columns(name))
        stopping: dict[str, object] = {
            "stopped_by": self.stopped_by,
            "target_rel_err": self.target_rel_err if self.target_rel_err is not None else float("nan"),
            "min_hits": self.min_hits,
            "effective_hits": self.effective_hits,
            "proposal_q": self.proposal.q if self.proposal is not None else float("nan"),
        }
        row: dict[str, object] = {}
        for key, value in base.items():
            if key == "rel_err":
                row.update(extra)
            if key in extra:
                continue
            row[key] = value
            if key == "elapsed_s":
                row.update(stopping)
        return row


def run_adaptive(
    config: Config,
    *,
    estimator: str = "auto",
    target_rel_err: float | None = None,
    max_seconds: float | None = None,
    max_trials: int | None = None,
    min_hits: int = DEFAULT_MIN_HITS,
    seed: int | None = None,
    proportion_method: str = "wilson",
    progress: Callable[[int, float], None] | None = None,
    n_resamples: int = YEAR_RESAMPLES,
    resolved: tuple[str, Proposal | None] | None = None,
) -> RareRun:
    """Simulate cell 0 of region-windows block by block until the stopping rule holds.

    Without ``target_rel_err`` the run takes ``max_trials`` trials (default: the config's).
    With it, the run stops at the first block boundary where p_cell_window's relative error
    is at most the target and it has at least ``min_hits`` hits; or when ``max_trials``
    (default :data:`DEFAULT_MAX_TRIALS`) or ``max_seconds`` (default
    :data:`DEFAULT_MAX_SECONDS` with a target) is reached.  ``progress(trials_added,
    rel_err)`` is called after each chunk.  ``resolved``: the result of
    :func:`resolve_estimator` when the caller already has it (skips a second pilot).
    """
    seed = config.seed if seed is None else seed
    start = time.perf_counter()
    if target_rel_err is not None and not target_rel_err > 0:
        raise ValueError("target_rel_err must be > 0")
    if target_rel_err is None:
        limit = config.trials if max_trials is None else max_trials
    else:
        limit = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
        max_seconds = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    if limit < 1:
        raise ValueError("max_trials must be >= 1")
    name, proposal = resolve_estimator(config, seed, estimator) if resolved is None else resolved
    label = proposal.label if proposal is not None else "naive"
    parts: list[CellSample] = []
    moments = est.WeightedMoments()
    n, block = 0, 0
    per_block_s: float | None = None
    stopped_by = ""
    rel_err = math.inf
    while not stopped_by:
        if n >= limit:
            stopped_by = "max-trials" if target_rel_err is not None else "trials"
            break
        # one block first (to time it), then up to MAX_CHUNK_BLOCKS between looks at the clock
        k = min(MAX_CHUNK_BLOCKS if per_block_s is not None else 1, -(-(limit - n) // BLOCK_TRIALS))
        if target_rel_err is not None and math.isfinite(rel_err) and n > 0:
            needed = n * (rel_err / target_rel_err) ** 2 - n  # trials still needed, by 1/sqrt(n)
            k = min(k, max(1, math.ceil(needed / BLOCK_TRIALS)))
        if max_seconds is not None and per_block_s is not None:
            k = min(k, int((max_seconds - (time.perf_counter() - start)) / per_block_s))
            if k < 1:
                stopped_by = "max-seconds"
                break
        used = min(limit - n, k * BLOCK_TRIALS)
        t0 = time.perf_counter()
        part = simulate_sample(config, seed, range(block, block + k), used, proposal)
        elapsed = time.perf_counter() - t0
        per_block_s = elapsed / k if per_block_s is None else max(per_block_s * 0.5 + elapsed / k * 0.5, 1e-9)
        kept = 0
        for j in range(k):  # the rule, at each block boundary, on moments merged block by block
            rows = slice(j * BLOCK_TRIALS, min(used, (j + 1) * BLOCK_TRIALS))
            moments = moments.merge(
                est.WeightedMoments.of(part.weight[rows] * part.event[rows], part.event[rows])
            )
            kept = rows.stop
            if target_rel_err is None:
                continue
            p = p_cell_window_of(moments, name, label, proportion_method)
            rel_err = p.estimate.rel_err
            if rel_err <= target_rel_err and p.effective_hits >= min_hits:
                stopped_by = "target"
                break
        parts.append(part.take(slice(0, kept)))
        n += kept
        block += k
        if progress is not None:
            progress(kept, rel_err)
        if not stopped_by and max_seconds is not None and time.perf_counter() - start >= max_seconds:
            stopped_by = "max-seconds"
    sample = CellSample.concat(parts)
    result = estimate_sample(
        sample,
        name,
        proposal,
        seed,
        proportion_method=proportion_method,
        n_resamples=n_resamples,
        p=p_cell_window_of(moments, name, label, proportion_method),
    )
    scenario = ScenarioResult(
        config=config,
        trials=sample.n,
        seed=seed,
        events=result.hits,
        estimates=result.estimates,
        elapsed_s=time.perf_counter() - start,
        estimator=name,
        ess=result.ess,
    )
    return RareRun(scenario, sample, proposal, stopped_by, target_rel_err, min_hits, result.effective_hits)
