"""One scenario from configuration to estimates: chunks of blocks through the engine.

:func:`simulate` runs trials [0, n) of a configuration through the vectorized engine and
returns the per-trial outcomes; :func:`estimate` turns outcomes into the named estimates of
MODEL.md section 6 (``riskmc.region.run_region_scenario`` adds the region and year ones and
runs a whole scenario).  The trials of a chunk are whole blocks
(:data:`riskmc.streams.BLOCK_TRIALS`), so the chunk size changes speed and memory, never
the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from riskmc import __version__
from riskmc import estimates as est
from riskmc.config import Config
from riskmc.draws import ChunkDraws
from riskmc.engine import CellResults, simulate_cells
from riskmc.params import TrialParams, concat, sample_block
from riskmc.streams import BLOCK_TRIALS, blocks_for

#: Default trials per engine chunk (whole blocks): large enough to amortise numpy's per-call
#: overhead, small enough to stay in cache-friendly sizes (see the README's benchmark).
DEFAULT_CHUNK_TRIALS = 4 * BLOCK_TRIALS

#: Hours in a region-year (MODEL.md section 3).
HOURS_PER_YEAR = 8766.0


@dataclass
class Chunk:
    """Consecutive whole blocks simulated together: their parameters and the trials used."""

    blocks: list[int]
    block_params: list[TrialParams]
    used: int  # trials of the chunk inside [0, trials): a prefix of its rows

    @property
    def first_trial(self) -> int:
        return self.blocks[0] * BLOCK_TRIALS


def chunks(config: Config, trials: int, seed: int, chunk_trials: int) -> Iterator[Chunk]:
    """Trials [0, trials) as chunks of whole blocks (``chunk_trials`` rounded up to blocks):
    the chunk size changes speed and memory, never the random numbers of a trial."""
    per_chunk = max(1, -(-chunk_trials // BLOCK_TRIALS))
    blocks = list(blocks_for(trials))
    for i in range(0, len(blocks), per_chunk):
        chunk = blocks[i : i + per_chunk]
        used = min(trials - chunk[0] * BLOCK_TRIALS, len(chunk) * BLOCK_TRIALS)
        yield Chunk(chunk, [sample_block(config, seed, b) for b in chunk], used)


def simulate(
    config: Config,
    trials: int,
    seed: int,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    progress: Callable[[int], None] | None = None,
) -> CellResults:
    """Per-trial outcomes of trials [0, trials): bit-identical for any ``chunk_trials``."""
    parts: list[CellResults] = []
    for chunk in chunks(config, trials, seed, chunk_trials):
        draws = ChunkDraws(seed, chunk.blocks, chunk.block_params)
        result = simulate_cells(concat(chunk.block_params), draws, chunk.used)
        parts.append(result.take(slice(0, chunk.used)))
        if progress is not None:
            progress(chunk.used)
    return CellResults.concat(parts)


@dataclass
class ScenarioResult:
    """The estimates of one scenario and what produced them."""

    config: Config
    trials: int
    seed: int
    events: int
    estimates: dict[str, est.Estimate]
    elapsed_s: float
    estimator: str = "naive"
    ess: float | None = None  # effective sample size (weighted estimators); None: the trials

    def row(self) -> dict[str, object]:
        """One tidy results row: identification, every estimate with its CI, parameters."""
        p = self.estimates["p_cell_window"]
        row: dict[str, object] = {
            "scenario": self.config.name,
            "estimator": self.estimator,
            "trials": self.trials,
            "events": self.events,
            "ess": float(self.trials) if self.ess is None else float(self.ess),
        }
        for name, e in self.estimates.items():
            row.update(e.columns(name))
        row["rel_err"] = p.rel_err
        row["seed"] = self.seed
        row["version"] = __version__
        row["elapsed_s"] = self.elapsed_s
        for key, value in self.config.flat().items():
            if key not in ("name", "seed", "trials"):
                row[key] = value
        return row


def estimate(cells: CellResults, proportion_method: str = "wilson") -> dict[str, est.Estimate]:
    """The cell-level estimates of MODEL.md section 6 from per-trial outcomes."""
    n = cells.event.size
    events = int(cells.event.sum())
    hours = cells.observed_s / 3600.0
    return {
        "p_cell_window": est.proportion(events, n, proportion_method),
        "mean_plan_age_s": est.mean(cells.mean_plan_age_s),
        "runs_per_hour": est.rate(cells.runs_started, hours),
        "abandoned_runs_per_hour": est.rate(cells.runs_abandoned, hours),
    }
