"""The vectorized engine against the exact reference simulator, and its invariants.

Three levels of agreement:

* replay: the reference re-runs a trial with exactly the random inputs the engine used
  (`riskmc.draws.TrialRandomness`) and must reproduce event, event time, affected
  endpoints, runs started and mean plan age of every trial;
* statistics: with the reference drawing its *own* randomness (its literal, attempt-by-
  attempt sampler), p_cell_window and mean_plan_age_s agree within 4 combined standard
  errors -- this also checks the engine's vectorized sampler;
* invariants of MODEL.md section 2 (exact), and the direction of the drivers.
"""

from __future__ import annotations

import numpy as np
import pytest

from riskmc import reference
from riskmc.config import Config
from riskmc.draws import BlockDraws, ChunkDraws, TrialRandomness
from riskmc.engine import simulate_cells
from riskmc.params import sample_block
from riskmc.scenario import simulate

from .conftest import stress_config

#: Configurations where the event is common (p_cell_window between 0.05 and 0.9), varying
#: K, E, G, the poll interval, the latency tail and with sampled parameters.
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
}


def _engine_block(config: Config, seed: int, block: int = 0):
    params = sample_block(config, seed, block)
    return params, simulate_cells(params, ChunkDraws(seed, [block], [params]))


@pytest.mark.parametrize("name", sorted(AGREEMENT))
def test_replay_matches_reference_trial_by_trial(name: str) -> None:
    config = stress_config(AGREEMENT[name])
    params, cells = _engine_block(config, seed=11, block=2)
    draws = BlockDraws(11, 2, params)
    n = 60
    events = 0
    for i in range(n):
        out = reference.simulate_cell(params.cell(i), TrialRandomness(draws, i, float(params.window_s[i])))
        assert out.event == bool(cells.event[i]), f"trial {i}"
        if out.event:
            events += 1
            assert out.event_time_s == pytest.approx(cells.event_time_s[i], rel=1e-9, abs=1e-9)
        assert out.affected == tuple(np.flatnonzero(cells.affected[i])), f"trial {i}"
        assert out.runs_started == cells.runs_started[i], f"trial {i}"
        assert out.runs_degraded == cells.runs_degraded[i], f"trial {i}"
        assert out.mean_plan_age_s == pytest.approx(cells.mean_plan_age_s[i], rel=1e-8), f"trial {i}"
    assert 0 < events < n  # the comparison saw both outcomes


def _combined_z(a: float, se_a: float, b: float, se_b: float) -> float:
    return abs(a - b) / np.sqrt(se_a**2 + se_b**2)


@pytest.mark.parametrize("name", ["base-G10", "K2-E20-G3", "slow-poll", "sampled"])
def test_statistical_agreement_with_independent_reference(name: str) -> None:
    config = stress_config(AGREEMENT[name])
    cells = simulate(config, trials=4000, seed=5)
    p_eng = cells.event.mean()
    age_eng = cells.mean_plan_age_s
    # the reference draws its own randomness; sampled parameters come from another seed
    n_ref = 300
    params = sample_block(config, seed=99, block=0)
    outs = reference.simulate_many([params.cell(i) for i in range(n_ref)], seed=1234)
    ev = np.array([o.event for o in outs], float)
    age = np.array([o.mean_plan_age_s for o in outs])
    p_ref = ev.mean()
    assert 0.05 <= p_eng <= 0.9, p_eng  # a configuration where the event is common
    se_eng = np.sqrt(p_eng * (1 - p_eng) / cells.event.size)
    se_ref = np.sqrt(p_ref * (1 - p_ref) / n_ref)
    assert _combined_z(p_eng, se_eng, p_ref, se_ref) < 4.0, (p_eng, p_ref)
    z_age = _combined_z(
        age_eng.mean(),
        age_eng.std(ddof=1) / np.sqrt(age_eng.size),
        age.mean(),
        age.std(ddof=1) / np.sqrt(n_ref),
    )
    assert z_age < 4.0, (age_eng.mean(), age.mean())


def test_single_enactor_never_empties_a_record() -> None:
    config = stress_config(["enactors.count=1", "degraded.prob=0.3", "cleanup.keep_generations=0"])
    cells = simulate(config, trials=3000, seed=1)
    assert cells.event.sum() == 0
    assert cells.runs_started.sum() > 0


def test_no_cleanup_never_empties_a_record() -> None:
    # a window of 0.1 h with plans every 3 s reaches ~120 generations, far below G
    config = stress_config(["degraded.prob=0.3", "cleanup.keep_generations=100000"])
    cells = simulate(config, trials=3000, seed=1)
    assert cells.event.sum() == 0
    # and the same configuration with a clean-up does
    assert simulate(stress_config(["degraded.prob=0.3"]), trials=500, seed=1).event.sum() > 100


def _p_and_se(config: Config, trials: int = 6000, seed: int = 3) -> tuple[float, float]:
    ev = simulate(config, trials=trials, seed=seed).event
    p = float(ev.mean())
    return p, float(np.sqrt(p * (1 - p) / ev.size))


def test_more_degradation_raises_p() -> None:
    p_lo, se_lo = _p_and_se(stress_config(["degraded.prob=0.005"]))
    p_hi, se_hi = _p_and_se(stress_config(["degraded.prob=0.02"]))
    assert p_hi - p_lo > 4 * np.sqrt(se_lo**2 + se_hi**2), (p_lo, p_hi)


def test_smaller_keep_generations_raises_p() -> None:
    p_lo, se_lo = _p_and_se(stress_config(["cleanup.keep_generations=20"]))
    p_hi, se_hi = _p_and_se(stress_config(["cleanup.keep_generations=5"]))
    assert p_hi - p_lo > 4 * np.sqrt(se_lo**2 + se_hi**2), (p_lo, p_hi)


def test_bit_identical_whatever_the_chunk_size() -> None:
    config = stress_config(AGREEMENT["sampled"])
    a = simulate(config, trials=2500, seed=8, chunk_trials=1000)
    b = simulate(config, trials=2500, seed=8, chunk_trials=3000)
    c = simulate(config, trials=1200, seed=8, chunk_trials=1000)  # a prefix of the same trials
    for key, value in a.__dict__.items():
        np.testing.assert_array_equal(value, getattr(b, key), err_msg=key)
        np.testing.assert_array_equal(value[:1200], getattr(c, key), err_msg=key)


def test_mitigation_does_not_move_the_random_inputs() -> None:
    """Common random numbers: a mitigation changes no draw of any trial."""
    plain = stress_config()
    mitigated = stress_config(["mitigations.deadline.seconds=30"])
    pa, pb = sample_block(plain, 4, 0), sample_block(mitigated, 4, 0)
    da, db = ChunkDraws(4, [0], [pa]), ChunkDraws(4, [0], [pb])
    np.testing.assert_array_equal(da.wake_uniforms(), db.wake_uniforms())
    np.testing.assert_array_equal(da.publication_times(pa.window_s), db.publication_times(pb.window_s))
    rows = np.arange(1000)
    for k in range(3):
        for n in (0, 17, 40):
            runs_a = da.runs(np.full(1000, k), rows, np.full(1000, n))
            runs_b = db.runs(np.full(1000, k), rows, np.full(1000, n))
            np.testing.assert_array_equal(runs_a[0], runs_b[0])
            np.testing.assert_array_equal(runs_a[1], runs_b[1])
