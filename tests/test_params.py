"""Per region-window parameters (riskmc.params): addressed draws by quantile functions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from riskmc import engine
from riskmc.errors import ConfigError
from riskmc.params import UseDist, concat, key_id, sample_windows

from .conftest import stress_config

SAMPLED = [
    'degraded.prob={dist="loguniform", a=1e-4, b=1e-2}',
    'endpoints.count={dist="randint", low=2, high=9}',
    'planner.interval={dist="expon", scale={dist="uniform", loc=2, scale=3}}',
    'write.latency={dist="lognorm", s=0.5, scale={dist="gamma", a=3, scale=0.05}}',
    "region.shock.prob=0.2",
    "region.shock.degraded_prob=0.1",
]


def test_a_window_depends_on_its_trial_only() -> None:
    config = stress_config(SAMPLED)
    whole = sample_windows(config, 3, 50)
    picked = np.array([49, 7, 0, 7])
    part = sample_windows(config, 3, picked)
    for name in ("base_degraded_prob", "endpoints", "shock", "window_h"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[picked])
    np.testing.assert_array_equal(part.planner.params, whole.planner.params[picked])
    np.testing.assert_array_equal(part.latency.params, whole.latency.params[picked])
    joined = concat([sample_windows(config, 3, range(0, 20)), sample_windows(config, 3, range(20, 50))])
    np.testing.assert_array_equal(joined.kernel_inputs()[0], whole.kernel_inputs()[0])
    np.testing.assert_array_equal(joined.kernel_inputs()[1], whole.kernel_inputs()[1])


def test_sampled_values_follow_their_distributions() -> None:
    config = stress_config(SAMPLED)
    p = sample_windows(config, 11, 20_000)
    assert scipy.stats.kstest(p.base_degraded_prob, scipy.stats.loguniform(1e-4, 1e-2).cdf).pvalue > 1e-3
    counts = np.bincount(p.endpoints, minlength=9)[2:9] / p.n
    np.testing.assert_allclose(counts, 1 / 7, atol=4 * np.sqrt(1 / 7 * 6 / 7 / p.n))
    # nested: the planner's scale, and the latency's scale (engine columns 1 and 2)
    assert scipy.stats.kstest(p.planner.params[:, 1], scipy.stats.uniform(2, 3).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(p.latency.params[:, 2], scipy.stats.gamma(3, scale=0.05).cdf).pvalue > 1e-3
    assert abs(p.shock.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / p.n)
    np.testing.assert_array_equal(p.degraded_prob[p.shock], 0.1)


def test_a_swept_parameter_moves_every_window_monotonically() -> None:
    """The same uniform behind a window's value at every point of a sweep: common random
    numbers that move smoothly (here exactly: a shift of loc)."""
    a = sample_windows(stress_config(['degraded.prob={dist="uniform", loc=0.01, scale=0.02}']), 5, 300)
    b = sample_windows(stress_config(['degraded.prob={dist="uniform", loc=0.02, scale=0.02}']), 5, 300)
    np.testing.assert_allclose(b.base_degraded_prob - a.base_degraded_prob, 0.01, rtol=1e-12)
    c = sample_windows(stress_config(['degraded.prob={dist="beta", a=2, b=5}']), 5, 300)
    d = sample_windows(stress_config(['degraded.prob={dist="beta", a=2, b=6}']), 5, 300)
    assert np.all(d.base_degraded_prob <= c.base_degraded_prob)  # ppf decreases in b at every u


def test_key_ids_are_stable_and_distinct() -> None:
    keys = [
        "degraded.prob",
        "planner.interval.scale",
        "write.latency.scale",
        "region.cells",
        "mitigations.deadline.seconds",
    ]
    ids = [key_id(k) for k in keys]
    assert len(set(ids)) == len(ids)
    assert key_id("degraded.prob") == 0xACACD43F  # an address: it must never change
    assert all(0 <= i < 2**32 for i in ids)


def test_use_distributions_and_their_means() -> None:
    config = stress_config(['repair.duration={dist="lognorm", s=0.5, scale=9420}', "write.latency=0.2"])
    p = sample_windows(config, 1, 3)
    assert p.latency.name == "constant" and np.all(p.latency.params[:, 0] == 0.2)
    np.testing.assert_allclose(p.repair.mean(), 9420 * np.exp(0.125))
    guard = sample_windows(stress_config(["mitigations.empty_guard.repair=600"]), 1, 3)
    assert guard.repair.name == "constant" and np.all(guard.repair.mean() == 600)
    emp = UseDist("empirical", np.zeros((2, 4)), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(emp.mean(), [2.0, 2.0])


def test_empirical_latencies_reach_the_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file of observed latencies: every write the engine draws is one of them."""
    path = tmp_path / "latencies.txt"
    path.write_text("# observed, seconds\n0.11 0.12\n0.5, 0.09\n")
    toml = tmp_path / "c.toml"
    toml.write_text('[write]\nlatency = {dist = "empirical", file = "latencies.txt"}\nfail_prob = 0.0\n')
    from riskmc.config import load_config

    config = load_config(toml)
    p = sample_windows(config, 1, 2)
    rnd = engine.AddressedRandomness(p.batch(1), 0, 0)
    _, durations = rnd.run_draws(0, 0)
    assert set(durations) <= {0.09, 0.11, 0.12, 0.5}


def test_cell_params_for_the_reference() -> None:
    config = stress_config(["mitigations.deadline.seconds=7", "mitigations.recheck=true"])
    p = sample_windows(config, 1, 4)
    cp = p.cell_params(2)
    assert cp.mitigations.deadline_s == 7.0 and cp.mitigations.recheck
    assert cp.endpoints == 5 and cp.window_s == pytest.approx(360.0)
    assert cp.degraded_prob == pytest.approx(0.05)
    assert p.cell_params(2, degraded_prob=0.3).degraded_prob == 0.3


def test_a_nested_table_that_leaves_its_domain_is_named() -> None:
    with pytest.raises(ConfigError, match=r"write\.latency"):
        config = stress_config(
            ['write.latency={dist="lognorm", s={dist="norm", loc=0.1, scale=1}, scale=0.1}']
        )
        sample_windows(config, 1, 2000)


def test_the_address_layout_bounds_trials_and_clamps_no_clean_up() -> None:
    """A trial index of 2^32 would share random numbers with trial 0 (docs/model.md section
    7): refused.  G beyond every generation a window can publish is "never clean up",
    clamped to that count (the same simulation), not refused."""
    config = stress_config([])
    with pytest.raises(ValueError, match=r"\[0, 2\^32\)"):
        sample_windows(config, 1, np.array([0, 2**32]))
    never = sample_windows(stress_config([f"cleanup.keep_generations={2**63 - 1}"]), 1, 20)
    assert never.keep_generations.max() == engine.kernel.MAX_GENERATIONS
    out = engine.simulate(never.batch(1))
    assert not out[:, engine.kernel.W_EVENTS].any()
