"""Estimates as small result objects, each with a 95% confidence interval and its method.

In the style of ``scipy.stats`` results: ``est.estimate``, ``est.confidence_interval.low``
/ ``.high`` and ``est.method``.  The intervals come from scipy where it has them:

* proportions: Wilson score (default) or Clopper-Pearson ("exact"), via
  ``scipy.stats.binomtest(...).proportion_ci`` -- both give a finite upper bound with 0 hits;
* means of per-trial values: Student t on the sample mean (CLT);
* importance-sampled proportions (:func:`weighted_proportion`): the mean of the weighted
  hits with a Wilson interval at the effective sample size (see there);
* ratios of weighted sums (:func:`ratio`): the delta-method Student-t interval;
* rates per unit exposure (runs per hour): the ratio estimator sum(counts)/sum(exposure),
  with the union of a delta-method Student-t interval over trials (honest when counts are
  clustered within trials) and the exact Poisson (Garwood) interval (honest when they are
  sparse); with no count at all the Poisson interval alone, so that zero still has a finite
  upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

#: Confidence level of every interval riskmc reports.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ConfidenceInterval:
    low: float
    high: float


@dataclass(frozen=True)
class Estimate:
    """One estimate: value, 95% CI, the method that gave the CI, and its standard error."""

    estimate: float
    confidence_interval: ConfidenceInterval
    method: str
    standard_error: float = float("nan")

    @property
    def rel_err(self) -> float:
        """CI half-width divided by the estimate (inf when the estimate is 0)."""
        half = (self.confidence_interval.high - self.confidence_interval.low) / 2.0
        return half / self.estimate if self.estimate > 0 else float("inf")

    def columns(self, name: str) -> dict[str, float | str]:
        """``name``, ``name_lo``, ``name_hi``, ``name_method`` for a results row."""
        return {
            name: self.estimate,
            f"{name}_lo": self.confidence_interval.low,
            f"{name}_hi": self.confidence_interval.high,
            f"{name}_method": self.method,
        }


_SCIPY_PROPORTION_METHOD = {"wilson": "wilson", "clopper-pearson": "exact"}


def proportion(hits: int, trials: int, method: str = "wilson") -> Estimate:
    """A binomial proportion with a Wilson or Clopper-Pearson interval."""
    if trials <= 0:
        nan = float("nan")
        return Estimate(nan, ConfidenceInterval(nan, nan), method)
    ci = scipy.stats.binomtest(int(hits), int(trials)).proportion_ci(
        confidence_level=CONFIDENCE, method=_SCIPY_PROPORTION_METHOD[method]
    )
    p = hits / trials
    return Estimate(
        p, ConfidenceInterval(float(ci.low), float(ci.high)), method, float(np.sqrt(p * (1 - p) / trials))
    )


def mean(values: np.ndarray) -> Estimate:
    """The mean of i.i.d. per-trial values with a Student-t interval."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        nan = float("nan")
        return Estimate(nan, ConfidenceInterval(nan, nan), "t")
    m = float(x.mean())
    if n == 1:
        return Estimate(m, ConfidenceInterval(float("-inf"), float("inf")), "t")
    se = float(x.std(ddof=1) / np.sqrt(n))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    return Estimate(m, ConfidenceInterval(m - q * se, m + q * se), "t", se)


