"""The most likely way the record empties, at given parameters: ``riskmc explain --most-likely``.

An estimate counts events; an engineer asks *how* they happen: which Enactor is slow and by
how much, how many of its writes retried, how many generations overtook it, what the
clean-up deleted.  :func:`most_likely` answers from the estimator's own sample: the event
windows of ``trials`` region-windows simulated under the estimator's plan (importance
sampling makes the rare paths frequent), ``draws`` of them drawn with probability in
proportion to weight x events (so that the draws follow the model's distribution of
events, not the proposal's), each replayed by the exact reference simulator with the very
same random numbers (:func:`riskmc.explain.replay`) and measured (:func:`features`).  The
summary gives the medians and quartiles of those measures, the share of causes, and the
smallest slow-down among the draws; the *representative* event is the draw closest to the
medians, told as a timeline.

"Slow-down" is the culprit run's write time (the sum of its writes' durations) over the
median write time of the other runs of its cell-window; the culprit run is the one whose
writes left the affected endpoints on a deleted plan (the earliest such run).  Retried
writes and attempts are read at the engine's own addresses (the number of attempts of each
of the culprit's writes).  Under importance sampling the draws are of the model's events
(the weights), but each replay is the path the proposal drew (a degraded run is degraded
in the replay): a path the model allows, weighted as the model weighs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskmc.config import Config
from riskmc.estimators import Plan
from riskmc.estimators.sample import WindowSample
from riskmc.explain import Replay, _culprit_runs, replay

__all__ = [
    "DEFAULT_DRAWS",
    "DRAW_PURPOSE",
    "EventFeatures",
    "MostLikely",
    "describe",
    "features",
    "most_likely",
]

#: Events replayed for the summary.
DEFAULT_DRAWS = 60
#: The spawn-key word of the draws' generator.
DRAW_PURPOSE = 0x4D4C4B59  # "MLKY"


@dataclass(frozen=True)
class EventFeatures:
    """What one replayed event looked like."""

    trial: int
    cell: int
    cause: str  # "write" (a write of a deleted plan) or "cleanup"
    enactor: int  # the culprit run's Enactor
    generation: int  # the plan it wrote
    degraded: bool
    run_s: float  # the culprit run's write time (sum of its writes' durations)
    typical_run_s: float  # the median write time of the other runs of the cell-window (nan: none)
    slowdown: float  # run_s / typical_run_s
    writes: int
    retried_writes: int  # writes of the culprit run that needed more than one attempt
    max_attempts: int
    overtaken: int  # generations between its plan and the one whose clean-up deleted it
    deleted: tuple[int, ...]  # what that clean-up deleted
    event_after_s: float  # from the culprit run's start to the event

    def to_json(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        doc["deleted"] = list(self.deleted)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in doc.items()}


def _attempts(
    config: Config, seed: int, plan: Plan, rep: Replay, enactor: int, run: int, degraded: bool
) -> list[int]:
    """The attempts of each write of run ``run`` of ``enactor``, at the engine's addresses."""
    from riskmc.engine import AddressedRandomness

    params = plan.windows(config, seed, [rep.trial])
    drawn_degraded, draws = AddressedRandomness(plan.batch(params, seed), 0, rep.cell).draws(enactor, run)
    if drawn_degraded != degraded:
        raise RuntimeError(
            f"run {run} of enactor {enactor}: the replay's degraded flag differs from the engine's"
        )
    return [int(n) for n in draws[1]]


