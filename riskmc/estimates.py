"""Estimates as small result objects, each with a 95% confidence interval and its method.

In the style of ``scipy.stats`` results: ``est.estimate``, ``est.confidence_interval.low``
/ ``.high`` and ``est.method``.  The intervals come from scipy where it has them:

* proportions: Wilson score (default) or Clopper-Pearson ("exact"), via
  ``scipy.stats.binomtest(...).proportion_ci`` -- both give a finite upper bound with 0 hits;
* means of per-trial values: Student t on the sample mean (CLT);
* means of bounded per-window values, weighted or not (:func:`bounded_mean`): Wilson's
  interval at the effective sample size, and the zero-hit bound without any hit;
* ratios of weighted sums (:func:`ratio`): the delta-method Student-t interval;
* rates per unit exposure (runs per hour): the ratio estimator sum(counts)/sum(exposure),
  with the union of a delta-method Student-t interval over trials (honest when counts are
  clustered within trials) and the exact Poisson (Garwood) interval (honest when they are
  sparse); with no count at all the Poisson interval alone, so that zero still has a finite
  upper bound.
"""

from __future__ import annotations

import math
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


#: z of the two-sided 95% interval.
Z95 = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))


def z_upper(tail: float) -> float:
    """z of a one-sided bound that misses with probability ``tail``."""
    return float(scipy.stats.norm.isf(tail))


def wilson_bounds(p: float, n: float, z_lo: float = Z95, z_hi: float = Z95) -> tuple[float, float]:
    """Wilson's score bounds of a proportion p observed over n (possibly fractional) trials,
    the lower one at z_lo and the upper one at z_hi."""

    def bound(z: float, sign: float) -> float:
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * math.sqrt(max(p * (1.0 - p), 0.0) / n + z * z / (4.0 * n * n))
        return centre + sign * half

    # at p = 0 or 1 the near end is exactly 0 or 1 (rounding would leave it a hair inside)
    lo = 0.0 if p <= 0.0 else max(0.0, bound(z_lo, -1.0))
    hi = 1.0 if p >= 1.0 else min(1.0, bound(z_hi, 1.0))
    return lo, hi


def zero_hit_bound(n: float, tail: float, top: float = 1.0) -> float:
    """Upper bound, missing with probability ``tail``, of the mean of values in [0, top] of
    which none of n was positive: top (1 - tail^(1/n)), Clopper-Pearson's for top = 1.
    (Any value with P(X > 0) = pi gives no hit in n with probability (1 - pi)^n, and
    E[X] <= top pi.)"""
    if n <= 0:
        return math.inf
    return top * -math.expm1(math.log(tail) / n)


#: A window whose importance weight is at least this was made at most 10 times more likely
#: by the proposal than by the model: its events are "barely boosted", and where they carry
#: most of an estimate, the weighted sample is no better than plain Monte Carlo for them
#: (docs/model.md section 8, *What the weights say*).
BARELY_BOOSTED = 0.1


@dataclass(frozen=True)
class WeightedMoments:
    """Sufficient statistics of per-window values y_i (e.g. w_i x events_i / C_i), mergeable
    in order (Chan et al.'s pairwise update), so that a sample seen block by block gives
    exactly the same estimate at each block boundary as it will report at the end."""

    n: int = 0
    hits: int = 0  # windows with y > 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean
    hit_sum: float = 0.0  # sum of y over hits
    hit_sq: float = 0.0  # sum of y^2 over hits
    barely_hits: int = 0  # hits whose window weight is at least BARELY_BOOSTED
    barely_sum: float = 0.0  # sum of y over them

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray | None = None) -> WeightedMoments:
        """The moments of ``values``; with the windows' ``weights``, also those of the hits
        the proposal barely boosted (weight >= :data:`BARELY_BOOSTED`)."""
        y = np.asarray(values, dtype=float)
        if y.size == 0:
            return cls()
        mean = float(y.mean())
        hit = y > 0
        hy = y[hit]
        barely = hit & (np.asarray(weights) >= BARELY_BOOSTED) if weights is not None else np.zeros(0, bool)
        return cls(
            int(y.size),
            int(hy.size),
            mean,
            float(np.sum((y - mean) ** 2)),
            float(hy.sum()),
            float(np.sum(hy * hy)),
            int(np.count_nonzero(barely)),
            float(y[barely].sum()) if barely.size else 0.0,
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
            self.barely_hits + other.barely_hits,
            self.barely_sum + other.barely_sum,
        )

    @property
    def standard_error(self) -> float:
        """SE of the mean (population variance, so that equal weights give the binomial
        SE exactly)."""
        return math.sqrt(self.m2 / self.n / self.n) if self.n > 0 else math.nan

    @property
    def barely_boosted_share(self) -> float:
        """The share of the hits' sum from hits the proposal barely boosted (NaN: no hit)."""
        return self.barely_sum / self.hit_sum if self.hit_sum > 0 else math.nan

    @property
    def effective_hits(self) -> float:
        """Kish's (sum y)^2 / sum y^2 over the hits: how many hits the mean rests on."""
        return self.hit_sum**2 / self.hit_sq if self.hit_sq > 0 else 0.0

    @property
    def ess(self) -> float:
        """n_eff = p (1 - p) / SE^2 for values in [0, 1] (the plain trials worth the same
        precision); n when every value is the same."""
        p, se = self.mean, self.standard_error
        if not se > 0:
            return float(self.n)
        return max(p * (1.0 - p), 0.0) / se**2


