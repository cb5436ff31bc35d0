"""Tests of the region / blast-radius / year layer (riskmc.region; MODEL.md sections 3, 4, 6).

Exact checks rest on common random numbers: every cell layer, repair draw and sampled
parameter is addressed by (seed, block, purpose, ...), so two configurations that differ
only in the repair distribution, the shock, or the cell count see the same uniforms where
they should.  Statistical checks use 4 combined standard errors.  The year machinery
(compound binomial, exceedance) is also checked on synthetic per-window outcomes, where
p_region_year can be anywhere in (0, 1) without simulating long windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import scipy.stats

from riskmc.config import Config, load_config
from riskmc.engine import CellResults
from riskmc.region import (
    EVENT_COLUMNS,
    EXCEEDANCE_COLUMNS,
    REGION_ESTIMATES,
    RegionEvents,
    RegionResults,
    annual_impacts,
    estimate_region,
    events_frame,
    events_table,
    exceedance_frame,
    exceedance_table,
    region_row,
    run_region_scenario,
    simulate_region,
    windows_per_year,
)
from riskmc.scenario import simulate

from .conftest import stress_config

SEED = 11
C3 = ["region.cells=3"]
BASE_TRIALS = 3000
SHORT = 1000  # trials of the variant runs compared with the prefix of the base run


def region(overrides: Sequence[str] = (), trials: int = SHORT, **kw: int) -> RegionResults:
    return simulate_region(stress_config(list(overrides)), trials, SEED, **kw)


@pytest.fixture(scope="module")
def base() -> RegionResults:
    """Three independent stress cells per region-window (6-minute windows)."""
    return region(C3, BASE_TRIALS)


@pytest.fixture(scope="module")
def base_estimates(base: RegionResults) -> dict:
    return estimate_region(base)


def same_events(a: RegionEvents, b: RegionEvents) -> None:
    """The same events: trial, cell, time and affected endpoints (not durations)."""
    np.testing.assert_array_equal(a.trial, b.trial)
    np.testing.assert_array_equal(a.cell, b.cell)
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_array_equal(a.affected, b.affected)
    np.testing.assert_array_equal(a.affected_weight, b.affected_weight)


def prefix(ev: RegionEvents, trials: int) -> RegionEvents:
    keep = ev.trial < trials
    return RegionEvents(*(getattr(ev, k)[keep] for k in ev.__dataclass_fields__))


# -- simulation ----------------------------------------------------------------------------------


def test_layer0_is_the_plain_run(base: RegionResults) -> None:
    """Cell 0 of each region-window is exactly riskmc run's trial: cell-level estimates agree."""
    plain = simulate(stress_config(C3), SHORT, SEED)
    first = base.cells_layer0.take(slice(0, SHORT))
    for key in CellResults.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, key), getattr(plain, key), err_msg=key)


def test_chunking_and_prefix_do_not_change_results(base: RegionResults) -> None:
    """chunk_trials=1000 on 1,200 trials (a partial block) = the first 1,200 of the base run."""
    part = region(C3, 1200, chunk_trials=1000)
    for key in ("cells", "window_s", "shock", "events", "impact_min"):
        np.testing.assert_array_equal(getattr(part, key), getattr(base, key)[:1200], err_msg=key)
    want = prefix(base.event_list, 1200)
    same_events(part.event_list, want)
    np.testing.assert_array_equal(part.event_list.duration_s, want.duration_s)
    np.testing.assert_array_equal(part.event_list.impact_min, want.impact_min)


def test_bookkeeping(base: RegionResults) -> None:
    ev = base.event_list
    assert base.n == BASE_TRIALS and base.cells_simulated == 3 * BASE_TRIALS
    assert len(ev) == base.total_events == int(base.events.sum()) > 100
    np.testing.assert_array_equal(np.bincount(ev.trial, minlength=base.n), base.events)
    np.testing.assert_allclose(
        np.bincount(ev.trial, weights=ev.impact_min, minlength=base.n), base.impact_min
    )
    assert np.all(ev.cell < base.cells[ev.trial])
    assert np.all((ev.time_s >= 0) & (ev.time_s <= base.window_s[ev.trial]))
    assert np.all(ev.affected.any(axis=1))
    # one event per cell per window, sorted by (trial, cell)
    key = ev.trial * 10 + ev.cell
    assert np.all(np.diff(key) > 0)
    np.testing.assert_allclose(ev.impact_min, ev.affected_weight * ev.duration_s / (60.0 * 3))


