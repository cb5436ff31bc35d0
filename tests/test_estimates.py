"""Estimates and their 95% confidence intervals (`riskmc.estimates`).

Known values come from formulas written out here (Wilson score, Clopper-Pearson for 0 and
n hits, Garwood via gamma quantiles, Student t) and from published table values; coverage
checks run 400 fixed seeds and accept a coverage within binomial 4-sigma bounds of 95%.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.stats

from riskmc import estimates
from riskmc.estimates import (
    BARELY_BOOSTED,
    CONFIDENCE,
    Z95,
    ConfidenceInterval,
    Estimate,
    WeightedMoments,
    bounded_mean,
    bounded_ratio,
    mean,
    poisson_rate,
    proportion,
    rate,
    wilson_bounds,
    z_upper,
    zero_hit_bound,
)

Z = float(scipy.stats.norm.ppf(0.975))
N_SEEDS = 400


def coverage_bounds(n: int = N_SEEDS, level: float = CONFIDENCE) -> tuple[float, float]:
    """4-sigma binomial bounds of the observed coverage of n independent 95% intervals."""
    half = 4.0 * math.sqrt(level * (1.0 - level) / n)
    return level - half, level + half


def wilson(x: float, n: float, z: float = Z) -> tuple[float, float]:
    """Wilson score interval, closed form (no continuity correction)."""
    p = x / n
    denom = 1.0 + z**2 / n
    center = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return center - half, center + half


def test_coverage_bounds_value() -> None:
    lo, hi = coverage_bounds()
    assert lo == pytest.approx(0.95 - 4 * math.sqrt(0.95 * 0.05 / 400))
    assert 0.906 < lo < 0.907 and 0.993 < hi < 0.994


# ------------------------------------------------------------------------------------------
# proportion
# ------------------------------------------------------------------------------------------

CASES = [(0, 10), (1, 10), (3, 10), (5, 10), (10, 10), (0, 1000), (1, 1000), (37, 1000), (999, 1000), (1, 1)]


@pytest.mark.parametrize(("x", "n"), CASES)
def test_wilson_matches_closed_form_and_scipy(x: int, n: int) -> None:
    """Catches a continuity-corrected or Wald interval, or a wrong confidence level."""
    e = proportion(x, n)
    assert e.method == "wilson"
    assert e.estimate == x / n
    lo, hi = wilson(x, n)
    assert e.confidence_interval.low == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert e.confidence_interval.high == pytest.approx(hi, rel=1e-9, abs=1e-12)
    ci = scipy.stats.binomtest(x, n).proportion_ci(0.95, method="wilson")
    assert e.confidence_interval.low == pytest.approx(ci.low, abs=1e-12)
    assert e.confidence_interval.high == pytest.approx(ci.high, abs=1e-12)
    assert e.standard_error == pytest.approx(math.sqrt(x / n * (1 - x / n) / n))


@pytest.mark.parametrize(("x", "n"), CASES)
def test_clopper_pearson_matches_beta_quantiles_and_scipy(x: int, n: int) -> None:
    """Clopper-Pearson: low = Beta(x, n-x+1).ppf(0.025), high = Beta(x+1, n-x).ppf(0.975)."""
    e = proportion(x, n, method="clopper-pearson")
    assert e.method == "clopper-pearson"
    lo = 0.0 if x == 0 else scipy.stats.beta.ppf(0.025, x, n - x + 1)
    hi = 1.0 if x == n else scipy.stats.beta.ppf(0.975, x + 1, n - x)
    assert e.confidence_interval.low == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert e.confidence_interval.high == pytest.approx(hi, rel=1e-9, abs=1e-12)
    ci = scipy.stats.binomtest(x, n).proportion_ci(0.95, method="exact")
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx((ci.low, ci.high))


@pytest.mark.parametrize("n", [1, 10, 1000, 100000])
def test_zero_hits_and_all_hits(n: int) -> None:
    """0 hits: low 0 and a finite high (Clopper-Pearson: exactly 1 - 0.025^(1/n); Wilson:
    z^2 / (n + z^2)); n hits of n: high 1 (and the mirrored low)."""
    for method in ("wilson", "clopper-pearson"):
        zero = proportion(0, n, method)
        assert zero.estimate == 0.0
        assert zero.confidence_interval.low == pytest.approx(0.0, abs=1e-15)
        assert 0.0 < zero.confidence_interval.high < 1.0
        full = proportion(n, n, method)
        assert full.estimate == 1.0
        assert full.confidence_interval.high == pytest.approx(1.0, abs=1e-15)
        assert full.confidence_interval.low < 1.0
    assert proportion(0, n, "clopper-pearson").confidence_interval.high == pytest.approx(
        1 - 0.025 ** (1 / n), rel=1e-9
    )
    assert proportion(n, n, "clopper-pearson").confidence_interval.low == pytest.approx(
        0.025 ** (1 / n), rel=1e-9
    )
    assert proportion(0, n).confidence_interval.high == pytest.approx(Z**2 / (n + Z**2), rel=1e-9)


def test_known_literal_values() -> None:
    """Published values (e.g. Newcombe 1998, table I: 0/10 -> Wilson 0-0.2775, CP 0-0.3085;
    81/263 -> Wilson 0.2553-0.3662)."""
    assert proportion(0, 10).confidence_interval.high == pytest.approx(0.2775, abs=1e-4)
    assert proportion(0, 10, "clopper-pearson").confidence_interval.high == pytest.approx(0.3085, abs=1e-4)
    e = proportion(81, 263)
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx(
        (0.2553, 0.3662), abs=1e-4
    )


def test_no_trials_is_nan() -> None:
    e = proportion(0, 0)
    assert math.isnan(e.estimate) and math.isnan(e.confidence_interval.low)


def test_rel_err() -> None:
    """rel_err = half-width / estimate; inf when the estimate is 0."""
    e = proportion(25, 1000)
    half = (e.confidence_interval.high - e.confidence_interval.low) / 2
    assert e.rel_err == pytest.approx(half / 0.025)
    assert proportion(0, 1000).rel_err == math.inf
    assert Estimate(2.0, ConfidenceInterval(1.0, 4.0), "t").rel_err == 0.75


# ------------------------------------------------------------------------------------------
# mean
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 30, 1000])
def test_mean_t_interval_matches_scipy(n: int) -> None:
    """Catches a z instead of t quantile (visible at small n), ddof=0, or a missing sqrt(n)."""
    x = np.random.default_rng(n).lognormal(0.0, 1.0, n)
    e = mean(x)
    assert e.method == "t"
    assert e.estimate == pytest.approx(x.mean())
    lo, hi = scipy.stats.t.interval(0.95, n - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert e.confidence_interval.low == pytest.approx(lo, rel=1e-12)
    assert e.confidence_interval.high == pytest.approx(hi, rel=1e-12)
    assert e.standard_error == pytest.approx(scipy.stats.sem(x), rel=1e-12)


def test_mean_ignores_nan_and_inf() -> None:
    x = np.array([1.0, np.nan, 2.0, np.inf, 4.0, -np.inf, 8.0])
    assert mean(x) == mean(np.array([1.0, 2.0, 4.0, 8.0]))
    assert math.isnan(mean(np.array([np.nan, np.inf])).estimate)


def test_mean_single_value_has_unbounded_interval() -> None:
    e = mean(np.array([3.0]))
    assert e.estimate == 3.0
    assert e.confidence_interval.low == -math.inf and e.confidence_interval.high == math.inf


def test_mean_coverage() -> None:
    """Over 400 seeds of N(mu=3, sd=2) samples of size 30, the 95% interval covers mu a share
    of times within the 4-sigma binomial bounds of 95% (about 0.906..0.994).  An interval
    missing the sqrt(n) (far too wide: 100%) or using sd instead of se/half the width (~70%)
    fails."""
    mu = 3.0
    hits = 0
    for seed in range(N_SEEDS):
        x = np.random.default_rng([7, seed]).normal(mu, 2.0, 30)
        ci = mean(x).confidence_interval
        hits += ci.low <= mu <= ci.high
    lo, hi = coverage_bounds()
    assert lo <= hits / N_SEEDS <= hi, hits / N_SEEDS


# ------------------------------------------------------------------------------------------
# poisson_rate and rate
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 5, 10, 100, 5000])
@pytest.mark.parametrize("exposure", [1.0, 0.25, 1234.5])
def test_poisson_rate_is_garwood(k: int, exposure: float) -> None:
    """Garwood: low = Gamma(k).ppf(0.025), high = Gamma(k + 1).ppf(0.975), per unit exposure."""
    e = poisson_rate(k, exposure)
    assert e.method == "poisson-exact"
    assert e.estimate == pytest.approx(k / exposure)
    lo = 0.0 if k == 0 else scipy.stats.gamma.ppf(0.025, k) / exposure
    hi = scipy.stats.gamma.ppf(0.975, k + 1) / exposure
    assert e.confidence_interval.low == pytest.approx(lo, rel=1e-9, abs=0)
    assert e.confidence_interval.high == pytest.approx(hi, rel=1e-9)


def test_poisson_rate_table_values() -> None:
    """Garwood table values for 0, 1 and 10 events."""
    assert poisson_rate(0, 1.0).confidence_interval.high == pytest.approx(3.6889, abs=1e-4)
    e1 = poisson_rate(1, 1.0).confidence_interval
    assert (e1.low, e1.high) == pytest.approx((0.0253, 5.5716), abs=1e-4)
    e10 = poisson_rate(10, 1.0).confidence_interval
    assert (e10.low, e10.high) == pytest.approx((4.7954, 18.3904), abs=1e-4)


def test_rate_is_ratio_of_sums() -> None:
    c = np.array([0, 3, 1, 7, 0, 2])
    x = np.array([0.5, 1.0, 2.0, 1.5, 0.25, 3.0])
    e = rate(c, x)
    assert e.estimate == pytest.approx(13 / 8.25, rel=1e-15)
    assert e.confidence_interval.low < e.estimate < e.confidence_interval.high


@pytest.mark.parametrize("n", [1, 5, 100])
def test_rate_with_zero_counts_is_exact_poisson(n: int) -> None:
    """No count at all: [0, chi2.ppf(0.975, 2) / 2 / exposure] = [0, -ln(0.025) / exposure]."""
    x = np.full(n, 2.0)
    e = rate(np.zeros(n), x)
    assert e.estimate == 0.0
    assert e.confidence_interval.low == 0.0
    exposure = 2.0 * n
    assert e.confidence_interval.high == pytest.approx(
        scipy.stats.chi2.ppf(0.975, 2) / 2 / exposure, rel=1e-12
    )
    assert e.confidence_interval.high == pytest.approx(-math.log(0.025) / exposure, rel=1e-12)


def test_rate_delta_method_standard_error() -> None:
    """The ratio estimator's delta-method SE, written out:
    SE^2 = sum_i (c_i - R x_i)^2 / ((n - 1) n xbar^2), and the interval R +- t_{0.975, n-1} SE."""
    c = [0, 3, 1, 7, 0, 2]
    x = [0.5, 1.0, 2.0, 1.5, 0.25, 3.0]
    n = len(c)
    r = sum(c) / sum(x)
    xbar = sum(x) / n
    se = math.sqrt(sum((ci - r * xi) ** 2 for ci, xi in zip(c, x, strict=True)) / ((n - 1) * n * xbar**2))
    e = rate(np.array(c), np.array(x))
    assert e.method == "ratio-t|poisson-exact"
    assert e.standard_error == pytest.approx(se, rel=1e-12)
    q = scipy.stats.t.ppf(0.975, n - 1)
    exact = poisson_rate(sum(c), sum(x)).confidence_interval
    # the union of the delta-method t interval and the exact Poisson interval, clipped at 0
    expected = (max(0.0, min(r - q * se, exact.low)), max(r + q * se, exact.high))
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx(expected)


def clustered_counts(seed: int, n: int, true_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Trial i has exposure x_i ~ U(0.5, 1.5) and its own intensity lambda_i ~ Gamma(0.5,
    scale 2 * true_rate) (mean true_rate, strongly overdispersed): counts ~ Poisson(lambda_i x_i).
    sum(counts) / sum(x) estimates E[c] / E[x] = true_rate."""
    rng = np.random.default_rng([11, seed])
    x = rng.uniform(0.5, 1.5, n)
    lam = rng.gamma(0.5, 2.0 * true_rate, n)
    return rng.poisson(lam * x).astype(float), x