def bounded_mean(
    m: WeightedMoments,
    label: str,
    top: float = 1.0,
    *,
    z_lo: float = Z95,
    z_hi: float = Z95,
    zero_top: float | None = None,
) -> Estimate:
    """The mean of values in [0, top] (weighted values: importance sampling) with Wilson's
    interval at the effective sample size of value / top (exactly Wilson's with equal
    weights and 0/1 values; with unequal weights it keeps Wilson's asymmetry on the
    information the sample holds).  With no positive value: 0 and the zero-hit bound
    (:func:`zero_hit_bound`, values at most ``zero_top``, default ``top``, missing with the
    upper tail of z_hi)."""
    if m.n == 0:
        return Estimate(math.nan, ConfidenceInterval(math.nan, math.nan), label)
    if m.hits == 0:
        tail = float(scipy.stats.norm.sf(z_hi))
        hi = zero_hit_bound(m.n, tail, top if zero_top is None else zero_top)
        return Estimate(0.0, ConfidenceInterval(0.0, hi), f"{label}: no hit, zero-hit bound", 0.0)
    p = m.mean / top
    se = m.standard_error / top
    if p < 1.0 or se == 0.0:
        # every value the same (every window a hit, say): not known exactly, Wilson at n
        n_eff = p * (1.0 - p) / se**2 if se > 0.0 else float(m.n)
        lo, hi = wilson_bounds(min(p, 1.0), n_eff, z_lo, z_hi)
        method = f"{label}: Wilson at the effective sample size"
    else:
        lo, hi = max(0.0, p - z_lo * se), p + z_hi * se
        method = f"{label}: normal"
    return Estimate(m.mean, ConfidenceInterval(lo * top, hi * top), method, m.standard_error)


def bounded_ratio(numerator: np.ndarray, denominator: np.ndarray, label: str) -> Estimate:
    """sum(numerator) / sum(denominator) over i.i.d. trials whose ratio numerator / denominator
    lies in [0, 1] (a weighted share: numerator = w y, denominator = w): Wilson's interval at
    the effective sample size r (1 - r) / SE^2, SE the delta-method standard error (exactly
    Wilson's with equal weights and 0/1 values).  When no trial has a positive numerator the
    zero-hit bound at Kish's effective size of the denominators, (sum d)^2 / sum d^2 (a
    t interval would be [0, 0] there: a share never seen is not known to be 0)."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    top = float(den.max()) if den.size else 0.0
    if num.size == 0 or not top > 0.0:
        return Estimate(math.nan, ConfidenceInterval(math.nan, math.nan), label)
    # The share and its error do not depend on the denominators' scale; weights of 1e-300
    # (or 1e300) would underflow (overflow) when squared.
    num, den = num / top, den / top
    total = float(den.sum())
    r = min(1.0, float(num.sum()) / total)
    n_kish = total**2 / float(np.sum(den * den))
    if not np.any(num > 0):
        hi = zero_hit_bound(n_kish, (1.0 - CONFIDENCE) / 2.0)
        return Estimate(0.0, ConfidenceInterval(0.0, hi), f"{label}: none seen, zero-hit bound", 0.0)
    se = float(np.sqrt(np.mean((num - r * den) ** 2)) / (math.sqrt(num.size) * den.mean()))
    # every share the same (all 1, say): not known exactly either, Wilson at Kish's size
    n_eff = r * (1.0 - r) / se**2 if se > 0.0 and r < 1.0 else n_kish
    lo, hi = wilson_bounds(r, n_eff)
    return Estimate(r, ConfidenceInterval(lo, hi), f"{label}: Wilson at the effective sample size", se)


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
