"""Explain an estimate by showing one failure it counts, told the way the post-mortem tells it.

:func:`find_event_trial` runs the engine block by block until a region-window has an
empty-record event and returns it with its first cell that has one; :func:`replay` re-runs
that cell-window in the exact reference simulator with the very same random inputs (the
engine's addresses, :class:`riskmc.engine.AddressedRandomness`) and its trace;
:func:`narrate` turns the trace into a timeline.  Replaying the same trial under a mitigation shows how the
same delays play out with the fix in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskmc.cascade import CascadeOutcome
from riskmc.config import Config
from riskmc.engine import AddressedRandomness
from riskmc.engine import kernel as K
from riskmc.estimators import Plan, naive_plan, simulate
from riskmc.model import CellOutcome
from riskmc.params import sample_windows
from riskmc.reference import simulate_cell
from riskmc.streams import BLOCK_TRIALS


@dataclass(frozen=True)
class Replay:
    """One trial replayed by the reference simulator, with its trace."""

    scenario: str
    seed: int
    trial: int
    cell: int
    outcome: CellOutcome
    records: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "trial": self.trial,
            "cell": self.cell,
            "event": o.event,
            "event_time_s": o.event_time_s if o.event else None,
            "affected": list(o.affected),
            "mean_plan_age_s": o.mean_plan_age_s,
            "runs_started": o.runs_started,
            "runs_abandoned": o.runs_abandoned,
            "timeline": self.records,
        }


def find_event_trial(
    config: Config, seed: int, max_trials: int = 200_000, progress: Callable[[int], None] | None = None
) -> tuple[int, int] | None:
    """The first region-window (lowest trial) with an empty-record event and its first cell
    with one, or None within ``max_trials``; ``progress(k)`` after each block of k trials."""
    for first in range(0, max_trials, BLOCK_TRIALS):
        trials = range(first, min(max_trials, first + BLOCK_TRIALS))
        sample = simulate(config, seed, trials, naive_plan())
        hits = np.flatnonzero(sample.events)
        if hits.size:
            i = int(hits[0])
            return int(sample.trials[i]), int(sample.first_event_cell[i])
        if progress is not None:
            progress(len(trials))
    return None


def replay(config: Config, seed: int, trial: int, cell: int = 0, plan: Plan | None = None) -> Replay:
    """Cell ``cell`` of region-window ``trial`` of ``config`` in the reference simulator, traced.

    With ``plan``, the window is replayed as the plan simulated it: under importance
    sampling a tilted window's runs are degraded with the proposal's probability, so the
    replay is the path the estimator saw (a path the model allows, made more likely)."""
    params = sample_windows(config, seed, [trial]) if plan is None else plan.windows(config, seed, [trial])
    if cell >= int(params.cells[0]):
        raise ValueError(f"trial {trial} has {int(params.cells[0])} cell(s); there is no cell {cell}")
    batch = params.batch(seed) if plan is None else plan.batch(params, seed)
    p_cell = None if plan is None else float(batch.fp[0, K.F_PDEG])  # (the proposal's)
    outcome, records = simulate_cell(
        params.cell_params(0, p_cell), AddressedRandomness(batch, 0, cell), trace=True
    )
    return Replay(config.name, seed, trial, cell, outcome, records)


#: The incident's impact began at 23:48 PDT (Oct 19, 2025): the clock of ``--incident``.
INCIDENT_START_MIN = 23 * 60 + 48


def cascade_of(
    config: Config, seed: int, trial: int, cell: int, outage_min: float | None = None
) -> CascadeOutcome:
    """The downstream cascade (docs/model.md section 5b) of an event of cell ``cell`` of
    window ``trial``: its outage R as the engine draws it (or ``outage_min``), the window's
    cascade parameters and the scenario's cascade mitigations."""
    from riskmc.cascade import cascade
    from riskmc.engine import repair_durations
    from riskmc.params import sample_cascade

    if outage_min is None:
        batch = sample_windows(config, seed, [trial]).batch(seed)
        outage_min = float(repair_durations(batch, np.array([cell]))[0]) / 60.0
    return cascade(np.array([outage_min]), sample_cascade(config, seed, [trial]))


def narrate_cascade(outcome: CascadeOutcome, clock_min: float | None = None) -> str:
    """The cascade's timeline (minutes after the record went empty; with ``clock_min``, also
    the time of day, the post-mortem's clock), then its totals."""
    from riskmc.cascade import timeline

    lines = []
    for t, text in timeline(outcome, 0):
        when = f"{t:8.1f} min"
        if clock_min is not None:
            m = round(clock_min + t) % (24 * 60)
            when += f"  {m // 60:02d}:{m % 60:02d}"
        lines.append(f"  {when}  {text}")
    o = outcome
    collapse = "congestive collapse" if bool(o.collapse[0]) else "no collapse"
    lines.append(
        f"  outage {float(o.outage_min[0]):.0f} min; {collapse}; leases back "
        f"{float(o.leases_restored_min[0]):.0f} min after DNS; EC2 launches impaired "
        f"{float(o.ec2_impaired_min[0]):.0f} min; NLB impact {float(o.nlb_impact_min[0]):.0f} min, "
        f"capacity lost {float(o.nlb_capacity_lost[0]):.1f} capacity-minutes"
    )
    return "\n".join(lines)


