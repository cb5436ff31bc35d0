"""The compiled engine against the exact reference simulator, and its invariants.

* replay: the reference re-runs cell-windows with the engine's own addressed random numbers
  (:class:`riskmc.engine.AddressedRandomness`) and must reproduce every one *exactly*: event,
  event time, affected endpoints, runs started, degraded and abandoned, and plan age (the two
  simulators process the same events in the same order, so their floating-point sums agree
  to the last bit);
* statistics: with the reference drawing its own randomness (its literal sampler, scipy's
  distributions), p_cell_window and mean_plan_age_s agree within 4 combined standard errors;
* invariants of docs/model.md section 2 (exact), the drivers' direction, bit-identity
  whatever the batch or the thread count, common random numbers across scenarios, the
  copyable state, and the address layout's limits.
"""

from __future__ import annotations

import numpy as np
import pytest

from riskmc import engine, reference
from riskmc.config import Config
from riskmc.engine import kernel as K
from riskmc.errors import ConfigError
from riskmc.estimators import Plan, naive_plan, simulate
from riskmc.estimators.slow import SlowRuns
from riskmc.params import sample_windows

from .conftest import stress_config

#: Configurations where the event is common, varying K, E, G, the poll interval, the latency
#: tail, sampled parameters and distributions, and the region's cells.
AGREEMENT = {
    "base-G10": [],
    "K2-E20-G3": [
        "enactors.count=2",
        "endpoints.count=20",
        "cleanup.keep_generations=3",
        "degraded.prob=0.02",
    ],
    "slow-poll": [
        "enactors.poll_interval=20",
        'planner.interval={dist="expon", scale=5}',
        "degraded.prob=0.3",
        "cleanup.keep_generations=2",
    ],
    "sampled": [
        'enactors.count={dist="randint", low=2, high=5}',
        'endpoints.count={dist="randint", low=1, high=8}',
        'cleanup.keep_generations={dist="randint", low=0, high=4}',
        'planner.interval={dist="expon", scale={dist="loguniform", a=1, b=10}}',
        'degraded.prob={dist="uniform", loc=0, scale=0.2}',
    ],
    "pareto-K4": [
        'write.latency={dist="pareto", b=1.5, scale=0.05}',
        "enactors.count=4",
        "cleanup.keep_generations=4",
        "degraded.prob=0.0",
    ],
    "gamma-weibull": [
        'write.latency={dist="gamma", a=0.7, scale=0.2}',
        'planner.interval={dist="weibull_min", c=1.5, scale=3}',
        "cleanup.keep_generations=3",
    ],
    "constants": [
        "write.latency=0.3",
        "planner.interval=1.5",
        "enactors.poll_interval=1.0",
        "cleanup.keep_generations=4",
        "degraded.prob=0.005",
    ],
    "empirical": [
        'write.latency={dist="empirical", samples=[0.05, 0.1, 0.1, 0.2, 0.4]}',
        'planner.interval={dist="lomax", c=3, scale=4}',
        "cleanup.keep_generations=6",
        "degraded.prob=0.005",
    ],
    "cells-shock": [
        "region.cells=3",
        "region.shock.prob=0.3",
        "region.shock.degraded_prob=0.2",
        "degraded.prob=0.01",
        "endpoints.weights=[0.5, 0.2, 0.1, 0.1, 0.1]",
    ],
}


def _reference(params, batch, row: int, cell: int) -> reference.CellOutcome:  # type: ignore[no-untyped-def]
    return reference.simulate_cell(
        params.cell_params(row, float(batch.fp[row, K.F_PDEG])),
        engine.AddressedRandomness(batch, row, cell),
    )


def _assert_same(ref: reference.CellOutcome, got: engine.CellResult, where: str) -> None:
    assert got.event == ref.event, where
    if ref.event:
        assert got.observed_s == ref.event_time_s, where
    assert got.affected == ref.affected, where
    assert got.runs_started == ref.runs_started, where
    assert got.runs_degraded == ref.runs_degraded, where
    assert got.runs_abandoned == ref.runs_abandoned, where
    assert got.mean_plan_age_s == ref.mean_plan_age_s, where


def replay(config: Config, seed: int, trials: np.ndarray, degraded_prob: np.ndarray | None = None) -> int:
    """Replay every cell of the windows in the reference; the events seen."""
    params = sample_windows(config, seed, trials)
    batch = params.batch(seed, degraded_prob)
    sums = engine.simulate(batch)
    events = 0
    for i in range(params.n):
        for c in range(int(params.cells[i])):
            got = engine.simulate_cell(batch, i, c)
            _assert_same(_reference(params, batch, i, c), got, f"trial {trials[i]} cell {c}")
            events += got.event
        assert sums[i, K.W_EVENTS] == sum(
            engine.simulate_cell(batch, i, c).event for c in range(int(params.cells[i]))
        )
    return events


