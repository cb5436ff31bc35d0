"""The engine's random numbers (riskmc.engine.kernel, sections 1-3): Philox against its
published known answers, the machine-independent exp/log against libm, the ziggurat normal
and every distribution drawn at every use against scipy, and the address layout.

Distribution checks use fixed addresses (deterministic) and a Kolmogorov-Smirnov test at
the 0.1% level: a correct sampler fails with probability 0.001 for a random seed, so a
failure at these fixed seeds is a real defect, not noise to be tuned away.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.stats

from riskmc.distributions import USE_DISTRIBUTIONS
from riskmc.engine import kernel as K
from riskmc.engine import seed_key
from riskmc.params import KIND_CODES

KEY = (np.uint64(0x2545F491), np.uint64(0x4F6CDD1D))
EMPTY = np.empty(0)


def test_philox_known_answers() -> None:
    """Random123's known-answer vectors for philox4x32_10 (kat_vectors)."""
    cases = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for counter, key, expected in cases:
        assert tuple(int(x) for x in K.philox_block(*counter, *key)) == expected


def test_seed_key_covers_64_bits_and_refuses_beyond() -> None:
    assert seed_key(0) == (0, 0)
    assert seed_key(2**64 - 1) == (2**32 - 1, 2**32 - 1)
    assert seed_key(5 * 2**32 + 7) == (7, 5)
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            seed_key(bad)


def test_exp_and_log_within_one_ulp_of_libm() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.uniform(-708, 709, 200_000), rng.uniform(-1, 1, 100_000), rng.normal(0, 1e-9, 1000)]
    )
    got, ref = K.exp_array(x), np.exp(x)
    assert np.max(np.abs(got - ref) / np.spacing(ref)) <= 1.0
    y = np.concatenate(
        [np.exp(rng.uniform(-744, 709, 200_000)), rng.uniform(0.5, 2, 100_000), [5e-324, 1e-310]]
    )
    got, ref = K.log_array(y), np.log(y)
    nonzero = ref != 0
    assert np.max(np.abs(got - ref)[nonzero] / np.spacing(np.abs(ref[nonzero]))) <= 1.0
    special = K.log_array(np.array([0.0, -1.0, np.inf, 1.0]))
    assert special[0] == -np.inf and np.isnan(special[1]) and special[2] == np.inf and special[3] == 0.0


def test_elementary_functions_are_pinned_to_their_bits() -> None:
    """The same inputs give the same bits on every machine: no libm, no fused multiply-add.
    The digest was computed once; a different one means a machine (or a compiler flag)
    changed the arithmetic, which would break bit-identity across a cluster."""
    x = np.linspace(-700.0, 700.0, 100_001)
    digest = hashlib.sha256(K.exp_array(x).tobytes() + K.log_array(np.abs(x) + 1e-3).tobytes()).hexdigest()
    assert digest == ELEMENTARY_DIGEST


ELEMENTARY_DIGEST = "ebb5ea946a9c92c5481eab7b5c88630327f4801148d67b82d280bdb3f9e0c594"


def test_uniforms_stay_inside_their_intervals() -> None:
    top, zero = np.uint64(2**64 - 1), np.uint64(0)
    assert 0.0 < K.u_open(zero) < 1e-15 and 1 - 1e-15 < K.u_open(top) < 1.0
    assert 0.0 < K.u_oc(zero) <= 2.0**-53 and K.u_oc(top) == 1.0


def test_ziggurat_layers_have_equal_area() -> None:
    """Layer i of the ziggurat spans x_i (wi * 2^52) with densities f between fi[i-1] and
    fi[i]: every layer's box has the area of the base layer (tail included)."""
    x = K._ZWI[1:] * 2.0**52
    f = K._ZFI
    areas = x * (f[:-1] - f[1:])
    np.testing.assert_allclose(areas[1:], areas[1], rtol=1e-9)


