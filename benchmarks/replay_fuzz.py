"""Replay random configurations in the reference, cell by cell, from the engine's draws.

The suite replays a few dozen chosen configurations (tests/test_engine.py,
tests/test_mitigations.py); this draws many at random: K, E, G, the poll interval, every
per-use distribution (empirical included) for write latency and planner interval, degraded
and fail probabilities, window lengths, regions of up to three cells, shocks, a sampled
enactor count, every mitigation of a cell each with probability 1/4 (random parameters; the
cascade's three change no cell), and in 30%
of the configurations the slow-run and burst tilts of ``rare`` on every window.  For each,
12 region-windows run in the engine and every cell is replayed by the reference with the
engine's addressed numbers (:class:`riskmc.engine.AddressedRandomness`); event, event time,
affected endpoints, runs started, degraded and abandoned and plan age must agree exactly.
A configuration the loader refuses is skipped.  Every disagreement is printed with its
seed and overrides; the last line counts them.

    python benchmarks/replay_fuzz.py [--first 0] [--seconds 600]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskmc import engine, reference
from riskmc.engine import kernel as K
from riskmc.errors import ConfigError
from riskmc.estimators.slow import SlowRuns
from riskmc.params import sample_windows
from tests.conftest import stress_config
from tests.test_engine import _assert_same, _Recording

#: Per-use distributions as TOML, each filled with parameters around a base value.
_KINDS = (
    "lognorm",
    "expon",
    "gamma",
    "weibull_min",
    "pareto",
    "lomax",
    "uniform",
    "loguniform",
    "constant",
    "empirical",
)


def _distribution(rng: np.random.Generator, base: float) -> str:
    kind = _KINDS[rng.integers(len(_KINDS))]
    if kind == "empirical":
        samples = ", ".join(f"{x:.3f}" for x in rng.uniform(0.2, 3.0, rng.integers(1, 6)) * base)
        return f'{{dist="empirical", samples=[{samples}]}}'
    if kind == "constant":
        return f"{base * rng.uniform(0.3, 2.0):.3f}"
    if kind == "expon":
        return f'{{dist="expon", scale={base * rng.uniform(0.3, 2.0):.3f}}}'
    if kind == "loguniform":
        a = base * rng.uniform(0.1, 1.0)
        return f'{{dist="loguniform", a={a:.3f}, b={a * rng.uniform(1.5, 20.0):.3f}}}'
    if kind == "uniform":
        loc, scale = base * rng.uniform(0.0, 1.0), base * rng.uniform(0.1, 2.0)
        return f'{{dist="uniform", loc={loc:.3f}, scale={scale:.3f}}}'
    shape = {"lognorm": "s", "gamma": "a", "weibull_min": "c", "pareto": "b", "lomax": "c"}[kind]
    low = 1.2 if kind in ("pareto", "lomax") else 0.3
    value = rng.uniform(low, 4.0 if low > 1 else 2.5)
    return f'{{dist="{kind}", {shape}={value:.2f}, scale={base * rng.uniform(0.3, 2.0):.3f}}}'


def overrides(rng: np.random.Generator) -> list[str]:
    """One random configuration, as overrides of the stress configuration."""
    out = [
        f"enactors.count={rng.integers(1, 6)}",
        f"endpoints.count={rng.integers(1, 25)}",
        f"cleanup.keep_generations={rng.integers(0, 6)}",
        f"enactors.poll_interval={rng.uniform(0.3, 15.0):.3f}",
        f"write.latency={_distribution(rng, 0.1)}",
        f"planner.interval={_distribution(rng, 5.0)}",
        f"degraded.prob={rng.choice([0.0, 0.001, 0.01, 0.1, 0.5])}",
        f"write.fail_prob={rng.choice([0.0, 0.02, 0.2, 0.5])}",
        f"degraded.fail_prob={rng.choice([0.0, 0.5, 0.9])}",
        f"window.hours={rng.choice([0.02, 0.05, 0.1])}",
    ]
    if rng.random() < 0.3:
        out.append(f"region.cells={rng.integers(1, 4)}")
    if rng.random() < 0.2:
        out += [
            f"region.shock.prob={rng.uniform(0, 1):.2f}",
            f"region.shock.degraded_prob={rng.uniform(0, 1):.2f}",
        ]
    if rng.random() < 0.2:
        out.append('enactors.count={dist="randint", low=1, high=5}')
    mitigations = (
        "mitigations.recheck=true",
        "mitigations.conditional_write=true",
        "mitigations.cleanup_skip_active=true",
        f"mitigations.cleanup_min_age.age={rng.uniform(0, 40):.2f}",
        f"mitigations.deadline.seconds={rng.uniform(0.2, 10):.2f}",
        f"mitigations.lease.seconds={rng.uniform(0.2, 10):.2f}",
        "mitigations.empty_guard.repair=600",
    )
    out += [m for m in mitigations if rng.random() < 0.25]
    return out


def replay_one(seed: int) -> tuple[int, int] | None:
    """Replay configuration ``seed``: (cells, events), None if the loader refuses it;
    raises AssertionError at the first disagreement."""
    rng = np.random.default_rng(seed)
    try:
        config = stress_config(overrides(rng))
    except ConfigError:
        return None
    trials = np.arange(seed * 7, seed * 7 + 12)
    params = sample_windows(config, seed, trials)
    batch = params.batch(seed)
    if rng.random() < 0.3:
        SlowRuns(
            q_tail=0.15,
            tail=float(rng.uniform(0.5, 3.0)),
            q_retry=0.15,
            fail_prob=0.6,
            q_burst=float(rng.choice([0.0, 0.3])),
            burst=-1.0,
            burst_len=int(rng.integers(1, 5)),
        ).columns(batch.fp, np.ones(params.n, bool))
    cells = events = 0
    for i in range(params.n):
        for c in range(int(params.cells[i])):
            ref = reference.simulate_cell(
                params.cell_params(i, float(batch.fp[i, K.F_PDEG])), _Recording(batch, i, c)
            )
            got = engine.simulate_cell(batch, i, c)
            _assert_same(ref, got, f"trial {trials[i]} cell {c}")
            cells += 1
            events += int(got.event)
    return cells, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=0, help="the first configuration's seed")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    args = parser.parse_args()
    start = time.time()
    configs = cells = events = refused = bad = 0
    seed = args.first
    while time.time() - start < args.seconds:
        try:
            done = replay_one(seed)
        except Exception:  # a disagreement, or anything else the pair of simulators raised
            bad += 1
            print(f"DISAGREEMENT seed {seed}: {overrides(np.random.default_rng(seed))}", flush=True)
            traceback.print_exc(limit=3)
            seed += 1
            continue
        if done is None:
            refused += 1
        else:
            configs += 1
            cells += done[0]
            events += done[1]
        seed += 1
    print(
        f"seeds {args.first}..{seed - 1}: {configs:,} configurations agreed ({refused:,} refused by "
        f"the loader), {cells:,} cell-windows, {events:,} events, {bad} disagreements, "
        f"{time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
