"""The random inputs of cell-windows (`riskmc.draws`).

* `write_durations`, the vectorized write-duration sampler, against MODEL.md section 2
  ("Write duration"): two-sample KS tests against `reference.draw_run` (an independent,
  attempt-by-attempt loop), the closed-form mean, the geometric law of the attempt count,
  and exact identities (fail_prob 0, per-row parameters, degraded rows).
* `draw`: bit-identical to `ResolvedDist.rvs` on the same generator state.
* `BlockDraws` / `ChunkDraws` / `TrialRandomness`: addressing (the same run and write give
  the same duration whoever asks, in whatever order), publication times, wake offsets,
  degraded flags (with and without a region shock), and page release.

Fixed seeds throughout; statistical tolerances are 4 standard errors or a test statistic at
alpha = 1e-4 (a false alarm about once in 10^4 seeds), never tuned.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import scipy.stats

from riskmc import reference
from riskmc.distributions import ResolvedDist
from riskmc.draws import RUN_PAGE, BlockDraws, ChunkDraws, TrialRandomness, draw, write_durations
from riskmc.params import TrialParams, sample_block
from riskmc.streams import BLOCK_TRIALS, Purpose, stream

from .conftest import stress_config

SEED = 20251020
ALPHA = 1e-4
#: Lognormal latency of the stress configuration: s = 0.5, scale = 0.1.
LOGNORM_MEAN = 0.1 * np.exp(0.5**2 / 2)


def block_params(overrides: list[str], seed: int = SEED, block: int = 0) -> TrialParams:
    return sample_block(stress_config(overrides), seed, block)


def engine_durations(
    params: TrialParams, degraded: bool | np.ndarray, runs: int, n_writes: int, sub: int = 0
) -> np.ndarray:
    """write_durations on fresh addressed generators, degraded flags [rows, runs]."""
    flags = np.broadcast_to(np.asarray(degraded, dtype=bool), (params.n, runs)).copy()
    rng = stream(SEED, 0, Purpose.RUNS, 99, sub)
    retry_rng = stream(SEED, 0, Purpose.RETRY, 99, sub)
    return write_durations(rng, retry_rng, params, flags, n_writes)


def reference_durations(params: TrialParams, n_runs: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(degraded flags, durations) of n_runs runs drawn by the literal reference sampler."""
    cell = params.cell(0)
    rng = np.random.default_rng(seed)
    runs = [reference.draw_run(cell, rng) for _ in range(n_runs)]
    return np.array([d for d, _ in runs]), np.concatenate([x for _, x in runs])


def expected_mean(r: float, mean_latency: float, base: float, cap: float) -> float:
    """E[D] = E[N] E[L] + sum_{a>=1} P(N > a) E[B_a], P(N > a) = r^a, E[B_a] = min(cap, base 2^(a-1))/2."""
    a = np.arange(1, 1001)  # r^1000 is negligible for r <= 0.9
    tail = r**a * np.minimum(cap, base * 2.0 ** (a - 1)) / 2.0
    return mean_latency / (1.0 - r) + float(tail.sum())


# ------------------------------------------------------------------------------------------
# write_durations against the reference sampler and the closed form
# ------------------------------------------------------------------------------------------