def poisson_rate(count: int, exposure: float) -> Estimate:
    """Events per unit exposure with the exact (Garwood) Poisson interval."""
    alpha = 1.0 - CONFIDENCE
    low = 0.0 if count == 0 else float(scipy.stats.chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(scipy.stats.chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    rate = count / exposure
    return Estimate(
        rate,
        ConfidenceInterval(low / exposure, high / exposure),
        "poisson-exact",
        float(np.sqrt(count)) / exposure,
    )


def rate(counts: np.ndarray, exposure: np.ndarray) -> Estimate:
    """Counts per unit exposure over i.i.d. trials (trial i: counts[i] over exposure[i]).

    The ratio estimator sum(counts)/sum(exposure).  Its delta-method t interval accounts for
    counts clustered within trials but is symmetric, so with few counts it dips below zero
    and under-covers; the exact Poisson interval is right for sparse independent counts but
    too narrow for clustered ones.  The reported interval is the union of the two (method
    ``ratio-t|poisson-exact``), clipped at 0: conservative in both regimes.  With no count at
    all it is the exact Poisson interval alone.
    """
    c = np.asarray(counts, dtype=float)
    x = np.asarray(exposure, dtype=float)
    total, n = float(c.sum()), c.size
    exact = poisson_rate(round(total), float(x.sum()))
    if total == 0 or n < 2:
        return exact
    r = exact.estimate
    # delta method: Var(R) ~ Var(c - R x) / (n mean(x)^2)
    se = float(np.std(c - r * x, ddof=1) / (np.sqrt(n) * x.mean()))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    low = max(0.0, min(r - q * se, exact.confidence_interval.low))
    high = max(r + q * se, exact.confidence_interval.high)
    return Estimate(r, ConfidenceInterval(low, high), "ratio-t|poisson-exact", se)


def _wilson(p: float, n: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion p observed over n (possibly fractional) trials."""
    z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return max(0.0, float(centre - half)), float(centre + half)


@dataclass(frozen=True)
class WeightedProportion:
    """An importance-sampled probability and its diagnostics.

    ``ess`` is the effective sample size n_eff = p(1 - p) / SE^2: the number of plain Monte
    Carlo trials that would give the same standard error (``ess / trials`` is the variance
    reduction per trial).  ``effective_hits`` is Kish's (sum w)^2 / sum w^2 over the trials
    with a hit: how many hits the estimate effectively rests on (equal to the hits when
    their weights are equal; far fewer when one weight dominates, a sign the proposal is
    poor and the interval not to be trusted).
    """

    estimate: Estimate
    hits: int
    trials: int
    ess: float
    effective_hits: float


@dataclass(frozen=True)
class WeightedMoments:
    """Sufficient statistics of y_i = w_i 1{hit_i} over some trials, mergeable in order
    (Chan et al.'s pairwise update), so that a sample seen block by block gives exactly the
    same estimate at each block boundary as it will report at the end."""

    n: int = 0
    hits: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean
    hit_sum: float = 0.0  # sum of y over hits
    hit_sq: float = 0.0  # sum of y^2 over hits

    @classmethod
    def of(cls, values: np.ndarray, hits: np.ndarray) -> WeightedMoments:
        y = np.asarray(values, dtype=float)
        h = np.asarray(hits, dtype=bool)
        if y.size == 0:
            return cls()
        mean = float(y.mean())
        hy = y[h]
        return cls(
            int(y.size),
            int(np.count_nonzero(h)),
            mean,
            float(np.sum((y - mean) ** 2)),
            float(hy.sum()),
            float(np.sum(hy * hy)),
        )

    def merge(self, other: WeightedMoments) -> WeightedMoments:
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        return WeightedMoments(
            n,
            self.hits + other.hits,
            self.mean + delta * other.n / n,
            self.m2 + other.m2 + delta * delta * self.n * other.n / n,
            self.hit_sum + other.hit_sum,
            self.hit_sq + other.hit_sq,
        )


def weighted_proportion(values: np.ndarray, hits: np.ndarray, label: str) -> WeightedProportion:
    """P(hit) from per-trial values y_i = w_i * 1{hit_i} sampled under a proposal
    (importance sampling, E[y] = P(hit) under the model); see :func:`weighted_proportion_of`."""
    return weighted_proportion_of(WeightedMoments.of(values, hits), label)


def weighted_proportion_of(m: WeightedMoments, label: str) -> WeightedProportion:
    """P(hit) from the moments of y_i = w_i * 1{hit_i} (importance sampling).

    Point: the mean of y (unbiased).  Interval: Wilson's score interval at the effective
    sample size n_eff = p(1 - p) / SE^2, SE the standard error of the mean of y.  With equal
    weights this is the plain Wilson interval (n_eff = n, up to n / (n - 1)); with unequal
    weights it keeps Wilson's asymmetry (wider above than below when hits are few) on the
    information the weighted sample actually holds, where a symmetric normal interval
    under-covers its upper end.  With no hit the estimate is 0 and no upper bound follows
    from the weighted sample: the interval is [0, inf) and says so.  ``label`` (the proposal)
    is part of the method text.
    """
    n, n_hits, p = m.n, m.hits, m.mean
    if n == 0:
        nan = float("nan")
        return WeightedProportion(Estimate(nan, ConfidenceInterval(nan, nan), label), 0, 0, nan, nan)
    if n_hits == 0 or p <= 0.0:
        return WeightedProportion(
            Estimate(0.0, ConfidenceInterval(0.0, float("inf")), f"{label}: no hit, no upper bound", 0.0),
            0,
            n,
            0.0,
            0.0,
        )
    se = float(np.sqrt(m.m2 / (n - 1) / n)) if n > 1 else float("inf")
    effective_hits = m.hit_sum**2 / m.hit_sq
    if se == 0.0:
        return WeightedProportion(
            Estimate(p, ConfidenceInterval(p, p), f"{label}: every trial has the same weighted value", 0.0),
            n_hits,
            n,
            float("inf"),
            effective_hits,
        )
    if p < 1.0 and np.isfinite(se):
        n_eff = p * (1.0 - p) / se**2
        low, high = _wilson(p, n_eff)
        method = f"{label}: Wilson at the effective sample size"
    else:  # a weighted mean at or above 1: no proportion interval applies
        n_eff = float("nan")
        z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))
        low, high = max(0.0, p - z * se), p + z * se
        method = f"{label}: normal"
    return WeightedProportion(
        Estimate(p, ConfidenceInterval(low, high), method, se), n_hits, n, n_eff, effective_hits
    )


def ratio(numerator: np.ndarray, denominator: np.ndarray, method: str = "ratio-t") -> Estimate:
    """sum(numerator) / sum(denominator) over i.i.d. trials, with the delta-method Student-t
    interval (the ratio's standard error is that of the mean of num - R den, over mean(den))."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    n = num.size
    total = float(den.sum())
    if n == 0 or total == 0.0:
        nan = float("nan")
        return Estimate(nan, ConfidenceInterval(nan, nan), method)
    r = float(num.sum() / total)
    if n < 2:
        return Estimate(r, ConfidenceInterval(-np.inf, np.inf), method)
    se = float(np.std(num - r * den, ddof=1) / (np.sqrt(n) * den.mean()))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    return Estimate(r, ConfidenceInterval(r - q * se, r + q * se), method, se)