def varied_exposure_counts(seed: int, n: int, true_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Exposures spread widely (x_i ~ U(0.1, 5)), counts ~ Poisson(true_rate x_i): an interval
    that ignored the exposure in the residual (Var(c) instead of Var(c - R x)) would be
    ~1.6 times too wide here and cover ~99.9%."""
    rng = np.random.default_rng([13, seed])
    x = rng.uniform(0.1, 5.0, n)
    return rng.poisson(true_rate * x).astype(float), x


@pytest.mark.parametrize("counts", [clustered_counts, varied_exposure_counts])
def test_rate_coverage(counts: Callable[[int, int, float], tuple[np.ndarray, np.ndarray]]) -> None:
    """Over 400 seeds of 300 trials, the interval covers the true rate a share of times
    within 4-sigma binomial bounds of 95%.  For clustered counts, the same data with a plain
    Poisson interval on the pooled count covers far less (it ignores the clustering): checked
    here too, so this test can tell an honest interval from a naive one."""
    true_rate = 2.0
    hits = naive_hits = 0
    for seed in range(N_SEEDS):
        c, x = counts(seed, 300, true_rate)
        ci = rate(c, x).confidence_interval
        hits += ci.low <= true_rate <= ci.high
        naive = poisson_rate(int(c.sum()), float(x.sum())).confidence_interval
        naive_hits += naive.low <= true_rate <= naive.high
    lo, hi = coverage_bounds()
    assert lo <= hits / N_SEEDS <= hi, hits / N_SEEDS
    if counts is clustered_counts:
        assert naive_hits / N_SEEDS < lo  # the bounds have power against the naive interval


# With few counts the delta-method (Wald-type) t interval alone is not a 95% interval: it is
# symmetric around R, dips below zero and under-covers (expected total 5: ~85%).  These two
# tests caught that; `rate` now reports the union with the exact Poisson interval.


def test_rate_lower_bound_is_not_negative() -> None:
    """A rate is >= 0, so its interval's lower bound must be too (one abandoned run in 1000
    trials of one hour each)."""
    c = np.zeros(1000)
    c[17] = 1
    e = rate(c, np.ones(1000))
    assert e.confidence_interval.low >= 0.0


def test_rate_coverage_with_sparse_counts() -> None:
    """Unclustered Poisson counts, 1000 trials, expected total 5 (e.g. rare abandoned runs):
    coverage over 400 seeds must lie within the 4-sigma bounds of 95% (the Garwood interval
    on the pooled count would be exact here).  Observed: 0.8525."""
    n, expected_total = 1000, 5.0
    true_rate = expected_total / n
    hits = 0
    for seed in range(N_SEEDS):
        rng = np.random.default_rng([17, seed])
        x = rng.uniform(0.5, 1.5, n)
        c = rng.poisson(true_rate * x).astype(float)
        ci = rate(c, x).confidence_interval
        hits += ci.low <= true_rate <= ci.high
    lo, hi = coverage_bounds()
    assert lo <= hits / N_SEEDS <= hi, hits / N_SEEDS


# ------------------------------------------------------------------------------------------
# wilson_bounds, zero_hit_bound, WeightedMoments and bounded_mean (weighted estimates)
# ------------------------------------------------------------------------------------------


def test_z_constants() -> None:
    assert Z95 == pytest.approx(1.959963984540054, rel=1e-12)
    assert z_upper(0.025) == pytest.approx(Z95, rel=1e-12)
    assert z_upper(0.005) == pytest.approx(2.5758293035489, rel=1e-12)


@pytest.mark.parametrize(("x", "n"), [(1, 10), (3, 10), (37, 1000), (2.5, 17.3), (999, 1000)])
def test_wilson_bounds_with_separate_z(x: float, n: float) -> None:
    """The lower bound is Wilson's at z_lo, the upper one Wilson's at z_hi (each the end of the
    symmetric interval at its own z): e.g. a 95% lower and a 99.5% upper one-sided bound."""
    p = x / n
    assert wilson_bounds(p, n) == pytest.approx(wilson(x, n), rel=1e-12)
    z_lo, z_hi = z_upper(0.05), z_upper(0.005)
    lo, hi = wilson_bounds(p, n, z_lo, z_hi)
    assert lo == pytest.approx(wilson(x, n, z_lo)[0], rel=1e-12)
    assert hi == pytest.approx(wilson(x, n, z_hi)[1], rel=1e-12)
    # swapping the two z moves each end accordingly
    lo2, hi2 = wilson_bounds(p, n, z_hi, z_lo)
    assert lo2 < lo and hi2 < hi
    if float(x).is_integer():  # scipy's Wilson at the matching two-sided levels
        ci_lo = scipy.stats.binomtest(int(x), int(n)).proportion_ci(0.90, method="wilson")
        ci_hi = scipy.stats.binomtest(int(x), int(n)).proportion_ci(0.99, method="wilson")
        assert (lo, hi) == pytest.approx((ci_lo.low, ci_hi.high), rel=1e-9)


def test_wilson_bounds_stay_in_the_unit_interval() -> None:
    lo, hi = wilson_bounds(0.0, 5.0, 3.0, 3.0)
    assert 0.0 <= lo < 1e-15 and hi == pytest.approx(9.0 / 14.0, rel=1e-12)  # z^2 / (n + z^2)
    lo, hi = wilson_bounds(1.0, 5.0, 3.0, 3.0)
    assert lo == pytest.approx(5.0 / 14.0, rel=1e-12) and 1.0 - 1e-15 < hi <= 1.0


@pytest.mark.parametrize("n", [1, 10, 1000, 100000])
@pytest.mark.parametrize("tail", [0.025, 0.005, 1e-6])
def test_zero_hit_bound_is_clopper_pearson(n: int, tail: float) -> None:
    """With no hit in n, Clopper-Pearson's upper bound at one-sided tail t is Beta(1, n).ppf(1 - t)
    = 1 - t^(1/n): the pi at which no hit has probability t."""
    bound = zero_hit_bound(n, tail)
    assert bound == pytest.approx(scipy.stats.beta.ppf(1 - tail, 1, n), rel=1e-9)
    assert (1 - bound) ** n == pytest.approx(tail, rel=1e-9)
    if tail == 0.025:
        assert bound == pytest.approx(proportion(0, n, "clopper-pearson").confidence_interval.high, rel=1e-12)
    # values in [0, top]: the bound scales with top
    assert zero_hit_bound(n, tail, top=4.0) == pytest.approx(4.0 * bound, rel=1e-15)


def test_zero_hit_bound_without_trials_is_infinite() -> None:
    assert zero_hit_bound(0, 0.025) == math.inf


def _pieces(seed: int) -> list[np.ndarray]:
    """Weighted per-window values (mostly zero, a few hits of varied weight) in pieces of
    uneven size, some empty."""
    rng = np.random.default_rng([23, seed])
    sizes = [0, 1, 7, 0, 250, 33, 1000, 2]
    out = []
    for k in sizes:
        hit = rng.random(k) < 0.1
        out.append(np.where(hit, rng.lognormal(-2.0, 1.5, k), 0.0))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_weighted_moments_merge_equals_of_concatenation(seed: int) -> None:
    pieces = _pieces(seed)
    whole = WeightedMoments.of(np.concatenate(pieces))
    merged = WeightedMoments()
    for piece in pieces:
        merged = merged.merge(WeightedMoments.of(piece))
    assert (merged.n, merged.hits) == (whole.n, whole.hits)
    for name in ("mean", "m2", "hit_sum", "hit_sq"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-11), name
    assert merged.standard_error == pytest.approx(whole.standard_error, rel=1e-11)
    assert merged.effective_hits == pytest.approx(whole.effective_hits, rel=1e-11)
    # merging is associative, and the empty moments are its identity
    a, b, c = (WeightedMoments.of(np.concatenate(pieces[i:j])) for i, j in ((0, 3), (3, 6), (6, 8)))
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    assert (left.n, left.hits) == (right.n, right.hits) == (whole.n, whole.hits)
    assert left.mean == pytest.approx(right.mean, rel=1e-12)
    assert left.m2 == pytest.approx(right.m2, rel=1e-12)
    assert WeightedMoments().merge(a) == a == a.merge(WeightedMoments())


@pytest.mark.parametrize("seed", range(3))
def test_barely_boosted_hits_merge_and_share(seed: int) -> None:
    """The hits of windows weighing at least BARELY_BOOSTED, counted and summed apart: merged
    block by block as over the whole sample, their share of the hits' sum."""
    rng = np.random.default_rng(seed)
    pieces = _pieces(seed)
    weights = [np.exp(rng.uniform(-8.0, 1.0, p.size)) for p in pieces]
    whole = WeightedMoments.of(np.concatenate(pieces), np.concatenate(weights))
    merged = WeightedMoments()
    for y, w in zip(pieces, weights, strict=True):
        merged = merged.merge(WeightedMoments.of(y, w))
    y, w = np.concatenate(pieces), np.concatenate(weights)
    barely = (y > 0) & (w >= BARELY_BOOSTED)
    assert merged.barely_hits == whole.barely_hits == int(barely.sum()) > 0
    assert merged.barely_sum == pytest.approx(float(y[barely].sum()), rel=1e-12)
    assert 0.0 < whole.barely_boosted_share < 1.0
    assert whole.barely_boosted_share == pytest.approx(float(y[barely].sum() / y[y > 0].sum()), rel=1e-12)
    # without weights nothing is counted; without a hit the share is undefined
    assert WeightedMoments.of(y).barely_hits == 0
    assert math.isnan(WeightedMoments.of(np.zeros(5), np.ones(5)).barely_boosted_share)