def test_independent_cells(base: RegionResults, base_estimates: dict) -> None:
    """No shock, constant parameters: p_region_window = 1 - (1 - p_cell_window)^C."""
    n, c = base.n, 3
    p_cell = base.total_events / base.cells_simulated  # pooled: cells are independent here
    p_rw = base_estimates["p_region_window"].estimate
    assert p_rw == base.event_windows / n
    predicted = 1 - (1 - p_cell) ** c
    se_rw = math.sqrt(p_rw * (1 - p_rw) / n)
    se_pred = c * (1 - p_cell) ** (c - 1) * math.sqrt(p_cell * (1 - p_cell) / (n * c))
    assert abs(p_rw - predicted) < 4 * math.hypot(se_rw, se_pred), (p_rw, predicted)
    ci = base_estimates["p_region_window"].confidence_interval
    assert ci.low < predicted < ci.high
    # and the number of cells hit in an event window: C p / (1 - (1 - p)^C)
    cpe = base_estimates["cells_per_event_window"]
    want = c * p_cell / predicted
    assert abs(cpe.estimate - want) < 4 * math.hypot(cpe.standard_error, 0.02 * want), (cpe.estimate, want)


def test_shock_is_a_degraded_prob_switch() -> None:
    """Shock with probability 1 and degraded_prob q = degraded.prob q without shock, exactly:
    the degraded flags come from the same uniforms compared with the same probability."""
    q = "0.15"
    shocked = region(["region.cells=2", "region.shock.prob=1.0", f"region.shock.degraded_prob={q}"])
    plain = region(["region.cells=2", f"degraded.prob={q}"])
    assert shocked.shock.all() and not plain.shock.any()
    np.testing.assert_array_equal(shocked.events, plain.events)
    np.testing.assert_array_equal(shocked.impact_min, plain.impact_min)
    same_events(shocked.event_list, plain.event_list)
    a, b = estimate_region(shocked), estimate_region(plain)
    for name in REGION_ESTIMATES:
        assert a[name] == b[name], name


def test_shock_makes_cells_fail_together(base_estimates: dict) -> None:
    """A frequent shock with a high degraded probability: more cells per event window than
    without (cells of a window are no longer independent)."""
    shocked = estimate_region(region([*C3, "region.shock.prob=0.3", "region.shock.degraded_prob=0.5"]))
    a, b = shocked["cells_per_event_window"], base_estimates["cells_per_event_window"]
    assert a.estimate - b.estimate > 4 * math.hypot(a.standard_error, b.standard_error)


def test_impact_linear_in_repair(base: RegionResults) -> None:
    """Constant repair 600 s vs 1200 s: the same events, every impact exactly doubled."""
    repair_600 = region(["region.cells=2", "repair.duration=600"])
    r1200 = region(["region.cells=2", "repair.duration=1200"])
    ev = prefix(base.event_list, SHORT)
    two = ev.cell < 2  # cells 0 and 1 of the base run are these runs' cells
    for r in (repair_600, r1200):  # repair never changes events
        same_events(r.event_list, RegionEvents(*(getattr(ev, k)[two] for k in ev.__dataclass_fields__)))
    assert np.all(repair_600.event_list.duration_s == 600.0)
    assert np.all(r1200.event_list.duration_s == 1200.0)
    np.testing.assert_array_equal(r1200.event_list.impact_min, 2 * repair_600.event_list.impact_min)
    np.testing.assert_array_equal(r1200.impact_min, 2 * repair_600.impact_min)
    a, b = estimate_region(repair_600), estimate_region(r1200)
    for name in ("impact_per_year_min", "impact_given_event_min", "impact_per_year_p99_min"):
        np.testing.assert_allclose(b[name].estimate, 2 * a[name].estimate, rtol=1e-9, err_msg=name)
    ci_a, ci_b = a["impact_per_year_min"].confidence_interval, b["impact_per_year_min"].confidence_interval
    np.testing.assert_allclose([ci_b.low, ci_b.high], [2 * ci_a.low, 2 * ci_a.high], rtol=1e-9)
    assert a["p_region_window"] == b["p_region_window"]


def test_endpoint_weights() -> None:
    """Weights [0.9, 0.1]: an event's weight is the sum over its affected endpoints, and its
    impact is (1/C) w R / 60."""
    r = region(["region.cells=2", "endpoints.count=2", "endpoints.weights=[0.9, 0.1]"])
    ev = r.event_list
    assert len(ev) > 50
    w = np.array([0.9, 0.1])
    np.testing.assert_allclose(ev.affected_weight, (ev.affected[:, :2] * w).sum(axis=1), rtol=1e-12)
    assert set(np.round(ev.affected_weight, 12)) <= {0.9, 0.1, 1.0}
    assert {0.9, 0.1} <= set(np.round(ev.affected_weight, 12))  # both endpoints get hit
    np.testing.assert_allclose(ev.impact_min, (1 / 2) * ev.affected_weight * ev.duration_s / 60, rtol=1e-12)