def _culprit_runs(records: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """(enactor, run) of the runs whose writes left the affected endpoints on deleted plans:
    the last writer of each affected endpoint before the event."""
    event = next((r for r in records if r["kind"] == "event"), None)
    if event is None:
        return set()
    affected = set(event.get("affected") or [])
    current: dict[int, tuple[int, int]] = {}
    last_writer: dict[int, tuple[int, int]] = {}
    for r in records:
        if r["kind"] == "run_start":
            current[r["enactor"]] = (r["enactor"], r["run"])
        elif r["kind"] == "write_done" and r["endpoint"] in affected:
            last_writer[r["endpoint"]] = current[r["enactor"]]
    return set(last_writer.values())


def _window_start(records: list[dict[str, Any]], culprits: set[tuple[int, int]]) -> float:
    starts = [r["t"] for r in records if r["kind"] == "run_start" and (r["enactor"], r["run"]) in culprits]
    return min(starts) if starts else 0.0


def narrate(rep: Replay, like: Replay | None = None) -> str:
    """The timeline as text: from the start of the run whose plan ends up deleted to the
    event.  Writes of the other runs are summarised one line per run; the culprit run's
    writes are shown one by one.  With ``like`` (the same trial without a mitigation), the
    window and the runs followed closely are that replay's, and the text stops at its event
    time: how the same delays played out with the fix."""
    records = rep.records
    culprits = _culprit_runs((like or rep).records)
    start = _window_start((like or rep).records, culprits)
    until = like.outcome.event_time_s if like is not None and like.outcome.event else np.inf
    run_of: dict[int, tuple[int, int]] = {}
    lines = [f"scenario {rep.scenario}, seed {rep.seed}, trial {rep.trial}, cell {rep.cell}"]
    pending: dict[int, list[dict[str, Any]]] = {}  # summarised writes per enactor

    def flush(k: int) -> None:
        writes = pending.pop(k, [])
        if writes:
            first, last = writes[0], writes[-1]
            lines.append(
                f"{last['t']:12.3f}  Enactor {k} has written generation {first['gen']} to endpoints "
                f"{first['endpoint']}..{last['endpoint']} (since {first['t']:.3f})"
            )

    for r in records:
        kind, t = r["kind"], r["t"]
        k: int = -1 if r.get("enactor") is None else int(r["enactor"])
        if kind == "run_start":
            run_of[k] = (k, r["run"])
        if t > until:
            break
        if t < start or kind in ("publish", "wake", "check_fail", "write_begin"):
            continue
        culprit = run_of.get(k) in culprits
        if kind == "write_done":
            if culprit or r.get("deleted_gen"):
                flush(k)
                mark = "  <- a DELETED plan" if r.get("deleted_gen") else ""
                lines.append(
                    f"{t:12.3f}  Enactor {k} writes generation {r['gen']} to endpoint {r['endpoint']} "
                    f"(it pointed to {r['replaced']}){mark}"
                )
            else:
                pending.setdefault(k, []).append(r)
            continue
        if k >= 0:
            flush(k)
        if kind == "check_pass":
            lines.append(
                f"{t:12.3f}  Enactor {k} wakes: newest plan {r['gen']} > H = {r['H']}, "
                "the start-time check passes"
            )
        elif kind == "run_start":
            deg = "DEGRADED: its writes retry many times" if r.get("degraded") else "normal"
            total = float(np.sum(r.get("durations") or [0.0]))
            lines.append(
                f"{t:12.3f}  Enactor {k} starts run {r['run']} with generation {r['gen']} ({deg}; "
                f"its writes would take {total:.1f} s)"
            )
        elif kind == "cleanup":
            deleted = r.get("deleted") or []
            what = f"deletes generations {_span(deleted)}" if deleted else "deletes nothing"
            lines.append(f"{t:12.3f}  Enactor {k} cleans up after generation {r['gen']}: {what}")
        elif kind in ("abandon", "write_rejected", "lease_denied"):
            detail = r.get("reason") or kind.replace("_", " ")
            lines.append(f"{t:12.3f}  Enactor {k} {kind.replace('_', ' ')} (generation {r['gen']}; {detail})")
        elif kind == "event":
            for other in list(pending):  # every write before the event is told before it
                flush(other)
            affected = ", ".join(str(e) for e in r.get("affected", []))
            lines.append(
                f"{t:12.3f}  EMPTY RECORD: endpoint(s) {affected} point to deleted generation(s) "
                f"{_span(r.get('affected_gens') or [])}; the cell is frozen until repaired"
            )
    for k in list(pending):
        flush(k)
    o = rep.outcome
    if not o.event:
        by = f"by {until:.3f}" if np.isfinite(until) else "in this window"
        lines.append(
            f"no empty record {by}; over the whole window: runs started {o.runs_started}, "
            f"abandoned {o.runs_abandoned}"
        )
    return "\n".join(lines)


def _span(gens: list[int]) -> str:
    if not gens:
        return "-"
    gens = sorted(gens)
    return str(gens[0]) if len(gens) == 1 else f"{gens[0]}..{gens[-1]}"
