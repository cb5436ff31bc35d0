"""Blocks of trials on an executor: the unit of work every command spreads over processes.

A block is :data:`riskmc.streams.BLOCK_TRIALS` consecutive region-windows of one scenario
(block b = trials b x 1000 ...).  Every random number is addressed by its trial, so a
block's sample is the same wherever it is computed, and the blocks of a scenario joined in
block order are the sample one process simulates in one call (``tests/test_estimators.py``
checks every column).  An executor (:mod:`riskmc.execute`) returns blocks in completion
order; the functions here put them back in block order, so that what follows (a stopping
rule, the statistics merged block after block) sees exactly what one process sees.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from riskmc.config import Config, parse_config
from riskmc.estimators.plan import Plan
from riskmc.estimators.sample import WindowSample, simulate
from riskmc.streams import BLOCK_TRIALS

if TYPE_CHECKING:
    from riskmc.execute import Executor

__all__ = ["block", "blocks_in_order", "samples_in_order", "spreads"]


def spreads(executor: Executor | None) -> TypeGuard[Executor]:
    """Whether blocks go to ``executor``: more than one local worker, or a cluster (one
    local worker is this process, where the engine's threads are the parallelism)."""
    return executor is not None and getattr(executor, "workers", 2) > 1


def block(config: Config, seed: int, lo: int, limit: int, plan: Plan, threads: int) -> WindowSample:
    """Block [lo, lo + BLOCK_TRIALS) of the trials, cut at ``limit``."""
    return simulate(config, seed, range(lo, min(limit, lo + BLOCK_TRIALS)), plan, threads)


@dataclass(frozen=True)
class BlockTask:
    """One block for a worker process or a Dask worker: plain, picklable data (the scenario
    as its raw table, parsed again in the worker)."""

    raw: dict[str, Any]
    source: str
    seed: int
    lo: int
    limit: int
    plan: Plan


def simulate_task(task: BlockTask) -> WindowSample:
    """A block in a worker (top level, so that a spawned process can unpickle it); one thread
    each: the workers are the parallelism."""
    config = parse_config(task.raw, task.source)
    return block(config, task.seed, task.lo, task.limit, task.plan, 1)


def _tasks(config: Config, seed: int, limit: int, plan: Plan) -> list[BlockTask]:
    return [
        BlockTask(config.raw, config.source, seed, lo, limit, plan) for lo in range(0, limit, BLOCK_TRIALS)
    ]


def blocks_in_order(
    executor: Executor, configs: Sequence[Config], seed: int, limit: int, plan: Plan
) -> Generator[tuple[int, WindowSample], None, None]:
    """``(configuration index, block)`` for every block of [0, limit) of every configuration,
    all computed on ``executor`` (a bounded window of them in flight) and yielded in order:
    the configurations one after the other, each one's blocks in block order (those that
    finish early wait).  A stopping rule or a merge of statistics then sees exactly the
    sequence one process would, so every number is the same; the blocks of the following
    configurations keep the workers busy while the caller estimates a finished one.
    Closing the iterator cancels the blocks not yet done."""
    tasks = [(i, task) for i, config in enumerate(configs) for task in _tasks(config, seed, limit, plan)]
    done: dict[int, WindowSample] = {}
    following = 0
    results = executor.map(simulate_task, [task for _, task in tasks])
    try:
        for k, sample in results:
            done[k] = sample
            while following in done:
                yield tasks[following][0], done.pop(following)
                following += 1
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def samples_in_order(
    executor: Executor, configs: Sequence[Config], seed: int, trials: int, plan: Plan
) -> Generator[WindowSample, None, None]:
    """The sample of ``trials`` windows of every configuration (a grid's points), their blocks
    on ``executor``; yielded configuration by configuration, in order, each the very sample
    ``simulate(config, seed, range(trials), plan)`` returns."""
    with contextlib.closing(blocks_in_order(executor, configs, seed, trials, plan)) as blocks:
        for _, group in itertools.groupby(blocks, key=lambda ib: ib[0]):
            yield WindowSample.concat([sample for _, sample in group])