#: name -> (overrides, degraded flag for write_durations, r in effect, mean latency)
CASES = {
    # retries common, the backoff (base 0.2 s) comparable to the latency: an off-by-one in
    # N or in the backoff exponent, or missing jitter, shifts the distribution visibly.
    "normal-r0.3": (
        ["write.fail_prob=0.3", "write.backoff_base=0.2", "write.backoff_cap=1.0", "degraded.prob=0"],
        False,
        0.3,
        LOGNORM_MEAN,
    ),
    # degraded run, about 10 attempts per write: the cap (0.4 s = 0.05 * 2^3) binds from
    # attempt 4 on, so a cap applied wrongly (or the wrong r for degraded runs) shows.
    "degraded-r0.9-capped": (
        [
            "write.fail_prob=0.01",
            "degraded.prob=1",
            "degraded.fail_prob=0.9",
            "write.backoff_base=0.05",
            "write.backoff_cap=0.4",
        ],
        True,
        0.9,
        LOGNORM_MEAN,
    ),
    # constant latency (the fallback path of `draw`, atoms at multiples of L)
    "constant-latency": (
        ["write.latency=0.1", "write.fail_prob=0.3", "write.backoff_base=0.2", "degraded.prob=0"],
        False,
        0.3,
        0.1,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_write_durations_match_reference_sampler_ks(case: str) -> None:
    """Single write durations: vectorized sampler vs the literal attempt loop (KS, alpha 1e-4).

    Catches any difference in the law of D: N off by one, wrong failure probability for
    degraded runs, backoff exponent / cap / jitter errors, latencies of retries not drawn
    from the row's distribution.  With 20000 writes per side, the test rejects a CDF
    difference of about 0.025 or more.
    """
    overrides, degraded, _, _ = CASES[case]
    params = block_params([*overrides, "endpoints.count=50"])
    ours = engine_durations(params, degraded, runs=1, n_writes=20).ravel()
    flags, ref = reference_durations(params, n_runs=400)
    assert flags.all() == degraded  # the reference really drew the intended kind of run
    assert ours.size == ref.size == 20000
    assert scipy.stats.ks_2samp(ours, ref).pvalue > ALPHA


@pytest.mark.parametrize("case", list(CASES))
def test_write_duration_mean_matches_closed_form(case: str) -> None:
    """Mean of D within 4 standard errors of E[N] E[L] + sum_a r^a min(cap, base 2^(a-1)) / 2.

    400000 writes: the SE is ~0.2% of the mean; a backoff exponent off by one or a missing
    factor 1/2 of the jitter moves the mean by far more than 4 SE in every case.
    """
    overrides, degraded, r, mean_latency = CASES[case]
    params = block_params(overrides)
    d = engine_durations(params, degraded, runs=20, n_writes=20).ravel()
    expected = expected_mean(r, mean_latency, float(params.backoff_base_s[0]), float(params.backoff_cap_s[0]))
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert abs(d.mean() - expected) < 4 * se, (d.mean(), expected, se)


def test_closed_form_mean_agrees_with_reference_sampler() -> None:
    """The closed form itself is checked against the literal sampler (4 SE), so the previous
    test cannot pass with a formula that happens to share a mistake with the engine."""
    overrides, _, r, mean_latency = CASES["degraded-r0.9-capped"]
    params = block_params([*overrides, "endpoints.count=50"])
    _, ref = reference_durations(params, n_runs=400, seed=2)
    expected = expected_mean(r, mean_latency, 0.05, 0.4)
    se = ref.std(ddof=1) / np.sqrt(ref.size)
    assert abs(ref.mean() - expected) < 4 * se


def attempt_counts(r: float, degraded: bool) -> np.ndarray:
    """N per write, observed as D / L with constant latency L and zero backoff (D = N L)."""
    key = "degraded.fail_prob" if degraded else "write.fail_prob"
    params = block_params(
        [
            "write.latency=0.125",
            f"{key}={r}",
            "write.backoff_base=0",
            "write.backoff_cap=0",
            "degraded.prob=0",
        ]
    )
    d = engine_durations(params, degraded, runs=4, n_writes=5).ravel()
    n = np.rint(d / 0.125).astype(np.int64)
    np.testing.assert_allclose(d, n * 0.125, rtol=1e-12)  # D is a whole number of latencies
    assert n.min() >= 1
    return n


@pytest.mark.parametrize(("r", "degraded"), [(0.3, False), (0.8, True)])
def test_attempt_count_is_geometric_chisquare(r: float, degraded: bool) -> None:
    """N ~ Geometric(1 - r) on {1, 2, ...}: chi-square over N = 1..K-1 and a tail bin N >= K,
    K chosen so that every expected count is >= 5 (alpha 1e-4).

    Catches an inversion error (e.g. N = floor(log u / log r), or N > 1 when u < 1 - r), a
    lost retry, or the wrong r for the degraded flag.
    """
    n = attempt_counts(r, degraded)
    size = n.size

    def expected_counts(k: int) -> np.ndarray:
        return np.array([size * (1 - r) * r ** (i - 1) for i in range(1, k)] + [size * r ** (k - 1)])

    k = 2
    while expected_counts(k + 1).min() >= 5:
        k += 1
    expected = expected_counts(k)
    observed = np.array([np.sum(n == i) for i in range(1, k)] + [np.sum(n >= k)])
    assert k >= 6 and expected.min() >= 5
    assert scipy.stats.chisquare(observed, expected).pvalue > ALPHA


@pytest.mark.parametrize(("r", "degraded"), [(0.3, False), (0.8, True)])
def test_share_of_single_attempt_writes(r: float, degraded: bool) -> None:
    """P(N = 1) = 1 - r within 4 SE (SE = sqrt(r (1 - r) / n))."""
    n = attempt_counts(r, degraded)
    share = np.mean(n == 1)
    assert abs(share - (1 - r)) < 4 * np.sqrt(r * (1 - r) / n.size)


def test_fail_prob_zero_gives_first_latency_exactly() -> None:
    """With r = 0 no write is retried: D is the first-attempt latency, bit for bit (the same
    draw from the same generator state), and a constant latency gives exactly L.

    Catches a spurious retry (e.g. `u < r` replaced by `u <= r` with u in [0, 1)) or any
    additive term on a write that succeeded at once."""
    params = block_params(["write.fail_prob=0", "degraded.prob=0"])
    d = engine_durations(params, False, runs=3, n_writes=7)
    first = draw(params.write_latency, stream(SEED, 0, Purpose.RUNS, 99, 0), (params.n, 3, 7))
    np.testing.assert_array_equal(d, first)

    const = block_params(["write.latency=0.1", "write.fail_prob=0", "degraded.prob=0"])
    np.testing.assert_array_equal(engine_durations(const, False, runs=3, n_writes=7), 0.1)


def test_degraded_flag_selects_failure_probability_per_run() -> None:
    """Mixed flags [rows, runs]: fail_prob 0 and degraded.fail_prob 0.8, constant L = 0.125,
    no backoff.  Non-degraded runs have exactly one attempt per write; the degraded runs'
    attempt counts have mean 1 / (1 - 0.8) = 5 within 4 SE.  Catches a flag broadcast along
    the wrong axis (rows vs runs) or the failure probabilities swapped."""
    params = block_params(
        [
            "write.latency=0.125",
            "write.fail_prob=0",
            "degraded.fail_prob=0.8",
            "write.backoff_base=0",
            "write.backoff_cap=0",
        ]
    )
    flags = np.random.default_rng(3).random((params.n, 6)) < 0.5
    d = engine_durations(params, flags, runs=6, n_writes=8)
    n = np.rint(d / 0.125)
    np.testing.assert_array_equal(n[~flags], 1.0)
    nd = n[flags].ravel()
    se = np.sqrt(0.8) / 0.2 / np.sqrt(nd.size)  # sd of Geometric(0.2) = sqrt(r) / (1 - r)
    assert abs(nd.mean() - 5.0) < 4 * se


def test_retries_use_their_own_rows_parameters() -> None:
    """Rows with different constant latencies L_i (and no backoff): every D of row i is a whole
    multiple of L_i.  A retried attempt that took another row's latency (a wrong owner-row
    mapping of the flattened retries) would leave a non-integer ratio."""
    base = block_params(["write.fail_prob=0.5", "write.backoff_base=0", "write.backoff_cap=0"])
    lat = 1.0 + np.arange(base.n) / 7.0  # distinct, not multiples of one another
    params = replace(base, write_latency=ResolvedDist.constant(lat))
    d = engine_durations(params, False, runs=2, n_writes=5)
    ratio = d / lat[:, None, None]
    np.testing.assert_allclose(ratio, np.rint(ratio), atol=1e-9)
    assert (np.rint(ratio) > 1).mean() > 0.4  # retries did happen (P(N > 1) = 0.5)


def test_backoff_respects_per_row_cap() -> None:
    """Per-row backoff caps: with L = 0 (constant) and r = 0.5, D = sum of backoffs, so
    D <= (N - 1) * cap_i with N = attempts; rows with cap 0 have D = 0 exactly."""
    base = block_params(["write.latency=0", "write.fail_prob=0.5", "write.backoff_base=1.0"])
    cap = np.where(np.arange(base.n) % 2 == 0, 0.0, 0.5)
    params = replace(base, backoff_cap_s=cap)
    d = engine_durations(params, False, runs=2, n_writes=5)
    np.testing.assert_array_equal(d[cap == 0], 0.0)
    assert d[cap > 0].max() > 0
    # max backoff per write is (N - 1) * 0.5 and N - 1 <= log(u) / log(0.5) is finite: check the
    # simple bound D / 0.5 < 60 (P(N > 60) = 2^-60) and that no row took another's cap.
    assert d[cap > 0].max() < 30


# ------------------------------------------------------------------------------------------
# draw() == ResolvedDist.rvs
# ------------------------------------------------------------------------------------------

N_ROWS = 50
_row = np.linspace(0.0, 1.0, N_ROWS)

DISTS = {
    "lognorm-s": ResolvedDist("lognorm", {"s": 0.3 + _row}),
    "lognorm-s-scale": ResolvedDist("lognorm", {"s": 0.3 + _row, "scale": 0.05 + _row}),
    "lognorm-s-scale-loc": ResolvedDist(
        "lognorm", {"s": 0.3 + _row, "scale": 0.05 + _row, "loc": 0.01 + 0.1 * _row}
    ),
    "expon": ResolvedDist("expon", {}, N_ROWS),
    "expon-scale": ResolvedDist("expon", {"scale": 1.0 + 10 * _row}),
    "expon-scale-loc": ResolvedDist("expon", {"scale": 1.0 + 10 * _row, "loc": 0.5 * _row}),
    # fallbacks
    "gamma": ResolvedDist("gamma", {"a": 0.5 + _row, "scale": 2.0 + _row}),
    "loguniform": ResolvedDist("loguniform", {"a": 1.0 + _row, "b": 10.0 + _row}),
    "weibull_min": ResolvedDist("weibull_min", {"c": 0.7 + _row}),
    "constant": ResolvedDist.constant(0.1 + _row),
}


@pytest.mark.parametrize("name", list(DISTS))
@pytest.mark.parametrize("size", [(N_ROWS,), (N_ROWS, 7), (N_ROWS, 3, 4)])
def test_draw_is_bit_identical_to_rvs(name: str, size: tuple[int, ...]) -> None:
    """Same values bit for bit and the same generator state afterwards (so later draws from
    the stream agree too).  Catches a transformation that differs from scipy's (e.g. loc
    added before scale, exp(s) * Z), row parameters broadcast along the wrong axis, or a
    different number of variates consumed."""
    dist = DISTS[name]
    rng_a = stream(SEED, 0, Purpose.RUNS, 7)
    rng_b = stream(SEED, 0, Purpose.RUNS, 7)
    ours = draw(dist, rng_a, size)
    theirs = dist.rvs(rng_b, size)
    assert ours.shape == theirs.shape == size
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(ours.view(np.uint64), theirs.view(np.uint64))
    np.testing.assert_array_equal(rng_a.integers(0, 2**63, 8), rng_b.integers(0, 2**63, 8))


def test_draw_rows_use_their_own_parameters() -> None:
    """Sanity that the comparison above is not vacuous: row i of a lognorm has median
    scale_i (rows with scale 1 and 100 are separated by far more than sampling noise)."""
    dist = ResolvedDist("lognorm", {"s": np.full(2, 0.5), "scale": np.array([1.0, 100.0])})
    x = draw(dist, stream(SEED, 0, Purpose.RUNS, 8), (2, 2000))
    med = np.median(x, axis=1)
    assert 0.9 < med[0] < 1.1 and 90 < med[1] < 110


# ------------------------------------------------------------------------------------------
# BlockDraws / ChunkDraws / TrialRandomness: addressing and layout
# ------------------------------------------------------------------------------------------

#: sampled endpoint counts (per row 3..8) exercise the per-block layout and the slicing
ADDR_OVERRIDES = ['endpoints.count={dist="randint", low=3, high=9}', "degraded.prob=0.2"]


@pytest.fixture(scope="module")
def addr_params() -> dict[int, TrialParams]:
    cfg = stress_config(ADDR_OVERRIDES)
    return {b: sample_block(cfg, SEED, b) for b in (3, 4)}


def test_run_draws_do_not_depend_on_who_asks_or_in_what_order(addr_params: dict[int, TrialParams]) -> None:
    """(block 4, enactor k, run n, write j) has one duration: TrialRandomness on a BlockDraws
    that was asked for run 40 first, on a fresh BlockDraws asked for run 3 first,
    ChunkDraws([4]) and ChunkDraws([3, 4]) (both the one-page and the multi-page path of
    `runs`).  Catches draws consumed from a shared stream, page/slot arithmetic errors, and a
    row offset error when blocks are stacked in a chunk."""
    p4 = addr_params[4]
    rows = np.array([0, 1, 17, 500, 999])
    horizon = 360.0
    late_first = BlockDraws(SEED, 4, p4)
    early_first = BlockDraws(SEED, 4, p4)
    asks = [(1, 40), (0, 3), (2, 17), (1, 3), (0, 40)]
    got_late = {
        (r, k, n): TrialRandomness(late_first, r, horizon).run_draws(k, n) for r in rows for k, n in asks
    }
    got_early = {
        (r, k, n): TrialRandomness(early_first, r, horizon).run_draws(k, n)
        for r in rows
        for k, n in reversed(asks)
    }
    alone = ChunkDraws(SEED, [4], [p4])
    pair = ChunkDraws(SEED, [3, 4], [addr_params[3], p4])
    for (r, k, n), (deg, dur) in got_late.items():
        e = int(p4.endpoints[r])
        assert dur.shape == (e,)
        deg2, dur2 = got_early[(r, k, n)]
        assert deg == deg2
        np.testing.assert_array_equal(dur, dur2)
        for chunk, offset in ((alone, 0), (pair, BLOCK_TRIALS)):
            d3, u3 = chunk.runs(np.array([k]), np.array([r + offset]), np.array([n]))
            assert bool(d3[0]) == deg
            np.testing.assert_array_equal(u3[0, :e], dur)
    # multi-page, multi-enactor call in one go, in a scrambled order
    ks = np.array([k for _ in rows for k, _ in asks])
    ns = np.array([n for _ in rows for _, n in asks])
    rs = np.array([r for r in rows for _ in asks])
    order = np.random.default_rng(0).permutation(ks.size)
    for chunk, offset in ((ChunkDraws(SEED, [3, 4], [addr_params[3], p4]), BLOCK_TRIALS),):
        deg, dur = chunk.runs(ks[order], rs[order] + offset, ns[order])
        for i, j in enumerate(order):
            ref_deg, ref_dur = got_late[(rs[j], ks[j], ns[j])]
            assert bool(deg[i]) == ref_deg
            np.testing.assert_array_equal(dur[i, : ref_dur.size], ref_dur)


def test_different_runs_writes_and_enactors_differ(addr_params: dict[int, TrialParams]) -> None:
    """Distinct addresses give distinct draws (no two runs/enactors/blocks/planner pages share a
    stream)."""
    b4 = BlockDraws(SEED, 4, addr_params[4])
    b3 = BlockDraws(SEED, 3, addr_params[3])
    seen = [
        b4.run_page(0, 0)[1][:, 0, 0],
        b4.run_page(0, 0)[1][:, 1, 0],
        b4.run_page(0, 1)[1][:, 0, 0],
        b4.run_page(1, 0)[1][:, 0, 0],
        b3.run_page(0, 0)[1][:, 0, 0],
        b4.run_page(0, 0)[1][:, 0, 1],
        b4.planner_page(0)[:, 0],
        b4.planner_page(1)[:, 0],
        b4.planner_page(2)[:, 0],
        b3.planner_page(0)[:, 0],
    ]
    for i in range(len(seen)):
        for j in range(i):
            assert not np.array_equal(seen[i], seen[j]), (i, j)


def test_publication_times(addr_params: dict[int, TrialParams]) -> None:
    """P[:, 0] = 0, strictly increasing, padded with +inf only after the finite part, the last
    finite value beyond each row's horizon; block 4's rows are the same in ChunkDraws([4])
    and ChunkDraws([3, 4]); TrialRandomness yields exactly the same floats as the row."""
    p3, p4 = addr_params[3], addr_params[4]
    h = np.concatenate([p3.window_s, p4.window_s])
    pair = ChunkDraws(SEED, [3, 4], [p3, p4])
    P = pair.publication_times(h)
    assert P.shape[0] == 2 * BLOCK_TRIALS
    np.testing.assert_array_equal(P[:, 0], 0.0)
    finite = np.isfinite(P)
    n_fin = finite.sum(axis=1)
    # finite values form a prefix of each row
    assert np.array_equal(finite, np.arange(P.shape[1])[None, :] < n_fin[:, None])
    for i in range(P.shape[0]):
        row = P[i, : n_fin[i]]
        assert np.all(np.diff(row) > 0)
        assert row[-1] > h[i]

    alone = ChunkDraws(SEED, [4], [p4]).publication_times(p4.window_s)
    for i in range(BLOCK_TRIALS):
        m = min(int(np.isfinite(alone[i]).sum()), int(n_fin[BLOCK_TRIALS + i]))
        np.testing.assert_array_equal(alone[i, :m], P[BLOCK_TRIALS + i, :m])

    b4 = BlockDraws(SEED, 4, p4)
    for r in (0, 5, 123, 999):
        row = P[BLOCK_TRIALS + r, 1 : n_fin[BLOCK_TRIALS + r]]
        gen = TrialRandomness(b4, r, float(p4.window_s[r])).publication_times()
        yielded = [next(gen) for _ in range(row.size + 70)]  # and beyond the page boundary
        assert all(isinstance(t, float) for t in yielded)
        assert yielded[: row.size] == row.tolist()
        assert all(b > a for a, b in itertools.pairwise(yielded))


def test_planner_intervals_follow_the_distribution(addr_params: dict[int, TrialParams]) -> None:
    """Intervals X_g = P_g - P_(g-1) are Exp(scale 3) (the stress configuration): KS at alpha
    1e-4 over the first 64 intervals of 1000 rows.  Catches a wrong scale or distribution."""
    b4 = BlockDraws(SEED, 4, addr_params[4])
    x = b4.planner_page(0).ravel()
    assert scipy.stats.kstest(x, "expon", args=(0, 3.0)).pvalue > ALPHA


def test_wake_offsets(addr_params: dict[int, TrialParams]) -> None:
    """Wake offsets lie in [0, poll), are Uniform(0, poll) (KS alpha 1e-4), agree between
    TrialRandomness and ChunkDraws, and do not depend on the chunk."""
    p3, p4 = addr_params[3], addr_params[4]
    pair = ChunkDraws(SEED, [3, 4], [p3, p4]).wake_uniforms()
    alone = ChunkDraws(SEED, [4], [p4]).wake_uniforms()
    np.testing.assert_array_equal(pair[BLOCK_TRIALS:], alone)
    assert pair.shape == (2 * BLOCK_TRIALS, 3)
    b4 = BlockDraws(SEED, 4, p4)
    offsets = np.array(
        [[TrialRandomness(b4, r, 360.0).wake_offset(k) for k in range(3)] for r in range(BLOCK_TRIALS)]
    )
    poll = p4.poll_s[:, None]
    assert np.all(offsets >= 0) and np.all(offsets < poll)
    np.testing.assert_array_equal(offsets, alone * poll)
    assert scipy.stats.kstest((offsets / poll).ravel(), "uniform").pvalue > ALPHA
    assert not np.array_equal(pair[:, 0], pair[:, 1])  # enactors have their own streams


def degraded_share(overrides: list[str]) -> tuple[float, int, TrialParams]:
    p = block_params(overrides, block=2)
    b = BlockDraws(SEED, 2, p)
    flags = np.concatenate([b.run_page(k, page)[0].ravel() for k in range(3) for page in range(2)])
    return float(flags.mean()), flags.size, p


def test_degraded_flag_frequency() -> None:
    """Degraded flags per run: frequency = degraded.prob within 4 SE (96000 runs)."""
    share, n, _ = degraded_share(["degraded.prob=0.2"])
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)


def test_region_shock_sets_degraded_frequency() -> None:
    """With region.shock.prob = 1 every window is shocked and runs are degraded with
    shock.degraded_prob q = 0.6 (not degraded.prob = 0.01), within 4 SE."""
    share, n, p = degraded_share(
        ["degraded.prob=0.01", "region.shock.prob=1", "region.shock.degraded_prob=0.6"]
    )
    assert p.shock.all()
    assert abs(share - 0.6) < 4 * np.sqrt(0.6 * 0.4 / n)


def test_degraded_runs_have_longer_writes() -> None:
    """run_page draws durations with the degraded failure probability for degraded runs:
    mean attempt count (constant L, no backoff) of degraded runs is 1/(1 - 0.75) = 4 and of
    the others 1/(1 - 0) = 1 exactly."""
    p = block_params(
        [
            "write.latency=0.125",
            "write.fail_prob=0",
            "degraded.fail_prob=0.75",
            "degraded.prob=0.3",
            "write.backoff_base=0",
            "write.backoff_cap=0",
        ]
    )
    deg, dur = BlockDraws(SEED, 0, p).run_page(0, 0)
    n = np.rint(dur / 0.125)
    np.testing.assert_array_equal(n[~deg], 1.0)
    nd = n[deg].ravel()
    assert abs(nd.mean() - 4.0) < 4 * (np.sqrt(0.75) / 0.25) / np.sqrt(nd.size)


def test_released_pages_are_regenerated_identically(addr_params: dict[int, TrialParams]) -> None:
    """ChunkDraws.release(k, below) forgets enactor k's pages below `below`; asking again
    regenerates exactly the same values (and other enactors' pages are untouched)."""
    p3, p4 = addr_params[3], addr_params[4]
    chunk = ChunkDraws(SEED, [3, 4], [p3, p4])
    rows = np.arange(0, 2 * BLOCK_TRIALS, 37)
    ns = np.arange(3 * RUN_PAGE)
    before = {
        (k, n): chunk.runs(np.full(rows.size, k), rows, np.full(rows.size, n)) for k in (0, 1) for n in ns
    }
    before = {key: (d.copy(), u.copy()) for key, (d, u) in before.items()}
    pages_before = len(chunk._pages)  # white-box: release must really forget the pages
    chunk.release(0, 2)
    chunk.release(1, 3)
    assert len(chunk._pages) == pages_before - 5  # (0, 0), (0, 1), (1, 0), (1, 1), (1, 2)
    for (k, n), (d, u) in before.items():
        d2, u2 = chunk.runs(np.full(rows.size, k), rows, np.full(rows.size, n))
        np.testing.assert_array_equal(d2, d)
        np.testing.assert_array_equal(u2, u)


def test_block_draws_need_a_whole_block() -> None:
    p = block_params([])
    with pytest.raises(ValueError):
        BlockDraws(SEED, 0, p.take(slice(0, 10)))
