"""The downstream cascade (riskmc.cascade, docs/model.md section 5b).

* replay: the incident's outage (157 min) with the default parameters reproduces the
  post-event summary's timeline, each phase within the tolerance stated in INCIDENT (the
  same table as docs/model.md section 5b's calibration table);
* mitigations at the incident: each of AWS's fixes shortens what it should, and only that;
* properties, over generated parameters (derandomized, so CI explores the same inputs every
  run): impact non-decreasing in the outage, zero as the outage vanishes, never increased by
  queue throttling, velocity control or a shorter intervention delay; outputs finite and
  non-negative; a vector of events equal, bit for bit, to its events one by one;
(Its cost is measured by ``python benchmarks/cascade.py``, not here.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmc.cascade import INCIDENT_OUTAGE_MIN, CascadeOutcome, CascadeParams, cascade, timeline

#: Impact start, 23:48 PDT on October 19 2025, in minutes after midnight of the 19th.
START = 23 * 60 + 48


def after_start(clock: str, next_day: bool = True) -> float:
    """Minutes from impact start to a PDT clock time of the summary (on October 20)."""
    hours, minutes = map(int, clock.split(":"))
    return 24 * 60 * next_day + 60 * hours + minutes - START


#: (outcome field, the summary's fact, its time, tolerance in minutes).  The tolerances are
#: the issue's for leases restored, NLB errors, propagation normal, EC2 recovered and
#: failover re-enabled; for the other phases they were set alike (+-15 to 30 min), tighter
#: where the summary states a short interval precisely (cache expiry, 15 min after DNS; the
#: lapse, up to 02:24).  They were set before the fit and are not tuned to it: the model
#: meets each to within a minute, its defaults being fixed by these very facts.
INCIDENT = [
    ("all_lapsed_at_min", "leases timed out across the fleet by", "02:24", 10.0),
    ("dynamodb_recovered_at_min", "cached DNS records expired", "02:40", 5.0),
    ("intervention_at_min", "engineers throttle DWFM, restart hosts", "04:14", 15.0),
    ("leases_restored_at_min", "leases re-established on all droplets", "05:28", 15.0),
    ("nlb_errors_at_min", "NLB connection errors begin", "05:30", 20.0),
    ("propagation_latency_at_min", "Network Manager latency rises", "06:21", 20.0),
    ("failover_disabled_at_min", "automatic NLB failover disabled", "09:36", 30.0),
    ("propagation_normal_at_min", "network propagation back to normal", "10:36", 30.0),
    ("ec2_recovered_at_min", "EC2 fully recovered", "13:50", 30.0),
    ("failover_reenabled_at_min", "automatic NLB failover re-enabled", "14:09", 30.0),
]

#: The per-event impacts: each must be non-decreasing in the outage and never increased by
#: a mitigation (the instants are not impacts: a mitigation moves some of them earlier,
#: which may make a later phase exist that did not, e.g. errors ending by themselves).
IMPACTS = (
    "lapsed_fraction",
    "lapse_area_min",
    "leases_restored_min",
    "propagation_backlog_min",
    "propagation_impaired_min",
    "ec2_impaired_min",
    "nlb_impact_min",
    "nlb_capacity_lost",
    "ec2_recovered_at_min",
)


def test_incident_replay() -> None:
    o = cascade(INCIDENT_OUTAGE_MIN)
    assert bool(o.collapse)
    assert float(o.lapsed_fraction) == pytest.approx(1.0)
    for field, fact, clock, tol in INCIDENT:
        want = after_start(clock)
        got = float(getattr(o, field))
        assert abs(got - want) <= tol, f"{fact}: model {got:.1f} min, summary {clock} = {want:.0f} min"
    # the durations of the brief: leases back about 3 h after DNS, EC2 impaired about 14 h,
    # NLB from 05:30 until failover is automatic again at 14:09
    assert float(o.leases_restored_min) == pytest.approx(183.0, abs=15.0)
    assert float(o.ec2_impaired_min) == pytest.approx(842.0, abs=30.0)
    nlb = after_start("14:09") - after_start("05:30")  # within its two ends' tolerances
    assert float(o.nlb_impact_min) == pytest.approx(nlb, abs=20.0 + 30.0)


def test_incident_timeline_reads_like_the_summary() -> None:
    lines = timeline(cascade(np.array([30.0, INCIDENT_OUTAGE_MIN])), 1)
    times = [t for t, _ in lines]
    assert times == sorted(times) and times[0] == 0.0
    text = [s for _, s in lines]
    order = ["resolves to nothing", "DNS information restored", "congestive collapse", "engineers throttle"]
    order += ["re-established on all", "NLB health checks fail", "latency rises", "disable automatic"]
    order += ["back to normal", "EC2 has fully recovered", "re-enabled"]
    found = [next(k for k, s in enumerate(text) if phrase in s) for phrase in order]
    assert found == sorted(found)
    # a 30-minute outage neither collapses nor needs operators
    short = " ".join(s for _, s in timeline(cascade(np.array([30.0, INCIDENT_OUTAGE_MIN])), 0))
    assert "collapse" not in short and "engineers" not in short and "pass again" in short


def test_mitigations_at_the_incident() -> None:
    base = cascade(INCIDENT_OUTAGE_MIN)
    throttled = cascade(INCIDENT_OUTAGE_MIN, CascadeParams(queue_throttle=True))
    assert not bool(throttled.collapse)
    fleet = 1.0 / CascadeParams().dwfm_rate_per_min  # the fleet's work (74.1 min), at once
    assert float(throttled.leases_restored_min) == pytest.approx(fleet)
    rehearsed = cascade(INCIDENT_OUTAGE_MIN, CascadeParams(intervention_delay_min=30.0))
    assert float(rehearsed.leases_restored_min) == pytest.approx(30.0 + fleet)
    for mitigated in (throttled, rehearsed):
        for field in ("ec2_impaired_min", "nlb_impact_min", "nlb_capacity_lost"):
            assert float(getattr(mitigated, field)) < float(getattr(base, field))
    capped = cascade(INCIDENT_OUTAGE_MIN, CascadeParams(velocity_cap=0.1))
    assert float(capped.nlb_capacity_lost) == pytest.approx(0.1 * 246.0)
    for field in IMPACTS:  # velocity control changes nothing but the capacity removed
        if field != "nlb_capacity_lost":
            assert float(getattr(capped, field)) == float(getattr(base, field))
    # empty_guard shortens R itself: a two-minute rollback ends before any lease lapses
    guarded = cascade(2.0)
    assert float(guarded.lapsed_fraction) == 0.0 and float(guarded.ec2_impaired_min) == 2.0
    assert float(guarded.nlb_impact_min) == 0.0 and float(guarded.propagation_backlog_min) == 0.0


def test_per_event_parameters_broadcast() -> None:
    r = np.array([[30.0, 157.0, 300.0]])
    p = CascadeParams(intervention_delay_min=np.array([[30.0], [109.0]]), queue_throttle=np.array([False]))
    o = cascade(r, p)
    assert o.ec2_impaired_min.shape == (2, 3) and o.collapse.shape == (2, 3)
    assert o.outage_min[1, 2] == 300.0
    assert o.leases_restored_min[0, 1] < o.leases_restored_min[1, 1]
    assert len(timeline(o, 4)) == len(timeline(cascade(157.0), 0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lease_spread_min": 0.0}, "lease_spread_min must be > 0"),
        ({"work_timeout_min": -1.0}, "work_timeout_min"),
        ({"propagation_arrival_ratio": 1.0}, "propagation_arrival_ratio must be > 1"),
        ({"nlb_removed_fraction": 1.5}, "nlb_removed_fraction must be >= 0 and <= 1"),
        ({"velocity_cap": -0.1}, "velocity_cap"),
        ({"throttle_release_min": np.inf}, "throttle_release_min"),
        ({"intervention_delay_min": np.array([1.0, np.nan])}, "intervention_delay_min"),
        ({"queue_throttle": 1}, "queue_throttle must be a boolean"),
    ],
)
def test_invalid_parameters_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CascadeParams(**change)  # type: ignore[arg-type]


def test_invalid_outages_are_refused() -> None:
    for bad in (-1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="outage"):
            cascade(np.array([10.0, bad]))


# -- properties ---------------------------------------------------------------------------------


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A number in [lo, hi], often an end: the cascade's regimes meet where a delay or a
    tolerance is at its extreme (an immediate intervention, an instant release)."""
    return st.sampled_from([lo, hi]) | st.floats(lo, hi, allow_nan=False, allow_infinity=False)


