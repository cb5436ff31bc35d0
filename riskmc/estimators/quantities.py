"""The estimates of docs/model.md section 8 from a window sample, each with a 95% interval
and the method that gave it: one implementation for every estimator (weights of 1 are plain
Monte Carlo).

Per region-window i (C_i cells, weight w_i, events e_i of which e_i^A had no degraded run in
their cell): p_cell_window is the mean of w e / C (cells of a window are exchangeable, so this
is P(event in a given cell), using every cell), p_region_window the mean of w 1{e > 0}, the
expected events and impact per window the means of w e and w impact (times n_w = 8766 h / T
per region-year), the impact per event and the cells per event window ratios of weighted sums,
plan age and runs per hour self-normalised weighted ratios.

**What the sample cannot see.**  Events fall in two *strata*: with no degraded run started
in their cell (``no_degraded``), or with one (``degraded``).  Each is reported.  The
mixture proposal undersamples no window by more than its defensive share alpha (weights are
at most 1 / alpha), so a stratum without a single hit in n windows still has a rigorous
upper bound: P(a window has such an event) <= (1 - tail^(1/n)) / alpha (no window of the
mixture showed one; :func:`riskmc.estimates.zero_hit_bound`).  For the ``degraded`` stratum
two tighter ones: the same zero-hit bound at the largest weight W < 1 / alpha that a cell
with a degraded run can carry (:meth:`Plan.degraded_cell_weight`: P(event) = E_mix[e_c w_c]
with a cell's own weight w_c <= W, so the tilted windows' degraded runs that caused nothing
are evidence; used when W is the same in every window the model can draw, its keys fixed
in the configuration, since a varying one has no known largest value), and the mean
degraded-run exposure, E[p S] (an event with a degraded run needs a degraded run),
whichever is smaller.  Under importance sampling a stratum with no hit adds its bound to
the upper end of every estimate (Bonferroni: the observed part's upper end and each bound
miss with 2.5% / (1 + unobserved strata)), and the impact and the cells of the unseen events
are bounded by what is possible (a cell's event costs at most R / (60 C)).  Under ``rare``,
whose tilts make one event common at the cost of another (an event of a mechanism it does
not tilt keeps the model's rate, in windows the proposal barely changed), the events of
windows of weight >= BARELY_BOOSTED are one more part: a sample with events but none of
those adds their zero-hit bound, (1 - tail^(1/n)) / alpha, as for an unseen stratum.  A plain (naive)
sample undersamples nothing: its intervals already cover every cause.

Upper bounds never exceed what is possible: probabilities 1, events n_w x max C a year, the
annual impact the year's 525,960 minutes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.stats

from riskmc import estimates as est
from riskmc.estimates import ConfidenceInterval, Estimate, WeightedMoments
from riskmc.estimators.plan import Plan
from riskmc.estimators.sample import WindowSample
from riskmc.estimators.year import MINUTES_PER_YEAR, YEAR_RESAMPLES, YearSummary, year_summary
from riskmc.streams import Purpose, stream

__all__ = [
    "BARELY_BOOSTED_PART",
    "CELL_ESTIMATES",
    "HOURS_PER_YEAR",
    "MINUTES_PER_YEAR",
    "REGION_ESTIMATES",
    "STRATA",
    "CellStats",
    "Estimates",
    "estimate",
    "p_cell_window",
    "windows_per_year",
]

HOURS_PER_YEAR = 8766.0

CELL_ESTIMATES = ("p_cell_window", "mean_plan_age_s", "runs_per_hour", "abandoned_runs_per_hour")
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
#: The strata of the events (docs/model.md section 8).
STRATA = ("no_degraded", "degraded")
#: Under ``rare`` also a part to see or bound: the events of windows the proposal barely
#: boosted (weight >= BARELY_BOOSTED), where an event of a mechanism it does not tilt falls.
BARELY_BOOSTED_PART = "barely_boosted"

#: Event windows up to which impact_given_event_min gets a BCa bootstrap interval.
BCA_MAX_WINDOWS = 2000
BCA_RESAMPLES = 999
_SUB_IMPACT_BOOT = 4


def windows_per_year(sample: WindowSample) -> float:
    """n_w = 8766 h / T (T: the weighted mean window length when it is sampled per window);
    within 1e-9 of an integer, that integer (0.1-hour windows give 87,660 exactly)."""
    w = sample.weight
    n_w = HOURS_PER_YEAR / float(np.sum(w * sample.window_h) / np.sum(w))
    nearest = round(n_w)
    return float(nearest) if nearest > 0 and abs(n_w - nearest) <= 1e-9 * n_w else n_w


# -- p_cell_window, mergeable (the stopping rule looks at it block by block) -------------------


@dataclass(frozen=True)
class CellStats:
    """Mergeable statistics behind p_cell_window: the moments of w e / C, of each stratum's
    part, and of the degraded-run exposure w p S / C (the degraded stratum's bound)."""

    y: WeightedMoments = field(default_factory=WeightedMoments)
    no_degraded: WeightedMoments = field(default_factory=WeightedMoments)
    degraded: WeightedMoments = field(default_factory=WeightedMoments)
    exposure: WeightedMoments = field(default_factory=WeightedMoments)
    tilted: int = 0  # windows the proposal changed (none: the sample is plain Monte Carlo)
    #: the smallest and largest of the windows' degraded_cell_weight (equal: one W for all)
    degraded_weight_lo: float = math.inf
    degraded_weight_hi: float = -math.inf

    @classmethod
    def of(cls, sample: WindowSample) -> CellStats:
        w, c = sample.weight, sample.cells
        bound = sample.degraded_cell_weight
        return cls(
            WeightedMoments.of(w * sample.events / c, w),
            WeightedMoments.of(w * sample.events_nodeg / c, w),
            WeightedMoments.of(w * sample.events_deg / c, w),
            WeightedMoments.of(w * sample.p_model * sample.runs / c),
            int(np.count_nonzero(sample.log_weight)),
            float(bound.min()) if bound.size else math.inf,
            float(bound.max()) if bound.size else -math.inf,
        )

    def merge(self, other: CellStats) -> CellStats:
        return CellStats(
            self.y.merge(other.y),
            self.no_degraded.merge(other.no_degraded),
            self.degraded.merge(other.degraded),
            self.exposure.merge(other.exposure),
            self.tilted + other.tilted,
            min(self.degraded_weight_lo, other.degraded_weight_lo),
            max(self.degraded_weight_hi, other.degraded_weight_hi),
        )


def _mean_upper(m: WeightedMoments, tail: float) -> float:
    """A one-sided upper bound of a mean (normal, from its moments)."""
    if m.n < 2:
        return math.inf
    return m.mean + est.z_upper(tail) * m.standard_error * math.sqrt(m.n / (m.n - 1))


@dataclass(frozen=True)
class _Sampling:
    """How a sample was drawn, as the intervals need it: its label, and whether windows were
    reweighted (a mixture that tilted some) with weights at most 1 / alpha."""

    label: str
    weighted: bool
    alpha: float
    #: the largest weight of a cell with a degraded run (1 / alpha where none smaller holds)
    degraded_weight: float = math.inf
    #: ``rare``: its barely boosted events are a part to see or bound (module docstring)
    bounds_barely: bool = False

    @classmethod
    def of(cls, plan: Plan, stats: CellStats) -> _Sampling:
        weighted = plan.tilts and stats.tilted > 0
        alpha = plan.defensive if weighted else 1.0
        # the same W in every window (Plan.degraded_cell_weight gives 1 / alpha unless its keys
        # are fixed values; a sampled one could differ in windows the sample never drew)
        one = stats.degraded_weight_lo == stats.degraded_weight_hi
        return cls(
            plan.label,
            weighted,
            alpha,
            min(stats.degraded_weight_hi, 1.0 / alpha) if one else 1.0 / alpha,
            weighted and plan.estimator == "rare",
        )

    def barely_unseen(self, m: WeightedMoments) -> bool:
        """Under ``rare``, a sample with events of which none was barely boosted."""
        return self.bounds_barely and m.hits > 0 and m.barely_hits == 0


def _unseen_strata(sampling: _Sampling, strata: dict[str, WeightedMoments], m: WeightedMoments) -> list[str]:
    """The strata whose absence from the sample the interval must still bound: in a weighted
    sample, those without a hit, and under ``rare`` the barely boosted events when none was
    seen; none in a plain one (its intervals cover every cause)."""
    if not sampling.weighted:
        return []
    unseen = [s for s in STRATA if strata[s].hits == 0]
    return [*unseen, BARELY_BOOSTED_PART] if sampling.barely_unseen(m) else unseen


def _stratum_bound(
    stratum: str,
    n: int,
    tail: float,
    sampling: _Sampling,
    top: float,
    exposure: WeightedMoments,
    cells_top: float = 1.0,
) -> float:
    """Upper bound (missing with ``tail``) of a stratum without any hit: the zero-hit bound of
    values at most ``top`` (the mixture undersamples by at most alpha); for ``degraded`` the
    zero-hit bound at the largest weight of a degraded-run cell instead where that is smaller
    (a value is at most the sum, or the mean, of its cells' indicators, which is at most
    ``cells_top``), and also the degraded-run exposure ``exposure``."""
    if stratum != "degraded":
        return est.zero_hit_bound(n, tail, top / sampling.alpha)
    top = min(top / sampling.alpha, cells_top * sampling.degraded_weight)
    # the smaller of two bounds misses when either does: each at half the tail
    return min(est.zero_hit_bound(n, tail / 2.0, top), _mean_upper(exposure, tail / 2.0))


def _with_unseen(
    m: WeightedMoments,
    strata: dict[str, WeightedMoments],
    exposure: WeightedMoments,
    sampling: _Sampling,
    top: float,
    cap: float,
    cells_top: float = 1.0,
) -> tuple[Estimate, list[str], float]:
    """The mean of values in [0, top] with the bounds of its unseen strata added to its upper
    end: (estimate, the unseen strata, the sum of their bounds).  A value is at most the sum
    (or the mean) of its window's cells' event indicators, itself at most ``cells_top``."""
    unseen = _unseen_strata(sampling, strata, m)
    label = sampling.label
    weighted_top = top / sampling.alpha
    if m.hits == 0 or not unseen:
        # no hit at all: the zero-hit bound of every window bounds every stratum at once (and
        # they are all unseen); a plain sample, or every stratum seen: nothing to add
        e = est.bounded_mean(m, label, weighted_top)
        return _capped(e, cap), unseen, e.confidence_interval.high if unseen else 0.0
    tail = (1.0 - est.CONFIDENCE) / 2.0 / (1 + len(unseen))
    e = est.bounded_mean(m, label, weighted_top, z_hi=est.z_upper(tail))
    bound = sum(_stratum_bound(s, m.n, tail, sampling, top, exposure, cells_top) for s in unseen)
    ci = e.confidence_interval
    method = (
        f"{e.method}; upper end + the zero-hit bound of the unobserved stratum "
        f"{' and '.join(unseen)} (one-sided {tail:.3%} each)"
    )
    return (
        _capped(
            Estimate(e.estimate, ConfidenceInterval(ci.low, ci.high + bound), method, e.standard_error), cap
        ),
        unseen,
        bound,
    )


def _capped(e: Estimate, cap: float) -> Estimate:
    ci = e.confidence_interval
    if not ci.high > cap:
        return e
    return Estimate(
        min(e.estimate, cap),
        ConfidenceInterval(min(ci.low, cap), cap),
        f"{e.method}; upper end capped at {cap:g}, the largest possible value",
        e.standard_error,
    )


def _stratum(stratum: str, m: WeightedMoments, exposure: WeightedMoments, sampling: _Sampling) -> Estimate:
    """One stratum's part of p_cell_window: its weighted mean, or without a hit its bound;
    under ``rare``, when none of its events was barely boosted, its mean's upper end also
    holds the zero-hit bound of those."""
    if sampling.barely_unseen(m):  # the stratum seen, its barely boosted part not: as for a total
        return _with_unseen(m, dict.fromkeys(STRATA, m), exposure, sampling, 1.0, 1.0)[0]
    if m.hits > 0 or not sampling.weighted:
        return est.bounded_mean(m, sampling.label, 1.0 / sampling.alpha)
    tail = (1.0 - est.CONFIDENCE) / 2.0
    bound = min(1.0, _stratum_bound(stratum, m.n, tail, sampling, 1.0, exposure))
    method = f"{sampling.label}: no hit, zero-hit bound"
    if stratum == "degraded" and sampling.degraded_weight < 1.0 / sampling.alpha:
        method += (
            f" (a degraded-run cell weighs at most {sampling.degraded_weight:.3g}), or the exposure E[p S]"
        )
    return Estimate(0.0, ConfidenceInterval(0.0, bound), method, 0.0)


def p_cell_window(stats: CellStats, plan: Plan) -> tuple[Estimate, list[str], float]:
    """p_cell_window with its interval, the unseen strata and their bound (module docstring)."""
    strata = {"no_degraded": stats.no_degraded, "degraded": stats.degraded}
    return _with_unseen(stats.y, strata, stats.exposure, _Sampling.of(plan, stats), 1.0, 1.0)


# -- everything else ---------------------------------------------------------------------------


def _scaled(e: Estimate, factor: float, method: str | None = None) -> Estimate:
    ci = e.confidence_interval
    return Estimate(
        e.estimate * factor,
        ConfidenceInterval(ci.low * factor, ci.high * factor),
        e.method if method is None else method,
        e.standard_error * factor,
    )


def _nan(method: str) -> Estimate:
    return Estimate(math.nan, ConfidenceInterval(math.nan, math.nan), method)


def _clip0(e: Estimate) -> Estimate:
    ci = e.confidence_interval
    return Estimate(e.estimate, ConfidenceInterval(max(0.0, ci.low), ci.high), e.method, e.standard_error)


def _cells_per_event_window(w: np.ndarray, events: np.ndarray, c_max: float, label: str) -> Estimate:
    """1 + (max C - 1) x the weighted share (e - 1) / (max C - 1) over the event windows: a
    share in [0, 1], so Wilson's interval at its effective size, and the zero-hit bound when no
    window had more than one cell hit (most event windows hit one cell; the multi-cell ones,
    a shock's blast radius, are few, and a t interval on them would be far too narrow)."""
    if c_max <= 1.0:
        return Estimate(1.0, ConfidenceInterval(1.0, 1.0), f"{label}: one cell per window", 0.0)
    share = est.bounded_ratio(
        w * (events - 1.0) / (c_max - 1.0), w, f"{label}: 1 + (max C - 1) x the share of extra cells"
    )
    ci = share.confidence_interval
    scale = c_max - 1.0
    return Estimate(
        1.0 + scale * share.estimate,
        ConfidenceInterval(1.0 + scale * ci.low, 1.0 + scale * ci.high),
        share.method,
        scale * share.standard_error,
    )


def _mix_unseen(e: Estimate, seen_lo: float, unseen: float, lo_unseen: float, hi_unseen: float) -> Estimate:
    """A mean over events (or event windows) when a share of them may come from unseen
    strata, whose own mean lies in [lo_unseen, hi_unseen]: seen mass at least ``seen_lo``,
    unseen mass at most ``unseen``."""
    if unseen <= 0.0:
        return e
    ci = e.confidence_interval
    total = seen_lo + unseen
    share = unseen / total if total > 0 else 1.0
    lo = min(ci.low, (1.0 - share) * ci.low + share * lo_unseen)
    hi = max(ci.high, (1.0 - share) * ci.high + share * hi_unseen)
    return Estimate(
        e.estimate,
        ConfidenceInterval(lo, hi),
        f"{e.method}; widened for the unobserved stratum's possible events",
        e.standard_error,
    )


def _weighted_rate(counts: np.ndarray, hours: np.ndarray, w: np.ndarray, sampling: _Sampling) -> Estimate:
    """Counts per hour: plain, the ratio estimator with the union of its delta-method t and the
    exact Poisson intervals (:func:`riskmc.estimates.rate`); weighted, the self-normalised
    ratio with its delta-method t interval, and the Poisson bound of its exposure at zero."""
    if not sampling.weighted:
        return est.rate(counts, hours)
    if not np.any(counts):
        bound = est.poisson_rate(0, float(hours.sum())).confidence_interval.high
        return Estimate(
            0.0,
            ConfidenceInterval(0.0, bound),
            f"{sampling.label}: none in the sample; exact Poisson bound on its exposure",
        )
    return _clip0(
        est.ratio(w * counts, w * hours, f"{sampling.label}: self-normalised ratio, delta-method t")
    )


def _ratio_bca(num: np.ndarray, den: np.ndarray, seed: int, label: str) -> Estimate:
    """sum(num) / sum(den) over windows: BCa bootstrap over them up to BCA_MAX_WINDOWS,
    the delta-method t beyond (its sampling distribution is then normal well within the
    interval's own noise, and BCa's jackknife costs O(m^2))."""
    m = num.size
    top = float(den.max())
    if not top > 0:  # weights that underflowed to zero: nothing to estimate from
        return Estimate(math.nan, ConfidenceInterval(math.nan, math.nan), f"{label}: n/a, weights underflow")
    keep = den > 0  # a window whose weight underflowed to 0 adds nothing to either sum
    num, den = num[keep] / top, den[keep] / top  # the ratio does not depend on the scale
    m = num.size
    r = float(num.sum() / den.sum())
    if np.ptp(num / den) == 0:
        return Estimate(r, ConfidenceInterval(r, r), f"{label}: exact, every event window the same", 0.0)
    if m == 1:
        return Estimate(r, ConfidenceInterval(0.0, math.inf), f"{label}: n/a, one event window")
    if m > BCA_MAX_WINDOWS:
        e = est.ratio(num, den)
        return _clip0(
            Estimate(r, e.confidence_interval, f"{label}: ratio-t over {m} event windows", e.standard_error)
        )

    def ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(a.sum(axis=axis) / b.sum(axis=axis))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        # durations near the smallest floats make BCa's acceleration 0/0; it then falls back
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = scipy.stats.bootstrap(
            (num, den),
            ratio,
            paired=True,
            vectorized=True,
            n_resamples=BCA_RESAMPLES,
            batch=max(1, 1_000_000 // m),
            confidence_level=est.CONFIDENCE,
            method="BCa",
            rng=stream(seed, 0, Purpose.REGION, _SUB_IMPACT_BOOT),
        )
    lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    return Estimate(
        r,
        ConfidenceInterval(lo, hi),
        f"{label}: bootstrap-BCa ({BCA_RESAMPLES} resamples of the {m} event windows)",
        float(boot.standard_error),
    )


def per_year_mean(
    values: np.ndarray,
    w: np.ndarray,
    n_w: float,
    unseen_year: float,
    upper_tail: float,
    method: str,
    note: str,
) -> Estimate:
    """n_w x the mean of w x over the windows, Student t (its upper end at ``upper_tail``, the
    Bonferroni share when unseen strata add ``unseen_year`` to it), clipped at 0; ``note``
    ends the method when something unseen was added."""
    n = values.size
    m = WeightedMoments.of(w * values)
    se = m.standard_error * math.sqrt(n / (n - 1)) if n > 1 else math.inf
    q = float(scipy.stats.t.ppf(0.5 + est.CONFIDENCE / 2, max(n - 1, 1)))
    q_hi = float(scipy.stats.t.isf(upper_tail, max(n - 1, 1)))
    ci = ConfidenceInterval((m.mean - q * se) * n_w, (m.mean + q_hi * se) * n_w + unseen_year)
    return _clip0(Estimate(m.mean * n_w, ci, method + note, se * n_w))


def with_unseen_tail(p99: Estimate, cvar: Estimate, unseen_mean: float) -> tuple[Estimate, Estimate]:
    """The annual tail's upper ends with an unseen part of mean at most ``unseen_mean``: CVaR
    is subadditive and VaR <= CVaR, and the unseen part's CVaR(99%) <= its mean / 0.01."""
    extra = unseen_mean / (1.0 - 0.99)
    note = "; + the unobserved stratum's Markov bound (CVaR subadditive)"
    top = cvar.confidence_interval.high + extra
    return (
        Estimate(
            p99.estimate,
            ConfidenceInterval(p99.confidence_interval.low, top),
            p99.method + note,
            p99.standard_error,
        ),
        Estimate(
            cvar.estimate,
            ConfidenceInterval(cvar.confidence_interval.low, top),
            cvar.method + note,
            cvar.standard_error,
        ),
    )


def _year_probability(p_rw: Estimate, n_w: float) -> Estimate:
    """1 - (1 - p)^n_w with p_region_window's bounds pushed through that increasing map."""

    def to_year(p: float) -> float:
        return float(-math.expm1(n_w * math.log1p(-p))) if p < 1.0 else 1.0

    ci = p_rw.confidence_interval
    return Estimate(
        to_year(p_rw.estimate),
        ConfidenceInterval(to_year(ci.low), to_year(ci.high)),
        f"p_region_window's interval, transformed: 1-(1-p)^n_w, n_w = {n_w:.6g}",
    )


@dataclass
class Estimates:
    """The estimates of a sample (:data:`CELL_ESTIMATES`, :data:`REGION_ESTIMATES`, the
    strata) and the diagnostics a results row reports."""

    values: dict[str, Estimate]
    strata: dict[str, Estimate]
    unseen: list[str]
    ess: float
    effective_hits: float
    year: YearSummary | None = None
    #: The share of p_cell_window's sum from events in windows of weight >= BARELY_BOOSTED
    #: (riskmc.estimates), and their number; NaN and 0 for plain Monte Carlo or no event.
    barely_boosted_share: float = math.nan
    barely_boosted_events: int = 0
    #: Upper bound of P(a region-window has an event of an unseen stratum) (0: none unseen);
    #: what a mean over event windows must allow for (riskmc.estimators.cascade).
    region_bound: float = 0.0
    #: ``rare``: the strata with events none of which was barely boosted (their intervals
    #: hold that part's zero-hit bound; a paired ratio within them is widened for it)
    barely_unseen: tuple[str, ...] = ()

    def columns(self) -> dict[str, object]:
        row: dict[str, object] = {}
        for name, e in self.values.items():
            row.update(e.columns(name))
            if name == "p_cell_window":
                for s, es in self.strata.items():
                    row.update(es.columns(f"p_cell_window_{s}"))
        return row


def estimate(
    sample: WindowSample,
    plan: Plan,
    seed: int,
    *,
    stats: CellStats | None = None,
    n_resamples: int = YEAR_RESAMPLES,
    thresholds: list[float] | None = None,
    extra_impacts: np.ndarray | None = None,
) -> Estimates:
    """Every estimate of the sample (module docstring).  ``stats``: the stopping rule's merged
    CellStats, so that the reported p_cell_window is the one it accepted, to the last bit.
    ``extra_impacts`` (n windows x q): further annual quantities whose tails the year model
    gives on the same simulated years (``year.extra``; the cascade's)."""
    stats = CellStats.of(sample) if stats is None else stats
    sampling = _Sampling.of(plan, stats)
    w = sample.weight
    label = plan.label
    n = sample.n
    c_max = float(sample.cells.max())
    repair_max = float(np.max(sample.repair_mean_s))
    n_w = windows_per_year(sample)
    p_cell, unseen, cell_bound = p_cell_window(stats, plan)
    strata = {s: _stratum(s, getattr(stats, s), stats.exposure, sampling) for s in STRATA}

    # region-windows: any event; events
    has = sample.events > 0
    y_rw = WeightedMoments.of(w * has, w)
    rw_strata = {
        "no_degraded": WeightedMoments.of(w * (sample.events_nodeg > 0)),
        "degraded": WeightedMoments.of(w * (sample.events_deg > 0)),
    }
    exposure_rw = WeightedMoments.of(w * sample.p_model * sample.runs)
    p_rw, _, rw_bound = _with_unseen(y_rw, rw_strata, exposure_rw, sampling, 1.0, 1.0, c_max)
    events_w = WeightedMoments.of(w * sample.events, w)
    ev_strata = {
        "no_degraded": WeightedMoments.of(w * sample.events_nodeg),
        "degraded": WeightedMoments.of(w * sample.events_deg),
    }
    per_window, _, events_bound = _with_unseen(
        events_w, ev_strata, exposure_rw, sampling, c_max, math.inf, c_max
    )
    per_year = _capped(
        _scaled(per_window, n_w, f"{per_window.method}; per window x n_w = {n_w:.6g}"), n_w * c_max
    )
    p_year = _year_probability(p_rw, n_w)

    # impact: an unseen event costs at most R / 60 (R independent of the window); where an
    # unseen bound is added to an upper end, that end misses with the Bonferroni share
    unseen_impact_year = n_w * repair_max / 60.0 * cell_bound
    upper_tail = (1.0 - est.CONFIDENCE) / 2.0 / (1 + len(unseen))
    if not has.any():
        # a window's impact is at most sum over its cells of 1{event} R / (60 C): in mean,
        # p_cell_window x E[R] / 60 (R independent of the window's events)
        impact_year = _capped(
            Estimate(
                0.0,
                ConfidenceInterval(0.0, n_w * p_cell.confidence_interval.high * repair_max / 60.0),
                f"{label}: no event; bound n_w x p_cell_window_hi x E[R] / 60 "
                "(a cell's event costs at most R / 60 / C)",
            ),
            MINUTES_PER_YEAR,
        )
        hi = impact_year.confidence_interval.high
        given = _nan(f"n/a: no event in {n} region-windows")
        cells = _nan(f"n/a: no event in {n} region-windows")
        cvar_hi = hi / (1.0 - 0.99)
        markov = f"{label}: no event; Markov bound E[annual impact] / 0.01 from impact_per_year_min_hi"
        p99 = Estimate(
            0.0, ConfidenceInterval(0.0, 0.0 if p_year.confidence_interval.high <= 0.01 else cvar_hi), markov
        )
        cvar = Estimate(0.0, ConfidenceInterval(0.0, cvar_hi), markov)
        p99, cvar = _capped(p99, MINUTES_PER_YEAR), _capped(cvar, MINUTES_PER_YEAR)
        year = None
    else:
        impact_year = _capped(
            per_year_mean(
                sample.impact_min,
                w,
                n_w,
                unseen_impact_year,
                upper_tail,
                f"{label}: t on the mean impact per region-window x n_w",
                "; + the unobserved stratum's bound x E[R] / 60" if unseen else "",
            ),
            MINUTES_PER_YEAR,
        )
        ev = np.flatnonzero(has)
        given = _ratio_bca(w[ev] * sample.impact_min[ev], w[ev] * sample.events[ev], seed, label)
        given = _mix_unseen(given, per_window.confidence_interval.low, events_bound, 0.0, repair_max / 60.0)
        cells = _cells_per_event_window(w[ev], sample.events[ev], c_max, label)
        cells = _mix_unseen(cells, p_rw.confidence_interval.low, rw_bound, 1.0, c_max)
        impacts = sample.impact_min[ev]
        if extra_impacts is not None:
            impacts = np.column_stack([impacts, np.asarray(extra_impacts, dtype=float).reshape(n, -1)[ev]])
        year = year_summary(
            n,
            n_w,
            w[ev],
            impacts,
            seed,
            thresholds=thresholds,
            n_resamples=n_resamples,
            label=label,
            upper_tail=upper_tail,
        )
        p99, cvar = year.p99, year.cvar99
        if unseen:
            p99, cvar = with_unseen_tail(p99, cvar, unseen_impact_year)
        p99, cvar = _capped(p99, MINUTES_PER_YEAR), _capped(cvar, MINUTES_PER_YEAR)

    hours = sample.observed_h
    values = {
        "p_cell_window": p_cell,
        "mean_plan_age_s": est.ratio(w * sample.mean_plan_age_s, w, f"{label}: self-normalised mean, t")
        if sampling.weighted
        else est.mean(sample.mean_plan_age_s),
        "runs_per_hour": _weighted_rate(sample.runs, hours, w, sampling),
        "abandoned_runs_per_hour": _weighted_rate(sample.abandoned, hours, w, sampling),
        "p_region_window": p_rw,
        "events_per_region_year": per_year,
        "p_region_year": p_year,
        "impact_given_event_min": given,
        "impact_per_year_min": impact_year,
        "impact_per_year_p99_min": p99,
        "impact_per_year_cvar99_min": cvar,
        "cells_per_event_window": cells,
    }
    return Estimates(
        values=values,
        strata=strata,
        unseen=unseen,
        ess=stats.y.ess if sampling.weighted else float(n),
        effective_hits=stats.y.effective_hits,
        year=year,
        region_bound=rw_bound,
        barely_unseen=tuple(s for s in STRATA if sampling.barely_unseen(getattr(stats, s))),
        barely_boosted_share=stats.y.barely_boosted_share if sampling.weighted else math.nan,
        barely_boosted_events=stats.y.barely_hits if sampling.weighted else 0,
    )
