"""Seeds of the estimation's own randomness (bootstraps, simulated years, the pilot, designs).

The simulation's random numbers are Philox blocks addressed by (seed; trial, purpose, ...)
(:mod:`riskmc.engine.kernel`).  What the *estimation* draws -- the years of the compound
annual-impact model, bootstrap resamples, the seed of a pilot run, the outer design of
nested uncertainty -- comes from numpy generators seeded at an address ``(seed; block,
purpose, *sub)``: a :class:`numpy.random.SeedSequence` with that ``spawn_key``, never from
global state.

Trials are also grouped into fixed *blocks* of :data:`BLOCK_TRIALS` region-windows: the
stopping rule looks at its interval at every block boundary, so a run stopped by its target
ends at the same trial count whatever the chunking, thread or worker count.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

#: Region-windows per block: where the stopping rule looks, and the unit of work splitting.
BLOCK_TRIALS = 1000


class Purpose(IntEnum):
    """What an estimation stream is for (the second element of its address)."""

    REGION = 8  # years and bootstraps of the region and year estimates (sub: what)
    PILOT = 9  # the seed of the estimator plan's pilot run, independent of the main trials
    OUTER = 100  # the outer design of nested uncertainty (riskmc.outer)
    SPLIT = 10  # a splitting replicate (block: the replicate): its keys, choices and redraws


def seed_sequence(seed: int, block: int, purpose: Purpose, *sub: int) -> np.random.SeedSequence:
    """The SeedSequence at an address."""
    return np.random.SeedSequence(seed, spawn_key=(int(block), int(purpose), *map(int, sub)))


def stream(seed: int, block: int, purpose: Purpose, *sub: int) -> np.random.Generator:
    """A fresh Generator at an address (SFC64: as well tested as PCG64, and fast)."""
    return np.random.Generator(np.random.SFC64(seed_sequence(seed, block, purpose, *sub)))


def blocks_for(trials: int, start_trial: int = 0) -> range:
    """The block indices that cover trials [start_trial, start_trial + trials)."""
    if start_trial % BLOCK_TRIALS:
        raise ValueError("start_trial must be a multiple of BLOCK_TRIALS")
    first = start_trial // BLOCK_TRIALS
    return range(first, first + -(-trials // BLOCK_TRIALS))