def test_empty_guard_changes_durations_only(base: RegionResults) -> None:
    """empty_guard: same event times and counts; durations from its own distribution, drawn
    from the same normals as the manual repair (lognormal, same s: ratio of the scales)."""
    guard = region([*C3, 'mitigations.empty_guard.repair={dist="lognorm", s=0.5, scale=120}'])
    manual = prefix(base.event_list, SHORT)
    same_events(guard.event_list, manual)
    np.testing.assert_array_equal(guard.events, base.events[:SHORT])
    np.testing.assert_allclose(guard.event_list.duration_s, manual.duration_s * 120 / 9420, rtol=1e-12)
    g, m = estimate_region(guard), estimate_region(base)
    assert g["impact_given_event_min"].estimate < m["impact_given_event_min"].estimate / 20


def test_cells_drawn_per_window(base: RegionResults) -> None:
    """region.cells ~ randint(1, 4): C varies, cell c is simulated only where C > c, and each
    simulated cell is exactly that cell of the C = 3 base run (the same draws per layer)."""
    drawn = region(['region.cells={dist="randint", low=1, high=4}'])
    assert set(np.unique(drawn.cells)) == {1, 2, 3}
    assert drawn.cells_simulated == int(drawn.cells.sum()) < 3 * SHORT
    ev, ev3 = drawn.event_list, prefix(base.event_list, SHORT)
    assert np.all(ev.cell < drawn.cells[ev.trial])
    keep = ev3.cell < drawn.cells[ev3.trial]
    assert np.any(~keep)  # the base run's extra cells had events of their own
    same_events(ev, RegionEvents(*(getattr(ev3, k)[keep] for k in ev3.__dataclass_fields__)))
    np.testing.assert_array_equal(ev.duration_s, ev3.duration_s[keep])
    np.testing.assert_allclose(ev.impact_min * drawn.cells[ev.trial], ev3.impact_min[keep] * 3, rtol=1e-12)
    assert estimate_region(drawn)["cells_per_event_window"].confidence_interval.high <= 3


# -- estimates and tables ----------------------------------------------------------------------


def test_estimates_have_methods_and_finite_intervals(base: RegionResults, base_estimates: dict) -> None:
    assert list(base_estimates) == list(REGION_ESTIMATES)
    for name, e in base_estimates.items():
        ci = e.confidence_interval
        assert isinstance(e.method, str) and e.method, name
        assert math.isfinite(e.estimate) and math.isfinite(ci.low) and math.isfinite(ci.high), name
        assert ci.low <= e.estimate <= ci.high, name
    n_w = windows_per_year(base)
    assert n_w == 87660.0  # 8766 h / 0.1 h, exactly
    e = base_estimates
    np.testing.assert_allclose(e["events_per_region_year"].estimate, base.events.mean() * n_w, rtol=1e-12)
    np.testing.assert_allclose(e["impact_per_year_min"].estimate, base.impact_min.mean() * n_w, rtol=1e-12)
    np.testing.assert_allclose(
        e["impact_given_event_min"].estimate, base.impact_min.sum() / base.total_events, rtol=1e-12
    )
    assert e["impact_per_year_p99_min"].estimate <= e["impact_per_year_cvar99_min"].estimate
    assert "bca" in e["impact_given_event_min"].method  # about 1,500 event windows
    row = region_row(base, base_estimates)
    assert row["region_windows"] == BASE_TRIALS and row["cells_simulated"] == 3 * BASE_TRIALS
    for name in REGION_ESTIMATES:
        assert {name, f"{name}_lo", f"{name}_hi", f"{name}_method"} <= set(row)


def test_p_region_year_is_the_transformed_wilson(base_estimates: dict) -> None:
    """Closed form; with 87,660 windows a year it is 1 here (see the synthetic tests)."""
    p = base_estimates["p_region_window"]
    y = base_estimates["p_region_year"]
    assert y.estimate == pytest.approx(1 - (1 - p.estimate) ** 87660)
    assert y.confidence_interval.low == pytest.approx(1 - (1 - p.confidence_interval.low) ** 87660)


