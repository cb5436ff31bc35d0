"""The downstream cascade in the estimates (riskmc.estimators.cascade, riskmc.params
.sample_cascade, riskmc.engine.repair_durations) and in compare and explain."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from riskmc import estimators
from riskmc.cascade import CascadeParams, cascade
from riskmc.cli import app
from riskmc.compare import compare
from riskmc.config import ConfigError
from riskmc.engine import repair_durations, simulate_cell
from riskmc.estimators import naive_plan
from riskmc.estimators.cascade import CASCADE_ESTIMATES
from riskmc.params import sample_cascade, sample_windows
from tests.conftest import stress_config

TRIALS = 400


@pytest.fixture(scope="module")
def plain() -> estimators.Run:
    return estimators.run(stress_config(), naive_plan(), trials=TRIALS, seed=3)


def test_outages_are_the_engine_s_own(plain: estimators.Run) -> None:
    """R read at its address is the R the engine drew for the cell's event."""
    smp = plain.sample
    rows = np.flatnonzero(smp.events > 0)
    assert rows.size > 20
    batch = sample_windows(plain.config, 3, smp.trials[rows]).batch(3)
    direct = repair_durations(batch, smp.first_event_cell[rows])
    replayed = [simulate_cell(batch, j, int(smp.first_event_cell[i])).repair_s for j, i in enumerate(rows)]
    np.testing.assert_array_equal(direct, replayed)
    assert plain.cascade is not None
    np.testing.assert_array_equal(plain.cascade.outage_min, direct / 60.0)