@pytest.mark.parametrize("name", sorted(AGREEMENT))
def test_replay_matches_reference_exactly(name: str) -> None:
    config = stress_config(AGREEMENT[name])
    trials = np.arange(2000, 2040)
    events = replay(config, 11, trials)
    cells = int(sample_windows(config, 11, trials).cells.sum())
    assert 0 < events < cells  # the comparison saw both outcomes


def test_replay_under_a_tilted_degraded_probability() -> None:
    """A proposal changes only the degraded probability the engine draws with; the reference
    replays the tilted trials exactly too."""
    config = stress_config(["degraded.prob=0.001", "endpoints.count=8"])
    trials = np.arange(60)
    events = replay(config, 5, trials, degraded_prob=np.full(trials.size, 0.3))
    assert events > 0


#: Slow runs and planner bursts drawn often (every window from the tilted component).
SLOW = SlowRuns(q_tail=0.15, tail=2.0, q_retry=0.15, fail_prob=0.6, q_burst=0.3, burst=-1.0, burst_len=4)
SLOW_CASES = {
    "lognorm-expon": ["degraded.prob=0.01", "cleanup.keep_generations=3"],
    "pareto-weibull": [
        'write.latency={dist="pareto", b=2.5, scale=0.05}',
        'planner.interval={dist="weibull_min", c=1.5, scale=3}',
        "cleanup.keep_generations=3",
        "region.cells=2",
    ],
}


class _Recording(engine.AddressedRandomness):
    """The engine's randomness, recording the runs the reference starts."""

    def __init__(self, batch: engine.Batch, row: int, cell: int) -> None:
        super().__init__(batch, row, cell)
        self.runs: list[tuple[int, int]] = []

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        self.runs.append((k, n))
        return super().run_draws(k, n)


@pytest.mark.parametrize("name", sorted(SLOW_CASES))
def test_replay_under_slow_runs_and_planner_bursts(name: str) -> None:
    """Under the slow-run and burst tilts the reference replays every cell exactly from the
    engine's draws, and the engine's window log ratio is the sum of every started run's and
    every planner block's ratio, recomputed from those draws in Python (docs/model.md s. 8)."""
    config = stress_config(SLOW_CASES[name])
    trials = np.arange(300, 330)
    params = sample_windows(config, 4, trials)
    batch = params.batch(4)
    SLOW.columns(batch.fp, np.ones(params.n, bool))
    sums = engine.simulate(batch)
    events = 0
    for i in range(params.n):
        log_ratio = 0.0
        for c in range(int(params.cells[i])):
            rnd = _Recording(batch, i, c)
            ref = reference.simulate_cell(params.cell_params(i, float(batch.fp[i, K.F_PDEG])), rnd)
            state = engine.CellState(batch, i, c).advance()
            _assert_same(ref, state.result(), f"trial {trials[i]} cell {c}")
            events += ref.event
            log_ratio += sum(rnd.run_log_ratio(k, n) for k, n in rnd.runs)
            log_ratio += rnd.planner_log_ratio(int(state.si[K.SI_NEWEST]) + 1)
        assert sums[i, K.W_LOG_SLOW] == pytest.approx(log_ratio, rel=1e-9, abs=1e-9)
    assert 0 < events < int(params.cells.sum())
    assert np.ptp(sums[:, K.W_LOG_SLOW]) > 1.0  # the ratios are far from 1 and differ


def test_window_sums_are_the_sums_of_their_cells() -> None:
    config = stress_config(AGREEMENT["cells-shock"])
    params = sample_windows(config, 3, np.arange(30))
    batch = params.batch(3)
    sums = engine.simulate(batch)
    for i in range(params.n):
        c_count = int(params.cells[i])
        cells = [engine.simulate_cell(batch, i, c) for c in range(c_count)]
        assert sums[i, K.W_EVENTS] == sum(c.event for c in cells)
        assert sums[i, K.W_EVENTS_NODEG] == sum(c.event and c.runs_degraded == 0 for c in cells)
        assert sums[i, K.W_RUNS] == sum(c.runs_started for c in cells)
        assert sums[i, K.W_DEGRADED] == sum(c.runs_degraded for c in cells)
        impact = sum(c.affected_weight * c.repair_s / (60.0 * c_count) for c in cells if c.event)
        assert sums[i, K.W_IMPACT] == pytest.approx(impact, rel=1e-12, abs=0)
        assert sums[i, K.W_AGE] == pytest.approx(np.mean([c.mean_plan_age_s for c in cells]), rel=1e-12)
        first = next((c for c, r in enumerate(cells) if r.event), -1)
        assert sums[i, K.W_FIRST_EVENT_CELL] == first


