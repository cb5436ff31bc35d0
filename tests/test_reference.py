"""Tests of the exact reference simulator (riskmc.reference) against docs/model.md sections 2 and 3.

Scripted scenarios use times that are exact in binary floating point (halves, quarters), so
that every expected instant below is compared with ``==``.  Notation in the timelines:
``E0``/``E1``/... are enactors, ``ep0``/``ep1``/... endpoints, ``g<n>`` generations,
``ep0 <- g1 @ 11.5`` a write taking effect at t = 11.5, ``H`` the cell-wide highest
generation written so far.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmc.model import (
    CellOutcome,
    CellParams,
    ConstantDist,
    FrozenScipyDist,
    Mitigations,
    ScalarDist,
)
from riskmc.reference import (
    IndependentRandomness,
    ScriptedRandomness,
    simulate_cell,
    simulate_many,
    trial_generator,
)

BIG_G = 10**9


def cell(
    *,
    K: int,
    E: int,
    G: int = 0,
    poll: float = 10.0,
    window: float = 100.0,
    mitigations: Mitigations | None = None,
) -> CellParams:
    """Parameters for a scripted cell (the distributions are unused by ScriptedRandomness)."""
    return CellParams(
        window_s=window,
        enactors=K,
        poll_s=poll,
        endpoints=E,
        fail_prob=0.0,
        backoff_base_s=0.1,
        backoff_cap_s=1.0,
        degraded_prob=0.0,
        degraded_fail_prob=0.0,
        keep_generations=G,
        planner_interval=ConstantDist(1.0),
        write_latency=ConstantDist(1.0),
        mitigations=mitigations or Mitigations(),
    )


def kinds(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def run_traced(params: CellParams, rnd: ScriptedRandomness) -> tuple[CellOutcome, list[dict]]:
    outcome, records = simulate_cell(params, rnd, trace=True)
    json.dumps(records)  # the trace must be JSON-serialisable
    times = [r["t"] for r in records]
    assert times == sorted(times), "trace must be chronological"
    rnd.requested.clear()  # keep the record of the untraced simulation only
    assert outcome == simulate_cell(params, rnd), "tracing must not change the outcome"
    return outcome, records


# --------------------------------------------------------------------------------------
# (a) The incident: the slow enactor's old, deleted plan empties an endpoint by a write
# --------------------------------------------------------------------------------------


def incident(mitigations: Mitigations | None = None, window: float = 100.0) -> tuple:
    """K=2, E=3, G=0, poll=10; g1 published at 1, g2 at 2, g3 at 100.

    E0 wakes 1.5: g1 > H=0, run g1 with slow writes of 10 s:
        ep0 <- g1 @ 11.5, ep1 <- g1 @ 21.5, ep2 <- g1 @ 31.5.
    E1 wakes 2.5: g2 > H=0, run g2 with 1 s writes:
        ep0 <- g2 @ 3.5, ep1 <- g2 @ 4.5, ep2 <- g2 @ 5.5; clean-up @ 5.5 deletes g < 2 =
        {g0, g1}; every endpoint points to g2, so no event.
    E0's write ep0 <- g1 @ 11.5 writes a deleted plan: event at 11.5, affected (ep0,).
    """
    params = cell(K=2, E=3, G=0, poll=10.0, window=window, mitigations=mitigations)
    rnd = ScriptedRandomness(
        publication_times=[1.0, 2.0, 100.0],
        wake_offsets=[1.5, 2.5],
        runs={(0, 0): (True, [10.0, 10.0, 10.0]), (1, 0): (False, [1.0, 1.0, 1.0])},
    )
    return params, rnd


def test_incident_event_at_the_slow_write() -> None:
    params, rnd = incident()
    outcome, records = run_traced(params, rnd)
    assert outcome.event
    assert outcome.event_time_s == 11.5
    assert outcome.affected == (0,)
    assert outcome.runs_started == 2
    assert outcome.runs_abandoned == 0
    assert rnd.requested == [(0, 0), (1, 0)]
    (event,) = kinds(records, "event")
    assert event["cause"] == "write" and event["enactor"] == 0 and event["affected"] == [0]
    (cleanup,) = kinds(records, "cleanup")
    assert cleanup["t"] == 5.5 and cleanup["deleted"] == [0, 1]
    assert records[-1]["kind"] == "event"  # frozen: nothing after the event
    assert kinds(records, "run_start")[0]["degraded"] is True
    # (f) plan age over [0, 11.5), P_2 = 2, integral of (t - P) per plan segment:
    # ep0: g0 on [0, 3.5) -> 3.5^2/2 = 6.125; g2 on [3.5, 11.5) -> (9.5^2 - 1.5^2)/2 = 44
    # ep1: g0 on [0, 4.5) -> 10.125;           g2 on [4.5, 11.5) -> (9.5^2 - 2.5^2)/2 = 42
    # ep2: g0 on [0, 5.5) -> 15.125;           g2 on [5.5, 11.5) -> (9.5^2 - 3.5^2)/2 = 39
    assert outcome.mean_plan_age_s == pytest.approx(156.375 / (3 * 11.5), rel=1e-12)


def test_incident_with_three_enactors_idle_third() -> None:
    """The incident plus E2 waking at 3.0: H(3.0) = 0 < g2, so E2 also runs g2 with 1 s
    writes (ep0 @ 4.0, ep1 @ 5.0, ep2 @ 6.0) and cleans up at 6.0, deleting nothing new.
    The event is unchanged: 11.5, (ep0,), 3 runs."""
    params = cell(K=3, E=3, G=0, poll=10.0)
    rnd = ScriptedRandomness(
        [1.0, 2.0, 100.0],
        [1.5, 2.5, 3.0],
        runs={(0, 0): (True, [10.0, 10.0, 10.0])},
        default_run=(False, [1.0, 1.0, 1.0]),
    )
    outcome = simulate_cell(params, rnd)
    assert (outcome.event, outcome.event_time_s, outcome.affected) == (True, 11.5, (0,))
    assert outcome.runs_started == 3


# --------------------------------------------------------------------------------------
# (b) The clean-up-caused variant
# --------------------------------------------------------------------------------------


def cleanup_caused(mitigations: Mitigations | None = None) -> tuple:
    """K=2, E=3, G=0, poll=100, window 300; g1 @ 1, g2 @ 2, g3 @ 150.

    E0 wakes 1.5: run g1 with writes 5, 5, 100: ep0 <- g1 @ 6.5, ep1 <- g1 @ 11.5,
        ep2 <- g1 @ 111.5.
    E1 wakes 2.5: run g2 with writes 1, 1, 11: ep0 <- g2 @ 3.5, ep1 <- g2 @ 4.5,
        ep2 <- g2 @ 15.5.
    E0 overwrites ep0 (6.5) and ep1 (11.5) with the old g1 (not yet deleted: no event).
    E1's clean-up @ 15.5 deletes {g0, g1}: ep0 and ep1 point to g1 -> event at 15.5,
    affected (ep0, ep1).
    """
    params = cell(K=2, E=3, G=0, poll=100.0, window=300.0, mitigations=mitigations)
    rnd = ScriptedRandomness(
        [1.0, 2.0, 150.0],
        [1.5, 2.5],
        runs={(0, 0): (False, [5.0, 5.0, 100.0]), (1, 0): (False, [1.0, 1.0, 11.0])},
        default_run=(False, [1.0, 1.0, 1.0]),
    )
    return params, rnd


def test_cleanup_deletes_the_old_plan_written_over_a_newer_one() -> None:
    params, rnd = cleanup_caused()
    outcome, records = run_traced(params, rnd)
    assert outcome.event
    assert outcome.event_time_s == 15.5
    assert outcome.affected == (0, 1)
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 0)
    (event,) = kinds(records, "event")
    assert event["cause"] == "cleanup" and event["enactor"] == 1
    assert event["affected_gens"] == [1, 1]


# --------------------------------------------------------------------------------------
# (c) The start-time check against the cell-wide H
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second_wake", "expected_runs"),
    [
        (4.0, 2),  # before ep0 <- g1 @ 5: H(4) = 0 < g1, E1 starts a (redundant) run
        (5.0, 1),  # same instant as ep0 <- g1: the completion comes first, H(5) = 1
        (6.0, 1),  # after ep0 <- g1 @ 5: H(6) = 1 = g1, nothing to do
    ],
)
def test_start_time_check(second_wake: float, expected_runs: int) -> None:
    """K=2, E=2, no clean-up, g1 @ 1.  E0 wakes 2: run g1, ep0 <- g1 @ 5, ep1 <- g1 @ 8.
    E1 wakes at `second_wake`; the window (50 s) ends before anyone wakes again (poll 100).
    """
    params = cell(K=2, E=2, G=BIG_G, poll=100.0, window=50.0)
    rnd = ScriptedRandomness([1.0], [2.0, second_wake], default_run=(False, [3.0, 3.0]))
    outcome, records = run_traced(params, rnd)
    assert not outcome.event
    assert outcome.runs_started == expected_runs
    e1_wake = [r for r in records if r["kind"] in ("check_pass", "check_fail")][1]
    assert e1_wake["enactor"] == 1 and e1_wake["t"] == second_wake
    assert e1_wake["kind"] == ("check_pass" if expected_runs == 2 else "check_fail")


def test_nothing_published_yet_means_nothing_to_do() -> None:
    params = cell(K=1, E=1, poll=1.0, window=2.5)
    rnd = ScriptedRandomness([5.0], [0.5], default_run=(False, [0.25]))
    outcome = simulate_cell(params, rnd)  # wakes 0.5, 1.5, 2.5: newest g0 = H
    assert outcome.runs_started == 0 and not outcome.event
    assert outcome.mean_plan_age_s == pytest.approx(2.5 / 2)  # g0 all along: mean of t


# --------------------------------------------------------------------------------------
# (d) Same-instant order
# --------------------------------------------------------------------------------------


def test_last_write_then_own_cleanup_at_the_same_instant() -> None:
    """K=1, E=2, G=0, window 10, g1 @ 2.  E0 wakes 3: run g1, ep0 <- g1 @ 4, ep1 <- g1 @ 6,
    clean-up @ 6 deletes {g0}.  The last write comes first, so at the clean-up no endpoint
    points to g0: no event (had the clean-up preceded the write, ep1 would still be on g0).

    (f) plan age, no event so t_end = T = 10, P_1 = 2:
    ep0: g0 on [0, 4) -> 8;  g1 on [4, 10) -> ((10-2)^2 - (4-2)^2)/2 = 30
    ep1: g0 on [0, 6) -> 18; g1 on [6, 10) -> (64 - 16)/2 = 24
    mean = (8 + 30 + 18 + 24) / (2 * 10) = 4.0
    """
    params = cell(K=1, E=2, G=0, poll=100.0, window=10.0)
    rnd = ScriptedRandomness([2.0], [3.0], default_run=(False, [1.0, 2.0]))
    outcome, records = run_traced(params, rnd)
    assert not outcome.event and outcome.event_time_s == math.inf
    assert outcome.affected == ()
    assert outcome.mean_plan_age_s == 4.0
    last_write = kinds(records, "write_done")[-1]
    (cleanup,) = kinds(records, "cleanup")
    assert last_write["t"] == cleanup["t"] == 6.0
    assert records.index(last_write) < records.index(cleanup)
    assert cleanup["deleted"] == [0]


def test_completions_before_cleanups_across_enactors() -> None:
    """K=2, E=2, G=0, poll 100; g1 @ 1, g2 @ 2.  The clean-up's enactor has the LOWER index.

    E1 wakes 1.5: run g1, writes 10.5, 100: ep0 <- g1 @ 12.0 (ep1 write in flight).
    E0 wakes 2.5: run g2, writes 1, 8.5: ep0 <- g2 @ 3.5, ep1 <- g2 @ 12.0, clean-up @ 12.0.
    At 12.0: completions first (E0's ep1 <- g2, then E1's ep0 <- g1, g1 not yet deleted),
    then E0's clean-up deletes {g0, g1}: event caused by the clean-up, affected (ep0,).
    """
    params = cell(K=2, E=2, G=0, poll=100.0, window=200.0)
    rnd = ScriptedRandomness(
        [1.0, 2.0, 1000.0],
        [2.5, 1.5],
        runs={(1, 0): (False, [10.5, 100.0]), (0, 0): (False, [1.0, 8.5])},
    )
    outcome, records = run_traced(params, rnd)
    assert (outcome.event, outcome.event_time_s, outcome.affected) == (True, 12.0, (0,))
    at_12 = [(r["kind"], r["enactor"]) for r in records if r["t"] == 12.0]
    assert at_12 == [("write_done", 0), ("write_done", 1), ("cleanup", 0), ("event", 0)]
    assert kinds(records, "event")[0]["cause"] == "cleanup"


def test_write_caused_event_suppresses_the_same_instant_cleanup() -> None:
    """K=3, E=2, G=1 (clean-up keeps g-1..g), poll 20; g1 @ 1, g2 @ 2, g3 @ 3, g4 @ 20.

    E0 wakes 1.5: run g1, writes 0.5, 40: ep0 <- g1 @ 2.0, ep1 <- g1 @ 42.0.
    E1 wakes 2.5 (H=1 < g2): run g2, writes 27.5, 100: ep0 <- g2 @ 30.0.
    E2 wakes 3.75 (H=1 < g3): run g3, writes 1, 1: ep0 <- g3 @ 4.75, ep1 <- g3 @ 5.75,
        clean-up @ 5.75 deletes g < 2 = {g0, g1}: ep0, ep1 on g3, no event.
    E2 wakes 25.75 (H=3 < g4): run g4, writes 1, 15.25: ep0 <- g4 @ 26.75,
        ep1 <- g4 @ 42.0, clean-up @ 42.0 would delete {g2}.
    ep0 <- g2 @ 30.0 (E1's old plan over g4, g2 not deleted).
    At 42.0: E0's ep1 <- g1 (deleted) is the first completion: event, affected (ep1,).
    E2's same-instant completion and clean-up do not take effect; had the clean-up run, ep0
    (on g2) would be affected too.
    """
    params = cell(K=3, E=2, G=1, poll=20.0, window=100.0)
    rnd = ScriptedRandomness(
        [1.0, 2.0, 3.0, 20.0, 1000.0],
        [1.5, 2.5, 3.75],
        runs={
            (0, 0): (False, [0.5, 40.0]),
            (1, 0): (False, [27.5, 100.0]),
            (2, 0): (False, [1.0, 1.0]),
            (2, 1): (False, [1.0, 15.25]),
        },
    )
    outcome, records = run_traced(params, rnd)
    assert (outcome.event, outcome.event_time_s, outcome.affected) == (True, 42.0, (1,))
    assert outcome.runs_started == 4
    assert [c["t"] for c in kinds(records, "cleanup")] == [5.75]
    assert [(r["kind"], r["enactor"]) for r in records if r["t"] == 42.0] == [
        ("write_done", 0),
        ("event", 0),
    ]


# --------------------------------------------------------------------------------------
# (e) Mitigations, each on a race where it changes the outcome
# --------------------------------------------------------------------------------------


def recheck_race(mitigations: Mitigations | None = None) -> tuple:
    """K=2, E=3, G=0, poll 100, window 50; g1 @ 1, g2 @ 2.

    E0 wakes 1.5: run g1, writes 0.5, 1.5, 10: ep0 <- g1 @ 2.0, ep1 <- g1 @ 3.5, write 2
        begins @ 3.5 (2.0 s after the run began), baseline ep2 <- g1 @ 13.5.
    E1 wakes 2.25 (H=1 < g2): run g2, 1 s writes: ep0 @ 3.25 (H=2), ep1 @ 4.25, ep2 @ 5.25,
        clean-up @ 5.25 deletes {g0, g1}; all endpoints on g2, no event.
    Baseline: ep2 <- g1 (deleted) @ 13.5: event, affected (ep2,).
    """
    params = cell(K=2, E=3, G=0, poll=100.0, window=50.0, mitigations=mitigations)
    rnd = ScriptedRandomness(
        [1.0, 2.0, 1000.0],
        [1.5, 2.25],
        runs={(0, 0): (False, [0.5, 1.5, 10.0]), (1, 0): (False, [1.0, 1.0, 1.0])},
    )
    return params, rnd


def test_recheck_race_baseline() -> None:
    outcome = simulate_cell(*recheck_race())
    assert (outcome.event, outcome.event_time_s, outcome.affected) == (True, 13.5, (2,))
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 0)


def test_recheck_abandons() -> None:
    """Write 2 of E0 begins @ 3.5 with H(3.5) = 2 > g1: abandoned, no event."""
    outcome, records = run_traced(*recheck_race(Mitigations(recheck=True)))
    assert not outcome.event
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 1)
    (abandon,) = kinds(records, "abandon")
    assert (abandon["t"], abandon["enactor"], abandon["reason"]) == (3.5, 0, "recheck")
    assert abandon["write"] == 2


@pytest.mark.parametrize(("deadline", "abandon_times"), [(1.5, [3.5, 4.25]), (2.0, []), (0.25, [2.0, 3.25])])
def test_deadline(deadline: float, abandon_times: list[float]) -> None:
    """recheck_race with a deadline.  E0's writes 1 and 2 begin 0.5 s (@ 2.0) and 2.0 s
    (@ 3.5) after its run began @ 1.5; E1's begin 1.0 s (@ 3.25) and 2.0 s (@ 4.25) after
    its start @ 2.25.  A write is refused only when it would begin MORE than `deadline`
    after the start (2.0 is not more than 2.0: baseline event @ 13.5); write 0 is never
    blocked.  With 1.5 both runs stop before their write 2 (E1 leaves ep0, ep1 on g2, ep2 on
    g0, no clean-up); with 0.25 both stop before write 1."""
    outcome, records = run_traced(*recheck_race(Mitigations(deadline_s=deadline)))
    abandons = kinds(records, "abandon")
    assert [a["t"] for a in abandons] == abandon_times
    assert all(a["reason"] == "deadline" for a in abandons)
    assert outcome.runs_abandoned == len(abandon_times)
    assert outcome.event is (not abandon_times)
    if outcome.event:
        assert (outcome.event_time_s, outcome.affected) == (13.5, (2,))
    else:
        assert kinds(records, "cleanup") == []


def test_deadline_late_last_write_still_cleans_up() -> None:
    """K=1, E=2, deadline 1: g1 @ 1, wake 1.5, writes 0.5, 5: write 1 begins @ 2.0 (0.5 s
    after the start), ends @ 7.0, 5.5 s after the start: the clean-up still runs @ 7.0."""
    params = cell(K=1, E=2, G=0, poll=100.0, window=50.0, mitigations=Mitigations(deadline_s=1.0))
    rnd = ScriptedRandomness([1.0], [1.5], default_run=(False, [0.5, 5.0]))
    outcome, records = run_traced(params, rnd)
    assert not outcome.event and outcome.runs_abandoned == 0
    (cleanup,) = kinds(records, "cleanup")
    assert cleanup["t"] == 7.0 and cleanup["deleted"] == [0]


def test_conditional_write_rejects() -> None:
    """Incident with conditional_write: E0's ep0 <- g1 @ 11.5 finds ep0 on g2 > g1: rejected,
    run abandoned @ 11.5 (wake @ 21.5: newest g2 = H, nothing to do).  No event."""
    params, rnd = incident(Mitigations(conditional_write=True), window=50.0)
    outcome, records = run_traced(params, rnd)
    assert not outcome.event
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 1)
    (rejected,) = kinds(records, "write_rejected")
    assert (rejected["t"], rejected["endpoint"], rejected["current"]) == (11.5, 0, 2)
    (abandon,) = kinds(records, "abandon")
    assert (abandon["t"], abandon["reason"]) == (11.5, "conditional_write")
    e0_wakes = [r["t"] for r in kinds(records, "wake") if r["enactor"] == 0]
    assert e0_wakes == [1.5, 21.5, 31.5, 41.5]


def test_cleanup_skip_active_spares_then_deletes_later() -> None:
    """cleanup_caused with cleanup_skip_active.  E1's clean-up @ 15.5 deletes g0 but spares
    g1 (ep0, ep1 point to it): no event.  ep2 <- g1 @ 111.5, E0's clean-up deletes nothing
    new (g < 1).  E1 wakes 115.5: newest g2 = H, idle.  E0 wakes 211.5: g3 (@ 150) > H=2,
    run g3 (1 s writes) -> 212.5, 213.5, 214.5, clean-up @ 214.5 deletes {g1, g2}: the
    spared g1 is no longer pointed to and goes now.  E1 wakes 215.5: H=3, idle."""
    params, rnd = cleanup_caused(Mitigations(cleanup_skip_active=True))
    outcome, records = run_traced(params, rnd)
    assert not outcome.event
    assert (outcome.runs_started, outcome.runs_abandoned) == (3, 0)
    cleanups = [(c["t"], c["deleted"], c["spared_active"]) for c in kinds(records, "cleanup")]
    assert cleanups == [(15.5, [0], [1]), (111.5, [], []), (214.5, [1, 2], [])]


@pytest.mark.parametrize(("age", "event"), [(10.0, False), (4.5, False), (4.0, True)])
def test_cleanup_min_age(age: float, event: bool) -> None:
    """Incident with cleanup_min_age: E1's clean-up @ 5.5 may delete g only if
    P_g < 5.5 - age.  age 10: nothing deletable; age 4.5: P_1 = 1 is not < 1.0 (strict), g1
    spared, g0 deleted; age 4: g1 deleted as in the baseline, event @ 11.5."""
    params, rnd = incident(Mitigations(cleanup_min_age_s=age), window=50.0)
    outcome, records = run_traced(params, rnd)
    assert outcome.event is event
    first_cleanup = kinds(records, "cleanup")[0]
    assert first_cleanup["t"] == 5.5
    assert first_cleanup["deleted"] == {10.0: [], 4.5: [0], 4.0: [0, 1]}[age]
    if event:
        assert (outcome.event_time_s, outcome.affected) == (11.5, (0,))


def test_lease_denies_the_second_enactor() -> None:
    """Incident with a 100 s lease.  E0 takes it @ 1.5 and renews it at each write begin
    (11.5, 21.5).  E1's wakes @ 2.5, 12.5, 22.5 pass the start check but are denied (not
    runs).  E0 finishes ep2 @ 31.5, cleans g0 and releases.  E1 @ 32.5 takes the lease and
    runs g2 (its run 0) @ 33.5, 34.5, 35.5, cleaning g1.  No event."""
    params, rnd = incident(Mitigations(lease_s=100.0), window=50.0)
    outcome, records = run_traced(params, rnd)
    assert not outcome.event
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 0)
    assert [r["t"] for r in kinds(records, "lease_denied")] == [2.5, 12.5, 22.5]
    assert rnd.requested == [(0, 0), (1, 0)]
    assert [(c["t"], c["deleted"]) for c in kinds(records, "cleanup")] == [
        (31.5, [0]),
        (35.5, [1]),
    ]


def test_lease_expiry_abandons_the_holder() -> None:
    """Incident with a 5 s lease.  E0 takes it @ 1.5 (expiry 6.5); E1 @ 2.5 is denied.
    ep0 <- g1 @ 11.5 (in flight, still takes effect, H=1); write 1 would begin @ 11.5 >
    6.5: E0 abandons and releases.  E1 @ 12.5: g2 > 1, takes the lease, runs g2 @ 13.5,
    14.5, 15.5, cleans {g0, g1} with every endpoint on g2.  No event."""
    params, rnd = incident(Mitigations(lease_s=5.0), window=50.0)
    outcome, records = run_traced(params, rnd)
    assert not outcome.event
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 1)
    (abandon,) = kinds(records, "abandon")
    assert (abandon["t"], abandon["enactor"], abandon["reason"]) == (11.5, 0, "lease")


def test_lease_has_no_fencing() -> None:
    """K=2, E=1, lease 5, poll 10; g1 @ 1, g2 @ 2.  E0 takes the lease @ 1.5, runs g1 with a
    20 s write (ep0 <- g1 @ 21.5).  E1 @ 2.5 denied; @ 12.5 the lease has expired: E1 takes
    it, runs g2: ep0 <- g2 @ 13.5, clean-up deletes {g0, g1}.  E0's in-flight write still
    takes effect @ 21.5: ep0 <- deleted g1, event, affected (ep0,)."""
    params = cell(K=2, E=1, G=0, poll=10.0, window=50.0, mitigations=Mitigations(lease_s=5.0))
    rnd = ScriptedRandomness(
        [1.0, 2.0, 1000.0], [1.5, 2.5], runs={(0, 0): (False, [20.0]), (1, 0): (False, [1.0])}
    )
    outcome, records = run_traced(params, rnd)
    assert (outcome.event, outcome.event_time_s, outcome.affected) == (True, 21.5, (0,))
    assert (outcome.runs_started, outcome.runs_abandoned) == (2, 0)
    assert [r["t"] for r in kinds(records, "lease_denied")] == [2.5]


def test_empty_guard_changes_nothing_in_the_cell() -> None:
    params, rnd = incident(Mitigations(empty_guard_repair=ConstantDist(60.0)))
    base_params, base_rnd = incident()
    assert simulate_cell(params, rnd) == simulate_cell(base_params, base_rnd)


# --------------------------------------------------------------------------------------
# Exact invariants over random trials
# --------------------------------------------------------------------------------------

EXPON3 = FrozenScipyDist("expon", (("scale", 3.0),))


def racy(**changes: Any) -> CellParams:
    """A configuration where the event is common (the consequences of docs/model.md section 2 are exact)."""
    base: dict[str, Any] = {
        "window_s": 600.0,
        "enactors": 3,
        "poll_s": 2.0,
        "endpoints": 5,
        "fail_prob": 0.05,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 10.0,
        "degraded_prob": 0.3,
        "degraded_fail_prob": 0.8,
        "keep_generations": 0,
        "planner_interval": EXPON3,
        "write_latency": ConstantDist(0.1),
    }
    base.update(changes)
    return CellParams(**base)


N_RANDOM = 40


def count_events(params: CellParams, seed: int) -> int:
    return sum(o.event for o in simulate_many(params, N_RANDOM, seed=seed))


def test_racy_baseline_has_many_events() -> None:
    assert count_events(racy(), 11) >= N_RANDOM // 2
    assert count_events(racy(keep_generations=1), 12) >= N_RANDOM // 2


def test_single_enactor_never_has_an_event() -> None:
    assert count_events(racy(enactors=1), 13) == 0
    assert count_events(racy(enactors=3), 13) >= N_RANDOM // 2  # the same without K=1


def test_no_cleanup_never_has_an_event() -> None:
    outcomes = simulate_many(racy(keep_generations=BIG_G), N_RANDOM, seed=14)
    assert sum(o.event for o in outcomes) == 0
    assert all(o.mean_plan_age_s > 0 and o.runs_started > 0 for o in outcomes)


def test_conditional_write_never_has_an_event() -> None:
    cw = Mitigations(conditional_write=True)
    outcomes = simulate_many(racy(mitigations=cw), N_RANDOM, seed=15)
    assert sum(o.event for o in outcomes) == 0
    assert sum(o.runs_abandoned for o in outcomes) > 0  # it does reject writes
    everything = Mitigations(
        conditional_write=True,
        recheck=True,
        deadline_s=5.0,
        lease_s=3.0,
        cleanup_skip_active=True,
        cleanup_min_age_s=1.0,
    )
    assert count_events(racy(mitigations=everything, window_s=300.0), 16) == 0


def test_baseline_never_abandons_and_mitigations_do() -> None:
    base = simulate_many(racy(), 10, seed=17)
    assert all(o.runs_abandoned == 0 for o in base)
    for m in (Mitigations(recheck=True), Mitigations(deadline_s=2.0), Mitigations(lease_s=1.0)):
        assert sum(o.runs_abandoned for o in simulate_many(racy(mitigations=m), 10, seed=17)) > 0


def replay(params: CellParams, records: list[dict[str, Any]]) -> CellOutcome:
    """Rebuild the outcome from the trace alone (a cross-check of records and outcome)."""
    pointing = [0] * params.endpoints
    deleted: set[int] = set()
    for i, r in enumerate(records):
        if r["kind"] == "write_done":
            pointing[r["endpoint"]] = r["gen"]
            assert r["deleted_gen"] == (r["gen"] in deleted)
        elif r["kind"] == "cleanup":
            assert not deleted & set(r["deleted"])
            assert all(g < r["deleted_below"] for g in r["deleted"])
            deleted |= set(r["deleted"])
        else:
            continue
        emptied = [e for e in range(params.endpoints) if pointing[e] in deleted]
        if emptied:  # the event must be recorded right here, and be the last record
            event = records[i + 1]
            assert event["kind"] == "event" and event["t"] == r["t"]
            assert event["affected"] == emptied and i + 2 == len(records)
            break
    event_records = kinds(records, "event")
    return CellOutcome(
        event=bool(event_records),
        event_time_s=event_records[0]["t"] if event_records else math.inf,
        affected=tuple(event_records[0]["affected"]) if event_records else (),
        mean_plan_age_s=0.0,
        runs_started=len(kinds(records, "run_start")),
        runs_abandoned=len(kinds(records, "abandon")),
    )


@pytest.mark.parametrize(
    "mitigations",
    [
        Mitigations(),
        Mitigations(recheck=True),
        Mitigations(cleanup_skip_active=True, cleanup_min_age_s=5.0),
        Mitigations(deadline_s=3.0, lease_s=4.0),
    ],
)
def test_trace_replays_to_the_outcome(mitigations: Mitigations) -> None:
    params = racy(mitigations=mitigations, window_s=300.0)
    for i in range(8):
        rnd = IndependentRandomness(params, trial_generator(21, i))
        outcome, records = simulate_cell(params, rnd, trace=True)
        json.dumps(records)
        assert [r["t"] for r in records] == sorted(r["t"] for r in records)
        replayed = replay(params, records)
        assert replayed == CellOutcome(
            outcome.event,
            outcome.event_time_s,
            outcome.affected,
            0.0,
            outcome.runs_started,
            outcome.runs_abandoned,
        )
        assert outcome.event_time_s <= params.window_s or not outcome.event
        if outcome.event:
            assert records[-1]["kind"] == "event"


# --------------------------------------------------------------------------------------
# IndependentRandomness
# --------------------------------------------------------------------------------------


def durations_params(*, r: float, degraded_prob: float, latency: ScalarDist, E: int = 20) -> CellParams:
    return CellParams(
        window_s=100.0,
        enactors=2,
        poll_s=2.0,
        endpoints=E,
        fail_prob=r,
        backoff_base_s=0.1,
        backoff_cap_s=1.0,
        degraded_prob=degraded_prob,
        degraded_fail_prob=0.8,
        keep_generations=0,
        planner_interval=EXPON3,
        write_latency=latency,
    )


def expected_duration(r: float, mean_latency: float, base: float, cap: float) -> float:
    """E[D] = E[N] E[L] + E[B_1 + ... + B_{N-1}].

    N ~ Geometric(1 - r) on {1, 2, ...}: E[N] = 1 / (1 - r), and by Wald's identity the
    latency sum has mean E[N] E[L].  B_a is paid iff N > a, P(N > a) = r^a, independently of
    V_a with E[V_a] = 1/2, so E[sum B] = sum_{a >= 1} r^a * min(cap, base 2^(a-1)) / 2.
    """
    backoff = sum(r**a * min(cap, base * 2.0 ** (a - 1)) / 2.0 for a in range(1, 400))
    return mean_latency / (1.0 - r) + backoff


@pytest.mark.parametrize(
    ("r", "degraded_prob", "latency"),
    [
        (0.5, 0.0, ConstantDist(0.05)),
        (0.1, 1.0, ConstantDist(0.05)),  # every run degraded: attempts fail with 0.8
        (0.3, 0.0, FrozenScipyDist("lognorm", (("s", 0.5), ("scale", 0.2)))),
    ],
)
def test_write_duration_mean_matches_closed_form(r: float, degraded_prob: float, latency: ScalarDist) -> None:
    params = durations_params(r=r, degraded_prob=degraded_prob, latency=latency)
    rnd = IndependentRandomness(params, np.random.default_rng(2024))
    d = np.concatenate([rnd.run_draws(k, n)[1] for k in range(2) for n in range(250)])
    r_eff = params.degraded_fail_prob if degraded_prob == 1.0 else r
    mu = expected_duration(r_eff, latency.mean(), params.backoff_base_s, params.backoff_cap_s)
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert abs(d.mean() - mu) < 4 * se
    if isinstance(latency, ConstantDist):
        # D equals the latency exactly iff the first attempt succeeded (V_a > 0 a.s.).
        one_attempt = np.mean(d == latency.value)
        assert abs(one_attempt - (1 - r_eff)) < 4 * math.sqrt(r_eff * (1 - r_eff) / d.size)
        assert d.min() >= latency.value


def test_degraded_frequency_and_memoisation() -> None:
    params = durations_params(r=0.2, degraded_prob=0.3, latency=ConstantDist(0.05), E=2)
    a = IndependentRandomness(params, np.random.default_rng(7))
    b = IndependentRandomness(params, np.random.default_rng(7))
    # Asked in a different order, the same (k, n) gives the same draws.
    late_first = b.run_draws(1, 300)
    flags = [a.run_draws(k, n)[0] for k in range(2) for n in range(1000)]
    assert np.array_equal(a.run_draws(1, 300)[1], late_first[1])
    assert a.run_draws(1, 300)[0] == late_first[0]
    first = a.run_draws(0, 5)
    assert a.run_draws(0, 5)[1] is first[1]
    freq = float(np.mean(flags))
    assert abs(freq - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(flags))


def test_publications_and_wake_offsets() -> None:
    params = durations_params(r=0.2, degraded_prob=0.0, latency=ConstantDist(0.05))
    rnd = IndependentRandomness(params, np.random.default_rng(3))
    it = rnd.publication_times()
    times = np.array([next(it) for _ in range(2000)])
    again = rnd.publication_times()
    assert [next(again) for _ in range(5)] == list(times[:5])  # re-iterable, memoised
    gaps = np.diff(np.concatenate([[0.0], times]))
    assert np.all(gaps >= 0)
    assert abs(gaps.mean() - 3.0) < 4 * 3.0 / math.sqrt(gaps.size)
    offsets = [rnd.wake_offset(k) for k in range(2)]
    assert all(0.0 <= u < params.poll_s for u in offsets)
    assert offsets == [rnd.wake_offset(k) for k in range(2)]


def test_simulate_many_is_reproducible() -> None:
    params = racy(window_s=120.0)
    first = simulate_many(params, 5, seed=99)
    assert first == simulate_many(params, 5, seed=99)
    assert first == simulate_many([params] * 5, seed=99)
    assert first[2] == simulate_cell(params, IndependentRandomness(params, trial_generator(99, 2)))
    with pytest.raises(ValueError):
        simulate_many(params, seed=1)


# --------------------------------------------------------------------------------------
# The exact consequences on adversarial scripts with many same-instant ties
# --------------------------------------------------------------------------------------


@st.composite
def tied_scripts(draw: st.DrawFn) -> tuple[CellParams, ScriptedRandomness]:
    """Integer times everywhere, so completions, clean-ups and wakes often coincide."""
    K = draw(st.integers(1, 3))
    E = draw(st.integers(1, 3))
    poll = float(draw(st.integers(1, 4)))
    gaps = draw(st.lists(st.integers(0, 4), min_size=1, max_size=25))
    publications = [float(p) for p in itertools.accumulate(gaps)]
    wakes = [float(draw(st.integers(0, int(poll) - 1))) for _ in range(K)]
    durations = st.lists(st.integers(1, 6).map(float), min_size=E, max_size=E)
    runs = {(k, n): (False, draw(durations)) for k in range(K) for n in range(draw(st.integers(0, 6)))}
    params = cell(K=K, E=E, G=draw(st.integers(0, 2)), poll=poll, window=60.0)
    return params, ScriptedRandomness(publications, wakes, runs, (False, [1.0] * E))


def with_mitigations(params: CellParams, **changes: Any) -> CellParams:
    return dataclasses.replace(params, mitigations=Mitigations(**changes))


@settings(max_examples=150, deadline=None, database=None)
@given(tied_scripts())
def test_exact_consequences_with_ties(script: tuple[CellParams, ScriptedRandomness]) -> None:
    params, rnd = script
    outcome, records = simulate_cell(params, rnd, trace=True)
    replay(params, records)
    if params.enactors == 1:
        assert not outcome.event
    assert not simulate_cell(dataclasses.replace(params, keep_generations=BIG_G), rnd).event
    assert not simulate_cell(with_mitigations(params, conditional_write=True), rnd).event
    everything = with_mitigations(params, conditional_write=True, recheck=True, lease_s=2.0, deadline_s=3.0)
    assert not simulate_cell(everything, rnd).event