#: Parameters well beyond the calibrated values; the tolerances are kept above zero, as a
#: zero tolerance makes any backlog, however small, an impairment (R -> 0 would not vanish).
PARAMS = st.builds(
    CascadeParams,
    lease_grace_min=_floats(0.0, 60.0),
    lease_spread_min=_floats(0.1, 600.0),
    dwfm_rate_per_min=_floats(1e-3, 1.0),
    work_timeout_min=_floats(0.1, 240.0),
    intervention_delay_min=_floats(0.0, 600.0),
    queue_throttle=st.booleans(),
    dns_cache_ttl_min=_floats(0.0, 60.0),
    propagation_work_min_per_lapse_min=_floats(0.0, 10.0),
    propagation_arrival_ratio=_floats(1.01, 10.0),
    propagation_tolerance_min=_floats(0.01, 120.0),
    health_check_tolerance_min=_floats(0.01, 60.0),
    failover_disable_delay_min=_floats(0.0, 600.0),
    throttle_release_min=_floats(0.0, 600.0),
    failover_reenable_delay_min=_floats(0.0, 120.0),
    nlb_removed_fraction=_floats(0.0, 1.0),
    velocity_cap=st.none() | _floats(0.0, 1.0),
)
#: (earlier, later) instants of the cascade's causal chain.
CAUSAL = [
    ("lapse_begins_at_min", "all_lapsed_at_min"),
    ("all_lapsed_at_min", "outage_min"),
    ("outage_min", "collapse_at_min"),
    ("collapse_at_min", "intervention_at_min"),
    ("intervention_at_min", "leases_restored_at_min"),
    ("outage_min", "leases_restored_at_min"),
    ("leases_restored_at_min", "nlb_errors_at_min"),
    ("leases_restored_at_min", "propagation_latency_at_min"),
    ("nlb_errors_at_min", "failover_disabled_at_min"),
    ("nlb_errors_at_min", "nlb_errors_end_at_min"),
    ("propagation_latency_at_min", "propagation_normal_at_min"),
    ("leases_restored_at_min", "ec2_recovered_at_min"),
    ("propagation_normal_at_min", "ec2_recovered_at_min"),
    ("ec2_recovered_at_min", "failover_reenabled_at_min"),
    ("nlb_errors_end_at_min", "failover_reenabled_at_min"),
]
OUTAGES = st.lists(_floats(0.0, 2000.0), min_size=1, max_size=40)
#: Outages on both sides of every threshold of the defaults (lapse, collapse, propagation).
GRID = np.concatenate([np.linspace(0.0, 1500.0, 3001), [5.0, 35.6, 156.0, 157.0]])


