"""Importance sampling on degraded runs and the stopping rule (riskmc.rare).

Statistical checks use fixed seeds and 4 combined standard errors; the premise of each
(p in the stated range, the proposal actually tilting) is asserted too, so a check cannot
pass by testing nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskmc import rare
from riskmc.draws import ChunkDraws
from riskmc.engine import simulate_cells
from riskmc.params import sample_block
from riskmc.rare import Proposal, resolve_estimator, run_adaptive
from riskmc.region import estimate_region, simulate_region
from riskmc.scenario import simulate

from .conftest import stress_config

#: Cells where the event needs a degraded run and p_cell_window is between 1e-3 and 1e-1.
RETRIES = ["endpoints.count=20", "write.fail_prob=0.01"]
AGREEMENT = {
    "E20": ["degraded.prob=0.0003", *RETRIES],
    "E5": ["degraded.prob=0.001"],
    "sampled-p-deadline": [
        'degraded.prob={dist="loguniform", a=1e-4, b=1e-3}',
        *RETRIES,
        "mitigations.deadline.seconds=60",
    ],
    "shock": [
        "degraded.prob=0.0003",
        *RETRIES,
        "region.shock.prob=0.05",
        "region.shock.degraded_prob=0.01",  # above q: shocked windows are not tilted
    ],
}


def _z(a, b) -> float:
    return abs(a.estimate - b.estimate) / math.hypot(a.standard_error, b.standard_error)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(AGREEMENT))
def test_importance_sampling_agrees_with_naive(name: str) -> None:
    config = stress_config(AGREEMENT[name])
    naive = run_adaptive(config, estimator="naive", max_trials=20_000, seed=5, n_resamples=20)
    tilted = run_adaptive(config, estimator="is", max_trials=4_000, seed=6, n_resamples=20)
    p_naive = naive.scenario.estimates["p_cell_window"]
    p_is = tilted.scenario.estimates["p_cell_window"]
    assert 1e-3 <= p_naive.estimate <= 1e-1, p_naive
    assert tilted.proposal is not None and np.any(tilted.sample.log_weight != 0)  # it did tilt
    assert tilted.scenario.events / 4_000 > 2 * naive.scenario.events / 20_000  # hits are more frequent
    assert _z(p_naive, p_is) <= 4, (p_naive, p_is)
    # the expected values of the region rest on the same weights
    for key in ("events_per_region_year", "impact_per_year_min"):
        assert _z(naive.scenario.estimates[key], tilted.scenario.estimates[key]) <= 4, key


def test_importance_sampling_reduces_variance_per_trial() -> None:
    config = stress_config(AGREEMENT["E20"])
    naive = run_adaptive(config, estimator="naive", max_trials=4_000, seed=5, n_resamples=10)
    tilted = run_adaptive(config, estimator="is", max_trials=4_000, seed=5, n_resamples=10)
    se_naive = naive.scenario.estimates["p_cell_window"].standard_error
    se_is = tilted.scenario.estimates["p_cell_window"].standard_error
    assert se_is < se_naive / 1.5
    assert tilted.scenario.row()["ess"] > 2 * 4_000  # worth more than its trials


def test_log_weights_are_the_likelihood_ratio() -> None:
    params = sample_block(stress_config(["degraded.prob=0.001"]), 1, 0)
    proposal = Proposal(q=0.01, runs_per_window=100.0)
    tilted = proposal.tilt(params)
    assert np.all(tilted.degraded_prob == 0.01)
    started = np.full(params.n, 7)
    degraded = np.arange(params.n) % 3
    got = Proposal.log_weights(params, tilted, started, degraded)
    want = degraded * math.log(0.001 / 0.01) + (7 - degraded) * math.log(0.999 / 0.99)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # rows whose probability is not raised (p >= q, or p = 0) have weight exactly 1
    flat = Proposal(q=0.0005, runs_per_window=100.0)
    assert np.all(Proposal.log_weights(params, flat.tilt(params), started, degraded) == 0)
    zero = sample_block(stress_config(["degraded.prob=0.0"]), 1, 0)
    assert np.all(proposal.tilt(zero).degraded_prob == 0)


def test_engine_counts_degraded_runs_under_the_proposal() -> None:
    """Under q the engine's degraded count per run started is about q (and 0 at p = 0)."""
    config = stress_config(["degraded.prob=0.0"])
    params = sample_block(config, 2, 0)
    tilted = Proposal(q=0.05, runs_per_window=20.0).tilt(
        sample_block(stress_config(["degraded.prob=1e-9"]), 2, 0)
    )
    cells = simulate_cells(tilted, ChunkDraws(2, [0], [tilted]))
    share = cells.runs_degraded.sum() / cells.runs_started.sum()
    n = cells.runs_started.sum()
    assert abs(share - 0.05) <= 4 * math.sqrt(0.05 * 0.95 / n)
    plain = simulate_cells(params, ChunkDraws(2, [0], [params]))
    assert plain.runs_degraded.sum() == 0


