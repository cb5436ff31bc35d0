"""Running an estimator: blocks of region-windows until the trials, or the stopping rule, say stop.

:func:`run` simulates trials block by block (:data:`riskmc.streams.BLOCK_TRIALS` windows a
block, block b = trials b x 1000 ...), merges the mergeable statistics of p_cell_window in
block order, and -- with a target -- checks after every block whether the interval is
precise enough: half-width / estimate <= target with at least ``min_hits`` effective hits.
The interval the rule checks is the reported one, unobserved strata's bounds included, so
the rule cannot stop while a mechanism the sample has not seen could still be large against
the estimate (docs/model.md section 8).  Before each block it checks the clock: the
run never starts a block it expects to end past ``max_seconds`` (the expectation is the
slowest block so far, plus the time the final estimates may take, timed on this machine:
:func:`~riskmc.estimators.year.estimation_reserve_s`), so the limit holds to within one
block.  Because the rule looks only at block boundaries, on statistics merged in block
order, a run stops at the same trial for a seed whatever the thread count, and reports the
very estimate the rule accepted.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from riskmc import __version__
from riskmc.config import Config
from riskmc.estimates import Estimate
from riskmc.estimators.blocks import block as simulate_block
from riskmc.estimators.blocks import blocks_in_order, spreads
from riskmc.estimators.cascade import WindowCascade, cascade_estimates
from riskmc.estimators.cascade import window_cascade as cascade_of
from riskmc.estimators.plan import Plan
from riskmc.estimators.quantities import CellStats, Estimates, estimate, p_cell_window, windows_per_year
from riskmc.estimators.sample import WindowSample
from riskmc.estimators.year import YEAR_RESAMPLES, estimation_reserve_s
from riskmc.streams import BLOCK_TRIALS

if TYPE_CHECKING:
    from riskmc.execute import Executor

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_MIN_HITS",
    "Run",
    "run",
    "run_each",
    "with_config",
]

DEFAULT_MIN_HITS = 10
DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_TRIALS = 10_000_000

#: Why a run stopped (the ``stopped_by`` column).
STOPS = ("trials", "target", "max-seconds", "max-trials")


@dataclass
class Run:
    """One scenario run: its plan, sample, estimates and why it stopped."""

    config: Config
    plan: Plan
    seed: int
    sample: WindowSample
    estimates: Estimates
    stopped_by: str
    target_rel_err: float | None
    min_hits: int
    elapsed_s: float
    #: The downstream cascade of every event window and its estimates (section 5b).
    cascade: WindowCascade | None = None
    cascade_estimates: dict[str, Estimate] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return self.sample.n

    @property
    def events(self) -> int:
        """Cell-windows with an event in the sample (drawn under the proposal for ``is``)."""
        return int(self.sample.events.sum())

    def row(self) -> dict[str, object]:
        """The results row: identification, counts, every estimate, diagnostics, parameters."""
        smp, e = self.sample, self.estimates
        p = e.values["p_cell_window"]
        row: dict[str, object] = {
            "scenario": self.config.name,
            "estimator": self.plan.estimator,
            "proposal": self.plan.short,
            "proposal_q": self.plan.q,
            "defensive_share": self.plan.defensive,
            "trials": smp.n,
            "cells_simulated": int(smp.cells.sum()),
            "events": self.events,
            "events_no_degraded": int(smp.events_nodeg.sum()),
            "events_degraded": int(smp.events_deg.sum()),
            "region_event_windows": int(np.count_nonzero(smp.events)),
            "ess": e.ess,
            "effective_hits": e.effective_hits,
            "barely_boosted_share": e.barely_boosted_share,
            "windows_per_region_year": windows_per_year(smp),
        }
        row.update(e.columns())
        for name, ce in self.cascade_estimates.items():
            row.update(ce.columns(name))
        row["rel_err"] = p.rel_err
        row["unobserved_strata"] = ",".join(e.unseen)
        row["stopped_by"] = self.stopped_by
        row["target_rel_err"] = math.nan if self.target_rel_err is None else self.target_rel_err
        row["min_hits"] = self.min_hits
        row["seed"] = self.seed
        row["version"] = __version__
        row["elapsed_s"] = self.elapsed_s
        for key, value in self.config.flat().items():
            if key not in ("name", "seed", "trials"):
                row[key] = value
        return row


def with_config(result: Run, config: Config) -> Run:
    """``result`` as the run of ``config``, a scenario with the same events (it differs only
    in mitigations of the cascade): the same sample and estimates, the cascade recomputed."""
    start = time.perf_counter()
    window_cascade = cascade_of(config, result.seed, result.sample)
    # (the run's year model had the other scenario's cascade: this one gets its own)
    estimates = replace(
        result.estimates,
        year=None if result.estimates.year is None else replace(result.estimates.year, extra=[]),
    )
    cascade_values = cascade_estimates(window_cascade, result.seed, result.sample, result.plan, estimates)
    return replace(
        result,
        config=config,
        estimates=estimates,
        cascade=window_cascade,
        cascade_estimates=cascade_values,
        elapsed_s=time.perf_counter() - start,
    )


def run(
    config: Config,
    plan: Plan,
    *,
    seed: int | None = None,
    trials: int | None = None,
    target_rel_err: float | None = None,
    max_seconds: float | None = None,
    max_trials: int | None = None,
    min_hits: int = DEFAULT_MIN_HITS,
    threads: int = 1,
    progress: Callable[[int, float], None] | None = None,
    n_resamples: int = YEAR_RESAMPLES,
    executor: Executor | None = None,
) -> Run:
    """Simulate and estimate one scenario under ``plan``.

    Without a target: ``trials`` windows (default the config's), ``max_seconds`` if given
    stopping earlier.  With ``target_rel_err``: blocks until the rule holds, or
    ``max_trials`` (default :data:`DEFAULT_MAX_TRIALS`) or ``max_seconds`` (default
    :data:`DEFAULT_MAX_SECONDS`).  ``progress(windows_added, rel_err)`` after every block.

    With an ``executor`` of more than one worker (:mod:`riskmc.execute`: local processes or
    a Dask cluster) the blocks run there, one thread each, and are taken in block order: the
    numbers, and the stop point of a target, are those of one process."""
    seed = config.seed if seed is None else seed
    start = time.perf_counter()
    if target_rel_err is not None and not target_rel_err > 0:
        raise ValueError("target_rel_err must be > 0")
    if target_rel_err is None:
        limit = config.trials if trials is None else trials
    else:
        limit = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
        max_seconds = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    if not 1 <= limit <= 2**32:
        raise ValueError("the trials must be in [1, 2^32] (the engine's address layout)")
    parts: list[WindowSample] = []
    stats = CellStats()
    n = 0
    slowest = 0.0
    reserve = estimation_reserve_s(n_resamples) if max_seconds is not None else 0.0
    stopped_by = ""
    rel_err = math.inf
    blocks: Generator[WindowSample, None, None]
    if spreads(executor):
        blocks = (block for _, block in blocks_in_order(executor, [config], seed, limit, plan))
    else:
        blocks = (
            simulate_block(config, seed, lo, limit, plan, threads) for lo in range(0, limit, BLOCK_TRIALS)
        )
    with contextlib.closing(blocks):  # closed at the stop: blocks still running are cancelled
        while not stopped_by:
            if n >= limit:
                stopped_by = "max-trials" if target_rel_err is not None else "trials"
                break
            if (
                max_seconds is not None
                and n > 0
                and time.perf_counter() - start + slowest + reserve > max_seconds
            ):
                stopped_by = "max-seconds"
                break
            t0 = time.perf_counter()
            block = next(blocks)
            slowest = max(slowest, time.perf_counter() - t0)
            parts.append(block)
            stats = stats.merge(CellStats.of(block))
            n += block.n
            if target_rel_err is not None:
                p, _, _ = p_cell_window(stats, plan)
                rel_err = p.rel_err
                if rel_err <= target_rel_err and stats.y.effective_hits >= min_hits:
                    stopped_by = "target"
            if progress is not None:
                progress(block.n, rel_err)
    return _estimated(
        config, plan, seed, parts, stats, stopped_by, target_rel_err, min_hits, n_resamples, start
    )


def _estimated(
    config: Config,
    plan: Plan,
    seed: int,
    parts: list[WindowSample],
    stats: CellStats,
    stopped_by: str,
    target_rel_err: float | None,
    min_hits: int,
    n_resamples: int,
    start: float,
) -> Run:
    """The run of the blocks ``parts`` (``stats`` merged from them in block order)."""
    sample = WindowSample.concat(parts)
    window_cascade = cascade_of(config, seed, sample)
    estimates = estimate(
        sample,
        plan,
        seed,
        stats=stats,
        n_resamples=n_resamples,
        extra_impacts=window_cascade.annual_columns(),
    )
    cascade_values = cascade_estimates(window_cascade, seed, sample, plan, estimates, n_resamples)
    return Run(
        config=config,
        plan=plan,
        seed=seed,
        sample=sample,
        estimates=estimates,
        stopped_by=stopped_by,
        target_rel_err=target_rel_err,
        min_hits=min_hits,
        elapsed_s=time.perf_counter() - start,
        cascade=window_cascade,
        cascade_estimates=cascade_values,
    )


def run_each(
    configs: Sequence[Config],
    plan: Plan,
    *,
    seed: int,
    trials: int,
    threads: int = 1,
    progress: Callable[[int, float], None] | None = None,
    n_resamples: int = YEAR_RESAMPLES,
    executor: Executor | None = None,
) -> Generator[Run, None, None]:
    """The run of every configuration on trials [0, trials) (no target), one after the other:
    each the very :func:`run` of it.  On an ``executor`` of more than one worker the blocks
    of all of them are in flight together, so the workers simulate the next configurations
    while this process estimates a finished one."""
    if not spreads(executor):
        for config in configs:
            yield run(
                config,
                plan,
                seed=seed,
                trials=trials,
                threads=threads,
                progress=progress,
                n_resamples=n_resamples,
            )
        return
    if not 1 <= trials <= 2**32:
        raise ValueError("the trials must be in [1, 2^32] (the engine's address layout)")
    with contextlib.closing(blocks_in_order(executor, configs, seed, trials, plan)) as blocks:
        for i, group in itertools.groupby(blocks, key=lambda ib: ib[0]):
            start = time.perf_counter()
            parts: list[WindowSample] = []
            stats = CellStats()
            for _, block in group:  # merged in block order, as run() merges them
                parts.append(block)
                stats = stats.merge(CellStats.of(block))
                if progress is not None:
                    progress(block.n, math.inf)
            yield _estimated(
                configs[i], plan, seed, parts, stats, "trials", None, DEFAULT_MIN_HITS, n_resamples, start
            )