def _assert_no_larger(small: CascadeOutcome, large: CascadeOutcome) -> None:
    for field in IMPACTS:
        a, b = getattr(small, field), getattr(large, field)
        assert np.all(a <= b + 1e-9 * (1.0 + np.abs(b))), field


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS, OUTAGES)
def test_impact_is_non_decreasing_in_the_outage(params: CascadeParams, outages: list[float]) -> None:
    r = np.sort(np.concatenate([GRID, outages]))
    o = cascade(r, params)
    for field in IMPACTS:
        x = getattr(o, field)
        assert np.all(np.diff(x) >= -1e-9 * (1.0 + np.abs(x[1:]))), field


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS)
def test_no_outage_no_cascade(params: CascadeParams) -> None:
    r = np.array([0.0, 1e-10, 1e-9])
    o = cascade(r, params)
    assert not o.collapse.any()
    for field in IMPACTS:
        if field not in ("ec2_impaired_min", "ec2_recovered_at_min"):
            assert np.all(getattr(o, field) <= 1e-3), field
    # EC2 is impaired for the outage itself and the (vanishing) lease work after it
    assert np.all(o.ec2_impaired_min <= r + 1e-3) and np.all(o.ec2_recovered_at_min <= r + 1e-3)
    assert o.ec2_impaired_min[0] == 0.0 and o.nlb_impact_min[0] == 0.0


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS, OUTAGES)
def test_queue_throttle_never_collapses_nor_hurts(params: CascadeParams, outages: list[float]) -> None:
    r = np.concatenate([GRID[::10], outages])
    throttled = cascade(r, dataclasses.replace(params, queue_throttle=True))
    assert not throttled.collapse.any()
    _assert_no_larger(throttled, cascade(r, dataclasses.replace(params, queue_throttle=False)))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS, OUTAGES, _floats(0.0, 1.0), _floats(0.0, 1.0))