@pytest.mark.parametrize("extra", [["enactors.count=1"], ["mitigations.conditional_write={}"]])
def test_invariants_hold_under_the_proposal(extra: list[str]) -> None:
    config = stress_config(["degraded.prob=0.0003", *RETRIES, *extra])
    run = run_adaptive(config, estimator="is", max_trials=1_000, seed=3, n_resamples=10)
    assert run.proposal is not None and run.sample.runs_degraded.sum() > 0
    assert run.scenario.events == 0
    assert run.scenario.estimates["p_cell_window"].estimate == 0.0


def test_relative_error_does_not_grow_as_p_shrinks() -> None:
    """With the proposal fixed by the pilot, degraded.prob only scales the weights: p is
    proportional to it (up to (1-p)^S factors) and the relative error stays put."""
    small = ["window.hours=0.25", "endpoints.count=20", "write.fail_prob=0.01"]
    runs = {
        p: run_adaptive(
            stress_config([f"degraded.prob={p}", *small]), estimator="is", max_trials=1_000, seed=9
        )
        for p in (1e-6, 1e-12)
    }
    a, b = (runs[p].scenario.estimates["p_cell_window"] for p in (1e-6, 1e-12))
    assert runs[1e-6].scenario.events == runs[1e-12].scenario.events > 50
    assert b.estimate / a.estimate == pytest.approx(1e-6, rel=1e-4)
    assert b.rel_err == pytest.approx(a.rel_err, rel=1e-3)


def test_naive_sample_is_the_plain_runs_cell_zero() -> None:
    config = stress_config()
    run = run_adaptive(config, estimator="naive", max_trials=2_500, seed=4, n_resamples=10)
    plain = simulate(config, 2_500, 4)
    np.testing.assert_array_equal(run.sample.event, plain.event)
    assert run.scenario.row()["estimator"] == "naive" and run.scenario.row()["ess"] == 2_500


def test_naive_rule_runs_simulate_every_cell_as_the_region_does() -> None:
    """Without a tilt every cell of every window is simulated, exactly as simulate_region."""
    config = stress_config(['region.cells={dist="randint", low=1, high=6}'])
    full = simulate_region(config, 2_000, 8)
    run = run_adaptive(config, estimator="naive", max_trials=2_000, seed=8, n_resamples=20)
    np.testing.assert_array_equal(run.sample.window_events, full.events)
    np.testing.assert_allclose(run.sample.window_impact_min, full.impact_min, rtol=1e-12)
    ests = estimate_region(full, n_resamples=20)
    for key in ("p_region_window", "events_per_region_year", "impact_per_year_min", "cells_per_event_window"):
        assert run.scenario.estimates[key].estimate == pytest.approx(ests[key].estimate, rel=1e-9), key


def test_region_estimates_under_importance_sampling_match_every_cell() -> None:
    """A common-cause shock (untilted: every cell simulated) on top of rare independent
    cells (tilted: exchangeability): the region's estimates agree with simulating every cell
    of every window, within 4 combined standard errors, P(any event) included."""
    config = stress_config(
        [
            "degraded.prob=1e-6",
            *RETRIES,
            "region.cells=4",
            "region.shock.prob=0.02",
            "region.shock.degraded_prob=0.05",
        ]
    )
    full = estimate_region(simulate_region(config, 6_000, 8), n_resamples=20)
    run = run_adaptive(config, estimator="is", max_trials=4_000, seed=9, n_resamples=20)
    assert run.sample.tilted.any() and not run.sample.tilted.all()
    for key in ("p_region_window", "events_per_region_year", "impact_per_year_min", "cells_per_event_window"):
        assert _z(full[key], run.scenario.estimates[key]) <= 4, (key, full[key], run.scenario.estimates[key])
    assert full["p_region_window"].estimate > 0.005  # the premise: the shock's events are there


