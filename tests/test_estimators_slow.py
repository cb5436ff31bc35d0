"""The rare estimator's proposal (riskmc.estimators.slow, ``--estimator rare``): slow runs and
planner bursts in the defensive mixture, fitted by multilevel cross-entropy.

The replay of its draws by the reference, and its likelihood ratio recomputed run by run,
are in tests/test_engine.py; here: the weights are a proper likelihood ratio (mean 1,
bounded), the invariants hold under it, it agrees with plain Monte Carlo where both can run
(4 combined standard errors, fixed seeds) with a smaller variance per window, and the
cross-entropy step follows its rules.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from riskmc import estimators
from riskmc.config import load_config
from riskmc.engine import kernel as K
from riskmc.estimators import naive_plan, resolve
from riskmc.estimators.plan import cross_entropy_levels
from riskmc.estimators.slow import MIN_BURST, MIN_TAIL, SlowRuns, cross_entropy
from riskmc.params import sample_windows

ORDINARY = load_config(Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml")
#: Events without any degraded run, p_cell_window ~ 4e-3 and ~ 7e-3 (plain Monte Carlo).
MECHANISMS = {
    "tail": ['write.latency={dist="lognorm", s=1.3, scale=0.1}'],
    "retries": ["write.fail_prob=0.6"],
}
SLOW = SlowRuns(q_tail=0.01, tail=4.0, q_retry=0.01, fail_prob=0.85, q_burst=0.1, burst=-1.0, burst_len=11)


def _plan(slow: SlowRuns = SLOW) -> estimators.Plan:
    return estimators.Plan("rare", q=0.01, defensive=0.25, slow=slow)


def test_weights_are_a_proper_likelihood_ratio() -> None:
    """E_mix[w] = 1 and w <= 1 / alpha, with every component drawn often and far from the
    model: a wrong ratio anywhere (a run, a planner block, a window drawn from the model)
    moves the mean."""
    config = ORDINARY.with_overrides(
        ["write.fail_prob=0.05", 'write.latency={dist="lognorm", s=0.8, scale=0.1}']
    )
    s = estimators.simulate(config, 3, range(6000), _plan())
    w = s.weight
    assert w.max() <= 1 / 0.25 + 1e-12 and np.ptp(s.log_weight) > 5  # the premise: a real tilt
    assert abs(w.mean() - 1) < 4 * w.std(ddof=1) / math.sqrt(w.size)


@pytest.mark.parametrize("extra", [["enactors.count=1"], ["mitigations.conditional_write=true"]])
def test_invariants_hold_under_slow_runs(extra: list[str]) -> None:
    config = ORDINARY.with_overrides(["write.fail_prob=0.3", "cleanup.keep_generations=2", *extra])
    s = estimators.simulate(config, 3, range(2000), _plan())
    assert s.tilted.mean() > 0.7 and s.events.sum() == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MECHANISMS))
def test_rare_agrees_with_plain_monte_carlo(name: str) -> None:
    """Events that need no degraded run: the rare estimator tilts their mechanism, agrees with
    plain Monte Carlo, and needs fewer windows for the same standard error."""
    config = ORDINARY.with_overrides(MECHANISMS[name])
    naive = estimators.run(config, naive_plan(), trials=20_000, seed=5, n_resamples=2)
    plan = resolve(config, 6, "rare")
    rare = estimators.run(config, plan, trials=2_000, seed=6, n_resamples=2)
    a, b = naive.estimates.values["p_cell_window"], rare.estimates.values["p_cell_window"]
    assert 1e-3 <= a.estimate <= 3e-2 and naive.sample.events_deg.sum() == 0  # the premise
    assert (plan.slow.q_tail if name == "tail" else plan.slow.q_retry) > 0
    assert abs(a.estimate - b.estimate) <= 4 * math.hypot(a.standard_error, b.standard_error)
    # the variance of one window, against plain Monte Carlo's
    assert b.standard_error**2 * rare.trials < 0.5 * a.standard_error**2 * naive.trials


def test_an_untilted_mechanism_is_bounded_not_missed() -> None:
    """The confident wrong answer rare gave before its barely boosted events were a part to
    see or bound: G = 3 needs plans in a burst, the fitted tilts make only latency-tail events
    common (weights ~1e-10), and the sample holds none of the windows that carry p.  Plain
    Monte Carlo says 2.0e-5 [7.8e-6, 5.1e-5] (200,000 windows, seed 99); the interval must
    hold it, its upper end carrying the zero-hit bound (1 - 0.0125^(1/n)) / alpha."""
    config = ORDINARY.with_overrides(["cleanup.keep_generations=3"])
    run = estimators.run(config, resolve(config, 1, "rare"), trials=3000, seed=1, n_resamples=2)
    est, s = run.estimates, run.sample
    hit = s.events > 0
    assert hit.sum() > 10 and np.all(s.weight[hit] < 0.1)  # the premise: only boosted events
    p = est.values["p_cell_window"]
    assert p.estimate < 1e-8 and "barely_boosted" in est.unseen  # the estimate alone is far off
    assert p.confidence_interval.low <= 2.0e-5 <= p.confidence_interval.high
    tail = 0.025 / 3  # the observed part, the degraded stratum (bound 0 here) and this part
    assert p.confidence_interval.high >= (1 - tail ** (1 / 3000)) / 0.25
    stratum = est.strata["no_degraded"].confidence_interval
    assert stratum.low <= 2.0e-5 <= stratum.high
    assert run.row()["unobserved_strata"] == "degraded,barely_boosted"
    assert est.barely_unseen == ("no_degraded",)  # the stratum that has events, none barely boosted


def test_auto_never_chooses_rare() -> None:
    for extra in ([], ["degraded.prob=1e-6"], MECHANISMS["tail"]):
        assert resolve(ORDINARY.with_overrides(extra), 1, "auto").estimator in ("naive", "is")


def test_cross_entropy_levels_rise_to_the_configuration() -> None:
    def gens(config: object) -> list[object]:
        return [c.values["cleanup.keep_generations"] for c in cross_entropy_levels(config)]  # type: ignore[attr-defined]

    assert gens(ORDINARY.with_overrides(["cleanup.keep_generations=20"])) == [5, 10, 15, 20]
    assert gens(ORDINARY.with_overrides(["cleanup.keep_generations=3"])) == [1, 2, 3]
    assert gens(ORDINARY.with_overrides(["cleanup.keep_generations=0"])) == [0]
    sampled = ORDINARY.with_overrides(['cleanup.keep_generations={dist="randint", low=2, high=6}'])
    assert all(c is sampled for c in cross_entropy_levels(sampled))


def test_a_cross_entropy_step_moves_half_way_and_drops_nothing() -> None:
    params = sample_windows(ORDINARY.with_overrides(["write.fail_prob=0.2"]), 1, 4)
    out = np.zeros((4, K.NW))
    out[:, K.W_EVENTS] = [1, 1, 0, 0]
    # (the engine sums these over the event cells only)
    out[:, K.W_CE_F] = [45, 15, 0, 0]  # F of the cell's most-retried run (E = 5)
    out[:, K.W_CE_Y] = [6.0, 4.0, 0, 0]
    out[:, K.W_CE_TAIL] = [1, 0, 0, 0]
    out[:, K.W_CE_BURST] = [np.exp(-2.0), np.exp(-2.0), 0, 0]
    weight = np.array([1.0, 1.0, 5.0, 5.0])
    new = cross_entropy(SLOW, params, weight, out)
    f = 30.0  # the weighted mean of F over the event cells
    assert new.fail_prob == pytest.approx(0.85 + 0.5 * (f / (f + 5) - 0.85))
    assert new.tail == pytest.approx(4.0 + 0.5 * (5.0 - 4.0))
    assert new.burst == pytest.approx(-1.0 + 0.5 * (-2.0 + 1.0))
    assert new.q_tail == pytest.approx(0.02 * (0.5 + 0.5 * (0.5 - 0.5)))
    assert new.q_tail + new.q_retry == pytest.approx(0.02) and new.q_burst == SLOW.q_burst
    # a fit that needs no tilt keeps each component at its weakest, not off
    out[:, K.W_CE_Y] = 0.0
    out[:, K.W_CE_BURST] = [1.0, 1.0, 0.0, 0.0]
    out[:, K.W_CE_F] = 0.0
    weak = cross_entropy(replace(SLOW, tail=1.2, burst=-0.15), params, weight, out)
    assert weak.tail == MIN_TAIL and weak.burst == -MIN_BURST and weak.fail_prob >= 0.2 + 0.1 * 0.8
    assert weak.q_tail > 0 and weak.q_retry > 0 and weak.q_burst > 0
    # no event: nothing to fit
    out[:, K.W_EVENTS] = 0
    assert cross_entropy(SLOW, params, weight, out) is SLOW


def test_slow_runs_are_the_rare_estimator_s() -> None:
    with pytest.raises(ValueError, match="rare estimator"):
        estimators.Plan("is", q=0.01, defensive=0.25, slow=SLOW)
    with pytest.raises(ValueError, match="q_tail"):
        SlowRuns(q_tail=0.6, q_retry=0.5)
    assert _plan().short.startswith(
        "rare(q=0.01, slow=(tail 0.01 a=4, retry 0.01 r=0.85, bursts 0.1/11 a=-1)"
    )
