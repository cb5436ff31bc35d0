"""Calibration of one parameter to an observed event count (riskmc.calibrate)."""

from __future__ import annotations

import math

import pytest

from riskmc import estimators
from riskmc.calibrate import CalibrationError, calibrate, poisson_mean_interval
from riskmc.estimators import naive_plan, resolve

from .conftest import stress_config
from .test_estimators import NO_DEGRADED


def _p(overrides: list[str], trials: int, seed: int | None = None) -> estimators.Estimate:
    """p_cell_window's degraded stratum (where this configuration's events are) under the
    configuration's own importance-sampling plan."""
    config = stress_config(overrides)
    plan = resolve(config, config.seed, "is")
    run = estimators.run(config, plan, trials=trials, seed=seed, n_resamples=10)
    return run.estimates.strata["degraded"]


#: A cell where events need a degraded run: p_cell_window is proportional to degraded.prob.
RARE = ["degraded.prob=1e-6", "endpoints.count=20", "write.fail_prob=0.01", "window.hours=0.25"]


def test_poisson_mean_interval_known_values() -> None:
    low, high = poisson_mean_interval(1)
    assert low == pytest.approx(0.025318, abs=1e-6)
    assert high == pytest.approx(5.571643, abs=1e-6)
    assert poisson_mean_interval(0) == (0.0, pytest.approx(3.688879, abs=1e-6))


def test_calibrated_value_reproduces_the_observed_count() -> None:
    """Pick an exposure at which theta = 1e-5 gives 4 expected events, calibrate, and check
    that the answer is 1e-5 (p is linear in degraded.prob here) and that a fresh simulation
    at the calibrated value expects 4 events within its own Monte Carlo interval."""
    config = stress_config(RARE)
    p = _p([*RARE[1:], "degraded.prob=1e-5"], 2000)
    rate = p.estimate / 0.25
    exposure = 4 / rate
    result = calibrate(config, "degraded.prob", 4, exposure, trials=2000, points=7)
    assert result.estimator.startswith("is(")
    theta = result.value.estimate
    assert theta == pytest.approx(1e-5, rel=0.2)  # 2000 trials either side: ~5% noise each
    lo, hi = result.value.confidence_interval.low, result.value.confidence_interval.high
    # the interval is at least the count's Poisson interval: [1.09, 10.24] / 4 around theta
    assert lo <= theta * 1.0899 / 4 * 1.001 and hi >= theta * 10.2416 / 4 * 0.999
    pc = _p([*RARE[1:], f"degraded.prob={theta!r}"], 2000, seed=77)
    expected = pc.estimate / 0.25 * exposure
    # relative standard errors: the check run's, and the calibration curve's own (not its
    # interval, which also bounds the stratum of events without a degraded run, unseen here)
    point = result.curve[len(result.curve) // 2]
    rse_curve = float(point["events_per_cell_hour_se"]) / float(point["events_per_cell_hour"])
    rse_check = pc.standard_error / pc.estimate
    assert "no_degraded" in str(point["unobserved_strata"])
    assert abs(expected / 4 - 1) <= 4 * math.hypot(rse_curve, rse_check)
    assert len(result.curve) == 7
    assert result.row()["value"] == theta and "Poisson" in result.row()["value_method"]


def test_generic_path_simulates_every_point() -> None:
    """A key other than degraded.prob: every grid point is its own simulation (same seed)."""
    config = stress_config(["degraded.prob=0.05"])
    result = calibrate(
        config, "degraded.fail_prob", 1, 1.0, low=0.05, high=0.95, points=4, trials=1000, estimator="naive"
    )
    rates = [c["events_per_cell_hour"] for c in result.curve]
    assert rates[0] < rates[-1]  # degraded runs that retry more: more events
    assert result.estimator == "naive" and 0.05 < result.value.estimate < 0.95
    with pytest.raises(CalibrationError, match="count"):
        calibrate(config, "cleanup.keep_generations", 1, 1.0)


def test_errors_name_the_problem() -> None:
    config = stress_config(RARE)
    with pytest.raises(CalibrationError, match="observed-events"):
        calibrate(config, "degraded.prob", 0, 1e6)
    with pytest.raises(CalibrationError, match="exposure"):
        calibrate(config, "degraded.prob", 1, 0.0)
    with pytest.raises(CalibrationError, match="not a key"):
        calibrate(config, "degraded.nope", 1, 1e6)
    with pytest.raises(CalibrationError, match="distribution"):
        calibrate(
            stress_config([*RARE, 'degraded.fail_prob={dist="uniform", loc=0.5, scale=0.4}']),
            "degraded.fail_prob",
            1,
            1e6,
        )
    with pytest.raises(CalibrationError, match="widen the grid"):
        calibrate(config, "degraded.prob", 1, 1e-3, trials=1000, points=3)  # far too little exposure
    assert math.isfinite(poisson_mean_interval(3)[1])


def test_a_count_below_the_floor_is_refused_with_the_floor() -> None:
    """Issue 11: events without any degraded run (a heavy latency tail) already expect more
    than the observed count over the exposure, whatever degraded.prob is: no value
    reproduces the count, and calibrate says so with the floor instead of a value."""
    config = stress_config(NO_DEGRADED)
    with pytest.raises(CalibrationError, match="floor already expects") as info:
        calibrate(config, "degraded.prob", 1, 5000.0, trials=20_000, points=3, plan=naive_plan())
    assert "no value reproduces 1 event" in str(info.value) and "--low" in str(info.value)


def test_a_count_above_the_top_is_refused() -> None:
    config = stress_config(["degraded.prob=0.01"])
    with pytest.raises(CalibrationError, match="at most"):
        calibrate(
            config, "degraded.prob", 10**9, 1.0, low=1e-4, high=0.02, trials=1000, points=3, plan=naive_plan()
        )


def test_split_curve_is_split_at_every_grid_point() -> None:
    """Under --estimator split every grid point is split's replicates on the same seed: the
    curve's rates are their estimates over the (fixed) window, and the count is crossed
    inside the grid where the event needs no degraded run (retries)."""
    from pathlib import Path

    from riskmc.config import load_config
    from riskmc.estimators.split import SplitSpec, split

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml")
    spec = SplitSpec(replicates=2)
    result = calibrate(config, "write.fail_prob", 1, 10_000, low=0.35, high=0.55, points=3, seed=5, plan=spec)
    alone = split(config.with_overrides(["write.fail_prob=0.55"]), 5, replicates=2).estimate
    last = result.curve[-1]
    assert last["events_per_cell_hour"] == alone.estimate / 0.1
    assert last["events_per_cell_hour_hi"] == alone.confidence_interval.high / 0.1
    assert result.estimator == "split(N=500, k=50)" and "split" in result.value.method
    assert result.row()["replicates"] == 2 and "trials" not in result.row()
    rates = [float(c["events_per_cell_hour"]) for c in result.curve]
    assert rates[0] < rates[1] < rates[2]
    assert 0.35 <= result.value.confidence_interval.low <= result.value.estimate <= 0.55
    with pytest.raises(estimators_config_error(), match=r"region\.cells"):
        calibrate(
            config.with_overrides(["region.cells=2"]), "write.fail_prob", 1, 1e4, low=0.3, high=0.5, plan=spec
        )


def estimators_config_error() -> type[Exception]:
    from riskmc.errors import ConfigError

    return ConfigError