def _z(a: np.ndarray, b: np.ndarray) -> float:
    se = np.hypot(a.std(ddof=1) / np.sqrt(a.size), b.std(ddof=1) / np.sqrt(b.size))
    return float(abs(a.mean() - b.mean()) / se) if se > 0 else (0.0 if a.mean() == b.mean() else np.inf)


@pytest.mark.parametrize("name", ["base-G10", "K2-E20-G3", "slow-poll", "sampled", "gamma-weibull"])
def test_statistical_agreement_with_independent_reference(name: str) -> None:
    """The reference with its own sampler (scipy's distributions, attempt by attempt): an
    independent check of the engine's samplers and addressing."""
    config = stress_config(AGREEMENT[name])
    sample = simulate(config, 5, range(4000), naive_plan())
    params = sample_windows(config, 99, 200)
    outs = reference.simulate_many([params.cell_params(i) for i in range(params.n)], seed=1234)
    p_ref = np.array([o.event for o in outs], float)
    age_ref = np.array([o.mean_plan_age_s for o in outs])
    assert 0.05 <= sample.events.mean() <= 0.95, sample.events.mean()
    assert _z(sample.events.astype(float), p_ref) < 4.0
    assert _z(sample.mean_plan_age_s, age_ref) < 4.0


def _events(config: Config, trials: int = 3000, seed: int = 1) -> np.ndarray:
    return simulate(config, seed, range(trials), naive_plan()).events


def test_single_enactor_never_empties_a_record() -> None:
    config = stress_config(["enactors.count=1", "degraded.prob=0.3", "cleanup.keep_generations=0"])
    sample = simulate(config, 1, range(3000), naive_plan())
    assert sample.events.sum() == 0 and sample.runs.sum() > 0


def test_no_cleanup_never_empties_a_record() -> None:
    # a window of 0.1 h with plans every 3 s reaches ~120 generations, far below G
    assert _events(stress_config(["degraded.prob=0.3", "cleanup.keep_generations=100000"])).sum() == 0
    assert _events(stress_config(["degraded.prob=0.3"]), 500).sum() > 100  # and with a clean-up it does


def test_conditional_write_never_empties_a_record() -> None:
    racy = ["degraded.prob=0.1", "cleanup.keep_generations=3"]
    assert _events(stress_config(racy), 2000).sum() > 1500
    assert _events(stress_config([*racy, "mitigations.conditional_write=true"]), 2000).sum() == 0


def _p_and_se(config: Config) -> tuple[float, float]:
    ev = _events(config, 6000, 3).astype(float)
    return float(ev.mean()), float(ev.std(ddof=1) / np.sqrt(ev.size))


def test_more_degradation_raises_p() -> None:
    p_lo, se_lo = _p_and_se(stress_config(["degraded.prob=0.005"]))
    p_hi, se_hi = _p_and_se(stress_config(["degraded.prob=0.02"]))
    assert p_hi - p_lo > 4 * np.hypot(se_lo, se_hi), (p_lo, p_hi)


def test_smaller_keep_generations_raises_p() -> None:
    p_lo, se_lo = _p_and_se(stress_config(["cleanup.keep_generations=20"]))
    p_hi, se_hi = _p_and_se(stress_config(["cleanup.keep_generations=5"]))
    assert p_hi - p_lo > 4 * np.hypot(se_lo, se_hi), (p_lo, p_hi)


def test_bit_identical_whatever_the_batch_and_the_threads() -> None:
    """A window's outcome is a function of its addresses only: the same in any batch, in any
    order, on one thread or two."""
    config = stress_config(AGREEMENT["sampled"] + ["region.cells=2"])
    params = sample_windows(config, 8, np.arange(600))
    whole = engine.simulate(params.batch(8))
    threads = engine.simulate(params.batch(8), threads=2)
    np.testing.assert_array_equal(whole, threads)
    picked = np.array([599, 3, 250, 4])
    part = sample_windows(config, 8, picked)
    np.testing.assert_array_equal(engine.simulate(part.batch(8)), whole[picked])


def test_a_mitigation_does_not_move_the_random_numbers() -> None:
    """Common random numbers: the draws of a trial are the same with and without a mitigation."""
    plain = sample_windows(stress_config(), 4, np.arange(5))
    mitigated = sample_windows(stress_config(["mitigations.deadline.seconds=30"]), 4, np.arange(5))
    bp, bm = plain.batch(4), mitigated.batch(4)
    for i in range(5):
        rp, rm = engine.AddressedRandomness(bp, i, 0), engine.AddressedRandomness(bm, i, 0)
        assert [rp.wake_offset(k) for k in range(3)] == [rm.wake_offset(k) for k in range(3)]
        pp, pm = rp.publication_times(), rm.publication_times()
        assert [next(pp) for _ in range(50)] == [next(pm) for _ in range(50)]
        for k, n in ((0, 0), (2, 17)):
            (dp, durp), (dm, durm) = rp.run_draws(k, n), rm.run_draws(k, n)
            assert dp == dm
            np.testing.assert_array_equal(durp, durm)