def test_weighted_moments_values() -> None:
    y = np.array([0.0, 0.5, 0.0, 2.0, 0.0])
    m = WeightedMoments.of(y)
    assert (m.n, m.hits) == (5, 2)
    assert m.mean == pytest.approx(0.5) and m.m2 == pytest.approx(float(np.sum((y - 0.5) ** 2)))
    assert m.hit_sum == pytest.approx(2.5) and m.hit_sq == pytest.approx(4.25)
    assert m.standard_error == pytest.approx(float(np.std(y)) / math.sqrt(5))  # population sd
    assert m.effective_hits == pytest.approx(2.5**2 / 4.25)
    # equal weights, 0/1 values: the binomial SE, n effective trials, as many effective hits as hits
    b = WeightedMoments.of(np.r_[np.ones(37), np.zeros(963)])
    assert b.standard_error == pytest.approx(math.sqrt(0.037 * 0.963 / 1000), rel=1e-12)
    assert b.ess == pytest.approx(1000, rel=1e-9) and b.effective_hits == pytest.approx(37, rel=1e-12)
    empty = WeightedMoments.of(np.array([]))
    assert empty == WeightedMoments() and math.isnan(empty.standard_error)


@pytest.mark.parametrize(("x", "n"), [(1, 10), (3, 10), (5, 10), (1, 1000), (37, 1000), (999, 1000)])
def test_bounded_mean_of_equal_weights_is_wilson(x: int, n: int) -> None:
    """0/1 values with equal weights: the estimate and interval are proportion()'s Wilson."""
    y = np.zeros(n)
    y[:x] = 1.0
    e = bounded_mean(WeightedMoments.of(np.random.default_rng(x).permutation(y)), "naive")
    w = proportion(x, n)
    assert e.estimate == pytest.approx(w.estimate, rel=1e-12)
    assert e.confidence_interval.low == pytest.approx(w.confidence_interval.low, rel=1e-9)
    assert e.confidence_interval.high == pytest.approx(w.confidence_interval.high, rel=1e-9)
    assert e.standard_error == pytest.approx(w.standard_error, rel=1e-9)
    assert e.method == "naive: Wilson at the effective sample size"
    # values 0 or top: the same interval in units of top
    scaled = bounded_mean(WeightedMoments.of(3.0 * y), "naive", top=3.0)
    assert scaled.estimate == pytest.approx(3.0 * w.estimate, rel=1e-12)
    assert scaled.confidence_interval.low == pytest.approx(3.0 * w.confidence_interval.low, rel=1e-9)
    assert scaled.confidence_interval.high == pytest.approx(3.0 * w.confidence_interval.high, rel=1e-9)


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_bounded_mean_without_hits_is_the_zero_hit_bound(n: int) -> None:
    e = bounded_mean(WeightedMoments.of(np.zeros(n)), "is")
    assert e.estimate == 0.0 and e.confidence_interval.low == 0.0
    assert e.confidence_interval.high == pytest.approx(
        proportion(0, n, "clopper-pearson").confidence_interval.high, rel=1e-12
    )
    assert e.method == "is: no hit, zero-hit bound"
    # the bound's tail follows z_hi, its scale zero_top (default top)
    z = z_upper(0.001)
    assert bounded_mean(WeightedMoments.of(np.zeros(n)), "is", z_hi=z).confidence_interval.high == (
        pytest.approx(zero_hit_bound(n, 0.001), rel=1e-9)
    )
    wide = bounded_mean(WeightedMoments.of(np.zeros(n)), "is", top=2.0, zero_top=8.0)
    assert wide.confidence_interval.high == pytest.approx(8.0 * zero_hit_bound(n, 0.025), rel=1e-12)


