"""Calibration of one parameter to an observed event count (riskmc.calibrate)."""

from __future__ import annotations

import math

import pytest

from riskmc.calibrate import CalibrationError, calibrate, poisson_mean_interval
from riskmc.rare import run_adaptive

from .conftest import stress_config

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
    at_1e5 = run_adaptive(stress_config([*RARE[1:], "degraded.prob=1e-5"]), estimator="is", max_trials=2000)
    p = at_1e5.scenario.estimates["p_cell_window"]
    rate = p.estimate / 0.25
    exposure = 4 / rate
    result = calibrate(config, "degraded.prob", 4, exposure, trials=2000, points=7)
    assert result.estimator == "is"
    theta = result.value.estimate
    assert theta == pytest.approx(1e-5, rel=0.2)  # 2000 trials either side: ~5% noise each
    lo, hi = result.value.confidence_interval.low, result.value.confidence_interval.high
    # the interval is at least the count's Poisson interval: [1.09, 10.24] / 4 around theta
    assert lo <= theta * 1.0899 / 4 * 1.001 and hi >= theta * 10.2416 / 4 * 0.999
    check = run_adaptive(
        stress_config([*RARE[1:], f"degraded.prob={theta!r}"]), estimator="is", max_trials=2000, seed=77
    )
    pc = check.scenario.estimates["p_cell_window"]
    expected = pc.estimate / 0.25 * exposure
    # relative standard errors: the check run's, and the calibration curve's (its 95% interval / 3.92)
    point = result.curve[len(result.curve) // 2]
    rse_curve = (point["events_per_cell_hour_hi"] - point["events_per_cell_hour_lo"]) / 3.92
    rse_curve /= point["events_per_cell_hour"]
    rse_check = pc.standard_error / pc.estimate
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