def test_window_values_are_the_cascade_of_each_event_window(plain: estimators.Run) -> None:
    wc, smp = plain.cascade, plain.sample
    assert wc is not None
    rows = np.flatnonzero(smp.events > 0)
    np.testing.assert_array_equal(wc.rows, rows)
    for j in (0, rows.size // 2, rows.size - 1):  # one event at a time, from its own parameters
        trial = smp.trials[rows[j]]
        one = cascade([wc.outage_min[j]], sample_cascade(plain.config, 3, [trial]))
        assert wc.ec2_min[rows[j]] == one.ec2_impaired_min[0]
        assert wc.nlb_lost[rows[j]] == one.nlb_capacity_lost[0]
    quiet = np.setdiff1d(np.arange(smp.n), rows)
    assert not wc.ec2_min[quiet].any() and not wc.collapse[quiet].any()


def test_plain_estimates_are_the_sample_s_means(plain: estimators.Run) -> None:
    wc, smp, e = plain.cascade, plain.sample, plain.cascade_estimates
    assert wc is not None and list(e) == list(CASCADE_ESTIMATES)
    ev = smp.events > 0
    n_w = estimators.windows_per_year(smp)
    assert e["p_collapse_given_event"].estimate == pytest.approx(wc.collapse[ev].mean())
    assert e["ec2_impaired_given_event_min"].estimate == pytest.approx(wc.ec2_min[ev].mean())
    # sums over a year's events, not capped at its minutes (frequent events: they overlap)
    assert e["ec2_impaired_per_year_min"].estimate == pytest.approx(wc.ec2_min.mean() * n_w)
    assert e["ec2_impaired_per_year_min"].estimate > 525960.0
    assert e["nlb_capacity_lost_per_year"].estimate == pytest.approx(wc.nlb_lost.mean() * n_w)
    for name, est in e.items():
        ci = est.confidence_interval
        assert ci.low <= est.estimate <= ci.high, name
    # the tail of the annual EC2 impairment comes from the same year model as the impact's
    year = plain.estimates.year
    assert year is not None and year.extra and year.extra[0][1] is e["ec2_impaired_per_year_cvar99_min"]
    p99 = e["ec2_impaired_per_year_p99_min"].estimate
    assert p99 <= e["ec2_impaired_per_year_cvar99_min"].estimate


def test_the_joint_year_model_leaves_the_impact_s_tail_as_it_was(plain: estimators.Run) -> None:
    alone = estimators.estimate(plain.sample, plain.plan, plain.seed)
    for name in ("impact_per_year_p99_min", "impact_per_year_cvar99_min"):
        assert alone.values[name] == plain.estimates.values[name], name


def test_an_unseen_stratum_is_bounded_downstream_too() -> None:
    # hour-long windows and a rare event, under importance sampling: the degraded stratum only
    cfg = stress_config(["write.fail_prob=0.0", "window.hours=1", "degraded.prob=0.0003"])
    plan = estimators.resolve(cfg, 5, "is")
    result = estimators.run(cfg, plan, trials=1000, seed=5)
    e, wc = result.cascade_estimates, result.cascade
    assert wc is not None and result.estimates.unseen == ["no_degraded"]
    n_w = estimators.windows_per_year(result.sample)
    bound = result.estimates.region_bound
    assert bound > 0
    hi = e["ec2_impaired_per_year_min"].confidence_interval.high
    assert hi >= e["ec2_impaired_per_year_min"].estimate + n_w * bound * wc.ec2_bound_min
    assert "unobserved" in e["p_collapse_given_event"].method


def test_the_linear_bound_holds_for_any_outage() -> None:
    """(1 + k)(R + max(D, tau) + 1/mu) + rho bounds EC2's impairment (the unseen events')."""
    p = CascadeParams()
    r = np.geomspace(1e-3, 1e5, 500)
    out = cascade(r, p)
    bound = (1 + p.propagation_work_min_per_lapse_min) * (
        r + max(p.intervention_delay_min, p.work_timeout_min) + 1 / p.dwfm_rate_per_min
    ) + p.throttle_release_min
    assert np.all(out.ec2_impaired_min <= bound)
    cap = np.minimum(p.nlb_removed_fraction, np.inf) * p.failover_disable_delay_min
    assert np.all(out.nlb_capacity_lost <= cap)


def test_cascade_keys_are_drawn_per_window_and_shared_by_scenarios() -> None:
    table = 'cascade.intervention_delay_min={dist="uniform", loc=30, scale=150}'
    cfg = stress_config([table])
    a = sample_cascade(cfg, 9, [0, 1, 2, 3])
    b = sample_cascade(cfg.with_overrides(["write.fail_prob=0.2"]), 9, [2, 3])
    delays = np.asarray(a.intervention_delay_min)
    assert np.all((30 <= delays) & (delays <= 180)) and np.unique(delays).size == 4
    np.testing.assert_array_equal(delays[2:], b.intervention_delay_min)  # by trial, whatever else
    rehearsed = sample_cascade(cfg.with_overrides(["mitigations.rehearsed_recovery.delay=10"]), 9, [0])
    assert float(np.asarray(rehearsed.intervention_delay_min)[0]) == 10.0
    assert sample_cascade(
        cfg.with_overrides(["mitigations.queue_throttle.enabled=true"]), 9, [0]
    ).queue_throttle


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("cascade.work_timeout_min=0", "cascade.work_timeout_min"),
        ("cascade.propagation_arrival_ratio=1", "cascade.propagation_arrival_ratio"),
        ("cascade.nlb_removed_fraction=1.5", "cascade.nlb_removed_fraction"),
        ("cascade.no_such=1", "cascade.no_such"),
        ("mitigations.nlb_velocity_control.cap=2", "mitigations.nlb_velocity_control.cap"),
    ],
)
def test_bad_cascade_keys_are_refused(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        stress_config([override])
    assert err.value.key == key


def test_compare_pairs_the_cascade_and_reuses_the_events() -> None:
    cfg = stress_config(["repair.duration=9420"])  # every outage 157 min: a collapse each
    rows = {r["mitigation"]: r for r in compare(cfg, trials=TRIALS, seed=3, estimator="naive")}
    base = rows["baseline"]
    for fix in ("queue_throttle", "nlb_velocity_control", "rehearsed_recovery"):
        r = rows[fix]
        # the same events: the race is not what these change
        for col in ("events", "p_cell_window", "impact_per_year_min", "mean_plan_age_s"):
            assert r[col] == base[col], (fix, col)
        assert r["risk_ratio"] == 1.0 and r["impact_reduction_min"] == 0.0
    assert rows["queue_throttle"]["p_collapse_given_event"] == 0.0 < base["p_collapse_given_event"]
    saved = rows["queue_throttle"]["ec2_impaired_saved_min"]
    # n_w x the paired mean difference per window (not capped); the same event windows, so
    # n_w x the share of event windows x (given_base - given_fix)
    share = float(base["region_event_windows"]) / TRIALS
    fixed = rows["queue_throttle"]["ec2_impaired_given_event_min"]
    given = float(base["ec2_impaired_given_event_min"]) - float(fixed)  # type: ignore[arg-type]
    assert saved == pytest.approx(float(base["windows_per_region_year"]) * share * given) and saved > 0
    assert rows["queue_throttle"]["ec2_impaired_saved_min_lo"] > 0  # paired: every window saves
    assert rows["nlb_velocity_control"]["ec2_impaired_saved_min"] == 0.0
    assert rows["nlb_velocity_control"]["nlb_capacity_saved"] > 0
    # empty_guard shortens the whole cascade through R
    assert float(rows["empty_guard"]["ec2_impaired_given_event_min"]) < 10.0
    assert rows["empty_guard"]["ec2_impaired_saved_min"] > rows["queue_throttle"]["ec2_impaired_saved_min"]


def test_explain_incident_tells_the_post_mortem_s_clock(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n')
    result = CliRunner().invoke(app, ["explain", str(path), "--incident", "--mitigation", "queue_throttle"])
    assert result.exit_code == 0, result.output
    incident, _, throttled = result.stdout.partition("the same outage with queue_throttle")
    for clock, text in (
        ("02:25", "DNS information restored"),
        ("05:28", "leases re-established"),
        ("13:50", "EC2 has fully recovered"),
    ):
        line = next(x for x in incident.splitlines() if text in x)
        assert clock in line, line
    assert "congestive collapse" in incident and "congestive collapse" not in throttled.split("outage")[0]
    assert math.isclose(float(incident.split("EC2 launches impaired ")[1].split()[0]), 842.0, abs_tol=1.0)


def test_the_cascade_s_exceedance_is_the_year_model_s(plain: estimators.Run, tmp_path: Path) -> None:
    from riskmc.events import exceedance_frame

    table = exceedance_frame(plain, quantity="ec2_impaired_per_year_min")
    assert set(table["quantity"]) == {"ec2_impaired_per_year_min"}
    p = table["p_exceed"]
    assert table["threshold_min"][0] == 0.0 and p.diff().drop_nulls().max() <= 0
    assert ((table["p_exceed_lo"] <= p) & (p <= table["p_exceed_hi"])).all()
    # P(annual EC2 impairment > 0) = P(an event window in the year) = the impact's at 0
    impact = exceedance_frame(plain)
    assert p[0] == impact["p_exceed"][0]
    # its tail agrees with the row's p99 of the same years: P(> p99) is at most 1%
    p99 = plain.cascade_estimates["ec2_impaired_per_year_p99_min"].estimate
    above = table.filter(table["threshold_min"] > p99)["p_exceed"]
    assert above.is_empty() or above.max() <= 0.01 + 1e-12
    with pytest.raises(ValueError, match="quantity"):
        exceedance_frame(plain, quantity="nope")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "-",
            "--trials",
            "200",
            "--out",
            str(tmp_path / "r"),
            "-q",
            "--cascade-exceedance",
            str(tmp_path / "c"),
        ],
        input='name = "x"\n',
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.parquet").exists()


def test_a_downstream_fix_saves_at_least_what_the_sample_shows() -> None:
    """Under importance sampling with an unseen stratum, queue throttling (which never costs
    more on any event) keeps the paired lower end of what it saves; a rehearsed recovery
    (whose delay could be longer than the scenario's) is widened both ways."""
    cfg = stress_config(["write.fail_prob=0.0", "window.hours=1", "degraded.prob=0.0003"])
    rows = {
        r["mitigation"]: r
        for r in compare(cfg, ["queue_throttle", "rehearsed_recovery"], trials=1000, seed=5, estimator="is")
    }
    assert rows["baseline"]["unobserved_strata"] == "no_degraded"
    throttled, rehearsed = rows["queue_throttle"], rows["rehearsed_recovery"]
    assert 0 < throttled["ec2_impaired_saved_min_lo"] <= throttled["ec2_impaired_saved_min"]
    assert rehearsed["ec2_impaired_saved_min_lo"] < 0 < rehearsed["ec2_impaired_saved_min"]