def test_normal_deviates() -> None:
    """Standard normals of the ziggurat (via lognorm with s = 1, scale = 1: log of a draw):
    moments, a chi-square over 400 bins, and the tails beyond the ziggurat's edge r."""
    z = np.log(
        K.draws_of(K.D_LOGNORM, 1.0, 0.0, 1.0, 0.0, EMPTY, np.arange(2_000_000), K.P_REPAIR, 0, 3, *KEY)
    )
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    edges = np.concatenate([[-np.inf], np.linspace(-5, 5, 401), [np.inf]])
    observed, _ = np.histogram(z, edges)
    expected = np.diff(scipy.stats.norm.cdf(edges)) * z.size
    ok = expected > 20
    chi2 = float(((observed[ok] - expected[ok]) ** 2 / expected[ok]).sum())
    assert scipy.stats.chi2.sf(chi2, ok.sum() - 1) > 1e-3
    for a in (3.0, K._ZR, 4.5):
        n = int((np.abs(z) > a).sum())
        e = 2 * scipy.stats.norm.sf(a) * z.size
        assert abs(n - e) < 4 * np.sqrt(e), (a, n, e)


#: Every distribution the engine draws, two parameter sets each, against scipy.
SAMPLERS = [
    ("expon", (0.0, 30.0, 0.0, 0.0), scipy.stats.expon(0, 30)),
    ("expon", (0.5, 2.0, 0.0, 0.0), scipy.stats.expon(0.5, 2)),
    ("lognorm", (0.5, 0.0, 0.1, 0.0), scipy.stats.lognorm(0.5, 0, 0.1)),
    ("lognorm", (2.0, 1.0, 0.2, 0.0), scipy.stats.lognorm(2.0, 1.0, 0.2)),
    ("gamma", (2.5, 0.0, 3.0, 0.0), scipy.stats.gamma(2.5, 0, 3)),
    ("gamma", (0.3, 0.1, 1.0, 0.0), scipy.stats.gamma(0.3, 0.1, 1)),
    ("weibull_min", (0.7, 0.0, 2.0, 0.0), scipy.stats.weibull_min(0.7, 0, 2)),
    ("weibull_min", (3.0, 0.1, 2.0, 0.0), scipy.stats.weibull_min(3, 0.1, 2)),
    ("lomax", (1.5, 0.0, 0.2, 0.0), scipy.stats.lomax(1.5, 0, 0.2)),
    ("lomax", (4.0, 1.0, 1.0, 0.0), scipy.stats.lomax(4.0, 1.0, 1.0)),
    ("pareto", (1.5, 0.0, 0.05, 0.0), scipy.stats.pareto(1.5, 0, 0.05)),
    ("pareto", (3.0, -1.0, 2.0, 0.0), scipy.stats.pareto(3.0, -1.0, 2.0)),
    ("uniform", (2.0, 3.0, 0.0, 0.0), scipy.stats.uniform(2, 3)),
    ("uniform", (0.0, 1e-3, 0.0, 0.0), scipy.stats.uniform(0, 1e-3)),
    ("loguniform", (2.0, 60.0, 0.0, 1.0), scipy.stats.loguniform(2, 60)),
    ("loguniform", (1e-3, 1.0, 0.5, 2.0), scipy.stats.loguniform(1e-3, 1.0, loc=0.5, scale=2.0)),
]


@pytest.mark.parametrize(
    ("name", "params", "ref"), SAMPLERS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLERS)]
)
def test_sampler_matches_scipy(name: str, params: tuple[float, ...], ref: object) -> None:
    x = K.draws_of(KIND_CODES[name], *params, EMPTY, np.arange(100_000), K.P_REPAIR, 0, 11, *KEY)
    assert scipy.stats.kstest(x, ref.cdf).pvalue > 1e-3  # type: ignore[attr-defined]
    support = ref.support()  # type: ignore[attr-defined]
    assert np.all((x >= support[0]) & (x <= support[1]))


def test_every_use_distribution_has_an_engine_sampler() -> None:
    assert set(USE_DISTRIBUTIONS) | {"constant"} == set(KIND_CODES)
    assert len(set(KIND_CODES.values())) == len(KIND_CODES)