def features(config: Config, seed: int, plan: Plan, rep: Replay) -> EventFeatures | None:
    """The measures of a replayed event (module docstring); None without an event."""
    records = rep.records
    event = next((r for r in records if r["kind"] == "event"), None)
    if event is None:
        return None
    culprits = _culprit_runs(records)
    starts = {(r["enactor"], r["run"]): r for r in records if r["kind"] == "run_start"}
    if not culprits:
        return None
    enactor, run = min(culprits, key=lambda c: starts[c]["t"])
    start = starts[(enactor, run)]
    durations = [float(d) for d in start["durations"]]
    run_s = float(np.sum(durations))
    others = [float(np.sum(r["durations"])) for key, r in starts.items() if key != (enactor, run)]
    typical = float(np.median(others)) if others else math.nan
    gen = int(start["gen"])
    cleanup = next(
        (r for r in records if r["kind"] == "cleanup" and gen in (r.get("deleted") or [])),
        None,
    )
    attempts = _attempts(config, seed, plan, rep, enactor, run, bool(start["degraded"]))
    return EventFeatures(
        trial=rep.trial,
        cell=rep.cell,
        cause=str(event.get("cause", "")),
        enactor=int(enactor),
        generation=gen,
        degraded=bool(start["degraded"]),
        run_s=run_s,
        typical_run_s=typical,
        slowdown=run_s / typical if typical > 0 else math.inf,
        writes=len(durations),
        retried_writes=sum(1 for a in attempts if a > 1),
        max_attempts=max(attempts) if attempts else 0,
        overtaken=int(cleanup["gen"]) - gen if cleanup is not None else 0,
        deleted=tuple(int(g) for g in (cleanup.get("deleted") or [])) if cleanup is not None else (),
        event_after_s=float(event["t"]) - float(start["t"]),
    )


@dataclass(frozen=True)
class MostLikely:
    """The summary of the draws and the representative event."""

    scenario: str
    seed: int
    estimator: str
    trials: int
    event_windows: int
    draws: list[EventFeatures]  # one per draw (an event drawn twice counts twice)
    representative: Replay

    @property
    def distinct(self) -> int:
        """Distinct events among the draws."""
        return len({(f.trial, f.cell) for f in self.draws})

    def quartiles(self, name: str) -> tuple[float, float, float]:
        x = np.array([getattr(f, name) for f in self.draws], dtype=float)
        x = x[np.isfinite(x)]
        if not x.size:
            return math.nan, math.nan, math.nan
        q = np.quantile(x, [0.25, 0.5, 0.75])
        return float(q[1]), float(q[0]), float(q[2])

    def share(self, test: Callable[[EventFeatures], bool]) -> float:
        return sum(1 for f in self.draws if test(f)) / len(self.draws)

    def smallest(self) -> EventFeatures:
        """The draw with the smallest slow-down (the question an SRE asks)."""
        return min(self.draws, key=lambda f: f.slowdown if math.isfinite(f.slowdown) else math.inf)

    def to_json(self) -> dict[str, Any]:
        measures = ("slowdown", "run_s", "typical_run_s", "retried_writes", "max_attempts", "overtaken")
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "estimator": self.estimator,
            "trials": self.trials,
            "event_windows": self.event_windows,
            "draws": len(self.draws),
            "distinct_events": self.distinct,
            "share_degraded": self.share(lambda f: f.degraded),
            "share_cause_write": self.share(lambda f: f.cause == "write"),
            "quartiles": {
                m: dict(zip(("median", "q25", "q75"), self.quartiles(m), strict=True)) for m in measures
            },
            "smallest_slowdown": self.smallest().to_json(),
            "representative": {
                "trial": self.representative.trial,
                "cell": self.representative.cell,
                "timeline": self.representative.records,
            },
            "events": [f.to_json() for f in self.draws],
        }


def _representative(draws: list[EventFeatures]) -> EventFeatures:
    """The draw closest to the medians, in ranks of slow-down, retried writes and overtaking."""
    names = ("slowdown", "retried_writes", "overtaken")
    ranks = []
    for name in names:
        x = np.array([getattr(f, name) for f in draws], dtype=float)
        x = np.where(np.isfinite(x), x, np.nanmax(np.where(np.isfinite(x), x, np.nan), initial=0.0) + 1)
        ranks.append(np.argsort(np.argsort(x, kind="stable"), kind="stable") / max(len(draws) - 1, 1))
    r = np.array(ranks)
    distance = np.abs(r - np.median(r, axis=1, keepdims=True)).sum(axis=0)
    return draws[int(np.argmin(distance))]