def test_every_window_a_hit_is_not_known_exactly() -> None:
    """All hits: Wilson's interval (its lower end below 1), not [1, 1] (estimator review)."""
    e = bounded_mean(WeightedMoments.of(np.ones(200)), "naive")
    w = proportion(200, 200)
    assert e.estimate == 1.0 and e.confidence_interval.high == 1.0
    assert e.confidence_interval.low == pytest.approx(w.confidence_interval.low, rel=1e-9)
    assert e.confidence_interval.low < 0.99
    share = bounded_ratio(np.ones(30), np.ones(30), "x").confidence_interval
    assert share.high == 1.0 and share.low == pytest.approx(proportion(30, 30).confidence_interval.low)


def test_bounded_mean_separate_z() -> None:
    y = np.r_[np.ones(4), np.zeros(96)]
    z_lo, z_hi = z_upper(0.05), z_upper(0.001)
    e = bounded_mean(WeightedMoments.of(y), "x", z_lo=z_lo, z_hi=z_hi)
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx(
        (wilson(4, 100, z_lo)[0], wilson(4, 100, z_hi)[1]), rel=1e-9
    )


def test_bounded_mean_of_no_windows_is_nan() -> None:
    e = bounded_mean(WeightedMoments(), "x")
    assert math.isnan(e.estimate) and math.isnan(e.confidence_interval.low)