def test_auto_picks_naive_when_degraded_runs_are_common_and_is_when_rare() -> None:
    assert resolve_estimator(stress_config(), 1, "auto")[0] == "naive"
    assert resolve_estimator(stress_config(["degraded.prob=0"]), 1, "auto")[0] == "naive"  # nothing to tilt
    # events without degraded runs (heavy-tailed latencies alone) are common: naive
    tail = ['write.latency={dist="pareto", b=1.5, scale=0.05}', "enactors.count=4", "degraded.prob=1e-9"]
    assert resolve_estimator(stress_config(tail), 1, "auto")[0] == "naive"
    name, proposal = resolve_estimator(stress_config(["degraded.prob=1e-7"]), 1, "auto")
    assert name == "is" and proposal is not None and 0 < proposal.q <= rare.MAX_TILT
    assert proposal.q == pytest.approx(1.0 / proposal.runs_per_window)
    with pytest.raises(ValueError, match="estimator"):
        resolve_estimator(stress_config(), 1, "magic")


class TestStoppingRule:
    config = stress_config(AGREEMENT["E20"])

    def test_stops_at_the_target_with_enough_hits(self) -> None:
        run = run_adaptive(self.config, estimator="is", target_rel_err=0.035, seed=2, n_resamples=10)
        p = run.scenario.estimates["p_cell_window"]
        assert run.stopped_by == "target" and p.rel_err <= 0.035
        assert run.scenario.trials > 1000 and run.scenario.trials % 1000 == 0  # several blocks, whole
        # min_hits binds: a loose target, but 1,000 effective events needed
        slow = run_adaptive(
            self.config, estimator="is", target_rel_err=5, min_hits=1000, seed=2, n_resamples=10
        )
        assert slow.stopped_by == "target" and slow.effective_hits >= 1000 and slow.scenario.trials > 1000

    def test_the_stopping_point_does_not_depend_on_the_chunking(self, monkeypatch) -> None:
        first = run_adaptive(self.config, estimator="is", target_rel_err=0.035, seed=2, n_resamples=10)
        assert first.scenario.trials > 4000  # more than one chunk of MAX_CHUNK_BLOCKS
        monkeypatch.setattr(rare, "MAX_CHUNK_BLOCKS", 1)
        second = run_adaptive(self.config, estimator="is", target_rel_err=0.035, seed=2, n_resamples=10)
        assert first.scenario.trials == second.scenario.trials
        assert first.scenario.estimates["p_cell_window"] == second.scenario.estimates["p_cell_window"]
        # and the reported estimate is the stopping rule's: its relative error met the target
        assert second.scenario.estimates["p_cell_window"].rel_err <= 0.035

    def test_max_trials_and_max_seconds(self) -> None:
        capped = run_adaptive(self.config, target_rel_err=1e-4, max_trials=1_500, seed=2, n_resamples=10)
        assert capped.stopped_by == "max-trials" and capped.scenario.trials == 1_500
        timed = run_adaptive(self.config, target_rel_err=1e-4, max_seconds=1e-3, seed=2, n_resamples=10)
        assert timed.stopped_by == "max-seconds" and timed.scenario.trials == 1_000  # one block, then stop
        fixed = run_adaptive(self.config, max_trials=2_000, seed=2, n_resamples=10)
        assert fixed.stopped_by == "trials" and fixed.scenario.trials == 2_000

    def test_row_names_the_method_and_the_stop(self) -> None:
        run = run_adaptive(self.config, estimator="is", target_rel_err=0.3, seed=2, n_resamples=10)
        row = run.row()
        assert row["estimator"] == "is" and row["stopped_by"] == "target"
        assert row["p_cell_window_method"].startswith("importance sampling")
        assert row["proposal_q"] == run.proposal.q
        assert row["rel_err"] <= 0.3 and row["ess"] > 0 and row["effective_hits"] > 0
        assert row["cells_per_event_window"] == 1.0  # one cell per window here
        assert row["p_region_window_lo"] <= row["p_region_window"] <= row["p_region_window_hi"]

    def test_bad_target(self) -> None:
        with pytest.raises(ValueError, match="target_rel_err"):
            run_adaptive(self.config, target_rel_err=0.0)


def test_pilot_has_its_own_seed() -> None:
    """The pilot's trials are not the main trials: its seed is derived, not shared."""
    assert rare.pilot_seed(1) == rare.pilot_seed(1) and rare.pilot_seed(1) != rare.pilot_seed(2)
    config = stress_config(AGREEMENT["E20"])
    pilot = ChunkDraws(rare.pilot_seed(1), [0], [sample_block(config, rare.pilot_seed(1), 0)])
    main = ChunkDraws(1, [0], [sample_block(config, 1, 0)])
    assert not np.array_equal(pilot.wake_uniforms(), main.wake_uniforms())