def most_likely(
    config: Config,
    seed: int,
    trials: int,
    plan: Plan,
    *,
    draws: int = DEFAULT_DRAWS,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    sample: WindowSample | None = None,
) -> MostLikely | None:
    """The most likely failure path of ``config`` (module docstring); None without any event
    in the ``trials`` windows.  ``sample``: the estimate's own sample of them under ``plan``
    (not simulated again).  ``progress(k)`` after each block of windows simulated and after
    each replay."""
    from riskmc.estimators.blocks import block
    from riskmc.streams import BLOCK_TRIALS

    if sample is None:
        parts = []
        for lo in range(0, trials, BLOCK_TRIALS):
            parts.append(block(config, seed, lo, trials, plan, threads))
            if progress is not None:
                progress(parts[-1].n)
        sample = WindowSample.concat(parts)
    trials = sample.n
    hit = np.flatnonzero(sample.events > 0)
    if not hit.size:
        return None
    mass = sample.weight[hit] * sample.events[hit]
    rng = np.random.Generator(np.random.Philox(np.random.SeedSequence(seed, spawn_key=(DRAW_PURPOSE,))))
    chosen = rng.choice(hit, size=draws, p=mass / mass.sum())
    measured: dict[int, tuple[Replay, EventFeatures | None]] = {}
    out: list[EventFeatures] = []
    for i in chosen:
        i = int(i)
        if i not in measured:
            rep = replay(config, seed, int(sample.trials[i]), int(sample.first_event_cell[i]), plan)
            measured[i] = (rep, features(config, seed, plan, rep))
        f = measured[i][1]
        if f is not None:
            out.append(f)
        if progress is not None:
            progress(1)
    if not out:
        return None
    rep_features = _representative(out)
    representative = next(r for r, f in measured.values() if f is rep_features)
    return MostLikely(config.name, seed, plan.short, trials, int(hit.size), out, representative)


def describe(m: MostLikely, keep_generations: object = None) -> str:
    """The summary as text (then the caller tells the representative event)."""

    def q(name: str, fmt: str = "{:.3g}") -> str:
        med, lo, hi = m.quartiles(name)
        return f"{fmt.format(med)} [quartiles {fmt.format(lo)}, {fmt.format(hi)}]"

    small = m.smallest()
    kept = f" (the clean-up keeps {keep_generations})" if keep_generations is not None else ""
    lines = [
        f"the most likely way the record empties in {m.scenario} (seed {m.seed}, {m.estimator} estimator): "
        f"{len(m.draws)} events ({m.distinct} distinct) drawn in proportion to their weight from the "
        f"{m.event_windows:,} event windows of {m.trials:,} region-windows, each replayed exactly",
        f"  cause: a write of a deleted plan in {m.share(lambda f: f.cause == 'write'):.0%} of them, "
        f"a clean-up in {m.share(lambda f: f.cause == 'cleanup'):.0%}",
        f"  the slow run: its writes take {q('run_s', '{:.3g} s')} against "
        f"{q('typical_run_s', '{:.3g} s')} for the cell-window's other runs: x{q('slowdown')}; "
        f"degraded in {m.share(lambda f: f.degraded):.0%}",
        f"  its retried writes: {q('retried_writes', '{:.0f}')} of {m.draws[0].writes}; at most "
        f"{max(f.max_attempts for f in m.draws)} attempts for one write",
        "  generations that overtook it before the clean-up deleted its plan: "
        f"{q('overtaken', '{:.0f}')}{kept}",
        f"  the smallest slow-down among them: x{small.slowdown:.3g} ({small.run_s:.3g} s against "
        f"{small.typical_run_s:.3g} s; trial {small.trial}, cell {small.cell}; "
        f"{small.retried_writes} retried writes, {'degraded' if small.degraded else 'not degraded'})",
    ]
    return "\n".join(lines)