def test_velocity_control_never_removes_more(
    params: CascadeParams, outages: list[float], cap: float, tighter: float
) -> None:
    r = np.concatenate([GRID[::10], outages])
    off = cascade(r, dataclasses.replace(params, velocity_cap=None))
    on = cascade(r, dataclasses.replace(params, velocity_cap=cap))
    tight = cascade(r, dataclasses.replace(params, velocity_cap=cap * tighter))
    assert np.all(on.nlb_capacity_lost <= off.nlb_capacity_lost)
    assert np.all(tight.nlb_capacity_lost <= on.nlb_capacity_lost)
    _assert_no_larger(on, off)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS, OUTAGES, _floats(0.0, 1.0))
def test_a_shorter_intervention_delay_never_hurts(
    params: CascadeParams, outages: list[float], shorter: float
) -> None:
    r = np.concatenate([GRID[::10], outages])
    delay = float(np.asarray(params.intervention_delay_min))
    rehearsed = cascade(r, dataclasses.replace(params, intervention_delay_min=delay * shorter))
    _assert_no_larger(rehearsed, cascade(r, params))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(PARAMS, OUTAGES)
def test_outputs_are_finite_and_non_negative(params: CascadeParams, outages: list[float]) -> None:
    r = np.concatenate([GRID[::10], outages])
    o = cascade(r, params)
    for field in dataclasses.fields(o):
        x = getattr(o, field.name)
        assert x.shape == r.shape, field.name
        if x.dtype == np.bool_:
            continue
        if field.name.endswith("_at_min"):  # an instant: NaN when its phase does not happen
            x = x[~np.isnan(x)]
        assert np.all(np.isfinite(x)) and np.all(x >= 0.0), field.name
    assert np.all(o.lapsed_fraction <= 1.0) and np.all(o.nlb_removed_fraction <= 1.0)
    for before, after in CAUSAL:  # each phase after the phase that causes it
        a, b = getattr(o, before), getattr(o, after)
        both = ~np.isnan(a) & ~np.isnan(b)
        assert np.all(a[both] <= b[both] + 1e-9 * (1.0 + np.abs(b[both]))), (before, after)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_vector_equals_events_one_by_one(seed: int, n: int) -> None:
    """Per-event parameters (as drawn by other code) give, element by element, exactly the
    result of each event alone: the cascade couples no two events."""
    rng = np.random.default_rng(seed)
    scale = CascadeParams()
    values: dict[str, object] = {}
    for f in dataclasses.fields(CascadeParams):
        if f.name == "queue_throttle":
            values[f.name] = rng.random(n) < 0.5
        elif f.name == "velocity_cap":
            values[f.name] = np.where(rng.random(n) < 0.3, np.inf, rng.random(n))
        elif f.name in ("nlb_removed_fraction",):
            values[f.name] = rng.random(n)
        elif f.name == "propagation_arrival_ratio":
            values[f.name] = 1.0 + rng.random(n)
        else:  # around the default, with some at the exact calibrated values
            default = float(np.asarray(getattr(scale, f.name)))
            values[f.name] = np.where(rng.random(n) < 0.2, default, default * rng.uniform(0.05, 3.0, n))
    r = np.where(rng.random(n) < 0.2, INCIDENT_OUTAGE_MIN, rng.uniform(0.0, 600.0, n))
    params = CascadeParams(**values)  # type: ignore[arg-type]
    whole = cascade(r, params)
    for i in range(n):
        one = CascadeParams(**{k: v[i] for k, v in values.items()})  # type: ignore[arg-type,index]
        alone = cascade(r[i], one)
        for f in dataclasses.fields(CascadeOutcome):
            np.testing.assert_array_equal(getattr(whole, f.name)[i], getattr(alone, f.name), f.name)
        assert timeline(whole, i) == timeline(alone, 0)
