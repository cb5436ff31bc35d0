"""The splitting estimator (riskmc.estimators.split): the law of what a clone draws again,
the engine's own draws recomposed, the invariants, agreement with plain Monte Carlo within
4 combined standard errors, and replicates that do not depend on the threads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from riskmc import estimators
from riskmc.config import load_config
from riskmc.engine import kernel as K
from riskmc.errors import ConfigError
from riskmc.estimators import naive_plan
from riskmc.estimators import split as S
from tests.conftest import stress_config

ORDINARY = Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml"


def test_a_lognormal_given_its_elapsed_part_keeps_the_law_of_its_tail() -> None:
    s, loc, scale, x = 0.8, 0.0, 0.1, 2.5
    law = scipy.stats.lognorm(s, loc=loc, scale=scale)
    for v in (1e-9, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9):
        q = S._lognorm_beyond(s, loc, scale, x, v)
        assert q >= x
        assert law.sf(q) / law.sf(x) == pytest.approx(v, rel=1e-6)  # P(L > q | L > x) = v


def test_a_write_the_engine_drew_is_recomposed_to_its_duration() -> None:
    config = stress_config(["write.fail_prob=0.6", "write.backoff_cap=1.0"])
    setup = S.check_supported(config)
    fp, ip, emp = setup.fp, setup.ip, setup.emp_latency
    out = np.empty(2 * S.MAX_ATTEMPTS + 1)
    r = float(fp[K.F_R0])
    retried = 0
    for n in range(300):
        key = (np.uint64(3), np.uint64(9))
        d, attempts = K.write_duration(*key, 0, 0, 1, n, 2, fp, ip, emp, r, K.log_(r), 0.0)
        count = S.composition(*key, 1, n, 2, fp, ip, emp, r, K.log_(r), out)
        assert count == 2 * attempts - 1
        assert out[count - 1] == pytest.approx(d, rel=1e-12)
        assert np.all(np.diff(out[:count]) >= 0)
        retried += attempts > 1
    assert retried > 100


@pytest.mark.parametrize(
    "overrides",
    [
        ["enactors.count=1"],
        ["cleanup.keep_generations=100000"],
        ["mitigations.conditional_write.enabled=true"],
    ],
    ids=["one-enactor", "no-clean-up", "conditional-write"],
)
def test_the_invariants_give_no_event_and_an_honest_bound(overrides: list[str]) -> None:
    result = S.split(stress_config(overrides), 3, replicates=3, particles=60, kill=6)
    e = result.estimate
    assert e.estimate == 0.0 and all(r.p == 0.0 for r in result.replicates)
    assert e.confidence_interval.low == 0.0
    assert e.confidence_interval.high == pytest.approx(1 - 0.025 ** (1 / 180))  # 180 plain windows
    assert "zero-hit" in e.method


def test_what_it_does_not_support_is_named() -> None:
    with pytest.raises(ConfigError, match=r"region\.cells"):
        S.check_supported(stress_config(["region.cells=2"]))
    with pytest.raises(ConfigError, match="sampled"):
        S.check_supported(stress_config(['degraded.prob={dist="uniform", loc=0.01, scale=0.02}']))
    sampled_lease = ["mitigations.lease.enabled=true", 'mitigations.lease.seconds={dist="uniform", scale=9}']
    with pytest.raises(ConfigError, match=r"mitigations\.lease\.seconds"):
        S.check_supported(stress_config(sampled_lease))


def _agree(config: object, split_replicates: int, plain_trials: int, seed: int) -> None:
    result = S.split(config, seed, replicates=split_replicates)  # type: ignore[arg-type]
    plain = estimators.run(config, naive_plan(), trials=plain_trials, seed=seed + 1, n_resamples=2)  # type: ignore[arg-type]
    p = plain.estimates.values["p_cell_window"]
    e = result.estimate
    se_plain = math.sqrt(p.estimate * (1 - p.estimate) / plain_trials)
    gap = abs(e.estimate - p.estimate) / math.hypot(e.standard_error, se_plain)
    assert gap < 4.0, (e, p)
    assert e.confidence_interval.low < e.estimate < e.confidence_interval.high


def test_it_agrees_with_plain_monte_carlo_where_retries_and_degraded_runs_race() -> None:
    # p ~ 0.2: every mechanism at once (degraded runs, retried writes recomposed in flight)
    _agree(stress_config(), 8, 4000, 21)


@pytest.mark.parametrize(
    "overrides",
    [
        ["mitigations.lease.enabled=true", "mitigations.lease.seconds=30"],
        [f"mitigations.{m}.enabled=true" for m in ("recheck", "cleanup_skip_active", "deadline")]
        + ["mitigations.deadline.seconds=1.0"],
    ],
    ids=["lease", "recheck+cleanup_skip_active+deadline"],
)
def test_it_agrees_with_plain_monte_carlo_under_mitigations(overrides: list[str]) -> None:
    """The mitigations act in the engine the trajectories run on; what a clone draws again
    (a write's duration, a planner interval) none of them changes."""
    _agree(stress_config(overrides), 8, 4000, 21)


@pytest.mark.parametrize(
    "overrides",
    [
        ['write.latency={dist="lognorm", s=1.2, scale=0.1}'],
        ["write.fail_prob=0.55"],
        # a lease about a slow run's length: stalled holders lose it, and their clones' redrawn
        # writes decide again whether they do
        [
            'write.latency={dist="lognorm", s=1.2, scale=0.1}',
            "mitigations.lease.enabled=true",
            "mitigations.lease.seconds=1.0",
        ],
    ],
    ids=["latency-tail", "retries", "latency-tail-under-a-short-lease"],
)
def test_it_agrees_with_plain_monte_carlo_at_one_in_a_thousand(overrides: list[str]) -> None:
    _agree(load_config(ORDINARY, overrides), 10, 150_000, 7)


def test_replicates_do_not_depend_on_the_threads() -> None:
    config = load_config(ORDINARY, ['write.latency={dist="lognorm", s=1.2, scale=0.1}'])
    one = S.split(config, 4, replicates=3, particles=100, kill=10, threads=1)
    two = S.split(config, 4, replicates=3, particles=100, kill=10, threads=2)
    assert [r.p for r in one.replicates] == [r.p for r in two.replicates]
    assert one.estimate == two.estimate


def test_a_target_is_met_by_replicates_the_pilot_did_not_choose() -> None:
    config = load_config(ORDINARY, ['write.latency={dist="lognorm", s=1.2, scale=0.1}'])
    result = S.split(config, 5, target_rel_err=0.3, particles=200, kill=20)
    assert len(result.pilot) == S.PILOT_REPLICATES
    assert len(result.replicates) >= S.PILOT_REPLICATES
    assert result.stopped_by == "target"
    assert f"t over {len(result.replicates)} replicates" in result.estimate.method
    pilot_mean = np.mean([r.p for r in result.pilot])
    assert result.estimate.estimate == pytest.approx(np.mean([r.p for r in result.replicates]))
    assert result.estimate.estimate != pilot_mean


@pytest.mark.parametrize("elapsed_quantile", [0.5, 0.97])
def test_a_write_in_flight_drawn_again_keeps_its_law_given_its_elapsed_time(elapsed_quantile: float) -> None:
    # parents: engine-drawn writes (retried, backoffs capped) given D > e; a clone keeps a
    # parent's phases up to e and draws the rest: its D must again be a draw of D | D > e
    config = stress_config(["write.fail_prob=0.6", "write.backoff_cap=0.3"])
    setup = S.check_supported(config)
    fp, ip, emp = setup.fp, setup.ip, setup.emp_latency
    r = float(fp[K.F_R0])
    rng = np.random.default_rng(11)

    def fresh(n: int) -> tuple[np.ndarray, np.ndarray]:
        keys = rng.integers(0, 2**32, size=(n, 2), dtype=np.uint64)
        d = np.array(
            [K.write_duration(*key, 0, 0, 0, 7, 1, fp, ip, emp, r, K.log_(r), 0.0)[0] for key in keys]
        )
        return keys, d

    keys, d = fresh(40_000)
    e = float(np.quantile(d, elapsed_quantile))
    _, d_other = fresh(40_000)
    m = min(3000, int(np.count_nonzero(d > e)), int(np.count_nonzero(d_other > e)))
    assert m >= 1000
    parents, d_parent = keys[d > e][:m], d[d > e][:m]
    reference = d_other[d_other > e][:m]
    n_k, n_e = int(ip[K.I_K]), int(ip[K.I_E])
    children = []
    for (pk0, pk1), dp in zip(parents, d_parent, strict=True):
        ef = np.zeros((n_k, K.NEF))
        ei = np.zeros((n_k, K.NEI), np.int64)
        dur = np.zeros((n_k, K.padded(n_e)))
        comp = np.zeros((n_k, 2 * S.MAX_ATTEMPTS + 1))
        compi = np.zeros((n_k, 2), np.int64)
        ei[0, K.EI_KIND], ei[0, K.EI_WRITE], ei[0, K.EI_RUNS] = K.K_DONE, 1, 8  # run 7, write 1
        dur[0, 1], ef[0, K.EF_T] = dp, dp  # begun at 0
        u = 1.0 - rng.random(2)
        k0, k1 = rng.integers(0, 2**32, size=2, dtype=np.uint64)
        S._redraw_in_flight(k0, k1, pk0, pk1, e, u, fp, ip, emp, 0, ef, ei, dur, comp, compi)
        assert dur[0, 1] > e and ef[0, K.EF_T] == dur[0, 1]
        children.append(dur[0, 1])
    assert scipy.stats.ks_2samp(children, reference).pvalue > 1e-3
    assert not np.array_equal(np.asarray(children), d_parent)  # they were drawn again


def test_the_spread_is_the_replicates_relative_sd_over_an_ideal_scores() -> None:
    x = np.array([1e-3, 2e-3, 3e-3])
    expected = x.std(ddof=1) / x.mean() / math.sqrt(-math.log(x.mean()) / 500)
    assert S.spread_ratio(x, 500) == pytest.approx(expected)
    assert math.isnan(S.spread_ratio(np.array([1e-3]), 500)) and math.isnan(S.spread_ratio(np.zeros(3), 500))


def test_a_heavy_tailed_pilot_gives_up_when_asked() -> None:
    """Planner bursts (G = 2): the score misses their timing, the replicates spread several
    times an ideal score's; auto's split gives up after its pilot (its caller samples
    windows), an explicit one goes on and reports the spread."""
    config = load_config(ORDINARY, ["cleanup.keep_generations=2"])
    gave_up = S.split(config, 1, target_rel_err=0.1, give_up_heavy=True, threads=2)
    assert gave_up.stopped_by == "heavy-tailed" and len(gave_up.replicates) == S.PILOT_REPLICATES
    assert gave_up.spread > S.HEAVY_SPREAD
    tail = load_config(ORDINARY, ['write.latency={dist="lognorm", s=1.2, scale=0.1}'])
    kept = S.split(tail, 1, replicates=S.PILOT_REPLICATES, threads=2)
    assert kept.spread < S.HEAVY_SPREAD / 2