def test_bounded_mean_coverage_with_importance_weights() -> None:
    """Hits drawn at q = 0.2 and weighted by p / q estimate p = 0.02 (values w x 1{hit}):
    over 400 seeds of 200 windows, Wilson at the effective sample size covers p a share of
    times within the 4-sigma binomial bounds of 95%."""
    p, q, n = 0.02, 0.2, 200
    hits = 0
    for seed in range(N_SEEDS):
        x = np.random.default_rng([19, seed]).random(n) < q
        ci = bounded_mean(WeightedMoments.of(np.where(x, p / q, 0.0)), "is").confidence_interval
        hits += ci.low <= p <= ci.high
    lo, hi = coverage_bounds()
    assert lo <= hits / N_SEEDS <= hi, hits / N_SEEDS


@pytest.mark.parametrize(("x", "n"), [(1, 20), (4, 20), (19, 20), (37, 1000)])
def test_bounded_ratio_of_equal_weights_is_wilson(x: int, n: int) -> None:
    """A share of 0/1 values with weights 1 is exactly proportion()'s Wilson interval."""
    y = np.random.default_rng(x).permutation(np.r_[np.ones(x), np.zeros(n - x)])
    e = bounded_ratio(y, np.ones(n), "naive")
    w = proportion(x, n)
    assert e.estimate == pytest.approx(w.estimate, rel=1e-12)
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx(
        (w.confidence_interval.low, w.confidence_interval.high), rel=1e-9
    )
    assert e.method == "naive: Wilson at the effective sample size"


