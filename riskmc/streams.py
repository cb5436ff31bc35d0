"""Seed addressing: every random number riskmc draws comes from a stream named by an address.

An address is ``(seed; block, purpose, *sub)`` turned into a ``numpy.random.SeedSequence``
with that ``spawn_key``.  Trials are grouped into fixed *blocks* of :data:`BLOCK_TRIALS`
region-windows; a block's draws depend only on the seed, the block index and the purpose,
never on how blocks are grouped into chunks, processes or Dask tasks.  That is what makes a
run bit-identical for a seed whatever the chunk size or worker count.

No scenario or mitigation appears in an address: two scenarios that differ only in a
mitigation (or in a swept value) read the same planner times, wake offsets, degraded flags
and write delays in the same trial -- common random numbers.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np

#: Region-windows per block: the unit of random-number addressing (and of work splitting).
BLOCK_TRIALS = 1000


class Purpose(IntEnum):
    """What a stream is for (the second element of every address)."""

    PARAMS = 1  # sampled parameters, one stream per configuration key (sub = key id)
    SHOCK = 2  # region-window common-cause shock flags
    PLANNER = 3  # planner intervals (sub = cell layer, page)
    WAKE = 4  # first-wake offsets (sub = cell layer, enactor)
    RUNS = 5  # degraded flags, first-attempt latencies, attempt counts (sub = layer, enactor, page)
    RETRY = 6  # latencies and jitter of retried attempts (sub = layer, enactor, page)
    REPAIR = 7  # outage durations
    REGION = 8  # region layer (cell counts and the like)
    PILOT = 9  # the seed of a pilot run (rare-event proposal), independent of the main trials
    OUTER = 100  # the outer design of nested uncertainty (riskmc.outer)


def key_id(key: str) -> int:
    """A stable integer for a configuration key, so adding a key never shifts another's stream."""
    return zlib.crc32(key.encode("utf-8"))


def seed_sequence(seed: int, block: int, purpose: Purpose, *sub: int) -> np.random.SeedSequence:
    """The SeedSequence at an address."""
    return np.random.SeedSequence(seed, spawn_key=(int(block), int(purpose), *map(int, sub)))


def stream(seed: int, block: int, purpose: Purpose, *sub: int) -> np.random.Generator:
    """A fresh Generator at an address.

    SFC64 rather than numpy's default PCG64: equally well tested (it passes PractRand and
    BigCrush) and about a third faster for normal variates, which dominate the engine's
    draws (one per write attempt).
    """
    return np.random.Generator(np.random.SFC64(seed_sequence(seed, block, purpose, *sub)))


def blocks_for(trials: int, start_trial: int = 0) -> range:
    """The block indices that cover trials [start_trial, start_trial + trials)."""
    if start_trial % BLOCK_TRIALS:
        raise ValueError("start_trial must be a multiple of BLOCK_TRIALS")
    first = start_trial // BLOCK_TRIALS
    return range(first, first + -(-trials // BLOCK_TRIALS))
