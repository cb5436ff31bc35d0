"""The region-year: the compound model of the annual impact, its tail and exceedance.

A region-year is n_w = 8766 h / T independent region-windows.  The number of event windows
in a year is K ~ Binomial(n_w, p_region_window) (for fractional n_w = w + f, Binomial(w, p) +
Bernoulli(f p), which keeps E[K] = n_w p), and their impacts are i.i.d. draws from the
distribution of the impact of a window that has an event (all its cells together, so the
events of one shock stay together), estimated by the sample's event windows with their
weights.  A year with more than :data:`MAX_EXACT_EVENTS` event windows gets the translated
gamma approximation of its sum (the sum's exact mean, variance and skewness), so common
events do not cost thousands of draws per year.  A year loses at most its own minutes
(:data:`MINUTES_PER_YEAR`, the whole region down all year): sums beyond are capped there.

**Intervals** of the 99th percentile, CVaR(99%) and the exceedance probabilities: the
percentile bootstrap over region-windows, :data:`YEAR_RESAMPLES` resamples, each
re-estimating p and the event windows' impacts and simulating its own years.  Resampling n
windows with replacement picks M ~ Binomial(n, m / n) of the m event windows, uniformly:
that is how a resample is drawn, exactly, at a cost of M, not n.  The interval is widened to
hold the point estimate (whose years are other draws).  Every random number comes from
``(seed; 0, REGION, sub)`` streams.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from riskmc.estimates import ConfidenceInterval, Estimate
from riskmc.streams import Purpose, stream

__all__ = [
    "MAX_EXACT_EVENTS",
    "TAIL_LEVEL",
    "YEAR_RESAMPLES",
    "YearModel",
    "YearSummary",
    "estimation_reserve_s",
    "year_summary",
]

#: Bootstrap resamples of the annual tail and the exceedance table.
YEAR_RESAMPLES = 200
#: Years with more event windows than this get the translated-gamma approximation.
MAX_EXACT_EVENTS = 50
#: Simulated years: about this many draws per simulation, within the bounds below.
YEAR_DRAW_BUDGET = 500_000
MIN_YEARS = 10_000
MAX_YEARS = 100_000
#: Draws of all the bootstrap resamples together (each resample simulates at least
#: MIN_BOOT_YEARS and at most the point estimate's years): the estimation's cost stays a few
#: seconds whatever the sample, so that a run's --max-seconds is not overrun by its end.
#: A resample with fewer years carries its simulation's noise into the percentile interval
#: (on configs/region.toml, 2,000 years a resample against 10,000: the p99 interval's ends
#: moved by under 0.5% of the estimate, the exceedance bands widened).
YEAR_BOOT_DRAW_BUDGET = 20_000_000
MIN_BOOT_YEARS = 2_000
#: Tail level of the p99 and CVaR estimates.
TAIL_LEVEL = 0.99
#: The whole region down for the whole year, region-traffic-minutes: the most a year can
#: lose (outages that overlap are counted once beyond it).
MINUTES_PER_YEAR = 8766.0 * 60.0

# Sub-addresses of the estimation streams (seed; 0, REGION, k).
_SUB_YEARS = 1
_SUB_YEAR_BOOT = 2
_SUB_YEARS_EXTRA = 3  # the further impact columns' approximations (the cascade's)


@dataclass(frozen=True)
class YearModel:
    """n_w windows a year, each an event window with probability p, the impacts of event
    windows i.i.d. from ``impacts`` with probabilities ``probs`` (None: equally likely)."""

    n_w: float
    p: float
    impacts: np.ndarray
    probs: np.ndarray | None = None

    def expected_events(self) -> float:
        return self.n_w * self.p

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Support and CDF of K, truncated where a tail has probability below 1e-15."""
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

    def years(
        self, n_years: int, rng: np.random.Generator, extra_rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Annual impacts of ``n_years`` simulated years: K by inversion of its CDF, then one
        index draw per event window of the years with K <= MAX_EXACT_EVENTS, summed per
        year exactly (``np.add.reduceat``)."""
        impacts = self.impacts
        out = np.zeros((n_years, *impacts.shape[1:]))  # a column per impact of 2-D impacts
        m = impacts.shape[0]
        if m == 0 or self.p <= 0.0:
            return out
        ks, cdf = self.counts()
        k = ks[np.minimum(np.searchsorted(cdf, rng.random(n_years), side="right"), ks.size - 1)]
        exact = np.flatnonzero((k > 0) & (k <= MAX_EXACT_EVENTS))
        if exact.size:
            k_exact = k[exact]
            size = int(k_exact.sum())
            index = rng.integers(0, m, size) if self.probs is None else rng.choice(m, size, p=self.probs)
            out[exact] = np.add.reduceat(impacts[index], np.cumsum(k_exact) - k_exact, axis=0)
        big = np.flatnonzero(k > MAX_EXACT_EVENTS)
        if big.size:
            if impacts.ndim == 1:
                out[big] = _compound_sum_approx(impacts, k[big].astype(float), rng, self.probs)
            else:  # each column its own approximation; the further columns' draws from
                # ``extra_rng``, so that column 0 takes from ``rng`` what it would alone
                kb = k[big].astype(float)
                out[big, 0] = _compound_sum_approx(impacts[:, 0], kb, rng, self.probs)
                for j in range(1, impacts.shape[1]):
                    out[big, j] = _compound_sum_approx(impacts[:, j], kb, extra_rng or rng, self.probs)
        # the impact (column 0) loses at most the year; further columns (the cascade's
        # impairment minutes, summed over the year's events) are sums, not wall-clock time
        if out.ndim == 1:
            return np.minimum(out, MINUTES_PER_YEAR)
        out[:, 0] = np.minimum(out[:, 0], MINUTES_PER_YEAR)
        return out

    def draws_per_year(self) -> float:
        return min(self.expected_events(), MAX_EXACT_EVENTS) + 1.0

    def n_years(self) -> int:
        """Years per simulation: as many as :data:`YEAR_DRAW_BUDGET` draws allow."""
        return int(np.clip(YEAR_DRAW_BUDGET / self.draws_per_year(), MIN_YEARS, MAX_YEARS))

    def n_boot_years(self, n_resamples: int) -> int:
        """Years per bootstrap resample: :data:`YEAR_BOOT_DRAW_BUDGET` shared by them all."""
        per_resample = YEAR_BOOT_DRAW_BUDGET / max(n_resamples, 1) / self.draws_per_year()
        return int(np.clip(per_resample, min(MIN_BOOT_YEARS, self.n_years()), self.n_years()))


def estimation_reserve_s(n_resamples: int = YEAR_RESAMPLES) -> float:
    """Seconds the year summary of a run may take on this machine: its draw budget (the
    point's and the resamples') at the speed of a timed sample of weighted draws.  Only the
    stopping rule's clock uses it (how long a run may simulate under --max-seconds), never an
    estimate, so its own random numbers are a throwaway generator."""
    rng = np.random.default_rng(0)
    m = 200_000  # event windows: the index draws' cache misses grow with them
    model = YearModel(100.0, 0.5, rng.random(m), np.full(m, 1.0 / m))
    years = 5_000
    start = time.perf_counter()
    model.years(years, rng)
    per_draw = (time.perf_counter() - start) / (years * model.draws_per_year())
    share = min(1.0, n_resamples / YEAR_RESAMPLES)
    # x 2: each resample also builds its own weights and count distribution (measured: the
    # whole summary took 1.6 times the draws' time on 110,000 event windows)
    return 2.0 * per_draw * (YEAR_DRAW_BUDGET + share * YEAR_BOOT_DRAW_BUDGET)


def _compound_sum_approx(
    values: np.ndarray, k: np.ndarray, rng: np.random.Generator, probs: np.ndarray | None = None
) -> np.ndarray:
    """Sums of k[i] i.i.d. draws from ``values``, approximately: the translated gamma with the
    sum's exact mean, variance and skewness (the actuarial standard for aggregate losses);
    normal when the skewness is not positive; clipped at 0.

    The moments are those of the values divided by the smallest power of two above their
    largest magnitude (exact: a power of two scales every product and sum without rounding),
    and the gamma's shape and shift are formed from var / m3, so that nothing underflows to
    0 / 0 for impacts far below 1 (outages of 1e-60 minutes) or overflows far above it: the
    sums of impacts 2^e times larger are 2^e times larger, bit for bit."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    unit = math.ldexp(1.0, math.frexp(top)[1]) if top > 0.0 else 1.0
    scaled = values / unit
    mu = float(np.average(scaled, weights=probs))
    d = scaled - mu
    var = float(np.average(d * d, weights=probs))
    m3 = float(np.average(d * d * d, weights=probs))  # (numpy's ** 3 is a pow: not exact)
    if var <= 0.0:
        return k * mu * unit
    if m3 <= 0.0:
        return np.maximum(rng.normal(k * mu, np.sqrt(k * var)), 0.0) * unit
    ratio = var / m3
    shape = 4.0 * k * var * ratio * ratio
    scale = m3 / (2.0 * var)
    shift = k * mu - 2.0 * k * var * ratio
    return np.maximum(rng.gamma(shape, scale) + shift, 0.0) * unit


def tail(years: np.ndarray) -> tuple[float, float]:
    """(VaR, CVaR) at :data:`TAIL_LEVEL`: numpy's linear quantile, and the mean of the worst
    ceil((1 - level) n) years."""
    n = years.size
    h = TAIL_LEVEL * (n - 1)
    i = math.floor(h)
    top = max(1, math.ceil((1.0 - TAIL_LEVEL) * n))
    part = np.partition(years, sorted({i, min(i + 1, n - 1), n - top}))
    var = float(part[i] + (h - i) * (part[min(i + 1, n - 1)] - part[i]))
    return var, float(part[n - top :].mean())


def exceed(years: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """P(annual impact > x) for each threshold x."""
    order = np.argsort(thresholds, kind="stable")
    below = np.bincount(np.searchsorted(thresholds[order], years, side="left"), minlength=order.size + 1)
    out = np.empty(order.size)
    out[order] = (years.size - np.cumsum(below)[:-1]) / years.size
    return out


def default_thresholds(years: np.ndarray, points: int = 24) -> np.ndarray:
    """0 and ``points`` log-spaced thresholds from the smallest positive to the largest year."""
    pos = years[years > 0]
    if pos.size == 0:
        return np.zeros(1)
    lo, hi = float(pos.min()), float(pos.max())
    grid = np.geomspace(lo, hi, points) if hi > lo else np.array([lo])
    return np.concatenate([[0.0], grid])


@dataclass(frozen=True)
class YearSummary:
    thresholds: np.ndarray
    exceed: list[Estimate]
    p99: Estimate
    cvar99: Estimate
    #: (p99, CVaR) of each further impact column, on the same simulated years.
    extra: list[tuple[Estimate, Estimate]] = field(default_factory=list)
    #: (thresholds, P(annual > threshold)) of each further column, at its own default grid.
    extra_exceed: list[tuple[np.ndarray, list[Estimate]]] = field(default_factory=list)


def year_summary(
    n: int,
    n_w: float,
    weights: np.ndarray,
    impacts: np.ndarray,
    seed: int,
    *,
    thresholds: Sequence[float] | None = None,
    n_resamples: int = YEAR_RESAMPLES,
    label: str = "",
    upper_tail: float = 0.025,
) -> YearSummary:
    """The tail and exceedance of the annual impact from the m event windows of an n-window
    sample (their weights and impacts); the no-event case is the caller's.  The upper ends
    are the bootstrap's 1 - ``upper_tail`` quantiles (less than 2.5% when the caller adds
    the bound of what the sample did not see).  ``impacts`` of shape (m, 1 + q): the
    exceedance and tail of column 0, and the tails of the q others (:attr:`YearSummary.extra`)
    from the same simulated years, at the cost of one summary."""
    weights = np.asarray(weights, dtype=float)
    impacts = np.asarray(impacts, dtype=float)
    if impacts.ndim == 2 and impacts.shape[1] == 1:
        impacts = impacts[:, 0]
    m = weights.size

    def summary(years: np.ndarray) -> np.ndarray:
        if years.ndim == 1:
            return np.concatenate([tail(years), exceed(years, thr)])
        parts: list[Any] = [tail(years[:, 0]), exceed(years[:, 0], thr)]
        for j in range(1, years.shape[1]):
            parts += [tail(years[:, j]), exceed(years[:, j], extra_thr[j - 1])]
        return np.concatenate(parts)

    model = YearModel(n_w, min(float(weights.sum()) / n, 1.0), impacts, weights / weights.sum())
    n_years = model.n_years()
    boot_years = model.n_boot_years(n_resamples)
    extra_rng = stream(seed, 0, Purpose.REGION, _SUB_YEARS_EXTRA)
    years = model.years(n_years, stream(seed, 0, Purpose.REGION, _SUB_YEARS), extra_rng)
    first = years if years.ndim == 1 else years[:, 0]
    thr = default_thresholds(first) if thresholds is None else np.asarray(thresholds, dtype=float)
    extra_thr = [] if years.ndim == 1 else [default_thresholds(years[:, j]) for j in range(1, years.shape[1])]
    point = summary(years)
    rng = stream(seed, 0, Purpose.REGION, _SUB_YEAR_BOOT)
    boot = np.empty((n_resamples, point.size))
    for b in range(n_resamples):  # a loop over resamples, each vectorized over its years
        pick = rng.integers(0, m, rng.binomial(n, m / n))
        if pick.size == 0:
            boot[b] = 0.0
            continue
        w = weights[pick]
        sub = YearModel(n_w, min(float(w.sum()) / n, 1.0), impacts[pick], w / w.sum())
        boot[b] = summary(sub.years(boot_years, rng, extra_rng))
    lo = np.minimum(np.quantile(boot, 0.025, axis=0), point)
    hi = np.maximum(np.quantile(boot, 1.0 - upper_tail, axis=0), point)
    sd = boot.std(axis=0, ddof=1)
    method = (
        f"{label + '; ' if label else ''}compound year model, {n_years} simulated years; percentile "
        f"bootstrap ({n_resamples} resamples of the {n} region-windows"
        + (f", {boot_years} years each)" if boot_years < n_years else ")")
    )
    ests = [
        Estimate(float(v), ConfidenceInterval(float(a), float(c)), method, float(s))
        for v, a, c, s in zip(point, lo, hi, sd, strict=True)
    ]
    cut = 2 + thr.size
    extra, extra_exceed = [], []
    for t in extra_thr:  # each further column: its tail, then its exceedance
        extra.append((ests[cut], ests[cut + 1]))
        extra_exceed.append((t, ests[cut + 2 : cut + 2 + t.size]))
        cut += 2 + t.size
    return YearSummary(thr, ests[2 : 2 + thr.size], ests[0], ests[1], extra, extra_exceed)