def test_bounded_ratio_never_seen_is_not_known_to_be_zero() -> None:
    """No positive numerator: not [0, 0] (what a t interval gives) but the zero-hit bound at
    Kish's effective size (with equal weights, Clopper-Pearson's)."""
    e = bounded_ratio(np.zeros(19), np.ones(19), "x")
    assert e.estimate == 0.0 and e.confidence_interval.low == 0.0
    assert e.confidence_interval.high == pytest.approx(
        proportion(0, 19, "clopper-pearson").confidence_interval.high, rel=1e-12
    )
    uneven = bounded_ratio(np.zeros(4), np.array([1.0, 1.0, 1.0, 3.0]), "x")  # Kish: 36/12 = 3
    assert uneven.confidence_interval.high == pytest.approx(zero_hit_bound(3, 0.025), rel=1e-12)
    assert math.isnan(bounded_ratio(np.zeros(0), np.zeros(0), "x").estimate)


def test_bounded_ratio_coverage_of_a_rare_share_with_random_denominators() -> None:
    """A share of 0.08 among a random number (about 20) of weighted event windows, as
    cells_per_event_window's extra cells are: over 400 seeds the interval covers within the
    4-sigma bounds of 95% (a delta-method t interval covered 72% of these seeds)."""
    share = 0.08
    covered = 0
    for seed in range(N_SEEDS):
        rng = np.random.default_rng([23, seed])
        m = rng.poisson(20) + 1
        w = rng.choice([0.5, 1.0, 2.0], size=m)  # weights independent of the share
        y = (rng.random(m) < share).astype(float)
        ci = bounded_ratio(w * y, w, "x").confidence_interval
        covered += ci.low <= share <= ci.high
    lo, hi = coverage_bounds()
    assert lo <= covered / N_SEEDS <= hi, covered / N_SEEDS


# ------------------------------------------------------------------------------------------
# Estimate
# ------------------------------------------------------------------------------------------


def test_columns() -> None:
    e = proportion(3, 100, "clopper-pearson")
    cols = e.columns("p_cell_window")
    assert cols == {
        "p_cell_window": 0.03,
        "p_cell_window_lo": e.confidence_interval.low,
        "p_cell_window_hi": e.confidence_interval.high,
        "p_cell_window_method": "clopper-pearson",
    }
    assert list(cols) == ["p_cell_window", "p_cell_window_lo", "p_cell_window_hi", "p_cell_window_method"]


def test_confidence_level_is_95() -> None:
    assert estimates.CONFIDENCE == 0.95