def test_exceedance_table(base: RegionResults, base_estimates: dict) -> None:
    table = exceedance_table(base)
    assert table[0]["threshold_min"] == 0.0 and len(table) == 25
    assert list(table[0]) == list(EXCEEDANCE_COLUMNS)
    x = np.array([r["threshold_min"] for r in table])
    p = np.array([r["p_exceed"] for r in table])
    lo = np.array([r["p_exceed_lo"] for r in table])
    hi = np.array([r["p_exceed_hi"] for r in table])
    assert np.all(np.diff(x) > 0) and np.all(np.diff(p) <= 0)
    assert np.all((0 <= lo) & (lo <= p) & (p <= hi) & (hi <= 1))
    p_year = base_estimates["p_region_year"].estimate
    assert lo[0] <= p_year <= hi[0]
    # explicit thresholds, in any order
    t = exceedance_table(base, [1e9, 0.0, float(x[12])])
    assert [r["p_exceed"] for r in t] == [0.0, p[0], p[12]]
    assert exceedance_frame(base).columns == list(EXCEEDANCE_COLUMNS)


def test_events_table(base: RegionResults) -> None:
    rows = events_table(base)
    assert len(rows) == base.total_events
    assert list(rows[0]) == list(EVENT_COLUMNS)
    ev = base.event_list
    for i in (0, len(rows) // 2, len(rows) - 1):
        r = rows[i]
        assert (r["trial"], r["cell"], r["impact_min"]) == (ev.trial[i], ev.cell[i], ev.impact_min[i])
        listed = [int(s) for s in str(r["affected_endpoints"]).split(",")]
        assert listed == list(np.flatnonzero(ev.affected[i]))
    frame = events_frame(base)
    assert frame.height == len(rows) and frame.columns == list(EVENT_COLUMNS)


def test_no_events() -> None:
    """No clean-up can delete a plan in use: zero events, finite upper bounds, NaN for the
    conditional estimates with a method saying why."""
    r = region(["region.cells=2", "degraded.prob=0.0", "cleanup.keep_generations=100000"])
    assert r.total_events == 0 and len(r.event_list) == 0
    e = estimate_region(r)
    p = e["p_region_window"]
    assert p.estimate == 0 and 0 < p.confidence_interval.high < 0.01
    for name in ("impact_given_event_min", "cells_per_event_window"):
        assert math.isnan(e[name].estimate) and "no events" in e[name].method, name
    for name in (
        "events_per_region_year",
        "p_region_year",
        "impact_per_year_min",
        "impact_per_year_p99_min",
        "impact_per_year_cvar99_min",
    ):
        ci = e[name].confidence_interval
        assert e[name].estimate == 0 and ci.low == 0 and 0 < ci.high < math.inf, name
    assert e["p_region_year"].confidence_interval.high == 1 - (1 - p.confidence_interval.high) ** 87660
    table = exceedance_table(r)
    assert len(table) == 1 and table[0]["p_exceed"] == 0.0
    assert table[0]["p_exceed_hi"] == e["p_region_year"].confidence_interval.high
    assert events_table(r) == [] and events_frame(r).columns == list(EVENT_COLUMNS)


def test_run_region_scenario_row() -> None:
    run = run_region_scenario(stress_config(["region.cells=2"]), trials=SHORT, seed=SEED)
    row = run.row()
    names = list(row)
    assert names.index("abandoned_runs_per_hour_method") < names.index("region_windows")
    assert names.index("cells_per_event_window_method") < names.index("rel_err")
    assert row["trials"] == row["region_windows"] == SHORT and row["cells_simulated"] == 2 * SHORT
    assert set(REGION_ESTIMATES) <= set(run.scenario.estimates)
    assert row["events"] == int(run.results.cells_layer0.event.sum())


def test_region_config() -> None:
    """configs/region.toml: four cells, a shock, a dominant regional endpoint (it loads, so
    every key and distribution is valid; its full run takes 20-30 s here, not run in tests)."""
    cfg: Config = load_config("configs/region.toml")
    assert cfg.values["region.cells"] == 4
    assert cfg.values["region.shock.prob"] == 0.01 and cfg.values["region.shock.degraded_prob"] == 0.05
    assert cfg.weights is not None and max(cfg.weights) > 0.5 and sum(cfg.weights) == pytest.approx(1)


# -- the year: synthetic per-window outcomes -----------------------------------------------------


def synthetic(n: int, p: float, n_w: float, seed: int = 3) -> RegionResults:
    """n region-windows of length 8766 h / n_w, each with an event with probability p (one
    or two cells hit), lognormal impacts."""
    rng = np.random.default_rng(seed)
    events = (rng.random(n) < p) * rng.integers(1, 3, n)
    impact = np.where(events > 0, events * rng.lognormal(2.0, 0.8, n), 0.0)
    empty = np.zeros(0)
    cells = CellResults(
        event=events > 0,
        event_time_s=np.where(events > 0, 1.0, np.inf),
        affected=np.ones((n, 1), bool),
        affected_weight=np.ones(n),
        mean_plan_age_s=np.zeros(n),
        runs_started=np.zeros(n, np.int64),
        runs_degraded=np.zeros(n, np.int64),
        runs_abandoned=np.zeros(n, np.int64),
        window_s=np.full(n, 1.0),
        observed_s=np.full(n, 1.0),
    )
    ev = RegionEvents(
        np.zeros(0, np.int64), np.zeros(0, np.int64), empty, np.zeros((0, 1), bool), empty, empty, empty
    )
    return RegionResults(
        seed=5,
        cells=np.full(n, 2, np.int64),
        window_s=np.full(n, 8766.0 * 3600.0 / n_w),
        shock=np.zeros(n, bool),
        events=events.astype(np.int64),
        impact_min=impact,
        repair_mean_s=600.0,
        cells_layer0=cells,
        event_list=ev,
    )


@pytest.mark.parametrize("n_w", [10.0, 10.4])
def test_exceedance_at_zero_is_p_region_year(n_w: float) -> None:
    """P(annual impact > 0) = 1 - (1 - p_rw)^n_w (to within (1-p)^f vs 1 - f p for the
    fractional window) inside its interval, and p_region_year's interval covers it."""
    r = synthetic(20000, 0.05, n_w)
    assert windows_per_year(r) == pytest.approx(n_w, rel=1e-12)
    e = estimate_region(r)
    closed = 1 - (1 - r.event_windows / r.n) ** n_w
    assert e["p_region_year"].estimate == pytest.approx(closed)
    zero = exceedance_table(r)[0]
    assert zero["threshold_min"] == 0
    assert zero["p_exceed_lo"] <= closed <= zero["p_exceed_hi"]
    ci = e["p_region_year"].confidence_interval
    assert ci.low <= zero["p_exceed"] <= ci.high
    assert 0.3 < closed < 0.5


@pytest.mark.parametrize(("p", "n_w"), [(0.05, 10.0), (0.05, 10.4), (0.4, 1000.0)])
def test_annual_impacts_moments(p: float, n_w: float) -> None:
    """The simulated years have the compound model's mean n_w E[X] and, for integer n_w,
    variance n_w Var(X) (X: one window's impact) -- also where years have more than
    MAX_EXACT_EVENTS event windows and take the translated-gamma approximation."""
    r = synthetic(5000, p, n_w)
    years = annual_impacts(r, 40000, np.random.default_rng(8))
    x = r.impact_min
    mean = n_w * x.mean()
    assert abs(years.mean() - mean) < 4 * years.std() / math.sqrt(years.size)
    if n_w == int(n_w):
        var = n_w * x.var()
        se_var = years.var() * math.sqrt(2 / years.size) * 2  # generous for skewed sums
        assert abs(years.var() - var) < 4 * se_var
    # P(no event window) = (1 - p)^w (1 - f p) for n_w = w + f, with the p of the data
    p_hat, w, f = r.event_windows / r.n, math.floor(n_w), n_w % 1
    k_zero = float((years == 0).mean())
    want = (1 - p_hat) ** w * (1 - f * p_hat)
    assert abs(k_zero - want) < 4 * math.sqrt(want * (1 - want) / years.size) + 1e-12


def test_p99_and_cvar_synthetic() -> None:
    """The tail estimates bracket each other and their intervals hold the value of a much
    longer year simulation of the same data."""
    r = synthetic(20000, 0.05, 10.0)
    e = estimate_region(r)
    years = annual_impacts(r, 400000, np.random.default_rng(1))
    q = float(np.quantile(years, 0.99))
    tail = float(np.sort(years)[-4000:].mean())
    for name, value in (("impact_per_year_p99_min", q), ("impact_per_year_cvar99_min", tail)):
        ci = e[name].confidence_interval
        assert ci.low <= value <= ci.high, (name, value, ci)
        assert "bootstrap-percentile" in e[name].method
    assert e["impact_per_year_p99_min"].estimate < e["impact_per_year_cvar99_min"].estimate
    assert scipy.stats.percentileofscore(years, e["impact_per_year_p99_min"].estimate) == pytest.approx(
        99, abs=0.3
    )