@pytest.mark.parametrize(
    "latency", ['{dist="lognorm", s=0.5, scale=0.1}', '{dist="weibull_min", c=0.8, scale=0.1}']
)
@pytest.mark.parametrize("E", [1, 7, 8, 9, 22, 40])
def test_a_run_s_batched_durations_are_its_writes_one_by_one(E: int, latency: str) -> None:
    """run_durations fills rows of padded(E) values in vector loops (the blocks past E are
    drawn and never used); its first E durations, attempts and tail variables are exactly
    those of write_duration one write at a time, with and without a tilted write."""
    config = stress_config([f"endpoints.count={E}", f"write.latency={latency}", "write.fail_prob=0.3"])
    batch = sample_windows(config, 3, 1).batch(3)
    fp, ip = batch.fp[0], batch.ip[0]
    k0, k1 = batch.key
    r = float(fp[K.F_R0])
    Ep = K.padded(E)
    assert Ep % K.LANES == 0 and E <= Ep < E + K.LANES
    retried = 0
    for n, (jstar, tail) in enumerate([(-1, 0.0), (E // 2, 2.5), (E - 1, 4.0)] * 4):
        out, z = np.full(Ep, np.nan), np.full(Ep, np.nan)
        w1, w2 = np.empty(Ep, np.uint64), np.empty(Ep, np.uint64)
        error, extra = K.run_durations(
            k0, k1, 0, 0, 1, n, E, fp, ip, batch.emp_latency, r, np.log(r), out, w1, w2, z, jstar, tail, True
        )
        one_by_one = K.draw_durations(k0, k1, 0, 0, 1, n, fp, ip, batch.emp_latency, r, jstar, tail)
        assert error == 0 and extra == one_by_one[1].sum() - E
        np.testing.assert_array_equal(out[:E], one_by_one[0])
        np.testing.assert_array_equal(z[:E], one_by_one[2])
        retried += extra
    assert retried > 0  # the retried writes' path was taken


def test_a_state_can_be_stopped_copied_and_resumed_exactly() -> None:
    config = stress_config(["degraded.prob=0.1", "mitigations.lease.seconds=1.5", "mitigations.recheck=true"])
    params = sample_windows(config, 2, np.arange(20))
    batch = params.batch(2)
    for i in range(params.n):
        whole = engine.simulate_cell(batch, i, 0)
        state = engine.CellState(batch, i, 0).advance(until=whole.observed_s / 2)
        assert not state.finished
        saved = state.copy()
        first = state.advance().result()
        again = saved.advance(until=whole.observed_s * 0.75).advance().result()
        assert first == whole == again, i
        assert state.advance().advance(until=1.0).result() == whole, i  # a finished cell stays as it is


def test_layout_limits_are_checked() -> None:
    config = stress_config(["write.fail_prob=0.9999999", "degraded.prob=0"])
    with pytest.raises(engine.EngineError, match="more than 65,536 attempts"):
        engine.simulate(sample_windows(config, 1, 5).batch(1))
    with pytest.raises(ConfigError, match=r"enactors\.count"):
        sample_windows(stress_config(["enactors.count=300"]), 1, 5)
    with pytest.raises(ConfigError, match=r"region\.cells"):
        sample_windows(stress_config(["region.cells=5000"]), 1, 5)


def test_engine_results_are_pinned_to_their_bits() -> None:
    """A few windows' sums, to the bit: the engine gives the same numbers on every machine
    (no libm, no fused multiply-add).  A change of semantics must change this digest on
    purpose (and be explained in the commit)."""
    import hashlib

    config = stress_config(AGREEMENT["cells-shock"] + ['write.latency={dist="gamma", a=2, scale=0.05}'])
    out = engine.simulate(sample_windows(config, 20251020, 200).batch(20251020))
    # (the columns before the slow-run ratio, which is 0 without slow runs)
    assert hashlib.sha256(np.ascontiguousarray(out[:, : K.W_LOG_SLOW]).tobytes()).hexdigest() == ENGINE_DIGEST
    assert not out[:, K.W_LOG_SLOW :].any()


ENGINE_DIGEST = "5e850a3024855eff0c75ee1c9e47f3b52d94a85f6724a8625932e7991d803c9a"


def test_plan_tilts_only_the_degraded_probability() -> None:
    config = stress_config(["degraded.prob=0.001"])
    plan = Plan("is", q=0.2, defensive=0.25)
    params = sample_windows(config, 9, 400)
    p = plan.degraded_prob(params, 9)
    tilted = plan.tilted(params, 9)
    assert np.all(p[tilted] == 0.2) and np.all(p[~tilted] == 0.001)
    assert abs(tilted.mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 400)