def test_empirical_resamples_its_values() -> None:
    values = np.array([0.1, 0.2, 0.2, 5.0])
    x = K.draws_of(K.D_EMPIRICAL, 0, 0, 0, 0, values, np.arange(200_000), K.P_REPAIR, 0, 2, *KEY)
    assert set(np.unique(x)) == {0.1, 0.2, 5.0}
    for v, share in ((0.1, 0.25), (0.2, 0.5), (5.0, 0.25)):
        n = float((x == v).sum())
        assert abs(n / x.size - share) < 4 * np.sqrt(share * (1 - share) / x.size)


def test_constant_is_constant() -> None:
    x = K.draws_of(K.D_CONSTANT, 0.25, 0, 0, 0, EMPTY, np.arange(100), K.P_REPAIR, 0, 2, *KEY)
    assert np.all(x == 0.25)


def test_addresses_differ_in_every_field() -> None:
    """The layout's fields do not overlap: changing any one field (trial, purpose, m, cell,
    enactor, index, write, attempt) changes the block."""
    base = (7, int(K.word1(K.P_ATTEMPT, 0, 5, 2)), 9, (3 << 16) | 1)
    variants = [
        (8, base[1], base[2], base[3]),
        (7, int(K.word1(K.P_RUN, 0, 5, 2)), 9, base[3]),
        (7, int(K.word1(K.P_ATTEMPT, 1, 5, 2)), 9, base[3]),
        (7, int(K.word1(K.P_ATTEMPT, 0, 6, 2)), 9, base[3]),
        (7, int(K.word1(K.P_ATTEMPT, 0, 5, 3)), 9, base[3]),
        (7, base[1], 10, base[3]),
        (7, base[1], 9, (4 << 16) | 1),
        (7, base[1], 9, (3 << 16) | 2),
    ]
    blocks = {tuple(K.philox_block(*c, *KEY)) for c in [base, *variants]}
    assert len(blocks) == 1 + len(variants)
    w = int(K.word1(15, K.MAX_CONTINUATION - 1, K.MAX_CELLS - 1, K.MAX_ENACTORS - 1))
    assert w == 0xFFFFFFFF  # the four fields fill c1 exactly, none spilling into another


def test_attempts_are_geometric_and_backoff_is_jittered() -> None:
    """write_duration with a constant latency of 1 s: D - N = the backoff, N geometric."""
    fp = np.zeros(K.NF)
    ip = np.zeros(K.NI, np.int64)
    fp[K.F_LATENCY] = 1.0  # constant 1 s per attempt
    fp[K.F_BASE], fp[K.F_CAP] = 0.5, 1.0
    ip[K.I_LATENCY] = K.D_CONSTANT
    r = 0.4
    durations, attempts = [], []
    for j in range(20_000):
        d, n = K.write_duration(*KEY, 1, 0, 0, 0, j, fp, ip, EMPTY, r, float(np.log(r)), 0.0)
        durations.append(d)
        attempts.append(n)
    n = np.array(attempts, float)
    backoff = np.array(durations) - n
    assert abs(n.mean() - 1 / (1 - r)) < 4 * np.sqrt(r / (1 - r) ** 2 / n.size)
    one = n == 1
    assert np.all(backoff[one] == 0.0)
    two = n == 2  # one backoff, uniform on [0, min(cap, base)] = [0, 0.5]
    assert scipy.stats.kstest(backoff[two], scipy.stats.uniform(0, 0.5).cdf).pvalue > 1e-3


def test_a_write_beyond_the_attempt_field_is_flagged_not_wrapped() -> None:
    fp = np.zeros(K.NF)
    ip = np.zeros(K.NI, np.int64)
    fp[K.F_LATENCY] = 0.1
    ip[K.I_LATENCY] = K.D_CONSTANT
    r = 1.0 - 1e-7  # ~1e7 attempts: beyond 65,535
    d, n = K.write_duration(*KEY, 1, 0, 0, 0, 0, fp, ip, EMPTY, r, float(np.log1p(-1e-7)), 0.0)
    assert n == -1 and np.isnan(d)
